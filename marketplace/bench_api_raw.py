"""The API benchmark's baseline: plain litestar + asyncpg endpoints answering what the GraphQL API answers.

Each endpoint checks the caller exactly as the API does (the same JWT verification, then the same
session query), runs the same SQL as the API's repositories, and writes the same JSON the GraphQL
response carries, byte for byte (the benchmark asserts it). What it leaves out is everything in
between: GraphQL parsing, validation and execution, domain objects, dataloaders.

The booking endpoints take the same input as requestQuote and bookQuote and call the same services
(pricing and the booking checks are domain rules any endpoint must run); so for booking the ratio
is the cost of the GraphQL layer alone.

`python -m marketplace.bench_api_raw --port P` serves it (DATABASE_URL and the JWT settings from the
environment, as `crowdship serve` reads them). The response header `x-sql-statements` tells the
benchmark how many statements a request ran; it is not part of the compared body.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.response import Response

from marketplace.clock import SystemClock
from marketplace.db.pool import StatementCounter, create_pool, current_statements
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.errors import DomainError
from marketplace.domain.geo import Point
from marketplace.domain.jobs import (
    DropoffRequest,
    FailureAction,
    ParcelRequest,
    QuoteBooking,
    QuoteRequest,
    RecipientRequest,
)
from marketplace.heap import settle_heap_for_serving
from marketplace.repositories._base import Conn
from marketplace.repositories.raw_baseline import (
    JOBS_SQL,
    LOCATIONS_SQL,
    OFFERS_SQL,
    PARCELS_SQL,
    SESSION_SQL,
    TRIPS_SQL,
)
from marketplace.services.container import Services, build_services
from marketplace.services.tokens import AccessTokens, InvalidTokenError
from marketplace.settings import Settings, load_settings


class RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def gid(type_name: str, node_id: UUID) -> str:
    """A Relay global ID, as the API writes it."""
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def node_id(value: str) -> UUID:
    return UUID(base64.b64decode(value).decode().partition(":")[2])


def encode(data: object) -> bytes:
    """As strawberry's HTTP view encodes a result."""
    return json.dumps(data, separators=(",", ":")).encode()


async def principal(state: State, request: Request[Any, Any, Any], conn: Conn) -> Principal:
    """The API's check: the access token's signature and times, then the session still open (one query)."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RefusedError(401, "a Bearer token is required")
    tokens: AccessTokens = state["tokens"]
    try:
        claims = tokens.verify(token.strip(), now=SystemClock().now())
    except InvalidTokenError as exc:
        raise RefusedError(401, exc.problem.value) from None
    row = await conn.fetchrow(SESSION_SQL, claims.session_id, claims.user_id)
    if row is None:
        raise RefusedError(401, "revoked")
    return Principal(
        role=Role(row["role"]),
        user_id=row["id"],
        organization_id=row["organization_id"],
        session_id=claims.session_id,
    )


def _counted(body: bytes, counter: StatementCounter) -> Response[bytes]:
    return Response(body, media_type="application/json", headers={"x-sql-statements": str(counter.count)})


@asynccontextmanager
async def _counting() -> AsyncIterator[StatementCounter]:
    counter = StatementCounter()
    token = current_statements.set(counter)
    try:
        yield counter
        await asyncio.sleep(0)  # asyncpg's query-logger callbacks land on the next turn of the loop
    finally:
        current_statements.reset(token)


@get("/raw/jobs")
async def jobs(state: State, request: Request[Any, Any, Any], first: int = 20) -> Response[bytes]:
    """jobs(first) { id status reference price { amountMinor currency } pickupLocation { name }
    parcels { id weightG } }"""
    pool: asyncpg.Pool = state["pool"]
    async with _counting() as counter:
        async with pool.acquire() as conn:
            caller = await principal(state, request, conn)
            if caller.role is not Role.RETAILER:
                raise RefusedError(403, "retailers only")
            rows = await conn.fetch(JOBS_SQL, first + 1, caller.organization_id, None, None, None, None)
            rows = rows[:first]
            parcel_rows = await conn.fetch(PARCELS_SQL, [r["id"] for r in rows])
            owners = list({(r["pickup_location_id"], r["organization_id"]) for r in rows})
            places = await conn.fetch(LOCATIONS_SQL, [k[0] for k in owners], [k[1] for k in owners])
        names = {(p["id"], p["organization_id"]): p["name"] for p in places}
        parcels: dict[UUID, list[dict[str, Any]]] = {}
        for p in parcel_rows:
            parcels.setdefault(p["job_id"], []).append({"id": gid("Parcel", p["id"]), "weightG": p["weight_g"]})
        edges = [
            {
                "node": {
                    "id": gid("Job", r["id"]),
                    "status": r["status"].upper(),
                    "reference": r["reference"],
                    "price": {"amountMinor": r["price_minor"], "currency": r["currency"]},
                    "pickupLocation": {"name": names[(r["pickup_location_id"], r["organization_id"])]},
                    "parcels": parcels.get(r["id"], []),
                }
            }
            for r in rows
        ]
        body = encode({"data": {"jobs": {"edges": edges}}})
    return _counted(body, counter)


def _time(value: datetime) -> str:
    return value.isoformat()


@get("/raw/courier")
async def courier(state: State, request: Request[Any, Any, Any], first: int = 20) -> Response[bytes]:
    """myOffers(status: OPEN, first) and trips(status: OPEN, first), as the courier's app polls them."""
    pool: asyncpg.Pool = state["pool"]
    async with _counting() as counter:
        now = SystemClock().now()
        async with pool.acquire() as conn:
            caller = await principal(state, request, conn)
            if caller.role is not Role.COURIER:
                raise RefusedError(403, "couriers only")
            offers = await conn.fetch(OFFERS_SQL, first + 1, caller.user_id, "open", now)
            trips = await conn.fetch(TRIPS_SQL, first + 1, now, caller.user_id, "open", None, None, None)
        data = {
            "myOffers": {
                "edges": [
                    {
                        "node": {
                            "id": gid("Offer", o["id"]),
                            "status": "OPEN",
                            "pay": {"amountMinor": o["pay_minor"], "currency": o["currency"]},
                            "expiresAt": _time(o["expires_at"]),
                            "detourM": o["detour_m"],
                            "parcelIds": [gid("Parcel", p) for p in o["parcel_ids"]],
                        }
                    }
                    for o in offers[:first]
                ]
            },
            "trips": {
                "edges": [
                    {
                        "node": {
                            "id": gid("Trip", t["id"]),
                            "status": "OPEN",
                            "departAfter": _time(t["depart_after"]),
                            "arriveBy": _time(t["arrive_by"]),
                            "spareWeightG": t["spare_weight_g"],
                        }
                    }
                    for t in trips[:first]
                ]
            },
        }
        body = encode({"data": data})
    return _counted(body, counter)


def quote_request(data: dict[str, Any]) -> QuoteRequest:
    """requestQuote's input, read as its GraphQL input type reads it."""
    d, r = data["dropoff"], data["recipient"]
    point = d.get("point")
    return QuoteRequest(
        pickup_location_id=node_id(data["pickupLocationId"]),
        dropoff=DropoffRequest(
            locker_id=None if d.get("lockerId") is None else node_id(d["lockerId"]),
            street=d.get("street"),
            house_number=d.get("houseNumber"),
            postal_code=d.get("postalCode"),
            city=d.get("city"),
            country_code=d.get("countryCode"),
            point=None if point is None else Point(point["lat"], point["lng"]),
        ),
        pickup_from=datetime.fromisoformat(data["pickupWindow"]["start"]),
        pickup_until=datetime.fromisoformat(data["pickupWindow"]["end"]),
        deliver_from=datetime.fromisoformat(data["deliveryWindow"]["start"]),
        deliver_until=datetime.fromisoformat(data["deliveryWindow"]["end"]),
        parcels=tuple(
            ParcelRequest(
                weight_g=p["weightG"],
                length_mm=p["lengthMm"],
                width_mm=p["widthMm"],
                height_mm=p["heightMm"],
                declared_value_minor=p["declaredValue"]["amountMinor"],
                currency=p["declaredValue"]["currency"],
                fragile=p.get("fragile", False),
                id_check=p.get("idCheck", False),
                adults_only=p.get("adultsOnly", False),
            )
            for p in data["parcels"]
        ),
        recipient=RecipientRequest(
            name=r["name"],
            phone=r["phone"],
            instructions=r.get("instructions"),
            safe_place=r.get("safePlace"),
            safe_place_consent=r.get("safePlaceConsent", False),
            neighbour_consent=r.get("neighbourConsent", False),
        ),
        on_failure=FailureAction(data.get("onFailure", "RETURN_TO_PICKUP").lower()),
        fallback_locker_id=None if data.get("fallbackLockerId") is None else node_id(data["fallbackLockerId"]),
        reference=data.get("reference"),
    )


async def _retailer(state: State, request: Request[Any, Any, Any]) -> Principal:
    pool: asyncpg.Pool = state["pool"]
    async with pool.acquire() as conn:
        caller = await principal(state, request, conn)
    if caller.role is not Role.RETAILER:
        raise RefusedError(403, "retailers only")
    return caller


@post("/raw/request-quote", status_code=200)
async def request_quote(state: State, request: Request[Any, Any, Any]) -> Response[bytes]:
    """requestQuote(input) { quote { id price { amountMinor currency } } errors { field code message } }"""
    services: Services = state["services"]
    async with _counting() as counter:
        caller = await _retailer(state, request)
        data = json.loads(await request.body())["input"]
        try:
            quote = await services.jobs.request_quote(
                caller, quote_request(data), idempotency_key=data.get("idempotencyKey")
            )
        except DomainError as exc:
            raise RefusedError(400, str(exc)) from None
        price = {"amountMinor": quote.price.total_minor, "currency": quote.price.currency}
        body = encode(
            {"data": {"requestQuote": {"quote": {"id": gid("Quote", quote.id), "price": price}, "errors": []}}}
        )
    return _counted(body, counter)


@post("/raw/book-quote", status_code=200)
async def book_quote(state: State, request: Request[Any, Any, Any]) -> Response[bytes]:
    """bookQuote(input) { job { id reference } errors { field code message } }"""
    services: Services = state["services"]
    async with _counting() as counter:
        caller = await _retailer(state, request)
        data = json.loads(await request.body())["input"]
        try:
            view = await services.jobs.book_quote(
                caller, QuoteBooking(quote_id=node_id(data["quoteId"])), idempotency_key=data.get("idempotencyKey")
            )
        except DomainError as exc:
            raise RefusedError(400, str(exc)) from None
        job = {"id": gid("Job", view.job.id), "reference": view.job.order.reference}
        body = encode({"data": {"bookQuote": {"job": job, "errors": []}}})
    return _counted(body, counter)


def _refused(request: Request[Any, Any, Any], exc: RefusedError) -> Response[bytes]:
    return Response(encode({"errors": [{"message": str(exc)}]}), status_code=exc.status, media_type="application/json")


def create_raw_app(settings: Settings, dsn: str) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(
            dsn, min_size=settings.database_pool_min_size, max_size=settings.database_pool_max_size
        )
        app.state.pool = pool
        app.state.services = build_services(settings, pool, SystemClock())
        app.state.tokens = AccessTokens(
            signing_key=settings.jwt_signing_key.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.access_token_ttl_s,
        )
        try:
            yield
        finally:
            await pool.close()

    return Litestar(
        route_handlers=[jobs, courier, request_quote, book_quote],
        lifespan=[lifespan],
        exception_handlers={RefusedError: _refused},
        logging_config=None,
        debug=False,
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    root = argparse.ArgumentParser(prog="python -m marketplace.bench_api_raw")
    root.add_argument("--port", type=int, required=True)
    args = root.parse_args(argv)
    settings = load_settings()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is required")
    app = create_raw_app(settings, settings.database_url)
    settle_heap_for_serving()  # the same collector settings as `crowdship serve`: the ratio compares the layers
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
