"""`python -m marketplace.bench_pings`: location pings ingested per second, and live fan-out across replicas.

On a throwaway database, C couriers (default 200) each accept one parcel (seeded offers, accepted
over GraphQL). Then:

1. **Ingest**, one replica under uvicorn: every courier posts K batches of 10 points
   (`recordLocationPings`) one after the other, all couriers at once, from a separate process (so
   the phones' HTTP work does not take the server's CPU). Baseline in the same run: the same batches
   written by the service's own insert statement straight over asyncpg (200 concurrent tasks on a
   pool as large as the server's): the database's floor.
2. **Fan-out**, two replicas on the same database: a retailer subscribed on replica B to a parcel
   (`parcelUpdates`), N pings posted one at a time to replica A; latency from sending the ping to
   the subscriber receiving the message that carries it. Baseline: a bare asyncpg NOTIFY from one
   connection to a LISTEN on another (what PostgreSQL alone costs).

Speed is measured here, never in timed tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from marketplace.bench_accept import ACCEPT, LOGIN, PASSWORD, seed_courier, seed_offers, serving
from marketplace.bench_booking import (
    BENCH_AT,
    BOOK_JOBS,
    BenchError,
    Client,
    RequestLog,
    delivery,
    logging_into,
    seed_area,
    seed_retailer,
    stripe_for_bench,
)
from marketplace.bench_common import add_output_options, bench_database, progress_of
from marketplace.clock import ManualClock
from marketplace.db.pool import create_pool
from marketplace.domain.geo import Point
from marketplace.domain.tracking import Fix, Ping
from marketplace.repositories import Repositories
from marketplace.services.container import build_services
from marketplace.settings import Settings, load_settings
from schema.types import decode_id, global_id

BATCH = 10
RECORD = """
mutation($input: RecordLocationPingsInput!) { recordLocationPings(input: $input) { kept dropped errors { code } } }
"""
SUBSCRIBE = """
subscription($id: ID!) { parcelUpdates(parcelId: $id) { courierPosition { position { lat lng } } } }
"""


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Row:
    what: str
    count: int
    wall_s: float
    latencies_ms: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "count": self.count,
            "wall_s": round(self.wall_s, 3),
            "per_s": round(self.count / self.wall_s, 1) if self.wall_s else None,
            "p50_ms": round(statistics.median(self.latencies_ms), 2),
            "p99_ms": round(percentile(self.latencies_ms, 0.99), 2),
        }


def batches_for(courier: int, batches: int, start: datetime) -> list[list[dict[str, Any]]]:
    """Distinct seconds per point (none is dropped), a slow walk north from near Dam Square."""
    out = []
    for b in range(batches):
        points = []
        for i in range(BATCH):
            k = b * BATCH + i
            at = start + timedelta(seconds=k)
            points.append(
                {"recordedAt": at.isoformat(), "position": {"lat": 52.36 + k * 0.00001, "lng": 4.89 + courier * 1e-5}}
            )
        out.append(points)
    return out


async def phones(work: dict[str, Any]) -> dict[str, Any]:
    """Every courier posts its batches one after the other, all couriers at once, each on its own connection.

    The connections are opened (20 at a time) before the clock starts: 200 simultaneous TCP and HTTP
    handshakes would measure the set-up of a phone's connection, not the ingest.
    """
    latencies: list[float] = []
    clients = [
        httpx.AsyncClient(base_url=work["base_url"], limits=httpx.Limits(max_connections=1), timeout=120)
        for _ in work["couriers"]
    ]
    try:
        for first in range(0, len(clients), 20):
            await asyncio.gather(*(c.get("/health") for c in clients[first : first + 20]))

        async def courier(http: httpx.AsyncClient, token: str, batches: list[list[dict[str, Any]]]) -> None:
            for points in batches:
                started = time.perf_counter()
                response = await http.post(
                    "/graphql",
                    json={"query": RECORD, "variables": {"input": {"pings": points}}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                payload = response.json()["data"]["recordLocationPings"]
                if payload["errors"] or payload["kept"] != len(points):
                    raise BenchError(f"a batch was refused or thinned: {payload}")

        started = time.perf_counter()
        await asyncio.gather(
            *(courier(http, c["token"], c["batches"]) for http, c in zip(clients, work["couriers"], strict=True))
        )
        wall_s = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return {"wall_s": wall_s, "latencies_ms": latencies}


async def raw_inserts(dsn: str, couriers: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]], batches: int) -> Row:
    """The baseline: the same batches through the service's own statement (`TrackingRepository.add_pings`) on
    a pooled connection, with no HTTP, GraphQL, session check, lock, position or ETA; 200 tasks, a pool of 10."""
    pool = await create_pool(dsn, min_size=10, max_size=10)
    latencies: list[float] = []
    start = BENCH_AT - timedelta(hours=3)
    now = BENCH_AT
    try:

        async def courier(n: int, courier_id: uuid.UUID, trip_id: uuid.UUID, area_id: uuid.UUID) -> None:
            for points in batches_for(n, batches, start):
                fixes = [
                    Fix(
                        Ping(
                            datetime.fromisoformat(p["recordedAt"]),
                            Point(p["position"]["lat"], p["position"]["lng"]),
                        ),
                        implausible=False,
                    )
                    for p in points
                ]
                started = time.perf_counter()
                async with pool.acquire() as conn:
                    await Repositories(conn).tracking.add_pings(courier_id, trip_id, area_id, fixes, now)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(courier(n, *c) for n, c in enumerate(couriers)))
        wall_s = time.perf_counter() - started
    finally:
        await pool.close()
    return Row("baseline: the same batches' insert alone", len(couriers) * batches * BATCH, wall_s, tuple(latencies))


async def raw_notify(dsn: str, samples: int) -> Row:
    """The baseline of fan-out: NOTIFY on one connection, heard by LISTEN on another."""
    listener, sender = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    heard: asyncio.Queue[float] = asyncio.Queue()
    try:
        await listener.add_listener("bench", lambda *_: heard.put_nowait(time.perf_counter()))
        latencies = []
        for i in range(samples):
            started = time.perf_counter()
            await Repositories(sender).tracking.notify("bench", str(i))
            latencies.append((await asyncio.wait_for(heard.get(), 10) - started) * 1000)
    finally:
        await listener.close()
        await sender.close()
    return Row("baseline: asyncpg NOTIFY -> LISTEN", samples, 0.0, tuple(latencies))


async def fan_out(
    settings: Settings, clock: ManualClock, shop_token: str, courier: dict[str, Any], samples: int
) -> Row:
    """Pings posted to replica A, one at a time; time until the subscriber on replica B sees each."""
    async with serving(settings, clock) as a, serving(settings, clock) as b:
        url = str(b.base_url).replace("http://", "ws://").rstrip("/") + "/graphql"
        async with (
            httpx.AsyncClient() as client,
            aconnect_ws(url, client, subprotocols=["graphql-transport-ws"], session_class=AsyncWebSocketSession) as ws,
        ):
            await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {shop_token}"}})
            if (await ws.receive_json(timeout=30))["type"] != "connection_ack":
                raise BenchError("the subscription was not acknowledged")
            variables = {"id": courier["parcel"]}
            await ws.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": variables}}
            )
            await ws.receive_json(timeout=30)  # the parcel as it is
            latencies = []
            for i in range(samples):
                lat = round(52.37 + i * 0.0001, 6)
                at = BENCH_AT - timedelta(minutes=30) + timedelta(seconds=i)
                point = {"recordedAt": at.isoformat(), "position": {"lat": lat, "lng": 4.9}}
                started = time.perf_counter()
                response = await a.post(
                    "/graphql",
                    json={"query": RECORD, "variables": {"input": {"pings": [point]}}},
                    headers={"Authorization": f"Bearer {courier['token']}"},
                )
                if response.json()["data"]["recordLocationPings"]["kept"] != 1:
                    raise BenchError(f"a fan-out ping was not kept: {response.text}")
                while True:
                    message = await ws.receive_json(timeout=30)
                    position = (message["payload"]["data"]["parcelUpdates"]["courierPosition"] or {}).get("position")
                    if position is not None and position["lat"] == lat:
                        break
                latencies.append((time.perf_counter() - started) * 1000)
    return Row("ping on replica A -> subscriber on replica B", samples, 0.0, tuple(latencies))


async def measure(settings: Settings, dsn: str, couriers: int, batches: int, samples: int) -> list[Row]:
    clock = ManualClock(BENCH_AT)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        services = build_services(settings, pool, clock)
        area = await seed_area(services)
        async with serving(settings, clock) as http:
            retailer = Client(http)
            location = await seed_retailer(retailer, services, area)
            rows = [delivery(location, f"P-{i}") for i in range(couriers)]
            booked = await retailer.mutate(BOOK_JOBS, "bookJobs", {"input": {"jobs": rows}}, "book")
            job_ids = [decode_id(j["id"], "Job") for j in booked["jobs"]]
            async with services.db.read() as repos:
                jobs = await repos.jobs.get_jobs([j for j in job_ids if j is not None])
            parcel_ids = [j.parcels[0].id for j in jobs]

            async def carrier(n: int) -> tuple[dict[str, Any], tuple[uuid.UUID, uuid.UUID, uuid.UUID]]:
                email, trips = await seed_courier(services, area, n, 1)
                (offer,) = await seed_offers(services, area, trips, [parcel_ids[n]])
                phone = Client(http)
                session = await phone.mutate(LOGIN, "login", {"input": {"email": email, "password": PASSWORD}}, "in")
                phone.token = str(session["session"]["accessToken"])
                offer_id = str(global_id("Offer", offer.id))
                await phone.mutate(ACCEPT, "acceptOffer", {"input": {"offerId": offer_id}}, "accept")
                work = {
                    "token": phone.token,
                    "parcel": str(global_id("Parcel", parcel_ids[n])),
                    "batches": batches_for(n, batches, BENCH_AT - timedelta(hours=2)),
                }
                return work, (trips[0].courier_id, trips[0].id, area.id)

            made = []
            for first in range(0, couriers, 20):
                made += await asyncio.gather(*(carrier(n) for n in range(first, min(first + 20, couriers))))
            phone_work = [m[0] for m in made]
            raw = [m[1] for m in made]
            progress(f"{couriers} couriers each carry one parcel")

            baseline = await raw_inserts(dsn, raw, batches)
            progress("baseline inserts done")
            runner = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "marketplace.bench_pings",
                "--phones",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            work = {"base_url": str(http.base_url), "couriers": phone_work}
            out, _ = await runner.communicate(json.dumps(work).encode())
            if runner.returncode != 0:
                raise BenchError(f"the couriers' process failed with exit code {runner.returncode}")
            report = json.loads(out)
            api = Row(
                "recordLocationPings on one replica",
                couriers * batches * BATCH,
                report["wall_s"],
                tuple(report["latencies_ms"]),
            )
            progress("ingest done")
        expected = 2 * couriers * batches * BATCH
        async with services.db.read() as repos:
            stored = (await repos.meta.row_counts(["courier_pings"]))["courier_pings"]
        if stored != expected:
            raise BenchError(f"{stored} pings stored, {expected} expected")
        notify = await raw_notify(dsn, samples)
        fan = await fan_out(settings, clock, str(retailer.token), phone_work[0], samples)
    finally:
        await pool.close()
    return [baseline, api, notify, fan]


def format_table(rows: list[Row], couriers: int, server: str) -> str:
    lines = [
        f"Pings benchmark: {couriers} couriers at once, batches of {BATCH}, PostgreSQL: {server}",
        "",
        "| what | points or samples | wall s | points / s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.to_json()
        per_s = "-" if not row.wall_s else r["per_s"]
        wall = "-" if not row.wall_s else r["wall_s"]
        lines.append(f"| {r['what']} | {r['count']} | {wall} | {per_s} | {r['p50_ms']} | {r['p99_ms']} |")
    return "\n".join(lines)


progress = progress_of("bench_pings")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m marketplace.bench_pings",
        description="Pings ingested per second by one replica against raw inserts, and ping-to-subscriber latency "
        "across two replicas against a bare NOTIFY, on a throwaway database.",
    )
    root.add_argument("--couriers", type=int, default=200, help="couriers posting at once (default: 200)")
    root.add_argument("--batches", type=int, default=5, help="batches of 10 points per courier (default: 5)")
    root.add_argument("--samples", type=int, default=50, help="fan-out samples (default: 50)")
    add_output_options(root)
    root.add_argument("--phones", action="store_true", help=argparse.SUPPRESS)  # the couriers' side, internal
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.phones:
        print(json.dumps(asyncio.run(phones(json.load(sys.stdin)))))
        return 0
    if not (1 <= args.couriers <= 500 and 1 <= args.batches <= 100 and 1 <= args.samples <= 1000):
        print("bench_pings: 1 to 500 couriers, 1 to 100 batches, 1 to 1000 samples", file=sys.stderr)
        return 2
    with bench_database("bench_pings", args.server_url) as bench:
        if bench is None:
            return 2
        dsn, server = bench.dsn, bench.server
        try:
            # The shop books with a card on file: against the configured Stripe, else a fake in-process.
            with stripe_for_bench(bench.settings) as stripe_settings:
                # Cheap hashing and no login limit: the couriers' logins from one address are set-up, not measured.
                bench_settings = load_settings(
                    database_url=dsn,
                    password_hash_time_cost=1,
                    password_hash_memory_kib=64,
                    login_max_attempts_per_address=100_000,
                    **stripe_settings,
                )
                # The application's log goes to memory, so standard output holds only the results.
                with logging_into(RequestLog()):
                    rows = asyncio.run(measure(bench_settings, dsn, args.couriers, args.batches, args.samples))
        except BenchError as exc:
            print(f"bench_pings: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        print(format_table(rows, args.couriers, server))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
