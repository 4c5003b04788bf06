"""Acceptance (issue 14): `crowdship simulate --small`, a city day through the real service, ends settled.

The small day (60 jobs, 5 stores, 20 couriers) runs through the application under uvicorn over
GraphQL, the real pgqueuer worker and the Stripe fake, on a throwaway database of the test server.
Before that database is dropped the test reads it: every booked parcel reached a final status, every
job's payment was captured or cancelled and each courier who carried one was paid, the ledger's lines
sum to zero per currency, and the day's reconciliation found no mismatch. Then the report's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from marketplace.simulation import simulate
from marketplace.simulation.engine import Day
from marketplace.simulation.report import JSON_KEYS

FINAL = {"delivered", "collected", "returned", "handed_to_fleet", "cancelled"}


def test_the_small_day_ends_settled_balanced_and_reconciled(admin_dsn: str, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def inspect(day: Day, dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            seen["parcels"] = {
                r["status"]: r["n"]
                for r in await conn.fetch("SELECT status::text AS status, count(*) AS n FROM parcels GROUP BY 1")
            }
            seen["unsettled_jobs"] = await conn.fetchval(
                "SELECT count(*) FROM jobs j LEFT JOIN payments p ON p.job_id = j.id"
                " WHERE p.status IS NULL OR p.status NOT IN ('captured', 'cancelled')"
            )
            seen["ledger"] = {
                r["currency"]: r["total"]
                for r in await conn.fetch(
                    "SELECT currency, sum(amount_minor) AS total FROM journal_lines GROUP BY currency"
                )
            }
            seen["unpaid_couriers"] = await conn.fetchval(
                """SELECT count(*) FROM parcels p
                   WHERE p.status IN ('delivered', 'collected') AND p.assigned_courier_id IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM payment_transfers t JOIN payments m ON m.id = t.payment_id
                                     WHERE m.job_id = p.job_id AND t.courier_id = p.assigned_courier_id)"""
            )
            seen["booked"] = sum(1 for p in day.parcels if p.id)
        finally:
            await conn.close()

    outcome = simulate(small=True, seed=3, out=tmp_path, database_url=admin_dsn, show_progress=False, on_day=inspect)

    assert seen["booked"] == 60, outcome.figures["simulation"]["errors"]
    assert sum(seen["parcels"].values()) == 60
    assert set(seen["parcels"]) <= FINAL, seen["parcels"]
    assert seen["unsettled_jobs"] == 0
    assert seen["unpaid_couriers"] == 0
    assert seen["ledger"]
    assert all(total == 0 for total in seen["ledger"].values()), seen["ledger"]
    figures = outcome.figures
    assert figures["reconciliation"]["mismatchCount"] == 0
    assert figures["reconciliation"]["matched"] > 0
    # The day used the crowd, the fleet and lockers: the model's paths were all walked.
    assert figures["simulation"]["accepted"] > 0
    assert figures["kpis"]["crowdParcels"] > 0
    assert figures["simulation"]["pings_kept"] > 0

    written = json.loads((tmp_path / "report.json").read_text())
    assert set(JSON_KEYS) <= set(written)
    assert written["headline"]["jobs"] == 60
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5
