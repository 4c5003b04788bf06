"""`python -m marketplace.bench_booking`: N single bookings against one bulk booking of N rows.

Both ways book N fresh deliveries in the same run, on the same throwaway database, so the single
bookings are the baseline the bulk call is compared with (speed is measured this way, never by timed
tests). Every request goes through the real application in process: HTTP framing, GraphQL parsing and
validation, services and SQL. Its statement count is the `sql_statements` the application logs for
it, found by the request id the benchmark sends.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.bench_common import add_output_options, bench_database, progress_of
from marketplace.clock import ManualClock
from marketplace.db.pool import create_pool
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError
from marketplace.domain.geo import Point, Polygon
from marketplace.domain.hours import ALWAYS_OPEN
from marketplace.domain.places import Address, PickupLocation, PickupLocationKind
from marketplace.logs import configure_logging
from marketplace.services.container import Services, build_services
from marketplace.settings import Settings, load_settings
from schema.types import decode_id, global_id

# A fixed instant: the requests' windows are valid (not in the past) whatever the machine's date.
BENCH_AT = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
MAX_ROWS = 500  # bookJobs takes at most this many rows
WRITTEN_TABLES = ("quotes", "jobs", "parcels", "idempotency_keys")

AMSTERDAM = ((52.30, 4.75), (52.30, 5.05), (52.45, 5.05), (52.45, 4.75))
DAM_SQUARE = Point(52.3731, 4.8926)
ZUID = Point(52.3389, 4.8722)

ERRORS = "errors { field code message }"
SETUP_CARD = f"""
mutation($input: SetupPaymentMethodInput!) {{ setupPaymentMethod(input: $input) {{ card {{ last4 }} {ERRORS} }} }}
"""
SIGN_UP = f"""
mutation($input: SignUpInput!) {{ signUp(input: $input) {{ user {{ id organization {{ id }} }} {ERRORS} }} }}
"""
LOGIN = f"mutation($input: LoginInput!) {{ login(input: $input) {{ session {{ accessToken }} {ERRORS} }} }}"
REQUEST_QUOTE = f"""
mutation($input: RequestQuoteInput!) {{ requestQuote(input: $input) {{ quote {{ id }} {ERRORS} }} }}
"""
BOOK_QUOTE = f"""
mutation($input: BookQuoteInput!) {{ bookQuote(input: $input) {{ job {{ id reference }} {ERRORS} }} }}
"""
BOOK_JOBS = f"""
mutation($input: BookJobsInput!) {{ bookJobs(input: $input) {{ jobs {{ id reference }} {ERRORS} }} }}
"""
# What a retailer's order list shows: the nested parcels and prices would expose an N+1 if there were one.
LIST_JOBS = """
query($first: Int) {
  jobs(first: $first) {
    edges { node {
      id reference status price { amountMinor currency } pickupWindow { start end } deliveryWindow { start end }
      dropoff { kind address { street houseNumber postalCode city } } parcels { id weightG volumeCm3 }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
LIST_FIRST = 100


class BenchError(RuntimeError):
    """The application refused or failed a request the benchmark expected to succeed."""


# --- results ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One repeat of one phase."""

    wall_s: float
    sql_statements: int
    jobs_returned: int
    rows_written: dict[str, int]


@dataclass(frozen=True)
class Phase:
    label: str
    requests: int  # per repeat
    runs: tuple[Run, ...]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def sql_statements(self) -> int:
        return int(statistics.median_low(r.sql_statements for r in self.runs))

    @property
    def jobs_returned(self) -> int:
        """The fewest of any repeat, so one short repeat shows."""
        return min(r.jobs_returned for r in self.runs)

    @property
    def rows_written(self) -> dict[str, int]:
        """Per table, the fewest of any repeat."""
        return {table: min(r.rows_written[table] for r in self.runs) for table in WRITTEN_TABLES}

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "requests": self.requests,
            "wall_s": round(self.wall_s, 4),
            "wall_s_runs": [round(r.wall_s, 4) for r in self.runs],
            "sql_statements": self.sql_statements,
            "sql_statements_runs": [r.sql_statements for r in self.runs],
            "jobs_returned": self.jobs_returned,
            "rows_written": self.rows_written,
            "rows_written_total": sum(self.rows_written.values()),
        }


@dataclass(frozen=True)
class BenchResult:
    rows: int
    repeat: int
    server: str
    single: Phase  # (a) the baseline
    bulk: Phase  # (b)
    listing: Phase  # (c)

    @property
    def speedup(self) -> float:
        return self.single.wall_s / self.bulk.wall_s

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "repeat": self.repeat,
            "server": self.server,
            "clock_at": BENCH_AT.isoformat(),
            "single": self.single.to_json(),
            "bulk": self.bulk.to_json(),
            "listing": self.listing.to_json(),
            "speedup": round(self.speedup, 2),
        }


def format_table(result: BenchResult) -> str:
    lines = [
        f"Booking benchmark: {result.rows} rows, median of {result.repeat} repeats, PostgreSQL: {result.server}",
        "",
        "| phase | requests | wall s | ms per job | SQL statements | jobs written | rows written |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase, per_job in ((result.single, True), (result.bulk, True), (result.listing, False)):
        ms_per_job = f"{1000 * phase.wall_s / result.rows:.2f}" if per_job else "-"
        lines.append(
            f"| {phase.label} | {phase.requests} | {phase.wall_s:.3f} | {ms_per_job} | {phase.sql_statements} "
            f"| {phase.rows_written['jobs']} | {sum(phase.rows_written.values())} |"
        )
    single, bulk = result.single, result.bulk
    lines += [
        "",
        f"bookJobs against the baseline: {result.speedup:.1f}x faster, "
        f"{single.sql_statements} -> {bulk.sql_statements} SQL statements",
        "rows written per repeat: "
        + "; ".join(
            f"{phase.label.split(' ')[0]} " + ", ".join(f"{t} {n}" for t, n in phase.rows_written.items())
            for phase in (single, bulk)
        ),
        f"{result.listing.label} returned {result.listing.jobs_returned} jobs",
    ]
    return "\n".join(lines)


# --- the application's request log ------------------------------------------------------------------------------------


class RequestLog:
    """The application's JSON log lines, in memory; a request's summary is found by its request id."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self._consumed = 0
        self._statements: dict[str, int] = {}

    def statements(self, request_ids: list[str]) -> int:
        """The SQL statements the requests ran, summed; each summary is used once."""
        self._read_new_lines()
        missing = [r for r in request_ids if r not in self._statements]
        if missing:
            raise BenchError(f"the application logged no request summary for {missing[0]} ({len(missing)} missing)")
        return sum(self._statements.pop(r) for r in request_ids)

    def _read_new_lines(self) -> None:
        text = self.stream.getvalue()
        end = text.rfind("\n") + 1  # a line another thread is still writing waits for the next call
        for line in text[self._consumed : end].splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("event") == "request" and "request_id" in record:
                self._statements[str(record["request_id"])] = int(record["sql_statements"])
        self._consumed = max(self._consumed, end)


@contextmanager
def logging_into(log: RequestLog) -> Iterator[None]:
    """JSON logs at INFO into `log`; the process's logging and structlog set-up come back afterwards."""
    root = logging.getLogger()
    touched = ("pgserver", "uvicorn", "uvicorn.error", "uvicorn.access", "litestar", "httpx", "httpcore")
    saved_root = (list(root.handlers), root.level)
    saved = {name: (list(lg.handlers), lg.level, lg.propagate) for name in touched for lg in [logging.getLogger(name)]}
    saved_structlog = structlog.get_config()
    configure_logging("INFO", log.stream)
    # The test client's own lines describe the client, not the application.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers, level = saved_root
        root.setLevel(level)
        for name, (handlers, named_level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.setLevel(named_level)
            logger.propagate = propagate
        structlog.configure(**saved_structlog)
        structlog.contextvars.clear_contextvars()


# --- talking to the application ---------------------------------------------------------------------------------------


class Client:
    """GraphQL over the app's HTTP interface, each request tagged with a request id of ours."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.token: str | None = None

    async def call(self, document: str, variables: dict[str, Any], request_id: str) -> dict[str, Any]:
        headers = {"X-Request-Id": request_id}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self._http.post("/graphql", json={"query": document, "variables": variables}, headers=headers)
        if response.status_code != 200:
            raise BenchError(f"{request_id}: HTTP {response.status_code}: {response.text[:500]}")
        body: dict[str, Any] = response.json()
        if body.get("errors") or body.get("data") is None:
            raise BenchError(f"{request_id}: {body.get('errors')}")
        return body["data"]  # type: ignore[no-any-return]

    async def mutate(self, document: str, field: str, variables: dict[str, Any], request_id: str) -> dict[str, Any]:
        """The mutation's payload; its typed errors, if any, stop the benchmark."""
        payload: dict[str, Any] = (await self.call(document, variables, request_id))[field]
        if payload["errors"]:
            raise BenchError(f"{request_id}: {field} refused: {payload['errors'][:3]}")
        return payload


def delivery(pickup_location_id: str, reference: str, *, at: datetime = BENCH_AT) -> dict[str, Any]:
    """One ordinary delivery across Amsterdam: pickup 10-12h, delivery 12-18h on the benchmark's day (`at`, 8h)."""
    pickup_at = at + timedelta(hours=2)
    deliver_at = at + timedelta(hours=4)
    return {
        "pickupLocationId": pickup_location_id,
        "dropoff": {
            "street": "Beethovenstraat",
            "houseNumber": "12",
            "postalCode": "1077 JH",
            "city": "Amsterdam",
            "countryCode": "NL",
            "point": {"lat": ZUID.lat, "lng": ZUID.lng},
        },
        "pickupWindow": {"start": pickup_at.isoformat(), "end": (pickup_at + timedelta(hours=2)).isoformat()},
        "deliveryWindow": {"start": deliver_at.isoformat(), "end": (deliver_at + timedelta(hours=6)).isoformat()},
        "parcels": [
            {
                "weightG": 1_500,
                "lengthMm": 300,
                "widthMm": 200,
                "heightMm": 100,
                "declaredValue": {"amountMinor": 4_999, "currency": "EUR"},
            }
        ],
        "recipient": {"name": "Ada de Vries", "phone": "+31 6 1234 5678", "instructions": "Ring twice"},
        "reference": reference,
    }


async def seed_area(services: Services) -> ServiceArea:
    now = services.clock.now()
    area = ServiceArea(
        id=uuid.uuid4(),
        name="Amsterdam",
        country_code="NL",
        currency="EUR",
        time_zone="Europe/Amsterdam",
        polygon=Polygon(tuple(Point(lat, lng) for lat, lng in AMSTERDAM)),
        active=True,
        fleet_base_minor=650,
        fleet_per_km_minor=60,
        created_at=now,
        updated_at=now,
    )
    async with services.db.uow() as uow:
        if not await uow.repos.areas.save(area):
            raise BenchError("could not save the service area")
        await uow.commit()
    return area


async def seed_retailer(client: Client, services: Services, area: ServiceArea) -> str:
    """Signs a retailer up and in over GraphQL (the client keeps its token); returns its store's global id."""
    email, password = f"bench-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex
    credentials = {"email": email, "password": password}
    user = await client.mutate(
        SIGN_UP,
        "signUp",
        {"input": {**credentials, "role": "RETAILER", "organizationName": "Benchmark shop"}},
        "bench-sign-up",
    )
    session = await client.mutate(LOGIN, "login", {"input": credentials}, "bench-login")
    client.token = str(session["session"]["accessToken"])
    # Every booking is authorised on the organisation's card (against the Stripe fake unless keys are set).
    await client.mutate(SETUP_CARD, "setupPaymentMethod", {"input": {"paymentMethod": "pm_card_visa"}}, "bench-card")
    try:
        organization_id = decode_id(user["user"]["organization"]["id"], "Organization")
    except DomainError:
        raise BenchError(f"signUp returned no organisation: {user}") from None
    location = PickupLocation(
        id=uuid.uuid4(),
        organization_id=organization_id,
        kind=PickupLocationKind.STORE,
        name="Flagship store",
        address=Address("Damrak", "1", "1012 LG", "Amsterdam", area.country_code),
        point=DAM_SQUARE,
        area_id=area.id,
        opening_hours=ALWAYS_OPEN,
        created_at=services.clock.now(),
    )
    async with services.db.uow() as uow:
        await uow.repos.pickup_locations.save(location)
        await uow.commit()
    return str(global_id("PickupLocation", location.id))


# --- the phases -------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    client: Client
    log: RequestLog
    services: Services
    location: str
    rows: int

    async def written(self) -> dict[str, int]:
        async with self.services.db.read() as repos:
            return await repos.meta.row_counts(WRITTEN_TABLES)

    async def timed(self, tag: str, work: Awaitable[tuple[list[str], int]]) -> Run:
        """Awaits `work` (not started yet; it returns its request ids and the jobs it got back) and measures it."""
        before = await self.written()
        started = time.perf_counter()
        request_ids, jobs = await work
        wall_s = time.perf_counter() - started
        after = await self.written()
        run = Run(
            wall_s=wall_s,
            sql_statements=self.log.statements(request_ids),
            jobs_returned=jobs,
            rows_written={t: after[t] - before[t] for t in WRITTEN_TABLES},
        )
        progress(f"{tag}: {wall_s:.3f} s, {run.sql_statements} statements")
        return run

    async def single_bookings(self, tag: str, n: int) -> tuple[list[str], int]:
        """The baseline: a quote and a booking per delivery, as a client without bookJobs would."""
        ids: list[str] = []
        jobs = 0
        for i in range(n):
            request = delivery(self.location, f"{tag}-{i}")
            quote_id = f"bench-{tag}-{i}-quote"
            quote = await self.client.mutate(
                REQUEST_QUOTE, "requestQuote", {"input": {**request, "idempotencyKey": quote_id}}, quote_id
            )
            book_id = f"bench-{tag}-{i}-book"
            booked = await self.client.mutate(
                BOOK_QUOTE,
                "bookQuote",
                {"input": {"quoteId": quote["quote"]["id"], "idempotencyKey": book_id}},
                book_id,
            )
            jobs += 1 if booked["job"] is not None else 0
            ids += [quote_id, book_id]
        return ids, jobs

    async def bulk_booking(self, tag: str, n: int) -> tuple[list[str], int]:
        request_id = f"bench-{tag}"
        jobs = [delivery(self.location, f"{tag}-{i}") for i in range(n)]
        payload = await self.client.mutate(
            BOOK_JOBS, "bookJobs", {"input": {"jobs": jobs, "idempotencyKey": request_id}}, request_id
        )
        return [request_id], len(payload["jobs"])

    async def listing(self, tag: str) -> tuple[list[str], int]:
        request_id = f"bench-{tag}"
        data = await self.client.call(LIST_JOBS, {"first": LIST_FIRST}, request_id)
        return [request_id], len(data["jobs"]["edges"])


async def measure(settings: Settings, rows: int, repeat: int, server: str) -> BenchResult:
    clock = ManualClock(BENCH_AT)
    log = RequestLog()
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=2)
    try:
        services = build_services(settings, pool, clock)
        area = await seed_area(services)
        with logging_into(log):
            async with AsyncTestClient(app=create_app(settings, clock=clock)) as http:
                client = Client(http)
                location = await seed_retailer(client, services, area)
                bench = Bench(client, log, services, location, rows)
                # Untimed: asyncpg's type introspection, prepared statements and imports happen here once.
                await bench.timed("warm-up single", bench.single_bookings("W1", 2))
                await bench.timed("warm-up bulk", bench.bulk_booking("W2", 2))
                await bench.timed("warm-up listing", bench.listing("W3"))
                single, bulk, listing = [], [], []
                for r in range(1, repeat + 1):
                    single.append(await bench.timed(f"(a) repeat {r}", bench.single_bookings(f"A{r}", rows)))
                    bulk.append(await bench.timed(f"(b) repeat {r}", bench.bulk_booking(f"B{r}", rows)))
                for r in range(1, repeat + 1):
                    listing.append(await bench.timed(f"(c) repeat {r}", bench.listing(f"C{r}")))
    finally:
        await pool.close()
    return BenchResult(
        rows=rows,
        repeat=repeat,
        server=server,
        single=Phase(f"(a) requestQuote + bookQuote x {rows}", 2 * rows, tuple(single)),
        bulk=Phase(f"(b) bookJobs with {rows} rows", 1, tuple(bulk)),
        listing=Phase(f"(c) jobs(first: {LIST_FIRST})", 1, tuple(listing)),
    )


@contextmanager
def stripe_for_bench(settings: Settings) -> Iterator[dict[str, object]]:
    """Settings overrides that point payments at Stripe: the configured keys, else a Stripe fake in-process."""
    if settings.stripe_secret_key is not None:
        yield {}
        return
    from stripefake import FakeStripe, RunningFake

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with RunningFake(FakeStripe()) as fake:
            yield {"stripe_secret_key": "sk_test_crowdship_bench", "stripe_api_base": fake.url}
    finally:
        root.handlers, root.level = handlers, level  # the fake's server leaves the process's logging as it was


# --- command line -----------------------------------------------------------------------------------------------------


progress = progress_of("bench_booking")


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return number

    return parse


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m marketplace.bench_booking",
        description="Book N deliveries one quote and one booking at a time (the baseline), then all N in one "
        "bookJobs call, through the real application on a throwaway database; print the wall times (median of "
        "the repeats), SQL statements and rows written, and the time of listing jobs(first: 100).",
    )
    root.add_argument("--rows", type=_bounded(1, MAX_ROWS), default=500, help="deliveries per phase (default: 500)")
    root.add_argument("--repeat", type=_bounded(1, 100), default=3, help="repeats, fresh jobs each (default: 3)")
    add_output_options(root)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with bench_database("bench_booking", args.server_url) as bench:
        if bench is None:
            return 2
        try:
            with stripe_for_bench(bench.settings) as stripe_settings:
                bench_settings = load_settings(database_url=bench.dsn, **stripe_settings)
                result = asyncio.run(measure(bench_settings, args.rows, args.repeat, bench.server))
        except BenchError as exc:
            print(f"bench_booking: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(result.to_json(), indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
