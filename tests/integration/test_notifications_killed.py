"""A worker SIGKILLed while the SMTP server holds a message: every notification still arrives once.

The first message's DATA is held by the server until after the kill; whatever else the killed worker
had taken (claimed, connected, not yet handed over) must reach the server through the next worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from tests.factories import make_area
from tests.helpers import GraphQL
from tests.integration.ops_delivery import book
from tests.integration.ops_jobs import open_shop
from tests.integration.test_worker import eventually
from tests.receivers import Inbox, smtp_server

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker_process(database_url: str, smtp_port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "PYTHONUNBUFFERED": "1",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", "worker", "--heartbeat-timeout-s", "2"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def test_a_worker_killed_mid_send_leaves_every_notification_received_once(
    gql: GraphQL, services: Services, database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    area: ServiceArea = await make_area(services)
    shop = await open_shop(gql, services, area, "shop@example.com", "Corner Shop")
    for i in range(3):
        await book(gql, shop, recipient={"name": "Ada", "phone": "+31 6 1234 5678", "email": f"r{i}@example.com"})
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE channel = 'email'") == 3

    release = threading.Event()
    box = Inbox(hold=release)
    log = tmp_path / "worker.log"
    with smtp_server(box) as port:
        with worker_process(database_url, port, log) as first:
            # The server has the first message and has not answered yet: the worker is mid-send.
            await eventually(lambda: asyncio.to_thread(box.first_arrived.wait, 0.05), 180, "the first message")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        release.set()
        in_flight = box.keys()[0]
        # Marked just before DATA: the server may have it, so no worker will send it again.
        assert await db.fetchval("SELECT status FROM notifications WHERE 'notification-' || id = $1", in_flight) == (
            "handing_over"
        )

        async def settled() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) = 0 FROM notifications WHERE status IN ('pending', 'sending', 'handing_over')"
                )
            )

        with worker_process(database_url, port, log):
            await eventually(settled, 180, "every notification settled")
    assert sorted(m["To"] for m in box.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert len(set(box.keys())) == 3
    statuses = await db.fetch("SELECT status, count(*) AS n FROM notifications WHERE channel = 'email' GROUP BY 1")
    # The one being handed over when the worker died may have gone out, so it is never sent again; any
    # other it had taken but not handed over is sent by the next worker.
    assert {r["status"]: r["n"] for r in statuses} == {"sent": 2, "unconfirmed": 1}
    assert await db.fetchval("SELECT status FROM notifications WHERE 'notification-' || id = $1", in_flight) == (
        "unconfirmed"
    )
