"""`python -m marketplace.bench_accept`: offers accepted per second with C couriers accepting at once.

Over the real application in process (HTTP framing, GraphQL, services, SQL) on a throwaway database:
a retailer books C x K deliveries with one bookJobs call, every courier gets K trips, and an offer per
trip is seeded directly (rounds are the worker's), one parcel each. Then all C couriers accept their
K offers at the same time, each one after the other, as a phone would. It reports offers accepted per
second, per-accept latency (median and 95th percentile) and SQL statements per accept; it checks
every offer ended accepted and every parcel assigned. Speed is measured here, never in timed tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import uvicorn

from marketplace.app import create_app
from marketplace.bench_booking import (
    BENCH_AT,
    BOOK_JOBS,
    DAM_SQUARE,
    ZUID,
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
from marketplace.domain.accounts import Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.delivery import SYSTEM, ParcelStatus, transition
from marketplace.domain.money import Money
from marketplace.domain.offers import Offer, OfferStatus, OfferStop, StopKind
from marketplace.domain.trips import Trip, TripStatus, Waypoint
from marketplace.domain.vehicles import KIND_SPECS, Vehicle, VehicleKind
from marketplace.heap import settle_heap_for_serving
from marketplace.services.container import Services, build_services
from marketplace.services.dispatch_common import event
from marketplace.settings import Settings, load_settings
from schema.types import decode_id, global_id

PASSWORD = "bench courier passphrase"
ACCEPT = """
mutation($input: AcceptOfferInput!) { acceptOffer(input: $input) { offer { id status } errors { code } } }
"""
WARM_UP = 2
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { session { accessToken } errors { code } } }"


@dataclass(frozen=True)
class AcceptResult:
    couriers: int
    offers: int
    wall_s: float
    latencies_ms: tuple[float, ...]
    sql_statements: tuple[int, ...]
    server: str

    @property
    def per_second(self) -> float:
        return self.offers / self.wall_s

    def to_json(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "couriers": self.couriers,
            "offers": self.offers,
            "wall_s": round(self.wall_s, 3),
            "offers_per_s": round(self.per_second, 1),
            "latency_ms_p50": round(statistics.median(lat), 1),
            "latency_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 1),
            "sql_statements_per_accept": statistics.median_low(self.sql_statements),
            "server": self.server,
        }


def format_table(result: AcceptResult) -> str:
    r = result.to_json()
    return "\n".join(
        [
            f"Accept benchmark: {r['couriers']} couriers accepting at once, PostgreSQL: {r['server']}",
            "",
            "| couriers | offers | wall s | offers accepted / s | p50 ms | p95 ms | SQL statements per accept |",
            "|---|---|---|---|---|---|---|",
            f"| {r['couriers']} | {r['offers']} | {r['wall_s']} | {r['offers_per_s']} | {r['latency_ms_p50']} "
            f"| {r['latency_ms_p95']} | {r['sql_statements_per_accept']} |",
        ]
    )


async def seed_courier(services: Services, area: ServiceArea, n: int, trips: int) -> tuple[str, list[Trip]]:
    email = f"courier-{n}-{uuid.uuid4().hex[:6]}@example.com"
    user = await services.accounts.create_user(email=email, password=PASSWORD, role=Role.COURIER)
    now = services.clock.now()
    spec = KIND_SPECS[VehicleKind.BICYCLE]
    vehicle = Vehicle(
        id=uuid.uuid4(),
        courier_id=user.id,
        kind=VehicleKind.BICYCLE,
        name="bike",
        max_weight_g=spec.max_weight_g,
        max_volume_cm3=spec.max_volume_cm3,
        zero_emission=spec.zero_emission,
        co2_g_per_km=spec.co2_g_per_km,
        typical_speed_kmh=spec.typical_speed_kmh,
        created_at=now,
    )
    made = [
        Trip(
            id=uuid.uuid4(),
            courier_id=user.id,
            vehicle_id=vehicle.id,
            area_id=area.id,
            origin=Waypoint(DAM_SQUARE, "home"),
            destination=Waypoint(ZUID, "work"),
            depart_after=now + timedelta(minutes=5 * i),
            arrive_by=now + timedelta(hours=12),
            spare_weight_g=spec.max_weight_g,
            spare_volume_cm3=spec.max_volume_cm3,
            max_detour_m=3_000,
            status=TripStatus.OPEN,
            template_id=None,
            template_date=None,
            created_at=now,
            updated_at=now,
        )
        for i in range(trips)
    ]
    async with services.db.uow() as uow:
        await uow.repos.vehicles.save(vehicle)
        for trip in made:
            await uow.repos.trips.add(trip)
        await uow.commit()
    return email, made


async def seed_offers(
    services: Services, area: ServiceArea, trips: list[Trip], parcel_ids: list[uuid.UUID]
) -> list[Offer]:
    """One round, an offer of one parcel per trip, the parcels moved booked -> offered with their events."""
    now = services.clock.now()
    round_id = uuid.uuid4()
    offers = [
        Offer(
            id=uuid.uuid4(),
            round_id=round_id,
            area_id=area.id,
            trip_id=trip.id,
            courier_id=trip.courier_id,
            status=OfferStatus.OPEN,
            parcel_ids=(parcel,),
            stops=(
                OfferStop(parcel, StopKind.PICKUP, now + timedelta(minutes=30)),
                OfferStop(parcel, StopKind.DROPOFF, now + timedelta(minutes=60)),
            ),
            detour_m=800,
            co2_g=0,
            pay=Money(350, area.currency),
            expires_at=now + timedelta(minutes=30),
            decided_at=None,
            decline_reason=None,
            created_at=now,
            updated_at=now,
        )
        for trip, parcel in zip(trips, parcel_ids, strict=True)
    ]
    async with services.db.uow() as uow:
        await uow.repos.offer_decisions.add_finished_round(round_id, area.id, now)
        await uow.repos.offers.add_many(offers)
        parcels = await uow.repos.delivery.parcels(parcel_ids, for_update=True)
        changes = [(p.id, transition(p.status, ParcelStatus.OFFERED)) for p in parcels]
        await uow.repos.delivery.apply(changes, now)
        await uow.repos.parcel_events.append(
            [event(p, SYSTEM, now, change=c) for p, (_, c) in zip(parcels, changes, strict=True)]
        )
        await uow.commit()
    return offers


@asynccontextmanager
async def serving(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """The application under uvicorn on a free local port, as one replica serves, and a client for it.

    A real server (not the in-process test transport, which runs one request at a time) so the
    couriers' requests really overlap.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, clock=clock)
    settle_heap_for_serving()  # as `crowdship serve` does: the benchmark measures the server as deployed
    config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise BenchError("the application did not start")
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
            yield http
    finally:
        server.should_exit = True
        await task
        sock.close()


async def measure(settings: Settings, couriers: int, per_courier: int, server: str) -> AcceptResult:
    clock = ManualClock(BENCH_AT)
    log = RequestLog()
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=2)
    try:
        services = build_services(settings, pool, clock)
        area = await seed_area(services)
        with logging_into(log):
            async with serving(settings, clock) as http:
                retailer = Client(http)
                location = await seed_retailer(retailer, services, area)
                total = couriers * per_courier
                booked_jobs: list[dict[str, Any]] = []
                for start in range(0, total + WARM_UP, 250):
                    rows = [delivery(location, f"A-{i}") for i in range(start, min(start + 250, total + WARM_UP))]
                    booked = await retailer.mutate(BOOK_JOBS, "bookJobs", {"input": {"jobs": rows}}, f"book-{start}")
                    booked_jobs += booked["jobs"]
                job_ids = [decode_id(j["id"], "Job") for j in booked_jobs]
                async with services.db.read() as repos:
                    jobs = await repos.jobs.get_jobs([j for j in job_ids if j is not None])
                parcel_ids = [j.parcels[0].id for j in jobs]
                clients: list[tuple[Client, list[Offer]]] = []
                for n in range(couriers):
                    email, trips = await seed_courier(services, area, n, per_courier)
                    offers = await seed_offers(
                        services, area, trips, parcel_ids[n * per_courier : (n + 1) * per_courier]
                    )
                    client = Client(http)
                    session = await client.mutate(
                        LOGIN, "login", {"input": {"email": email, "password": PASSWORD}}, f"bench-login-{n}"
                    )
                    client.token = str(session["session"]["accessToken"])
                    clients.append((client, offers))
                progress(f"seeded {couriers} couriers with {per_courier} offers each")
                # Untimed: asyncpg's type introspection and prepared statements happen here once.
                email, trips = await seed_courier(services, area, -1, WARM_UP)
                warm = Client(http)
                session = await warm.mutate(LOGIN, "login", {"input": {"email": email, "password": PASSWORD}}, "warm")
                warm.token = str(session["session"]["accessToken"])
                for k, offer in enumerate(await seed_offers(services, area, trips, parcel_ids[total:])):
                    offer_id = str(global_id("Offer", offer.id))
                    await warm.mutate(ACCEPT, "acceptOffer", {"input": {"offerId": offer_id}}, f"warm-{k}")

                # The couriers' phones are another process, so their HTTP work does not eat the server's CPU.
                work = {
                    "base_url": str(http.base_url),
                    "couriers": [
                        {"token": c.token, "offers": [str(global_id("Offer", o.id)) for o in offers]}
                        for c, offers in clients
                    ],
                }
                phones = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "marketplace.bench_accept",
                    "--phones",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                out, _ = await phones.communicate(json.dumps(work).encode())
                if phones.returncode != 0:
                    raise BenchError(f"the couriers' process failed with exit code {phones.returncode}")
                report = json.loads(out)
                wall_s, latencies, request_ids = report["wall_s"], report["latencies_ms"], report["request_ids"]
                statements = [log.statements([r]) for r in request_ids]
        async with services.db.read() as repos:
            offers_by_status, parcels_by_status = await repos.offer_decisions.status_counts()
        accepted, assigned = offers_by_status.get("accepted", 0), parcels_by_status.get("assigned", 0)
        if accepted != total + WARM_UP or assigned != total + WARM_UP:
            raise BenchError(f"{accepted} offers accepted and {assigned} parcels assigned of {total}")
    finally:
        await pool.close()
    return AcceptResult(couriers, total, wall_s, tuple(latencies), tuple(statements), server)


async def phones(work: dict[str, Any]) -> dict[str, Any]:
    """Every courier accepts its offers one after the other, all couriers at once; timings per accept."""
    latencies: list[float] = []
    request_ids: list[str] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=work["base_url"], limits=limits, timeout=120) as http:

        async def courier(n: int, token: str, offers: list[str]) -> None:
            for k, offer_id in enumerate(offers):
                request_id = f"bench-accept-{n}-{k}"
                started = time.perf_counter()
                response = await http.post(
                    "/graphql",
                    json={"query": ACCEPT, "variables": {"input": {"offerId": offer_id, "idempotencyKey": request_id}}},
                    headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                request_ids.append(request_id)
                body = response.json()
                if response.status_code != 200 or body["data"]["acceptOffer"]["errors"]:
                    raise BenchError(f"{request_id}: {response.status_code} {body}")

        started = time.perf_counter()
        await asyncio.gather(*(courier(n, c["token"], c["offers"]) for n, c in enumerate(work["couriers"])))
        wall_s = time.perf_counter() - started
    return {"wall_s": wall_s, "latencies_ms": latencies, "request_ids": request_ids}


progress = progress_of("bench_accept")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m marketplace.bench_accept",
        description="C couriers accept K offers each, all at once, through the real application on a throwaway "
        "database; print offers accepted per second, latency and SQL statements per accept.",
    )
    root.add_argument("--couriers", type=int, default=50, help="couriers accepting at once (default: 50)")
    root.add_argument("--offers-per-courier", type=int, default=10, help="offers each accepts in turn (default: 10)")
    add_output_options(root)
    root.add_argument("--phones", action="store_true", help=argparse.SUPPRESS)  # the couriers' side, internal
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.phones:
        print(json.dumps(asyncio.run(phones(json.load(sys.stdin)))))
        return 0
    if not (
        1 <= args.couriers <= 200 and args.offers_per_courier >= 1 and args.couriers * args.offers_per_courier <= 2000
    ):
        print("bench_accept: 1 to 200 couriers and at most 2000 offers in all", file=sys.stderr)
        return 2
    with bench_database("bench_accept", args.server_url) as bench:
        if bench is None:
            return 2
        with stripe_for_bench(bench.settings) as stripe_settings:
            # Cheap password hashing: the couriers' logins are set-up, not what is measured.
            bench_settings = load_settings(
                database_url=bench.dsn, password_hash_time_cost=1, password_hash_memory_kib=64, **stripe_settings
            )
            try:
                result = asyncio.run(measure(bench_settings, args.couriers, args.offers_per_courier, bench.server))
            except BenchError as exc:
                print(f"bench_accept: {exc}", file=sys.stderr)
                return 1
    print(json.dumps(result.to_json(), indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
