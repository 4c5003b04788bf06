"""Runs a simulated day: the Stripe fake, a throwaway database, the day, the report."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketplace.bench_common import postgres_server, throwaway_database
from marketplace.clock import ManualClock
from marketplace.logs import configure_logging
from marketplace.settings import load_settings
from marketplace.simulation import behaviour as model
from marketplace.simulation import report
from marketplace.simulation.engine import TICK, Day, Simulation
from stripefake import FakeStripe, RunningFake

DAY = date(2026, 12, 1)  # a Tuesday; fixed, so a seed replays the same day
STRIPE_KEY = "sk_test_crowdship_simulation"


@dataclass(frozen=True, slots=True)
class Outcome:
    day: Day
    figures: dict[str, Any]
    wall_s: float


def simulate(
    *,
    small: bool,
    seed: int,
    out: Path,
    database_url: str | None = None,
    size: model.Size | None = None,
    show_progress: bool = True,
    on_day: Callable[[Day, str], Any] | None = None,
) -> Outcome:
    """The whole run (blocking). `database_url` names a PostgreSQL server where a throwaway database is
    made (default: TEST_DATABASE_URL, DATABASE_URL, else the embedded one). `on_day`, when given, is
    awaited with the finished day and the database's DSN before the database is dropped (tests)."""
    started = time.perf_counter()
    configure_logging("WARNING")
    base = load_settings()
    url = database_url or os.environ.get("TEST_DATABASE_URL") or base.database_url
    city = model.city(size or model.Size.of(small), seed, DAY)
    clock = ManualClock(city.local(6).astimezone(UTC))
    with (
        RunningFake(FakeStripe(clock=clock)) as stripe,
        postgres_server(url, base.embedded_data_dir) as (server_dsn, _),
        throwaway_database(server_dsn) as dsn,
        tempfile.TemporaryDirectory(prefix="crowdship-sim-blobs-") as blobs,
    ):
        settings = load_settings(
            database_url=dsn,
            stripe_secret_key=STRIPE_KEY,
            stripe_webhook_secret="whsec_crowdship_simulation",
            stripe_api_base=stripe.url,
            access_token_ttl_s=3600,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            signup_max_per_address=1_000_000,
            login_max_attempts_per_address=1_000_000,
            login_max_attempts_per_email=1_000_000,
            gc_freeze_after_start=False,
            blob_dir=blobs,
            log_level="WARNING",
        )
        simulation = Simulation(settings, clock, city, seed, stripe.url)
        ticks = int((city.local(23, 30) - city.local(6)) / TICK) + 1
        columns = (TextColumn("simulated day"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"))
        with Progress(*columns, TimeElapsedColumn(), disable=not show_progress) as bar:
            task = bar.add_task("", total=ticks)

            def progress(step: int, label: str) -> None:
                bar.update(task, advance=step, description=label)

            async def main() -> Day:
                day = await simulation.run(progress)
                if on_day is not None:
                    await on_day(day, dsn)
                return day

            day = asyncio.run(main())
        wall_s = time.perf_counter() - started
        figures = report.write(day, out, seed=seed, wall_s=wall_s)
    return Outcome(day, figures, wall_s)
