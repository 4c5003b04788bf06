"""`make run`: the API and one worker on the embedded PostgreSQL, and a SIGTERM to make stops all three."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.embedded.test_serve_embedded import free_port, postgres_processes, stop_postgres

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def wait_for(condition: str, check: object, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
    pytest.fail(f"{condition} not reached in {timeout:.0f}s\n{tail}")


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def our_processes(make: psutil.Process) -> list[psutil.Process]:
    try:
        return [make, *make.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_sigterm_to_make_run_stops_the_api_the_worker_and_the_embedded_database(tmp_path: Path) -> None:
    data_dir = (tmp_path / "pg").resolve()
    log = tmp_path / "run.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST", "MAKEFLAGS", "MAKELEVEL")}
    env = {k: v for k, v in env.items() if not k.startswith("STRIPE_")}
    env.update(
        EMBEDDED_DATA_DIR=str(data_dir),
        EMBEDDED_STRIPE_FILE=str(data_dir.parent / "stripe.sqlite3"),
        PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    make = psutil.Process(process.pid)
    descendants: list[psutil.Process] = []
    try:
        wait_for("the API ready", lambda: ready(port), START_TIMEOUT_S, log)
        wait_for("the worker ready", lambda: "worker ready" in log.read_text(errors="replace"), START_TIMEOUT_S, log)
        descendants = our_processes(make)[1:]
        assert any("worker" in " ".join(p.cmdline()) for p in descendants), descendants
        assert postgres_processes(data_dir)

        process.send_signal(signal.SIGTERM)  # to make alone, as a process manager or `kill` would
        process.wait(STOP_TIMEOUT_S)
        wait_for(
            "every process gone",
            lambda: not postgres_processes(data_dir) and not [p for p in descendants if p.is_running()],
            STOP_TIMEOUT_S,
            log,
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for child in descendants:
            if child.is_running():
                child.kill()
        stop_postgres(data_dir)
