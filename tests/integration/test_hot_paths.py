"""The API's hot paths: their SQL statement counts per request, and the connection handling that keeps them low.

The counts are those of issue 15's acceptance (jobs(first: 20) <= 5, requestQuote <= 8, bookQuote <= 10,
with idempotency keys), guarded at today's exact numbers so any extra statement shows here first.
"""

from __future__ import annotations

import asyncio
import io
from uuid import uuid4

import asyncpg
import pytest

from marketplace.db.pool import StatementCounter, create_pool, current_statements
from marketplace.db.uow import Database
from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from tests.factories import make_area, uuid_of
from tests.helpers import GraphQL, statements_of_last_request
from tests.integration.ops_jobs import Shop, book_quote, open_shop, request_quote

JOBS_PAGE = """
query($first: Int) { jobs(first: $first) { edges { node { id status reference price { amountMinor currency }
  pickupLocation { name } parcels { id weightG } } } } }
"""


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


@pytest.fixture
async def shop(logged_gql: GraphQL, services: Services, area: ServiceArea) -> Shop:
    return await open_shop(logged_gql, services, area, "hot@example.com", "Hot shop")


async def _book(gql: GraphQL, shop: Shop, n: int, tag: str) -> None:
    for i in range(n):
        quote = await request_quote(gql, shop.token, shop.request(reference=f"{tag}-{i}"))
        assert quote["errors"] == [], quote
        booked = await book_quote(gql, shop.token, quote["quote"]["id"])
        assert booked["errors"] == [], booked


async def test_a_page_of_twenty_jobs_with_store_and_parcels_takes_four_statements(
    logged_gql: GraphQL, log_stream: io.StringIO, shop: Shop
) -> None:
    await _book(logged_gql, shop, 21, "page")
    await logged_gql(JOBS_PAGE, {"first": 20}, token=shop.token)  # asyncpg looks the types up once

    body = await logged_gql(JOBS_PAGE, {"first": 20}, token=shop.token)

    nodes = [e["node"] for e in body["data"]["jobs"]["edges"]]
    assert len(nodes) == 20
    assert len({n["pickupLocation"]["name"] for n in nodes}) == 1
    assert all(len(n["parcels"]) == 1 and n["parcels"][0]["weightG"] > 0 for n in nodes)
    # The session, the jobs, their parcels, their stores: one connection, no reset round trip.
    assert statements_of_last_request(log_stream) == 4


async def test_request_quote_and_book_quote_with_keys_take_eight_and_ten_statements(
    logged_gql: GraphQL, log_stream: io.StringIO, shop: Shop, db: asyncpg.Connection
) -> None:
    await _book(logged_gql, shop, 1, "warm")  # asyncpg looks the types up once

    quote = await request_quote(logged_gql, shop.token, shop.request(reference="ref-1"), idempotencyKey="q-1")
    quoted = statements_of_last_request(log_stream)
    booked = await book_quote(logged_gql, shop.token, quote["quote"]["id"], key="b-1")
    booking = statements_of_last_request(log_stream)

    assert quote["errors"] == []
    assert booked["errors"] == []
    assert booked["job"]["reference"] == "ref-1"
    # session; BEGIN; key claimed with its answer; stores; areas; references; the quote; COMMIT
    assert quoted == 8
    # session; the quote and the card on file read together for the authorisation; the release job queued
    # and committed by itself (one autocommit statement, before Stripe is called); BEGIN; key; the quote
    # locked with its store and area shared-locked (one statement); job, parcels, the quote's booking and
    # the payment (one statement); the parcels' first events with their outbox and notifications; the
    # notifications' worker jobs; COMMIT. Payments and notifications had taken it from 9 to 16.
    assert booking == 10
    marked = await db.fetchval("SELECT q.job_id = j.id FROM quotes q JOIN jobs j ON j.quote_id = q.id")
    assert marked


async def test_booking_survives_a_column_added_to_the_tables_it_reads_in_one_statement(
    logged_gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    """The booking reads several tables' rows in one result row: as explicit ROW(...) column lists, not
    the tables' own composite types, which asyncpg caches per connection and a migration makes stale."""
    await _book(logged_gql, shop, 1, "before")  # the server's connections have run the booking's statements
    for table in ("quotes", "payment_customers", "pickup_locations", "service_areas", "lockers"):
        await db.execute(f"ALTER TABLE {table} ADD COLUMN added_later integer")

    await _book(logged_gql, shop, 2, "after")

    assert await db.fetchval("SELECT count(*) FROM jobs") == 3


async def test_retries_answer_what_the_first_call_answered_and_write_nothing_more(
    logged_gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    request = shop.request(reference="retry-1")
    first = await request_quote(logged_gql, shop.token, request, idempotencyKey="q-retry")
    again = await request_quote(logged_gql, shop.token, request, idempotencyKey="q-retry")
    assert first == again
    booked = await book_quote(logged_gql, shop.token, first["quote"]["id"], key="b-retry")
    rebooked = await book_quote(logged_gql, shop.token, first["quote"]["id"], key="b-retry")
    assert booked["job"]["id"] == rebooked["job"]["id"]
    assert await db.fetchval("SELECT count(*) FROM quotes") == 1
    assert await db.fetchval("SELECT count(*) FROM jobs") == 1
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE response IS NOT NULL") == 2


async def test_booking_a_reference_already_booked_is_refused_and_writes_nothing(
    logged_gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    first = await request_quote(logged_gql, shop.token, shop.request(reference="twice"))
    second = await request_quote(logged_gql, shop.token, shop.request(reference="twice"))
    assert (await book_quote(logged_gql, shop.token, first["quote"]["id"], key="k1"))["errors"] == []

    refused = await book_quote(logged_gql, shop.token, second["quote"]["id"], key="k2")

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("quoteId", "DUPLICATE_REFERENCE")]
    assert await db.fetchval("SELECT count(*) FROM jobs") == 1
    assert await db.fetchval("SELECT job_id FROM quotes WHERE id = $1", uuid_of(second["quote"]["id"], "Quote")) is None
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'k2'") == 0


# --- one connection per request, and the pool's reset -------------------------------------------------------------


async def test_reads_in_one_request_scope_share_one_connection_and_a_nested_one_takes_its_own(
    database_url: str,
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    db = Database(pool)
    try:
        async with db.request_scope():

            async def backend() -> int:
                async with db.read() as repos:
                    return int(await repos.conn.fetchval("SELECT pg_backend_pid()"))

            pids = await asyncio.gather(*(backend() for _ in range(5)))
            async with db.uow() as uow:
                outer = await uow.repos.conn.fetchval("SELECT pg_backend_pid()")
                # A read inside a unit of work of the same task would wait for itself on the shared
                # connection: it takes another one from the pool.
                nested = await backend()
                await uow.commit()
            late = asyncio.create_task(backend())  # started in the request, run after it ended
        await late
        # The task found the request over and borrowed from the pool, returning what it took: every
        # connection is idle again (a task still using the request's connection would hold one).
        assert pool.get_idle_size() == pool.get_size()
        assert len(set(pids)) == 1
        assert outer == pids[0]
        assert nested != outer
        # Outside a request scope every use takes a connection of its own, as before.
        async with db.read() as a, db.read() as b:
            assert await a.conn.fetchval("SELECT pg_backend_pid()") != await b.conn.fetchval("SELECT pg_backend_pid()")
    finally:
        pool.terminate()  # close() would wait for a connection a stray task still held


async def test_connections_lent_by_the_database_skip_the_reset_and_others_keep_it(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    db = Database(pool)
    key = uuid4().int % 2**62
    other = await asyncpg.connect(database_url)
    try:
        counter = StatementCounter()
        token = current_statements.set(counter)
        try:
            async with db.read() as repos:
                await repos.conn.fetchval("SELECT 1")
            await asyncio.sleep(0)  # the query logger reports on the next turn of the loop
        finally:
            current_statements.reset(token)
        assert counter.count == 1  # the query alone: no reset round trip

        # A session advisory lock taken on a connection from pool.acquire() is released by the reset.
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", key)
    finally:
        await other.close()
        await pool.close()


@pytest.mark.parametrize("hops", range(5))
async def test_connections_go_to_the_tasks_waiting_for_them_in_the_order_they_asked(
    database_url: str, hops: int
) -> None:
    """A task that asks for a connection while others wait must queue behind them.

    asyncpg's own queue lets such a task take a connection just released to a waiter, and the waiter
    queues again at the back: with more requests than connections that made the tail of the latency
    (bench_api's read path at 64 clients). The late task here first yields `hops` times, so that
    for some count it asks in the gap between the release and the woken waiter's turn.
    """
    pool = await create_pool(database_url, min_size=1, max_size=1)
    db = Database(pool)
    served: list[str] = []

    async def use(name: str, yields: int = 0) -> None:
        for _ in range(yields):
            await asyncio.sleep(0)  # a turn of the loop, not a wait for time
        async with db.read() as repos:
            served.append(name)
            await repos.conn.fetchval("SELECT 1")

    try:
        async with db.read():
            first = asyncio.create_task(use("first"))
            second = asyncio.create_task(use("second"))
            await asyncio.sleep(0)  # both have started and are waiting for the one connection
            late = asyncio.create_task(use("late", hops))
        await asyncio.gather(first, second, late)
        assert served == ["first", "second", "late"]
    finally:
        await pool.close()
