"""`python -m marketplace.bench_api`: the API's hot paths against a raw litestar + asyncpg endpoint, side by side.

Three paths, each served two ways in the same run:

- read: a retailer's `jobs(first: 20)` (id, status, reference, price, pickup location name, parcel ids
  and weights);
- courier: a courier's open offers and open trips in one request, as the courier app polls them;
- booking: requestQuote then bookQuote (idempotency keys, a reference), counted as pairs.

`graphql` is `crowdship serve` (one process; and `graphql xN`, `crowdship serve --workers N`), `raw` is
`marketplace.bench_api_raw`: the same auth check and SQL, the same JSON without GraphQL. Both run as
their own processes on a throwaway database; before measuring, the benchmark asserts that the two
answer the same bytes (booking: the same bytes once the fresh IDs are masked). The load comes from
this process: N keep-alive HTTP/1.1 connections on asyncio, each sending its next request when the
last one is answered. Windows of the targets alternate (graphql, raw, graphql, raw...), so a
neighbour's load on the machine falls on both alike. Reported per target and client count: requests
per second, p50 and p99 latency, server CPU per request (its processes' user + system time), SQL
statements per request (from the server's own count), the load generator's own CPU per request, and
the ratio of GraphQL to raw requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from marketplace.bench_accept import PASSWORD, seed_courier, seed_offers
from marketplace.bench_booking import (
    BOOK_JOBS,
    LOGIN,
    BenchError,
    Client,
    delivery,
    seed_area,
    seed_retailer,
    stripe_for_bench,
)
from marketplace.bench_common import add_output_options, bench_database, progress_of
from marketplace.clock import SystemClock
from marketplace.db.pool import create_pool
from marketplace.services.container import build_services
from marketplace.settings import Settings, load_settings
from schema.types import decode_id

JOBS_QUERY = (
    "query Jobs($first: Int) { jobs(first: $first) { edges { node { id status reference "
    "price { amountMinor currency } pickupLocation { name } parcels { id weightG } } } } }"
)
COURIER_QUERY = (
    "query Courier($first: Int) { myOffers(status: OPEN, first: $first) { edges { node { id status "
    "pay { amountMinor currency } expiresAt detourM parcelIds } } } "
    "trips(status: OPEN, first: $first) { edges { node { id status departAfter arriveBy spareWeightG } } } }"
)
REQUEST_QUOTE = (
    "mutation RequestQuote($input: RequestQuoteInput!) { requestQuote(input: $input) { "
    "quote { id price { amountMinor currency } } errors { field code message } } }"
)
BOOK_QUOTE = (
    "mutation BookQuote($input: BookQuoteInput!) { bookQuote(input: $input) { "
    "job { id reference } errors { field code message } } }"
)
PAGE = 20
SEEDED_JOBS = 30
COURIER_TRIPS = 6
PATHS = ("read", "courier", "booking")


# --- a small HTTP/1.1 load generator ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request, ready to send: the raw bytes and the path it names (for messages)."""

    raw: bytes
    path: str


def http_call(method: str, path: str, *, token: str, body: object | None = None, request_id: str = "") -> Call:
    payload = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", "Host: bench", f"Authorization: Bearer {token}"]
    if request_id:
        head.append(f"X-Request-Id: {request_id}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return Call(("\r\n".join(head) + "\r\n\r\n").encode() + payload, path)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection; a request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, call: Call) -> Answer:
        self._writer.write(call.raw)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            chunks: list[bytes] = []
            while size := int((await self._reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            await self._reader.readexactly(2)
            body = b"".join(chunks)
        else:
            raise BenchError(f"{call.path}: a response without a length")
        return Answer(status, headers, body)

    async def close(self) -> None:
        self._writer.close()
        with suppress(OSError):
            await self._writer.wait_closed()


# --- what each path sends --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """How one client of one target does one unit of work (a request, or a quote-and-book pair)."""

    name: str
    target: str
    step: Callable[[Connection, str], Any]  # (connection, unique tag) -> awaitable


def _ok(answer: Answer, call: Call) -> bytes:
    if answer.status != 200:
        raise BenchError(f"{call.path}: HTTP {answer.status}: {answer.body[:300]!r}")
    return answer.body


def read_plan(target: str, token: str) -> Plan:
    call = (
        http_call("GET", f"/raw/jobs?first={PAGE}", token=token)
        if target == "raw"
        else http_call("POST", "/graphql", token=token, body={"query": JOBS_QUERY, "variables": {"first": PAGE}})
    )

    async def step(conn: Connection, tag: str) -> None:
        body = _ok(await conn.send(call), call)
        if b'"errors"' in body:
            raise BenchError(f"{call.path}: {body[:300]!r}")

    return Plan("read", target, step)


def courier_plan(target: str, token: str) -> Plan:
    call = (
        http_call("GET", f"/raw/courier?first={PAGE}", token=token)
        if target == "raw"
        else http_call("POST", "/graphql", token=token, body={"query": COURIER_QUERY, "variables": {"first": PAGE}})
    )

    async def step(conn: Connection, tag: str) -> None:
        body = _ok(await conn.send(call), call)
        if b'"errors"' in body:
            raise BenchError(f"{call.path}: {body[:300]!r}")

    return Plan("courier", target, step)


def booking_calls(target: str, token: str, location: str, tag: str, quote_id: str | None, request_id: str = "") -> Call:
    """The quote request (quote_id None) or the booking of `quote_id`, for either target."""
    if quote_id is None:
        variables: dict[str, Any] = {"input": {**tomorrow_delivery(location, tag), "idempotencyKey": f"q-{tag}"}}
        path, query = "/raw/request-quote", REQUEST_QUOTE
    else:
        variables = {"input": {"quoteId": quote_id, "idempotencyKey": f"b-{tag}"}}
        path, query = "/raw/book-quote", BOOK_QUOTE
    if target == "raw":
        return http_call("POST", path, token=token, body=variables)
    body = {"query": query, "variables": variables}
    return http_call("POST", "/graphql", token=token, body=body, request_id=request_id)


def booking_plan(target: str, token: str, location: str) -> Plan:
    async def step(conn: Connection, tag: str) -> None:
        call = booking_calls(target, token, location, tag, None)
        quote = json.loads(_ok(await conn.send(call), call))["data"]["requestQuote"]
        if quote["errors"]:
            raise BenchError(f"requestQuote refused: {quote['errors']}")
        call = booking_calls(target, token, location, tag, quote["quote"]["id"])
        booked = json.loads(_ok(await conn.send(call), call))["data"]["bookQuote"]
        if booked["errors"]:
            raise BenchError(f"bookQuote refused: {booked['errors']}")

    return Plan("booking", target, step)


def tomorrow_delivery(location: str, reference: str) -> dict[str, Any]:
    """The booking benchmark's delivery, on tomorrow's morning (the servers run on the wall clock)."""
    day = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return delivery(location, reference, at=day)


# --- servers ----------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path | None = None

    def cpu_s(self) -> float:
        """User + system CPU of the server and every process it started (uvicorn's workers)."""
        try:
            root = psutil.Process(self.process.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                try:
                    t = proc.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    continue
            return total
        except psutil.NoSuchProcess:
            raise BenchError(f"the {self.name} server is gone") from None


async def wait_listening(server: Server) -> None:
    for _ in range(600):
        if server.process.poll() is not None:
            raise BenchError(f"the {server.name} server exited with code {server.process.returncode}")
        try:
            conn = await Connection.open(server.port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        await conn.close()
        return
    raise BenchError(f"the {server.name} server did not start")


@contextmanager
def servers(dsn: str, workers: int, log_dir: Path, stripe: dict[str, object]) -> Iterator[dict[str, Server]]:
    """Every server on one Stripe (`stripe`: settings overrides), so the raw endpoint's bookings are authorised too."""
    env = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "INFO", **{k.upper(): str(v) for k, v in stripe.items()}}
    commands = {
        "graphql": [sys.executable, "-m", "marketplace.cli", "serve"],
        "raw": [sys.executable, "-m", "marketplace.bench_api_raw"],
    }
    if workers > 1:
        commands[f"graphql x{workers}"] = [*commands["graphql"], "--workers", str(workers)]
    started: dict[str, Server] = {}
    try:
        for name, command in commands.items():
            port = free_port()
            log = log_dir / f"{name.replace(' ', '_')}.log"
            with log.open("wb") as out:
                process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=out, stderr=out)  # noqa: S603
            started[name] = Server(name, port, process, log)
        yield started
    finally:
        for server in started.values():
            server.process.terminate()
        for server in started.values():
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


# --- measuring --------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """One target's windows at one client count, summed."""

    done: int = 0
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, done: int, wall_s: float, server_cpu_s: float, client_cpu_s: float, lat: list[float]) -> None:
        self.done += done
        self.wall_s += wall_s
        self.server_cpu_s += server_cpu_s
        self.client_cpu_s += client_cpu_s
        self.latencies_ms += lat

    @property
    def per_s(self) -> float:
        return self.done / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


async def window(
    server: Server, plan: Plan, clients: int, duration_s: float, tag: str
) -> tuple[int, float, list[float], float, float]:
    """`clients` connections working for `duration_s`: (units done, wall s, latencies, server CPU s, client CPU s)."""
    conns = [await Connection.open(server.port) for _ in range(clients)]
    latencies: list[float] = []
    deadline = 0.0

    async def client(n: int, conn: Connection) -> None:
        k = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await plan.step(conn, f"{tag}-{n}-{k}")
            latencies.append((time.perf_counter() - started) * 1000)
            k += 1

    try:
        cpu0, own0 = server.cpu_s(), time.process_time()
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(*(client(n, c) for n, c in enumerate(conns)))
        wall_s = time.perf_counter() - started
        server_cpu, own_cpu = server.cpu_s() - cpu0, time.process_time() - own0
    finally:
        for c in conns:
            await c.close()
    return len(latencies), wall_s, latencies, server_cpu, own_cpu


@dataclass
class Row:
    path: str
    clients: int
    target: str
    tally: Tally
    statements: int

    def to_json(self) -> dict[str, Any]:
        t = self.tally
        return {
            "path": self.path,
            "clients": self.clients,
            "target": self.target,
            "done": t.done,
            "per_s": round(t.per_s, 1),
            "p50_ms": round(t.percentile(50), 1),
            "p99_ms": round(t.percentile(99), 1),
            "server_cpu_ms_per_unit": round(1000 * t.server_cpu_s / t.done, 2) if t.done else None,
            "client_cpu_ms_per_unit": round(1000 * t.client_cpu_s / t.done, 2) if t.done else None,
            "sql_statements_per_unit": self.statements,
        }


UNIT = {"read": "req", "courier": "req", "booking": "pair"}


def format_table(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [
        f"API benchmark: {meta['rounds']} interleaved windows of {meta['duration_s']} s per target, "
        f"PostgreSQL: {meta['server']}",
        "",
        "| path | clients | target | per s | p50 ms | p99 ms | server CPU ms/unit | SQL/unit | client CPU ms/unit "
        "| vs raw |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    raw = {(r.path, r.clients): r.tally.per_s for r in rows if r.target == "raw"}
    for r in rows:
        j = r.to_json()
        base = raw.get((r.path, r.clients))
        ratio = "-" if r.target == "raw" or not base else f"{100 * r.tally.per_s / base:.1f}%"
        lines.append(
            f"| {r.path} | {r.clients} | {r.target} | {j['per_s']} {UNIT[r.path]} | {j['p50_ms']} | {j['p99_ms']} "
            f"| {j['server_cpu_ms_per_unit']} | {r.statements} | {j['client_cpu_ms_per_unit']} | {ratio} |"
        )
    lines += ["", "booking: one unit is requestQuote + bookQuote (SQL/unit is their sum: " + meta["booking_sql"] + ")"]
    return "\n".join(lines)


# --- seeding and the equality check -----------------------------------------------------------------------------------


@dataclass
class World:
    retailer_token: str
    courier_token: str
    location: str


async def seed(settings: Settings, graphql_port: int) -> World:
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=2)
    try:
        services = build_services(settings, pool, SystemClock())
        area = await seed_area(services)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{graphql_port}", timeout=60) as http:
            retailer = Client(http)
            location = await seed_retailer(retailer, services, area)
            rows = [tomorrow_delivery(location, f"seed-{i}") for i in range(SEEDED_JOBS)]
            booked = await retailer.mutate(BOOK_JOBS, "bookJobs", {"input": {"jobs": rows}}, "bench-seed")
            job_ids = [decode_id(j["id"], "Job") for j in booked["jobs"]]
            async with services.db.read() as repos:
                jobs = await repos.jobs.get_jobs([j for j in job_ids if j is not None])
            email, trips = await seed_courier(services, area, 0, COURIER_TRIPS)
            await seed_offers(services, area, trips, [j.parcels[0].id for j in jobs[:COURIER_TRIPS]])
            courier = Client(http)
            session = await courier.mutate(
                LOGIN, "login", {"input": {"email": email, "password": PASSWORD}}, "bench-courier-login"
            )
        assert retailer.token is not None
        return World(retailer.token, str(session["session"]["accessToken"]), location)
    finally:
        await pool.close()


_ID = re.compile(rb'"id":"[A-Za-z0-9+/=]+"')


async def statements_of(server: Server, call: Call, request_id: str) -> tuple[bytes, int]:
    """The body of one request and the SQL statements the server counted for it."""
    conn = await Connection.open(server.port)
    try:
        answer = await conn.send(call)
    finally:
        await conn.close()
    body = _ok(answer, call)
    if "x-sql-statements" in answer.headers:
        return body, int(answer.headers["x-sql-statements"])
    assert server.log is not None
    for _ in range(200):  # the summary line is written once the response has gone
        for line in server.log.read_text().splitlines():
            if request_id in line and line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == "request" and record.get("request_id") == request_id:
                    return body, int(record["sql_statements"])
        await asyncio.sleep(0.05)
    raise BenchError(f"{server.name} logged no summary for {request_id}")


async def probe(graphql: Server, raw: Server, world: World) -> dict[str, tuple[int, int]]:
    """Asserts both targets answer the same bytes; returns (graphql, raw) statements per unit and path."""
    counts: dict[str, tuple[int, int]] = {}
    for path, query in (("read", JOBS_QUERY), ("courier", COURIER_QUERY)):
        token = world.retailer_token if path == "read" else world.courier_token
        rid = f"probe-{path}-{uuid.uuid4().hex[:8]}"
        gql = http_call(
            "POST", "/graphql", token=token, body={"query": query, "variables": {"first": PAGE}}, request_id=rid
        )
        raw_path = "/raw/jobs" if path == "read" else "/raw/courier"
        g_body, g_count = await statements_of(graphql, gql, rid)
        r_body, r_count = await statements_of(raw, http_call("GET", f"{raw_path}?first={PAGE}", token=token), "")
        if g_body != r_body:
            raise BenchError(f"{path}: the raw endpoint's bytes differ:\n{g_body[:400]!r}\n{r_body[:400]!r}")
        if b'"edges":[]' in g_body:
            raise BenchError(f"{path}: nothing listed: {g_body[:300]!r}")
        counts[path] = (g_count, r_count)
    per_target: list[tuple[int, int, bytes]] = []
    for target, server in (("graphql", graphql), ("raw", raw)):
        tag = f"probe-{target}-{uuid.uuid4().hex[:8]}"
        call = booking_calls(target, world.retailer_token, world.location, tag, None, f"{tag}-q")
        q_body, q_count = await statements_of(server, call, f"{tag}-q")
        quote_id = json.loads(q_body)["data"]["requestQuote"]["quote"]["id"]
        call = booking_calls(target, world.retailer_token, world.location, tag, quote_id, f"{tag}-b")
        b_body, b_count = await statements_of(server, call, f"{tag}-b")
        masked = _ID.sub(b'"id":"-"', q_body + b_body).replace(tag.encode(), b"-")
        per_target.append((q_count, b_count, masked))
    (gq, gb, g_masked), (rq, rb, r_masked) = per_target
    if g_masked != r_masked:
        raise BenchError(f"booking: the raw endpoint's bytes differ:\n{g_masked[:400]!r}\n{r_masked[:400]!r}")
    counts["booking"] = (gq + gb, rq + rb)
    counts["requestQuote"] = (gq, rq)
    counts["bookQuote"] = (gb, rb)
    return counts


async def measure(
    settings: Settings, paths: list[str], client_counts: list[int], workers: int, duration_s: float, rounds: int
) -> tuple[list[Row], dict[str, tuple[int, int]]]:
    with (
        tempfile.TemporaryDirectory(prefix="bench_api_") as logs,
        stripe_for_bench(settings) as stripe,
        servers(settings.database_url or "", workers, Path(logs), stripe) as running,
    ):
        for server in running.values():
            await wait_listening(server)
        progress("servers up: " + ", ".join(f"{s.name} on {s.port}" for s in running.values()))
        world = await seed(settings, running["graphql"].port)
        await probe(running["graphql"], running["raw"], world)  # the first asks asyncpg to introspect types
        counts = await probe(running["graphql"], running["raw"], world)
        progress(f"same bytes from both; SQL statements (graphql, raw): {counts}")
        plans: dict[str, Callable[[str], Plan]] = {
            "read": lambda t: read_plan(t, world.retailer_token),
            "courier": lambda t: courier_plan(t, world.courier_token),
            "booking": lambda t: booking_plan(t, world.retailer_token, world.location),
        }
        rows: list[Row] = []
        for path in paths:
            for clients in client_counts:
                targets = [n for n in running if n == "raw" or n == "graphql" or clients == min(client_counts)]
                tallies = {t: Tally() for t in targets}
                # Untimed warm-up: connections, prepared statements, caches.
                for t in targets:
                    await window(running[t], plans[path](t), min(clients, 8), 0.5, f"w-{path}-{clients}-{t}")
                for r in range(rounds):
                    for t in targets if r % 2 == 0 else list(reversed(targets)):
                        tag = f"{path}-{clients}-{t.replace(' ', '')}-{r}-{uuid.uuid4().hex[:6]}"
                        done, wall, lat, cpu, own = await window(running[t], plans[path](t), clients, duration_s, tag)
                        tallies[t].add(done, wall, cpu, own, lat)
                        progress(f"{path} x{clients} {t}: {done / wall:.1f}/s")
                for t in targets:
                    statements = counts[path][1] if t == "raw" else counts[path][0]
                    rows.append(Row(path, clients, t, tallies[t], statements))
    return rows, counts


# --- command line -----------------------------------------------------------------------------------------------------


progress = progress_of("bench_api")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m marketplace.bench_api",
        description="The read, courier and booking paths through GraphQL against a raw litestar + asyncpg endpoint "
        "(same auth, SQL and JSON), interleaved, at several client counts; req/s, p50, p99, CPU and SQL per request.",
    )
    root.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    root.add_argument("--clients", default="16,64", help="concurrent connections, comma-separated (default: 16,64)")
    root.add_argument("--duration", type=float, default=4.0, help="seconds per window (default: 4)")
    root.add_argument("--rounds", type=int, default=2, help="windows per target, interleaved (default: 2)")
    root.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also serve GraphQL with this many processes, at the fewest clients (default: 2; 1 leaves it out)",
    )
    add_output_options(root)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    if not paths or any(p not in PATHS for p in paths):
        parser().error(f"--paths: choose from {', '.join(PATHS)}")
    try:
        client_counts = sorted({int(c) for c in args.clients.split(",")})
    except ValueError:
        parser().error("--clients: whole numbers, comma-separated")
    if not client_counts or client_counts[0] < 1 or args.rounds < 1 or args.duration <= 0 or args.workers < 1:
        parser().error("--clients, --rounds, --duration and --workers must be positive")
    with bench_database("bench_api", args.server_url) as bench:
        if bench is None:
            return 2
        dsn, server = bench.dsn, bench.server
        try:
            rows, counts = asyncio.run(
                measure(load_settings(database_url=dsn), paths, client_counts, args.workers, args.duration, args.rounds)
            )
        except BenchError as exc:
            print(f"bench_api: {exc}", file=sys.stderr)
            return 1
    booking = counts.get("booking")
    meta = {
        "rounds": args.rounds,
        "duration_s": args.duration,
        "server": server,
        "booking_sql": "-"
        if booking is None
        else (
            f"graphql requestQuote {counts['requestQuote'][0]} + bookQuote {counts['bookQuote'][0]}, "
            f"raw {counts['requestQuote'][1]} + {counts['bookQuote'][1]}"
        ),
    }
    if args.json:
        print(json.dumps({**meta, "rows": [r.to_json() for r in rows], "sql": counts}, indent=2))
    else:
        print(format_table(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
