"""Bulk booking over HTTP: up to 500 jobs in one call, all or nothing, in a few SQL statements."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import asyncpg
import pytest

from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.hours import OpeningHours, OpeningInterval
from marketplace.domain.jobs import DropoffRequest, ParcelRequest, QuoteRequest, RecipientRequest
from marketplace.domain.pricing import road_distance_m
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import DAM_SQUARE, OOST, UTRECHT, ZUID, make_locker, make_pickup_location
from tests.helpers import GraphQL, statements_of_last_request, wait_until_blocked_on_a_lock
from tests.integration import ops_delivery
from tests.integration.ops_jobs import BOOK_JOBS, JOBS, Shop, address, count, open_shop, parcel

area, shop = ops_delivery.area, ops_delivery.shop


def rows(shop: Shop, n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [shop.request(reference=f"ORDER-{i}", **overrides) for i in range(n)]


async def book_jobs(gql: GraphQL, shop: Shop, jobs: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
    body = await gql(BOOK_JOBS, {"input": {"jobs": jobs, "idempotencyKey": key}}, token=shop.token)
    return body["data"]["bookJobs"]  # type: ignore[no-any-return]


async def test_a_batch_books_every_row_into_its_own_job(gql: GraphQL, shop: Shop, db: asyncpg.Connection) -> None:
    jobs = rows(shop, 5)
    jobs[2]["dropoff"] = address(OOST, postalCode="1092 AE")
    jobs[3]["parcels"] = [parcel(), parcel(weightG=9_000)]
    payload = await book_jobs(gql, shop, jobs)
    assert payload["errors"] == []
    assert [j["reference"] for j in payload["jobs"]] == [f"ORDER-{i}" for i in range(5)]
    assert await count(db, "jobs") == 5
    assert await count(db, "parcels") == 6
    assert await count(db, "quotes") == 5
    assert await db.fetchval("SELECT count(*) FROM quotes WHERE job_id IS NULL") == 0
    distance = await db.fetchval("SELECT distance_m FROM jobs WHERE reference = 'ORDER-2'")
    assert distance == road_distance_m(DAM_SQUARE, OOST)
    listed = await gql(JOBS, {"first": 10}, token=shop.token)
    assert len(listed["data"]["jobs"]["edges"]) == 5


async def test_one_bad_row_among_many_rejects_the_batch_names_the_row_and_writes_nothing(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    jobs = rows(shop, 40)
    jobs[17]["dropoff"] = address(postalCode="ABCDE")
    jobs[31]["dropoff"] = address(UTRECHT, postalCode="3511 AB")
    payload = await book_jobs(gql, shop, jobs, "batch-1")
    assert payload["jobs"] == []
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("jobs[17].dropoff.postalCode", "INVALID_POSTAL_CODE"),
        ("jobs[31].dropoff.point", "OUTSIDE_SERVICE_AREA"),
    ]
    for table in ("jobs", "parcels", "quotes", "idempotency_keys"):
        assert await count(db, table) == 0, table


async def test_ids_that_name_nothing_are_reported_at_their_rows(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    jobs = rows(shop, 6)
    jobs[2]["pickupLocationId"] = "garbage"
    jobs[4]["dropoff"] = {"lockerId": "TG9ja2VyOm5vbmU="}
    payload = await book_jobs(gql, shop, jobs)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("jobs[2].pickupLocationId", "NOT_FOUND"),
        ("jobs[4].dropoff.lockerId", "NOT_FOUND"),
    ]
    assert await count(db, "jobs") == 0


SATURDAYS = OpeningHours((OpeningInterval(6, time(9), time(17)),))  # T0 is a Tuesday


@pytest.mark.parametrize("closed", ["store", "locker"])
async def test_a_row_whose_only_problem_is_a_closed_place_refuses_the_whole_batch(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection, closed: str
) -> None:
    """LOCATION_CLOSED is a problem like any other: the other rows are not booked without it."""
    jobs = rows(shop, 6)
    if closed == "store":
        weekend = await make_pickup_location(services, shop.organization_id, area, name="Weekend", hours=SATURDAYS)
        jobs[3]["pickupLocationId"] = str(global_id("PickupLocation", weekend.id))
        where = "jobs[3].pickupWindow"
    else:
        locker = await make_locker(services, area, hours=SATURDAYS)
        jobs[3]["dropoff"] = {"lockerId": str(global_id("Locker", locker.id))}
        where = "jobs[3].deliveryWindow"
    payload = await book_jobs(gql, shop, jobs, "with-a-closed-place")
    assert payload["jobs"] == []
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(where, "LOCATION_CLOSED")]
    for table in ("jobs", "parcels", "quotes", "idempotency_keys"):
        assert await count(db, table) == 0, table


async def test_references_repeated_within_a_batch_or_already_booked_are_refused(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    assert (await book_jobs(gql, shop, [shop.request(reference="TAKEN")]))["errors"] == []
    jobs = rows(shop, 4)
    jobs[3]["reference"] = "ORDER-1"
    jobs[0]["reference"] = "TAKEN"
    payload = await book_jobs(gql, shop, jobs)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("jobs[0].reference", "DUPLICATE_REFERENCE"),
        ("jobs[3].reference", "DUPLICATE_REFERENCE"),
    ]
    assert await count(db, "jobs") == 1


async def test_a_retried_batch_returns_the_first_jobs(gql: GraphQL, shop: Shop, db: asyncpg.Connection) -> None:
    jobs = rows(shop, 3)
    first = await book_jobs(gql, shop, jobs, "retry-me")
    second = await book_jobs(gql, shop, jobs, "retry-me")
    assert first["errors"] == []
    assert second == first
    assert await count(db, "jobs") == 3
    changed = await book_jobs(gql, shop, rows(shop, 2), "retry-me")
    assert [e["code"] for e in changed["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_a_batch_holds_one_to_five_hundred_rows(gql: GraphQL, shop: Shop) -> None:
    empty = await book_jobs(gql, shop, [])
    assert [(e["field"], e["code"]) for e in empty["errors"]] == [("jobs", "REQUIRED")]
    too_many = await book_jobs(gql, shop, [shop.request()] * 501)
    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [("jobs", "TOO_MANY_ROWS")]


def domain_request(shop: Shop, reference: str) -> QuoteRequest:
    """The same delivery as `shop.request()`, for tests that call the service directly."""
    return QuoteRequest(
        pickup_location_id=shop.location_id,
        dropoff=DropoffRequest(
            street="Beethovenstraat",
            house_number="12",
            postal_code="1077 JH",
            city="Amsterdam",
            country_code="NL",
            point=ZUID,
        ),
        pickup_from=T0 + timedelta(hours=2),
        pickup_until=T0 + timedelta(hours=4),
        deliver_from=T0 + timedelta(hours=4),
        deliver_until=T0 + timedelta(hours=10),
        parcels=(ParcelRequest(1_500, 300, 200, 100, 4_999, "EUR"),),
        recipient=RecipientRequest(name="Ada de Vries", phone="+31612345678"),
        reference=reference,
    )


async def test_a_store_archived_while_a_batch_is_being_booked_stops_the_batch(
    services: Services, shop: Shop, db: asyncpg.Connection
) -> None:
    """Driven through the service: the HTTP test client would block this loop while the batch waits."""
    principal = Principal(role=Role.RETAILER, user_id=None, organization_id=shop.organization_id)
    batch = [domain_request(shop, f"ORDER-{i}") for i in range(2)]
    async with services.db.uow() as uow:
        store = await uow.repos.pickup_locations.get(shop.location_id, shop.organization_id, for_update=True)
        assert store is not None
        await uow.repos.pickup_locations.save(replace(store, archived_at=T0))
        booking = asyncio.create_task(services.jobs.book_jobs(principal, batch, idempotency_key=None))
        await wait_until_blocked_on_a_lock(db, "the batch")
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await booking
    assert [(e.code, e.field) for e in refused.value.errors] == [
        (ErrorCode.LOCATION_ARCHIVED, "jobs[0].pickupLocationId"),
        (ErrorCode.LOCATION_ARCHIVED, "jobs[1].pickupLocationId"),
    ]
    assert await count(db, "jobs") == 0


async def test_an_area_paused_while_a_batch_is_being_booked_stops_the_batch(
    services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    principal = Principal(role=Role.RETAILER, user_id=None, organization_id=shop.organization_id)
    async with services.db.uow() as uow:
        assert await uow.repos.areas.get(area.id, for_update=True) is not None
        assert await uow.repos.areas.save(replace(area, active=False))
        booking = asyncio.create_task(
            services.jobs.book_jobs(principal, [domain_request(shop, "ORDER-1")], idempotency_key=None)
        )
        await wait_until_blocked_on_a_lock(db, "the batch")
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await booking
    assert (ErrorCode.OUTSIDE_SERVICE_AREA, "jobs[0].pickupLocationId") in {
        (e.code, e.field) for e in refused.value.errors
    }
    assert await count(db, "jobs") == 0


# --- statement count ------------------------------------------------------------------------------


async def test_five_hundred_jobs_take_as_few_statements_as_five(
    logged_gql: GraphQL, log_stream: io.StringIO, services: Services, area: ServiceArea, db: asyncpg.Connection
) -> None:
    shop = await open_shop(logged_gql, services, area, "bulk@example.com", "Bulk shop")
    # The first batch also pays for asyncpg's one-off type introspection; measure from the second.
    warm_up = [shop.request(reference=f"WARM-{i}") for i in range(2)]
    assert (await book_jobs(logged_gql, shop, warm_up, "warm-up"))["errors"] == []
    few = await book_jobs(logged_gql, shop, rows(shop, 5), "five")
    assert few["errors"] == []
    statements_for_5 = statements_of_last_request(log_stream)

    many = rows(shop, 500)
    for i, row in enumerate(many):
        row["reference"] = f"BULK-{i}"
    payload = await book_jobs(logged_gql, shop, many, "five-hundred")
    assert payload["errors"] == []
    assert len(payload["jobs"]) == 500
    statements_for_500 = statements_of_last_request(log_stream)

    assert statements_for_500 == statements_for_5
    # 16 for the booking itself, plus one insert of every parcel's 'booked' event (with its outbox
    # message and the recipient's notifications), one that queues the worker for the notifications, and
    # four for payments (the card on file, the pending payments, and pgqueuer's enqueue of their
    # authorisations).
    assert statements_for_500 <= 22
    assert await count(db, "jobs") == 507
    assert await count(db, "parcels") == 507
