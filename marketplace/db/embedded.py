"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is not set.

pgserver keeps a list of the processes holding the server and stops it when the last one exits.
A SIGKILLed holder never leaves that list and its postmaster keeps running, so before attaching
we drop dead holders and any postmaster.pid whose process is not a postgres server: the next
start then reuses or restarts the server instead of failing on leftovers.
"""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)

START_ATTEMPTS = 3
READY_TIMEOUT_S = 120.0


def _prune_dead_holders(pgdata: Path) -> None:
    holders = pgdata / ".handle_pids.json"
    if not holders.exists():
        return
    try:
        pids = json.loads(holders.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
    if alive != pids:
        holders.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    """Zombies count as dead: a killed holder its parent has not reaped yet holds nothing."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _drop_stale_pidfile(pgdata: Path) -> None:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        process = psutil.Process(pid)
        # A reused pid may belong to another postgres (the system's, or another data dir's).
        alive = process.name().startswith("postgres") and str(pgdata) in " ".join(process.cmdline())
    except (ValueError, IndexError, psutil.Error):
        alive = False
    if not alive:
        log.info("removing stale postmaster.pid in %s", pgdata)
        pidfile.unlink(missing_ok=True)


def start_embedded(
    data_dir: str | Path,
    *,
    attempts: int = START_ATTEMPTS,
    ready_timeout_s: float = READY_TIMEOUT_S,
    attach: Callable[[Path], PostgresServer] | None = None,
) -> PostgresServer:
    """Starts (or attaches to) the server kept in `data_dir`; it stops when the last holder exits.

    pgserver gives `pg_ctl -w start` a fixed 10 s. On a loaded machine the server can take longer
    (CI saw it once), and the postmaster goes on starting after pg_ctl is killed; so a failed start is
    followed by a wait for the postmaster to be ready (or gone) and a fresh attach, up to `attempts`.
    `attach` is pgserver's `get_server` unless a test stands in for a start that failed.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as in CI); its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer, get_server

    pgdata = Path(data_dir).expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(exist_ok=True)
    for attempt in range(1, attempts + 1):
        with PostgresServer._lock:
            _prune_dead_holders(pgdata)
            _drop_stale_pidfile(pgdata)
        try:
            return get_server(pgdata, cleanup_mode="stop") if attach is None else attach(pgdata)
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError, AssertionError) as error:
            # pgserver registers the handle before starting: forget the failed one so the next
            # attach builds a new handle, and its exit hook does not try to stop what it never held.
            failed = PostgresServer._instances.pop(pgdata, None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            if attempt == attempts:
                raise
            log.warning("embedded PostgreSQL did not start (%s); waiting for it, attempt %d", error, attempt + 1)
            wait_until_settled(pgdata, ready_timeout_s)
    raise AssertionError("unreachable")


def wait_until_settled(pgdata: Path, timeout_s: float) -> bool:
    """Until the data dir's postmaster is ready or not running at all (then a new start is needed);
    False when neither happened within the time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = _postmaster_state(pgdata)
        if state in ("ready", None):
            return True
        time.sleep(0.2)
    return False


def _postmaster_state(pgdata: Path) -> str | None:
    """The status line of a live postmaster.pid (starting, ready, stopping), or None with no live server."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        if not psutil.pid_exists(int(lines[0])):
            return None
    except (OSError, ValueError, IndexError):
        return None
    return lines[7].strip() if len(lines) > 7 else "starting"


def embedded_dsn(server: PostgresServer, database: str = "postgres") -> str:
    return server.get_uri(database)
