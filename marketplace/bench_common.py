"""What every marketplace benchmark's main() does first: settings, then a throwaway database on the
given server (or TEST_DATABASE_URL, DATABASE_URL, or the embedded one), dropped however the run ends."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from marketplace.bench_booking import postgres_server, throwaway_database
from marketplace.logs import configure_logging
from marketplace.settings import SettingsError, load_settings


def progress_of(prog: str) -> Callable[[str], None]:
    def progress(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    return progress


@contextmanager
def bench_database(prog: str, server_url: str | None, *, log_level: str = "WARNING") -> Iterator[str | None]:
    """The throwaway database's DSN, or None (after saying why on stderr) when the settings are invalid."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        yield None
        return
    configure_logging(log_level)  # a line per request would cost more than what is measured
    url = server_url or os.environ.get("TEST_DATABASE_URL") or settings.database_url
    with postgres_server(url, settings.embedded_data_dir) as (server_dsn, _), throwaway_database(server_dsn) as dsn:
        yield dsn
