"""The embedded PostgreSQL (pgserver) used when DATABASE_URL is not set.

pgserver keeps a list of the processes holding the server and stops it when the last one exits.
A SIGKILLed holder never leaves that list and its postmaster keeps running, so before attaching
we drop dead holders and any postmaster.pid whose process is not a postgres server: the next
start then reuses or restarts the server instead of failing on leftovers.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)


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


def start_embedded(data_dir: str | Path) -> PostgresServer:
    """Starts (or attaches to) the server kept in `data_dir`; it stops when the last holder exits."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as in CI); its /tmp fallback is fine.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import PostgresServer, get_server

    pgdata = Path(data_dir).expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _prune_dead_holders(pgdata)
        _drop_stale_pidfile(pgdata)
    return get_server(pgdata, cleanup_mode="stop")


def embedded_dsn(server: PostgresServer, database: str = "postgres") -> str:
    return server.get_uri(database)
