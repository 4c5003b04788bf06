"""What every marketplace benchmark's main() does first: settings, then a throwaway database on the
given server (or TEST_DATABASE_URL, DATABASE_URL, or the embedded one), dropped however the run ends;
and the options and progress lines they all share."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from marketplace.db import migrations
from marketplace.logs import configure_logging
from marketplace.repositories.meta import MetaRepository
from marketplace.settings import Settings, SettingsError, load_settings


def progress_of(prog: str) -> Callable[[str], None]:
    def progress(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    return progress


_progress = progress_of("bench_booking")  # the throwaway database's own lines, as they always read


def add_output_options(root: argparse.ArgumentParser) -> None:
    """`--json` and `--server-url`, alike in every benchmark."""
    root.add_argument("--json", action="store_true", help="print JSON instead of a table")
    root.add_argument(
        "--server-url",
        help="PostgreSQL server to create the throwaway database on "
        "(default: TEST_DATABASE_URL, else DATABASE_URL, else the embedded server in EMBEDDED_DATA_DIR)",
    )


@dataclass(frozen=True, slots=True)
class Phase:
    """A timed run of a number of deliveries (webhook messages, settlements), for the results table."""

    name: str
    deliveries: int
    wall_s: float

    @property
    def per_s(self) -> float:
        return self.deliveries / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class BenchDatabase:
    settings: Settings  # as loaded from the environment, before any benchmark's overrides
    dsn: str  # the throwaway database
    server: str  # which server it is on, for the report


@contextmanager
def bench_database(
    prog: str, server_url: str | None, *, log_level: str | None = None
) -> Iterator[BenchDatabase | None]:
    """The throwaway database, or None (after saying why on stderr) when the settings are invalid.
    `log_level` configures the application's logging first, where a line per request would cost more
    than what is measured."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        yield None
        return
    if log_level is not None:
        configure_logging(log_level)
    url = server_url or os.environ.get("TEST_DATABASE_URL") or settings.database_url
    with (
        postgres_server(url, settings.embedded_data_dir) as (server_dsn, server),
        throwaway_database(server_dsn) as dsn,
    ):
        yield BenchDatabase(settings, dsn, server)


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def _on_server(server_dsn: str, action: Callable[[MetaRepository], Awaitable[None]]) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await action(MetaRepository(conn))
    finally:
        await conn.close()


@contextmanager
def postgres_server(url: str | None, embedded_data_dir: str) -> Iterator[tuple[str, str]]:
    """(server URL, description): the given server, or the embedded one, held while we run."""
    if url:
        parts = urlsplit(url)
        yield url, f"server at {parts.hostname or 'local socket'}:{parts.port or 5432}"
        return
    from marketplace.db.embedded import embedded_dsn, start_embedded

    _progress(f"starting the embedded PostgreSQL in {embedded_data_dir}")
    server = start_embedded(embedded_data_dir)
    yield embedded_dsn(server), f"embedded (pgserver) in {embedded_data_dir}"


@contextmanager
def throwaway_database(server_dsn: str) -> Iterator[str]:
    """A fresh, migrated database on the server, dropped afterwards however the benchmark ends."""
    name = f"crowdship_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_on_server(server_dsn, lambda meta: meta.create_database(name)))
    try:
        dsn = with_database(server_dsn, name)
        _progress(f"migrating the throwaway database {name}")
        migrations.upgrade(dsn)
        yield dsn
    finally:
        asyncio.run(_on_server(server_dsn, lambda meta: meta.drop_database(name)))
