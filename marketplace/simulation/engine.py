"""A simulated city day driven through the real service: GraphQL over HTTP to the application under
uvicorn on a real socket, the real pgqueuer worker, the Stripe fake, one simulated clock.

**Time.** The service reads "now" only from its injected `Clock`; the simulation runs the application,
the worker's services and the Stripe fake in this process on one `ManualClock` (as the tests do) and
moves it in ticks of five simulated minutes. It moves the clock only while the queue is idle (no job
picked, none due), so no job sees time jump under it. The worker runs without its wall-clock cron
(`build_worker(schedules=False)`): each tick the simulation enqueues what the cron would have
(`schedule_rounds`, `expire_offers`, `fleet_handoff`, `return_uncollected`) at its simulated minute,
and the fleet's van plan is made once, after the day's last hand-over (`FLEET_PLAN_DEFERRAL`). Jobs
the service queues with a delay in real seconds (an offer sweep at its expiry) are left to the per-tick
sweep.
"""

from __future__ import annotations

import asyncio
import functools
import random
import socket
import time as wall
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn

from marketplace.app import create_app
from marketplace.clock import ManualClock
from marketplace.db.pool import create_pool
from marketplace.domain.accounts import Principal, Role
from marketplace.repositories.simulation import SimulationRepository
from marketplace.services.container import build_services
from marketplace.settings import Settings
from marketplace.simulation import behaviour as model
from marketplace.simulation import documents as doc
from marketplace.worker import (
    EXPIRE_OFFERS,
    FLEET_HANDOFF,
    RECONCILE,
    RETURN_UNCOLLECTED,
    SCHEDULE_ROUNDS,
    build_worker,
    solve_pool,
    warm_pool,
)
from schema.types import decode_id

TICK = timedelta(minutes=5)
# The fleet's van plan is queued by each hand-off a minute (real time) later; replanned at every tick's
# hand-off it would cost a PyVRP solve per tick. The simulation defers it past the day and, once the
# day's hand-overs are done, makes it due (`_close`): one plan of the whole day, as the worker would
# make it after the last hand-over.
FLEET_PLAN_DEFERRAL = timedelta(hours=12)
PASSWORD = "simulated-day-passphrase"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
IN_FLIGHT = 8
SERVER_KEEPALIVE_S = 75
CLIENT_KEEPALIVE_S = 30.0
PING_BATCH = 15  # points (minutes) per recordLocationPings request
OPEN = {"BOOKED", "OFFERED", "ASSIGNED", "AT_PICKUP", "PICKED_UP", "AT_DROPOFF", "FAILED_ATTEMPT", "TO_LOCKER"}
OPEN |= {"RETURNING", "IN_LOCKER"}
Progress = Callable[[int, str], None]


class SimulationError(RuntimeError):
    pass


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    if payload["errors"]:
        raise SimulationError(str(payload["errors"]))
    return payload


class Api:
    """GraphQL over HTTP; a user's session refreshed when its simulated hour is nearly up."""

    def __init__(self, http: httpx.AsyncClient, clock: ManualClock) -> None:
        self.http, self.clock = http, clock
        self.sessions: dict[str, tuple[str, str, datetime]] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def raw(self, query: str, variables: dict[str, Any], email: str | None) -> dict[str, Any]:
        headers = {}
        if email is not None:
            headers["Authorization"] = f"Bearer {await self.token(email)}"
        response = await self.http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
        body: dict[str, Any] = response.json()
        if "errors" in body:
            raise SimulationError(f"{body['errors']}")
        return body["data"]  # type: ignore[no-any-return]

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | None) -> Any:
        data = await self.raw(query, variables or {}, as_)
        return next(iter(data.values()))

    async def mutate(self, query: str, i: dict[str, Any] | None, *, as_: str | None) -> dict[str, Any]:
        return ok(await self(query, {"i": i}, as_=as_))

    async def login(self, email: str) -> str:
        session = ok(await self(doc.LOGIN, {"i": {"email": email, "password": PASSWORD}}, as_=None))["session"]
        self.sessions[email] = (session["accessToken"], session["refreshToken"], self.clock.now())
        return str(session["user"]["id"])

    async def token(self, email: str) -> str:
        # One refresh at a time per user: a refresh token is single-use, and a second use revokes the session.
        async with self.locks.setdefault(email, asyncio.Lock()):
            return await self._token(email)

    async def _token(self, email: str) -> str:
        access, refresh, at = self.sessions[email]
        if self.clock.now() - at > timedelta(minutes=50):
            payload = ok(await self(doc.REFRESH, {"i": {"refreshToken": refresh}}, as_=None))
            session = payload["session"]
            self.sessions[email] = (session["accessToken"], session["refreshToken"], self.clock.now())
            access = session["accessToken"]
        return access


@dataclass
class Stop:
    at: datetime
    kind: str
    parcel: int  # job index


@dataclass
class Courier:
    plan: model.CourierPlan
    email: str
    trips: dict[str, model.TripPlan] = field(default_factory=dict)
    stops: list[Stop] = field(default_factory=list)
    position: model.Point | None = None
    since: datetime | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Parcel:
    plan: model.JobPlan
    job_id: str = ""
    id: str = ""
    label: str = ""
    pin: str = ""
    token: str = ""
    locker: int | None = None
    courier: int | None = None
    picked_up: bool = False
    done: bool = False


@dataclass
class Record:
    """What the simulation saw itself, for the report (the KPIs come from the service)."""

    offers: int = 0
    accepted: int = 0
    declined: int = 0
    ignored: int = 0
    pings_kept: int = 0
    pings_sent: int = 0
    failed_attempts: int = 0
    redirects: int = 0
    errors: list[str] = field(default_factory=list)
    detours_m: list[int] = field(default_factory=list)
    utilisation: list[float] = field(default_factory=list)
    crowd_routes: list[list[model.Point]] = field(default_factory=list)
    round_ids: set[str] = field(default_factory=set)


@dataclass
class Day:
    city: model.City
    area_id: str
    store_ids: list[str]
    locker_ids: list[str]
    couriers: list[Courier]
    parcels: list[Parcel]
    record: Record
    results: dict[str, Any]


async def _bounded(items: Iterable[Any], work: Callable[[Any], Awaitable[None]], limit: int = IN_FLIGHT) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(item: Any) -> None:
        async with gate:
            await work(item)

    await asyncio.gather(*(one(i) for i in items))


def _point(p: model.Point) -> dict[str, float]:
    return {"lat": p[0], "lng": p[1]}


def _address(n: int) -> dict[str, str]:
    return {
        "street": "Simulatiestraat",
        "houseNumber": str(n + 1),
        "postalCode": "1012 AB",
        "city": "Amsterdam",
        "countryCode": "NL",
    }


class Simulation:
    def __init__(self, settings: Settings, clock: ManualClock, city: model.City, seed: int, stripe_url: str) -> None:
        self.settings, self.clock, self.city = settings, clock, city
        self.rng = random.Random(seed * 7919 + 1)  # noqa: S311 - replayable, not a secret
        self.stripe_url = stripe_url
        self.record = Record()
        self.couriers = [Courier(c, f"courier{c.index}@sim.example") for c in city.couriers]
        self.parcels = [Parcel(j, locker=j.locker) for j in city.jobs]
        self.trip_owner: dict[str, int] = {}
        self.rounds_after: str | None = None
        self.later: list[tuple[datetime, str, int]] = []  # (when, what, job index)

    # --- The service under test -------------------------------------------------------------------

    async def run(self, progress: Progress) -> Day:
        dsn = self.settings.database_url or ""
        app = create_app(self.settings, clock=self.clock)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # The client lets an idle connection go (CLIENT_KEEPALIVE_S) well before the server would close
        # it: with both at 5 s (httpx's and uvicorn's defaults), a request could go out on a connection
        # the server was closing that instant (httpx.ReadError; seen once, 16:10 into a default day).
        config = uvicorn.Config(
            app, log_config=None, lifespan="on", access_log=False, timeout_keep_alive=SERVER_KEEPALIVE_S
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        pool = await create_pool(dsn, min_size=1, max_size=4)
        self.db = pool
        services = build_services(self.settings, pool, self.clock)
        services.fleet.replan_delay = FLEET_PLAN_DEFERRAL
        self.services = services
        executor = solve_pool(1)
        services.rounds.executor = executor
        queue_conn = await asyncpg.connect(dsn)
        pgq = build_worker(services, queue_conn, schedules=False)
        try:
            await warm_pool(executor, 1)
            working = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=1)))
            while not server.started:
                if serving.done():
                    raise SimulationError("the application did not start")
                await asyncio.sleep(0.01)
            limits = httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_S)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits) as http:
                self.api = Api(http, self.clock)
                self.http = http
                day = await self._day(progress)
            pgq.shutdown.set()
            await working
            return day
        finally:
            server.should_exit = True
            await serving
            sock.close()
            services.rounds.executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            await queue_conn.close()
            await pool.close()

    async def idle(self, limit_s: float = 600) -> None:
        """Until no job is picked or due (the worker has caught up with the simulated minute)."""
        started = wall.monotonic()
        while wall.monotonic() - started < limit_s:
            async with self.db.acquire() as conn:
                busy = await SimulationRepository(conn).busy_jobs()
            if busy == 0:
                return
            await asyncio.sleep(0.05)
        raise SimulationError("the worker did not catch up")

    async def enqueue(self, names: Iterable[str], payload: dict[str, Any] | None = None) -> None:
        async with self.services.db.uow() as uow:
            for name in names:
                await uow.repos.job_queue.enqueue(name, payload or {}, dedupe_key=name)
            await uow.commit()

    # --- The day ------------------------------------------------------------------------------------

    async def _day(self, progress: Progress) -> Day:
        city = self.city
        self.clock.at = city.local(6).astimezone(UTC)
        progress(0, "setting up the city")
        await self._set_up()
        end = city.local(23, 30).astimezone(UTC)
        ticks = int((end - self.clock.now()) / TICK)
        bookings = sorted(range(len(self.parcels)), key=lambda i: self.parcels[i].plan.book_at)
        for _ in range(ticks):
            before, now = self.clock.now(), self.clock.now() + TICK
            self.clock.at = now
            due = [i for i in bookings if before < self.parcels[i].plan.book_at <= now]
            await _bounded(due, self._book)
            await self._redirects(before, now)
            await self.enqueue([SCHEDULE_ROUNDS, EXPIRE_OFFERS, FLEET_HANDOFF, RETURN_UNCOLLECTED])
            await self.idle()
            await self._offers()
            await _bounded(self.couriers, functools.partial(self._move, before=before, now=now))
            await self._later(now)
            await self.idle()
            progress(1, f"{now.astimezone(city.local(0).tzinfo):%H:%M}")
            if now > city.local(21).astimezone(UTC) and not await self._unfinished():
                break
        # Whatever is left in a locker is collected; what is on its way back reaches the store.
        for entry in list(self.later):
            await self._do_later(entry)
        self.later.clear()
        await self.idle()
        return await self._close()

    async def _unfinished(self) -> int:
        async with self.db.acquire() as conn:
            value = await SimulationRepository(conn).unfinished_parcels()
        return value + len(self.later)

    async def _set_up(self) -> None:
        city, api = self.city, self.api
        await self.services.accounts.create_user(email="ops@sim.example", password=PASSWORD, role=Role.ADMIN)
        await api.login("ops@sim.example")
        area = await api.mutate(
            doc.CREATE_AREA,
            {
                "name": "Simulated Amsterdam",
                "countryCode": "NL",
                "currency": "EUR",
                "timeZone": model.TIME_ZONE,
                "polygon": [_point(p) for p in city.polygon],
                "fleetBaseMinor": 650,
                "fleetPerKmMinor": 60,
                "roundIntervalS": 1200,
                "roundTimeLimitS": 5,
                "offerTtlS": 240,
                "fleetCutoffS": 1800,
            },
            as_="ops@sim.example",
        )
        self.area_id = area["serviceArea"]["id"]
        await api.mutate(
            doc.SET_DEPOT,
            {"areaId": self.area_id, "name": "Depot", "point": _point(city.depot), "vanCount": 40},
            as_="ops@sim.example",
        )
        every_day = [{"weekday": d, "opens": "08:00:00", "closes": "20:00:00"} for d in range(1, 8)]
        always = [{"weekday": d, "opens": "00:00:00", "closes": "00:00:00"} for d in range(1, 8)]
        self.locker_ids = []
        for site in city.lockers:
            locker = await api.mutate(
                doc.CREATE_LOCKER,
                {
                    "kind": "LOCKER",
                    "name": f"Locker {site.index + 1}",
                    "operator": "SimLockers",
                    "address": _address(100 + site.index),
                    "point": _point(site.point),
                    "openingHours": always,
                    "compartments": [
                        {"size": "S", "count": 10},
                        {"size": "M", "count": 30},
                        {"size": "L", "count": 20},
                        {"size": "XL", "count": 5},
                    ],
                },
                as_="ops@sim.example",
            )
            self.locker_ids.append(locker["locker"]["id"])
        ok(await api(doc.SIGN_UP, {"i": self._sign_up("shop@sim.example", "RETAILER", "SimShops")}, as_=None))
        await api.login("shop@sim.example")
        await api.mutate(doc.ADD_CARD, {"paymentMethod": "pm_card_visa"}, as_="shop@sim.example")
        self.store_ids = []
        for store in city.stores:
            created = await api.mutate(
                doc.CREATE_STORE,
                {
                    "kind": "STORE",
                    "name": f"Store {store.index + 1}",
                    "address": _address(store.index),
                    "point": _point(store.point),
                    "openingHours": every_day,
                },
                as_="shop@sim.example",
            )
            self.store_ids.append(created["pickupLocation"]["id"])
        await _bounded(self.couriers, self._onboard)

    def _sign_up(self, email: str, role: str, organization: str | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"email": email, "password": PASSWORD, "role": role, "firstName": "Sam"}
        if organization:
            values["organizationName"] = organization
        return values

    async def _onboard(self, courier: Courier) -> None:
        api, plan, email, now = self.api, courier.plan, courier.email, self.clock.now()
        ok(await api(doc.SIGN_UP, {"i": self._sign_up(email, "COURIER")}, as_=None))
        user_id = await api.login(email)
        if plan.level:
            kinds = ["PASSPORT"] + (["BACKGROUND_CHECK"] if plan.level == 2 else [])
            documents = [
                {
                    "kind": k,
                    "issuingCountry": "NL",
                    "expiresAt": (now + timedelta(days=900)).isoformat(),
                    "numberLast4": "1234",
                }
                for k in kinds
            ]
            request = await api.mutate(
                doc.SUBMIT_VERIFICATION, {"level": plan.level, "documents": documents}, as_=email
            )
            await api.mutate(doc.APPROVE_VERIFICATION, {"requestId": request["request"]["id"]}, as_="ops@sim.example")
        if plan.insured:
            cover = {"amountMinor": plan.cover_minor, "currency": "EUR"}
            policy = await api.mutate(
                doc.REGISTER_POLICY,
                {
                    "insurer": "Sim Verzekeringen",
                    "policyNumber": f"SIM-{plan.index:05d}",
                    "coverPerParcel": cover,
                    "coverPerTrip": {"amountMinor": plan.cover_minor * 3, "currency": "EUR"},
                    "validFrom": (now - timedelta(days=30)).isoformat(),
                    "validUntil": (now + timedelta(days=335)).isoformat(),
                },
                as_=email,
            )
            await api.mutate(doc.VERIFY_POLICY, {"policyId": policy["policy"]["id"]}, as_="ops@sim.example")
        # Stripe Connect onboarding: the link is opened in the courier's browser, which the fake's
        # control completes; our copy is read back from the account, as the `account.updated` job does.
        await api.mutate(doc.START_ONBOARDING, {"country": "NL"}, as_=email)
        state = await self.services.payments.payout_state(Principal(Role.COURIER, decode_id(user_id, "User"), None))
        assert state is not None
        assert state.account_id is not None
        response = await self.http.post(f"{self.stripe_url}/_fake/accounts/{state.account_id}/onboard", json={})
        response.raise_for_status()
        await self.services.payments.refresh_account(state.account_id)
        vehicle = await api.mutate(
            doc.REGISTER_VEHICLE, {"kind": plan.vehicle, "name": plan.vehicle.title()}, as_=email
        )
        for n, trip in enumerate(plan.trips):
            created = await api.mutate(
                doc.CREATE_TRIP,
                {
                    "vehicleId": vehicle["vehicle"]["id"],
                    "origin": {"point": _point(trip.origin), "label": "home" if n == 0 else "work"},
                    "destination": {"point": _point(trip.destination), "label": "work" if n == 0 else "home"},
                    "departAfter": trip.depart_after.isoformat(),
                    "arriveBy": trip.arrive_by.isoformat(),
                    "maxDetourM": trip.max_detour_m,
                },
                as_=email,
            )
            courier.trips[created["trip"]["id"]] = trip
            self.trip_owner[created["trip"]["id"]] = plan.index

    # --- Retailers and recipients ----------------------------------------------------------------------

    async def _book(self, index: int) -> None:
        parcel, plan = self.parcels[index], self.parcels[index].plan
        dropoff: dict[str, Any] = (
            {"lockerId": self.locker_ids[plan.locker]}
            if plan.locker is not None
            else {**_address(1000 + index), "point": _point(plan.dropoff)}
        )
        safe = plan.on_failure == "SAFE_PLACE"
        request = {
            "pickupLocationId": self.store_ids[plan.store],
            "dropoff": dropoff,
            "pickupWindow": {"start": plan.pickup[0].isoformat(), "end": plan.pickup[1].isoformat()},
            "deliveryWindow": {"start": plan.delivery[0].isoformat(), "end": plan.delivery[1].isoformat()},
            "parcels": [
                {
                    "weightG": plan.weight_g,
                    "lengthMm": plan.dims_mm[0],
                    "widthMm": plan.dims_mm[1],
                    "heightMm": plan.dims_mm[2],
                    "declaredValue": {"amountMinor": plan.declared_minor, "currency": "EUR"},
                }
            ],
            "recipient": {
                "name": f"Recipient {index + 1}",
                "phone": f"+316{10_000_000 + index:08d}",
                "safePlace": "behind the blue gate" if safe else None,
                "safePlaceConsent": safe,
            },
            "onFailure": plan.on_failure,
            "fallbackLockerId": self.locker_ids[plan.fallback_locker] if plan.on_failure == "LOCKER" else None,
            "reference": f"SIM-{index:05d}",
        }
        try:
            quote = await self.api.mutate(doc.QUOTE, request, as_="shop@sim.example")
            booked = await self.api.mutate(
                doc.BOOK, {"quoteId": quote["quote"]["id"], "idempotencyKey": f"book-{index}"}, as_="shop@sim.example"
            )
        except SimulationError as exc:
            self.record.errors.append(f"booking {index}: {exc}")
            return
        [booked_parcel] = booked["job"]["parcels"]
        parcel.job_id, parcel.id = booked["job"]["id"], booked_parcel["id"]
        parcel.label, parcel.pin = booked_parcel["labelCode"], booked_parcel["recipientPin"]
        # The recipient's link (what the notification carries): /t/<token>.
        async with self.db.acquire() as conn:
            parcel.token = await SimulationRepository(conn).tracking_token(decode_id(parcel.id, "Parcel")) or ""

    async def _redirects(self, before: datetime, now: datetime) -> None:
        for parcel in self.parcels:
            at = parcel.plan.redirect_at
            if at is None or not (before < at <= now) or not parcel.id or parcel.picked_up:
                continue
            locker = model.nearest(parcel.plan.dropoff, self.city.lockers)
            payload = await self.api(
                doc.REDIRECT,
                {"i": {"token": parcel.token, "lockerId": self.locker_ids[locker], "idempotencyKey": "redirect"}},
                as_=None,
            )
            if payload["errors"]:
                self.record.errors.append(f"redirect {parcel.plan.index}: {payload['errors']}")
                continue
            self.record.redirects += 1
            parcel.locker = locker
            if parcel.courier is not None:  # the offer gave it up: the courier's route no longer has it
                courier = self.couriers[parcel.courier]
                courier.stops = [s for s in courier.stops if s.parcel != parcel.plan.index]
                parcel.courier = None

    # --- Couriers -------------------------------------------------------------------------------------

    async def _offers(self) -> None:
        # Rounds are listed oldest first: read on from the last finished one seen.
        rounds = await self.api(doc.ROUNDS, {"a": self.area_id, "after": self.rounds_after}, as_="ops@sim.example")
        offered: set[int] = set()
        for edge in rounds["edges"]:
            node = edge["node"]
            if node["status"] not in ("SUCCEEDED", "FAILED"):
                break
            self.rounds_after = edge["cursor"]
            if node["id"] in self.record.round_ids:
                continue
            self.record.round_ids.add(node["id"])
            # The plan is read per round (`matchingRound(id)`): which trips' couriers have an offer now.
            plan = (await self.api(doc.ROUND, {"id": node["id"]}, as_="ops@sim.example"))["plan"]
            for assignment in (plan or {}).get("assignments", []):
                if assignment["tripId"] in self.trip_owner:
                    offered.add(self.trip_owner[assignment["tripId"]])
        await _bounded(sorted(offered), self._decide)

    async def _decide(self, index: int) -> None:
        courier = self.couriers[index]
        offers = await self.api(doc.MY_OFFERS, as_=courier.email)
        by_id = {p.id: p for p in self.parcels if p.id}
        for edge in offers["edges"]:
            offer = edge["node"]
            self.record.offers += 1
            decision = model.decide(self.rng, offer["detourM"], offer["pay"]["amountMinor"])
            if decision.kind == "ignore":
                self.record.ignored += 1
                continue
            if decision.kind == "decline":
                await self.api.mutate(
                    doc.DECLINE, {"offerId": offer["id"], "reason": decision.reason}, as_=courier.email
                )
                self.record.declined += 1
                continue
            payload = await self.api(
                doc.ACCEPT, {"i": {"offerId": offer["id"], "idempotencyKey": offer["id"]}}, as_=courier.email
            )
            if payload["errors"]:
                self.record.errors.append(f"accept: {payload['errors']}")
                continue
            self.record.accepted += 1
            self.record.detours_m.append(offer["detourM"])
            trip = courier.trips[offer["tripId"]]
            parcels = [by_id[p] for p in offer["parcelIds"]]
            spec_weight = {"FOOT": 5000, "BICYCLE": 15000, "CARGO_BIKE": 80000, "E_SCOOTER": 10000}
            spec_weight |= {"CAR": 150000, "VAN": 800000, "PUBLIC_TRANSPORT": 10000}
            self.record.utilisation.append(sum(p.plan.weight_g for p in parcels) / spec_weight[courier.plan.vehicle])
            route = [trip.origin]
            for stop in offer["stops"]:
                parcel = by_id[stop["parcelId"]]
                parcel.courier = index
                courier.stops.append(Stop(datetime.fromisoformat(stop["plannedAt"]), stop["kind"], parcel.plan.index))
                route.append(self._where(stop["kind"], parcel))
            route.append(trip.destination)
            self.record.crowd_routes.append(route)
            courier.stops.sort(key=lambda s: s.at)
            if courier.position is None or courier.since is None:
                courier.position, courier.since = trip.origin, self.clock.now()

    def _where(self, kind: str, parcel: Parcel) -> model.Point:
        if kind == "PICKUP":
            return self.city.stores[parcel.plan.store].point
        if parcel.locker is not None:
            return self.city.lockers[parcel.locker].point
        return parcel.plan.dropoff

    async def _move(self, courier: Courier, before: datetime, now: datetime) -> None:
        """Pings along the way to the next stop, then every stop planned by now."""
        if not courier.stops or courier.position is None or courier.since is None:
            return
        target = courier.stops[0]
        goal = self._where(target.kind, self.parcels[target.parcel])
        span = max((target.at - courier.since).total_seconds(), 60.0)
        pings = []
        at = before + timedelta(minutes=1)
        while at <= min(now, target.at):
            share = (at - courier.since).total_seconds() / span
            pings.append(
                {
                    "recordedAt": at.isoformat(),
                    "position": _point(model.along(courier.position, goal, share)),
                    "accuracyM": 10.0,
                }
            )
            at += timedelta(minutes=1)
        # The phone batches its points (one a minute) and sends them every PING_BATCH of them, and
        # always before a stop, so the service has the latest position when the courier arrives.
        courier.pending.extend(pings)
        if courier.pending and (len(courier.pending) >= PING_BATCH or courier.stops[0].at <= now):
            payload = await self.api(doc.PINGS, {"i": {"pings": courier.pending}}, as_=courier.email)
            self.record.pings_sent += len(courier.pending)
            self.record.pings_kept += payload["kept"]
            courier.pending = []
        while courier.stops and courier.stops[0].at <= now:
            stop = courier.stops.pop(0)
            parcel = self.parcels[stop.parcel]
            try:
                await self._visit(courier, stop, parcel)
            except SimulationError as exc:
                self.record.errors.append(f"{stop.kind} {stop.parcel}: {exc}")
            courier.position, courier.since = self._where(stop.kind, parcel), max(stop.at, before)
        if not courier.stops:
            courier.position = courier.since = None

    async def _visit(self, courier: Courier, stop: Stop, parcel: Parcel) -> None:
        api, email, i = self.api, courier.email, parcel.plan.index
        here = _point(self._where(stop.kind, parcel))
        step = {"parcelId": parcel.id, "position": here}
        if stop.kind == "PICKUP":
            await api.mutate(doc.ARRIVE_AT_PICKUP, step, as_=email)
            await api.mutate(doc.CONFIRM_PICKUP, {**step, "labelCode": parcel.label}, as_=email)
            parcel.picked_up = True
            return
        await api.mutate(doc.ARRIVE_AT_DROPOFF, step, as_=email)
        if parcel.locker is not None:
            await api.mutate(doc.DEPOSIT, step, as_=email)
            self.later.append((self.clock.now() + model.collection_delay(self.rng), "collect", i))
            return
        reason = model.hand_over_fails(self.rng)
        if reason is None:
            proof: dict[str, Any] = {"pin": parcel.pin}
            if self.rng.random() < model.P_PHOTO:
                proof["photoHash"] = await self._photo(email)
            await api.mutate(doc.DELIVER, {**step, "proof": proof}, as_=email)
            parcel.done = True
            return
        self.record.failed_attempts += 1
        await api.mutate(doc.FAIL, {**step, "reason": reason}, as_=email)
        action = parcel.plan.on_failure
        if action == "LOCKER":
            fallback = parcel.plan.fallback_locker
            await api.mutate(
                doc.DEPOSIT, {"parcelId": parcel.id, "position": _point(self.city.lockers[fallback].point)}, as_=email
            )
            self.later.append((self.clock.now() + model.collection_delay(self.rng), "collect", i))
        elif action == "SAFE_PLACE":
            photo = await self._photo(email)
            await api.mutate(doc.SAFE_PLACE, {**step, "photoHash": photo}, as_=email)
            parcel.done = True
        else:
            self.later.append((self.clock.now() + timedelta(minutes=40), "return", i))

    async def _photo(self, email: str) -> str:
        response = await self.http.post(
            "/uploads/photos", content=PNG, headers={"Authorization": f"Bearer {await self.api.token(email)}"}
        )
        response.raise_for_status()
        return str(response.json()["hash"])

    async def _later(self, now: datetime) -> None:
        due = [e for e in self.later if e[0] <= now]
        self.later = [e for e in self.later if e[0] > now]
        await _bounded(due, self._do_later)

    async def _do_later(self, entry: tuple[datetime, str, int]) -> None:
        _, what, i = entry
        parcel = self.parcels[i]
        try:
            if what == "return":
                courier = self.couriers[parcel.courier if parcel.courier is not None else 0]
                await self.api.mutate(doc.CONFIRM_RETURN, {"parcelId": parcel.id}, as_=courier.email)
            else:
                seen = await self.api(doc.PARCEL, {"id": parcel.id}, as_="shop@sim.example")
                code = {"parcelId": parcel.id, "pickupCode": seen["lockerPickupCode"], "idempotencyKey": f"collect-{i}"}
                await self.api.mutate(doc.COLLECT, code, as_="ops@sim.example")
            parcel.done = True
        except SimulationError as exc:
            self.record.errors.append(f"{what} {i}: {exc}")

    # --- The end of the day -------------------------------------------------------------------------------

    async def _close(self) -> Day:
        api, city, ops = self.api, self.city, "ops@sim.example"
        day = city.day.isoformat()
        kpis_by_hour = await api(doc.KPIS_BY_HOUR, {"a": self.area_id}, as_=ops)
        async with self.db.acquire() as conn:
            await SimulationRepository(conn).release_van_plans()
        for kind in ("FLEET", "BASELINE"):
            await api.mutate(doc.PLAN_VANS, {"areaId": self.area_id, "date": day, "kind": kind}, as_=ops)
        await self.idle()
        kpis = await api(doc.KPIS, {"a": self.area_id, "d": day}, as_=ops)
        baseline = await api(doc.VAN_BASELINE, {"a": self.area_id, "d": day}, as_=ops)
        manifest = await api(doc.MANIFEST, {"a": self.area_id, "d": day}, as_=ops)
        # Reconciliation of the UTC day, as the worker's nightly job does it (01:20 the day after).
        self.clock.at = datetime.combine(city.day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(
            hours=1, minutes=20
        )
        await self.enqueue([RECONCILE], {"date": day})
        await self.idle()
        runs = [e["node"] for e in (await api(doc.RECONCILIATION, {"d": day}, as_=ops))["edges"]]
        current = [r for r in runs if r["supersededAt"] is None]
        balances: dict[str, int] = {}
        after = None
        while True:
            page = await api(doc.LEDGER, {"after": after}, as_=ops)
            for edge in page["edges"]:
                money = edge["node"]["balance"]
                balances[money["currency"]] = balances.get(money["currency"], 0) + money["amountMinor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        unplaced: dict[str, int] = {}
        for line in (manifest or {}).get("lines", []):
            for reason in line["reasons"] or [{"code": "no_round_placed_it"}]:
                unplaced[reason["code"]] = unplaced.get(reason["code"], 0) + 1
        async with self.db.acquire() as conn:
            parcel_statuses, payment_statuses = await SimulationRepository(conn).status_counts()
        results = {
            "kpis": kpis,
            "kpis_by_hour": kpis_by_hour,
            "van_baseline": baseline,
            "fleet": (manifest or {}).get("vanRounds"),
            "reconciliation": current[0] if current else None,
            "ledger_balance_by_currency": balances,
            "unplaced_by_reason": unplaced,
            "parcel_statuses": parcel_statuses,
            "payment_statuses": payment_statuses,
        }
        return Day(
            city, self.area_id, self.store_ids, self.locker_ids, self.couriers, self.parcels, self.record, results
        )
