"""A real worker process SIGKILLed mid-round leaves no half-written round, and the next round runs normally."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from marketplace.domain.rounds import ABANDONED, RoundTrigger
from marketplace.services.container import Services
from tests.integration.dispatch_city import seed_city
from tests.integration.test_worker import eventually

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker_process(
    database_url: str, log: Path, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", "worker", "--heartbeat-timeout-s", "2"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the kill takes its solver processes too
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def test_a_worker_killed_mid_round_writes_nothing_and_the_next_round_succeeds(
    services: Services, database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    seeded = await seed_city(database_url, 2000, 600, now=datetime.now(UTC))
    log = tmp_path / "worker.log"

    async def status() -> list[str]:
        return [r["status"] for r in await db.fetch("SELECT status FROM matching_rounds ORDER BY created_at, id")]

    with worker_process(database_url, log) as first:
        await eventually(lambda: _ready(log), 120)
        await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)

        async def running() -> bool:
            return await status() == ["running"]

        await eventually(running, 60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

    assert await status() == ["running"]  # nobody finished it, and nothing of it was written
    assert await db.fetchval("SELECT count(*) FROM offers") == 0
    assert await db.fetchval("SELECT count(*) FROM parcel_events") == 0
    assert await db.fetchval("SELECT count(*) FROM parcels WHERE status <> 'booked'") == 0
    assert await db.fetchval("SELECT count(*) FROM parcels WHERE placement_round_id IS NOT NULL") == 0

    # The next worker takes the dead worker's job over (its heartbeat stopped), fails the abandoned
    # round and runs a fresh one.
    with worker_process(database_url, log):

        async def succeeded() -> bool:
            return "succeeded" in await status()

        await eventually(succeeded, 180)
    rounds = await db.fetch("SELECT status, error, offers_count FROM matching_rounds ORDER BY created_at, id")
    assert [(r["status"], r["error"]) for r in rounds] == [("failed", ABANDONED), ("succeeded", None)]
    assert rounds[1]["offers_count"] == await db.fetchval("SELECT count(*) FROM offers") > 0


async def _ready(log: Path) -> bool:
    text = await asyncio.to_thread(log.read_text, errors="replace") if log.exists() else ""  # noqa: ASYNC240
    return "worker ready" in text
