"""Webhook deliveries per second by one worker, against a bare httpx POST loop in the same run.

On a throwaway database: one organisation with one endpoint on a local receiver (a separate process
answering 200 to everything), N outbox messages already fanned out to it, one pgqueuer job each,
as the outbox statement writes them. Then:

- baseline (a): a bare httpx POST loop, one request after another, the same N bodies, signed;
- baseline (b): the same with 10 requests in flight at once;
- worker: one worker (pgqueuer) delivering every job: it reads the delivery, resolves and checks the
  address, signs with `standardwebhooks`, POSTs, and logs the attempt and the outcome in a transaction.

Prints a table (or JSON): wall time and deliveries per second of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from marketplace.bench_common import Phase, add_output_options, bench_database, progress_of
from marketplace.clock import SystemClock
from marketplace.db.pool import create_pool
from marketplace.domain.webhooks import WebhookPolicy, message_id
from marketplace.repositories.webhook_seed import delivery_counts, seed_deliveries
from marketplace.services.container import build_services
from marketplace.services.webhooks import new_secret
from marketplace.settings import load_settings
from marketplace.webhook_http import WebhookSender
from marketplace.worker import build_worker

progress = progress_of("bench_webhooks")


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 200 to every request after reading its body, as a quick receiver would."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body_of(n: int) -> str:
    """A payload the size and shape of a parcel event's."""
    return json.dumps(
        {
            "type": "parcel.picked_up",
            "timestamp": "2026-12-01T10:00:00.000000Z",
            "data": {
                "eventId": str(uuid.UUID(int=n)),
                "sequence": n,
                "parcelId": "UGFyY2VsOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMQ==",
                "jobId": "Sm9iOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMQ==",
                "reference": f"ORDER-{n}",
                "kind": "picked_up",
                "fromStatus": "AT_PICKUP",
                "toStatus": "PICKED_UP",
                "reasonCode": None,
                "position": {"lat": 52.37, "lng": 4.89},
                "occurredAt": "2026-12-01T10:00:00.000000Z",
            },
        }
    )


async def baseline(url: str, bodies: list[str], secret: str, in_flight: int) -> float:
    sender = WebhookSender(WebhookPolicy())
    queue = list(enumerate(bodies))
    async with httpx.AsyncClient(timeout=10) as http:

        async def lane() -> None:
            while queue:
                n, body = queue.pop()
                headers = sender.headers(message_id(uuid.UUID(int=n)), body, (secret,))
                response = await http.post(url, content=body.encode(), headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        return time.perf_counter() - started


async def seed(dsn: str, url: str, secret: str, bodies: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await seed_deliveries(conn, url=url, secret=secret, bodies=bodies, at=datetime.now(UTC))
    finally:
        await conn.close()


async def through_the_worker(dsn: str, n: int) -> float:
    settings = load_settings(database_url=dsn, webhook_allow_private_addresses=True, log_level="WARNING")
    pool = await create_pool(dsn, min_size=1, max_size=10)
    services = build_services(settings, pool, SystemClock())
    queue_conn = await asyncpg.connect(dsn)
    watch = await asyncpg.connect(dsn)
    try:
        pgq = build_worker(services, queue_conn)
        started = time.perf_counter()
        task = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=1)))
        while (await delivery_counts(watch))[0] < n:
            if task.done():
                raise RuntimeError("the worker stopped")
            await asyncio.sleep(0.02)
        wall_s = time.perf_counter() - started
        pgq.shutdown.set()
        await asyncio.wait_for(task, 60)
        failed = (await delivery_counts(watch))[1]
        if failed:
            raise RuntimeError(f"{failed} attempts did not get 200")
        return wall_s
    finally:
        await services.webhooks.sender.aclose()
        await watch.close()
        await queue_conn.close()
        await pool.close()


def format_table(phases: list[Phase]) -> str:
    base = phases[0].per_s
    lines = [
        "| phase | deliveries | wall s | deliveries / s | vs (a) |",
        "|---|---|---|---|---|",
    ]
    for p in phases:
        lines.append(f"| {p.name} | {p.deliveries} | {p.wall_s:.3f} | {p.per_s:.1f} | {p.per_s / base:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="python -m marketplace.bench_webhooks", description=__doc__)
    root.add_argument("--deliveries", type=int, default=1000, help="messages to deliver (default: 1000)")
    add_output_options(root)
    root.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # internal: serve the receiver on this port
    args = root.parse_args(argv)
    if args.receiver:
        import uvicorn

        uvicorn.run(receiver_app, host="127.0.0.1", port=args.receiver, log_level="warning", access_log=False)
        return 0
    if not 1 <= args.deliveries <= 100_000:
        print("bench_webhooks: 1 to 100000 deliveries", file=sys.stderr)
        return 2
    # A line per attempt would cost the worker more than the attempt.
    with bench_database("bench_webhooks", args.server_url, log_level="WARNING") as bench:
        if bench is None:
            return 2
        dsn = bench.dsn
        port = free_port()
        url = f"http://127.0.0.1:{port}/hooks"
        receiver = subprocess.Popen(  # noqa: S603 - our own module, with our own arguments
            [sys.executable, "-m", "marketplace.bench_webhooks", "--receiver", str(port)], stdin=subprocess.DEVNULL
        )
        try:
            _wait_for_port(port)
            secret = new_secret()
            bodies = [body_of(n) for n in range(args.deliveries)]
            progress("baseline: a bare httpx POST loop")
            n = len(bodies)
            phases = [
                Phase("(a) bare httpx POST loop, one at a time", n, asyncio.run(baseline(url, bodies, secret, 1)))
            ]
            phases.append(
                Phase("(b) bare httpx POSTs, 10 in flight", n, asyncio.run(baseline(url, bodies, secret, 10)))
            )
            asyncio.run(seed(dsn, url, secret, bodies))
            progress("one worker delivering the outbox")
            worker_s = asyncio.run(through_the_worker(dsn, n))
            phases.append(Phase("(c) one worker: outbox, pgqueuer, checked and signed POST, logged", n, worker_s))
        finally:
            receiver.terminate()
            receiver.wait()
    if args.json:
        print(json.dumps([{**asdict(p), "per_s": p.per_s} for p in phases], indent=2))
    else:
        print(format_table(phases))
    return 0


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the receiver did not start")


if __name__ == "__main__":
    raise SystemExit(main())
