"""A start of the embedded PostgreSQL that pgserver gave up on is waited for and attached again."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from marketplace.db.embedded import embedded_dsn, start_embedded, wait_until_settled
from tests.embedded.test_serve_embedded import postgres_processes

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

pytestmark = pytest.mark.embedded


def write_pidfile(pgdata: Path, pid: int, status: str) -> None:
    """postmaster.pid as PostgreSQL writes it: pid, data dir, start, port, socket dir, host, shmem, status."""
    pgdata.mkdir(parents=True, exist_ok=True)
    lines = [str(pid), str(pgdata), "0", "5432", "/tmp", "", "0 0", status.ljust(8)]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")


def test_a_starting_postmaster_is_waited_for_and_a_ready_or_dead_one_settles_at_once(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    assert wait_until_settled(pgdata, 0.5)  # nothing there: a new start is due
    write_pidfile(pgdata, os.getpid(), "starting")
    assert not wait_until_settled(pgdata, 0.5)  # alive and still starting: not yet
    write_pidfile(pgdata, os.getpid(), "ready")
    assert wait_until_settled(pgdata, 0.5)
    write_pidfile(pgdata, 2**22 + 1, "starting")  # above pid_max's default: no such process
    assert wait_until_settled(pgdata, 0.5)


async def test_a_start_that_pg_ctl_gave_up_on_is_retried_and_the_server_works(tmp_path: Path) -> None:
    """pgserver runs `pg_ctl -w start` with a fixed 10 s timeout; the first attach fails as it does."""
    from pgserver.postgres_server import get_server

    data_dir = (tmp_path / "pg").resolve()
    attempts: list[Path] = []

    def attach(pgdata: Path) -> PostgresServer:
        attempts.append(pgdata)
        if len(attempts) == 1:
            raise subprocess.TimeoutExpired(["pg_ctl", "-w", "start"], 10)
        return get_server(pgdata, cleanup_mode="stop")

    server = start_embedded(data_dir, attach=attach, ready_timeout_s=5)
    try:
        assert attempts == [data_dir, data_dir]
        conn = await asyncpg.connect(embedded_dsn(server))
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        server.cleanup()
    assert postgres_processes(data_dir) == []


def test_a_start_failing_every_time_raises_after_the_attempts(tmp_path: Path) -> None:
    calls: list[Path] = []

    def attach(pgdata: Path) -> PostgresServer:
        calls.append(pgdata)
        raise subprocess.CalledProcessError(1, ["pg_ctl", "-w", "start"])

    with pytest.raises(subprocess.CalledProcessError):
        start_embedded(tmp_path / "pg", attach=attach, attempts=2, ready_timeout_s=1)
    assert len(calls) == 2
