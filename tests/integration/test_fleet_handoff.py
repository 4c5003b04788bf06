"""Parcels nobody took by the area's cut-off go to the professional fleet, keeping their last explanation."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.rounds import RoundTrigger
from marketplace.services.container import Services
from marketplace.services.fleet import CSV_HEADER, manifest_csv
from tests.integration.dispatch_city import seed_city

MICROSECOND = timedelta(microseconds=1)
CUTOFF = timedelta(minutes=30)


async def test_parcels_go_to_the_fleet_at_the_cut_off_and_appear_on_the_days_manifest(
    services: Services, database_url: str, db: asyncpg.Connection, clock: ManualClock
) -> None:
    seeded = await seed_city(database_url, fleet_cutoff_s=1800)
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    await services.rounds.run(seeded.area_id)
    first = await db.fetchrow(
        """
        SELECT p.id, j.pickup_until, p.placement_reasons::text AS reasons, p.fallback_cost_minor
        FROM parcels p JOIN jobs j ON j.id = p.job_id WHERE p.status = 'booked'
        ORDER BY j.pickup_until, p.id LIMIT 1
        """
    )
    assert first is not None
    assert first["reasons"] is not None  # the round explained why it was not placed

    clock.at = first["pickup_until"] - CUTOFF - MICROSECOND
    before = await services.fleet.hand_off_due()
    assert await db.fetchval("SELECT status FROM parcels WHERE id = $1", first["id"]) == "booked"

    clock.at = first["pickup_until"] - CUTOFF
    handed = await services.fleet.hand_off_due()
    assert handed >= 1
    row = await db.fetchrow(
        "SELECT status, status_changed_at, placement_reasons::text AS reasons FROM parcels WHERE id = $1", first["id"]
    )
    assert row is not None
    assert row["status"] == "handed_to_fleet"
    assert row["status_changed_at"] == clock.now()
    assert row["reasons"] == first["reasons"]  # the last explanation is kept
    event = await db.fetchrow(
        "SELECT from_status, to_status, reason_code, actor_kind FROM parcel_events WHERE parcel_id = $1", first["id"]
    )
    assert event is not None
    assert dict(event) == {
        "from_status": "booked",
        "to_status": "handed_to_fleet",
        "reason_code": "fleet_cutoff",
        "actor_kind": "system",
    }
    # The job follows its parcel (a seeded job has one): handed over whole, it is settled, so its payment
    # is queued for capture in the hand-off's transaction.
    job = await db.fetchrow(
        "SELECT j.id, j.status FROM jobs j JOIN parcels p ON p.job_id = j.id WHERE p.id = $1", first["id"]
    )
    assert job is not None
    assert job["status"] == "handed_to_fleet"
    settle = await db.fetchval(
        "SELECT count(*) FROM pgqueuer WHERE entrypoint = 'settle_payment'"
        " AND convert_from(payload, 'UTF8')::jsonb ->> 'job_id' = $1",
        str(job["id"]),
    )
    assert settle == 1
    # Offered parcels are not the fleet's while their offer is open.
    total_handed = await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'handed_to_fleet'")
    assert total_handed == before + handed
    assert await services.fleet.hand_off_due() == 0  # the same instant hands nothing twice

    day = first["pickup_until"].astimezone(ZoneInfo("Europe/Berlin")).date()
    manifest = await services.fleet.manifest(seeded.area_id, day)
    assert first["id"] in {line.parcel_id for line in manifest.lines}
    line = next(line for line in manifest.lines if line.parcel_id == first["id"])
    assert line.fallback_cost_minor == first["fallback_cost_minor"]
    assert line.pickup_address.startswith("Hauptstrasse")
    text = manifest_csv(manifest)
    rows = text.splitlines()
    assert rows[0] == ",".join(CSV_HEADER)
    assert len(rows) == 1 + len(manifest.lines)
    assert any(r.startswith(str(first["id"])) for r in rows[1:])
