"""Booking quotes into jobs over HTTP: once per quote, only while live, and read only by those entitled."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.jobs import QuoteBooking
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import make_area, make_locker, uuid_of
from tests.helpers import GraphQL, admin_token, wait_until_blocked_on_a_lock
from tests.integration import ops_delivery
from tests.integration.ops_jobs import (
    JOB,
    JOB_BY_REFERENCE,
    JOBS,
    Shop,
    book_quote,
    count,
    open_shop,
    request_quote,
    window,
)

area, shop = ops_delivery.area, ops_delivery.shop


async def quoted(gql: GraphQL, shop: Shop, **overrides: Any) -> str:
    payload = await request_quote(gql, shop.token, shop.request(**overrides))
    assert payload["errors"] == [], payload
    return str(payload["quote"]["id"])


async def test_quote_then_book_then_list(gql: GraphQL, shop: Shop, area: ServiceArea, db: asyncpg.Connection) -> None:
    payload = await request_quote(gql, shop.token, shop.request(reference="ORDER-7"))
    quote = payload["quote"]
    booked = await book_quote(gql, shop.token, quote["id"], "book-1")
    assert booked["errors"] == []
    job = booked["job"]
    assert job["status"] == "BOOKED"
    assert job["reference"] == "ORDER-7"
    assert job["quoteId"] == quote["id"]
    assert job["price"] == quote["price"]
    assert job["parts"] == quote["parts"]
    assert job["pickupLocationId"] == shop.location
    assert job["areaId"] == str(global_id("ServiceArea", area.id))
    assert job["dropoff"]["kind"] == "ADDRESS"
    assert job["dropoff"]["address"]["postalCode"] == "1077 JH"
    assert job["pickupWindow"] == window(T0 + timedelta(hours=2), 2)
    assert job["failureAction"] == "RETURN_TO_PICKUP"
    assert [p["volumeCm3"] for p in job["parcels"]] == [6_000]
    assert job["recipient"] == {
        "name": "Ada de Vries",
        "phone": "+31612345678",
        "instructions": "Ring twice",
        "safePlace": None,
        "safePlaceConsent": False,
        "neighbourConsent": False,
    }

    listed = await gql(JOBS, {"first": 10}, token=shop.token)
    assert [e["node"]["id"] for e in listed["data"]["jobs"]["edges"]] == [job["id"]]
    read = await gql(JOB, {"id": job["id"]}, token=shop.token)
    assert read["data"]["job"] == job

    assert await count(db, "jobs") == 1
    assert await count(db, "parcels") == 1
    assert await db.fetchval("SELECT job_id FROM quotes") == uuid_of(job["id"], "Job")


async def test_booking_twice_with_the_same_key_creates_one_job(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    quote_id = await quoted(gql, shop)
    first = await book_quote(gql, shop.token, quote_id, "same-key")
    second = await book_quote(gql, shop.token, quote_id, "same-key")
    assert first["errors"] == []
    assert second == first
    assert await count(db, "jobs") == 1

    other_key = await book_quote(gql, shop.token, quote_id, "another-key")
    assert other_key["job"] is None
    assert [e["code"] for e in other_key["errors"]] == ["QUOTE_ALREADY_BOOKED"]
    assert await count(db, "jobs") == 1


async def test_a_quote_expires_at_the_exact_instant(
    gql: GraphQL, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    just_in_time = await quoted(gql, shop)
    too_late = await quoted(gql, shop)
    # An API key, since the session's access token lives exactly as long as a quote.
    body = await gql('mutation { createApiKey(input: {name: "shop system"}) { secret } }', token=shop.token)
    key = body["data"]["createApiKey"]["secret"]
    clock.advance(timedelta(minutes=15) - timedelta(microseconds=1))
    assert (await book_quote(gql, key, just_in_time))["errors"] == []
    clock.advance(timedelta(microseconds=1))
    refused = await book_quote(gql, key, too_late, "late")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("quoteId", "QUOTE_EXPIRED")]
    assert await count(db, "jobs") == 1
    assert await count(db, "idempotency_keys") == 0


async def test_a_pickup_window_that_closed_since_the_quote_cannot_be_booked(
    gql: GraphQL, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    quote_id = await quoted(gql, shop, pickupWindow=window(T0 - timedelta(minutes=50), 1))
    clock.advance(timedelta(minutes=10))
    refused = await book_quote(gql, shop.token, quote_id)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("quoteId", "WINDOW_CLOSED")]
    assert await count(db, "jobs") == 0


async def test_another_tenant_can_neither_book_nor_read_nor_list(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    quote_id = await quoted(gql, shop)
    other = await open_shop(gql, services, area, "other@example.com", "Other shop")
    stolen = await book_quote(gql, other.token, quote_id, "steal")
    missing = await book_quote(gql, other.token, str(global_id("Quote", area.id)), "steal-2")
    assert stolen == missing
    assert [e["code"] for e in stolen["errors"]] == ["NOT_FOUND"]

    job_id = (await book_quote(gql, shop.token, quote_id))["job"]["id"]
    theirs = await gql(JOB, {"id": job_id}, token=other.token)
    nothing = await gql(JOB, {"id": str(global_id("Job", area.id))}, token=other.token)
    assert theirs["data"] == nothing["data"] == {"job": None}
    assert [e["extensions"] for e in theirs["errors"]] == [e["extensions"] for e in nothing["errors"]]
    assert [e["extensions"]["code"] for e in theirs["errors"]] == ["NOT_FOUND"]

    listed = await gql(JOBS, {}, token=other.token)
    assert listed["data"]["jobs"]["edges"] == []
    spying = await gql(
        JOBS, {"organizationId": str(global_id("Organization", shop.organization_id))}, token=other.token
    )
    assert spying["data"]["jobs"]["edges"] == []

    admin = await admin_token(gql, services)
    everything = await gql(JOBS, {}, token=admin)
    assert [e["node"]["id"] for e in everything["data"]["jobs"]["edges"]] == [job_id]
    one_org = await gql(JOBS, {"organizationId": str(global_id("Organization", other.organization_id))}, token=admin)
    assert one_org["data"]["jobs"]["edges"] == []
    admin_read = await gql(JOB, {"id": job_id}, token=admin)
    assert admin_read["data"]["job"]["recipient"]["name"] == "Ada de Vries"


async def test_recipient_is_hidden_from_couriers_until_one_is_assigned_a_parcel(
    gql: GraphQL, services: Services, shop: Shop
) -> None:
    job = (await book_quote(gql, shop.token, await quoted(gql, shop)))["job"]
    carrier = await gql.session("carrier@example.com", "COURIER")
    bystander = await gql.session("bystander@example.com", "COURIER")

    before = await gql(JOB, {"id": job["id"]}, token=carrier["accessToken"])
    assert before["data"] == {"job": None}
    assert before["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    async with services.db.uow() as uow:
        parcel_id = uuid_of(job["parcels"][0]["id"], "Parcel")
        assert await uow.repos.jobs.assign_parcel(parcel_id, uuid_of(carrier["user"]["id"], "User"), None)
        await uow.commit()

    after = await gql(JOB, {"id": job["id"]}, token=carrier["accessToken"])
    assert after["data"]["job"]["recipient"] == job["recipient"]
    assert after["data"]["job"]["recipient"]["phone"] == "+31612345678"
    other = await gql(JOB, {"id": job["id"]}, token=bystander["accessToken"])
    assert other["data"] == {"job": None}
    assert "Ada" not in str(other)


async def test_jobs_are_listed_by_page_and_filtered_by_pickup_time_area_and_status(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    ids = []
    for hour in (1, 3, 5):
        quote_id = await quoted(gql, shop, pickupWindow=window(T0 + timedelta(hours=hour), 1))
        ids.append((await book_quote(gql, shop.token, quote_id))["job"]["id"])

    seen, after = [], None
    while True:
        page = (await gql(JOBS, {"first": 2, "after": after}, token=shop.token))["data"]["jobs"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 3

    overlapping = {
        "pickupFrom": (T0 + timedelta(hours=2, minutes=30)).isoformat(),
        "pickupUntil": (T0 + timedelta(hours=5, minutes=30)).isoformat(),
    }
    ranged = await gql(JOBS, overlapping, token=shop.token)
    assert sorted(e["node"]["id"] for e in ranged["data"]["jobs"]["edges"]) == sorted(ids[1:])

    elsewhere = await make_area(services, name="Elsewhere", polygon=((10.0, 10.0), (10.0, 11.0), (11.0, 11.0)))
    in_other_area = await gql(JOBS, {"areaId": str(global_id("ServiceArea", elsewhere.id))}, token=shop.token)
    assert in_other_area["data"]["jobs"]["edges"] == []
    in_area = await gql(JOBS, {"areaId": str(global_id("ServiceArea", area.id))}, token=shop.token)
    assert len(in_area["data"]["jobs"]["edges"]) == 3
    assert len((await gql(JOBS, {"status": "BOOKED"}, token=shop.token))["data"]["jobs"]["edges"]) == 3
    assert (await gql(JOBS, {"status": "DELIVERED"}, token=shop.token))["data"]["jobs"]["edges"] == []


async def test_two_bookings_of_one_quote_with_different_keys_book_it_once(
    gql: GraphQL, services: Services, shop: Shop, db: asyncpg.Connection
) -> None:
    quote_id = uuid_of(await quoted(gql, shop), "Quote")
    principal = Principal(role=Role.RETAILER, user_id=None, organization_id=shop.organization_id)

    async def attempt(key: str) -> str:
        try:
            await services.jobs.book_quote(principal, QuoteBooking(quote_id), idempotency_key=key)
        except DomainError as exc:
            return exc.errors[0].code.value
        return "BOOKED"

    outcomes = await asyncio.gather(*(attempt(f"key-{n}") for n in range(4)))
    assert sorted(outcomes) == ["BOOKED", "QUOTE_ALREADY_BOOKED", "QUOTE_ALREADY_BOOKED", "QUOTE_ALREADY_BOOKED"]
    assert await count(db, "jobs") == 1


async def test_a_locker_or_store_that_went_out_of_service_since_the_quote_stops_the_booking(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    locker = await make_locker(services, area)
    to_locker = await quoted(gql, shop, dropoff={"lockerId": str(global_id("Locker", locker.id))})
    to_home = await quoted(gql, shop)
    async with services.db.uow() as uow:
        await uow.repos.lockers.save(replace(locker, active=False))
        await uow.commit()
    refused = await book_quote(gql, shop.token, to_locker)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("quoteId", "LOCKER_UNAVAILABLE")]

    async with services.db.uow() as uow:
        store = await uow.repos.pickup_locations.get(shop.location_id, shop.organization_id)
        assert store is not None
        await uow.repos.pickup_locations.save(replace(store, archived_at=T0))
        await uow.commit()
    refused = await book_quote(gql, shop.token, to_home)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("quoteId", "LOCATION_ARCHIVED")]
    assert await count(db, "jobs") == 0


async def test_a_job_booked_with_an_api_key_records_the_key(gql: GraphQL, shop: Shop, db: asyncpg.Connection) -> None:
    body = await gql(
        'mutation { createApiKey(input: {name: "shop system"}) { apiKey { id } secret } }', token=shop.token
    )
    created = body["data"]["createApiKey"]
    quote = await request_quote(gql, created["secret"], shop.request())
    booked = await book_quote(gql, created["secret"], quote["quote"]["id"], "api")
    assert booked["errors"] == []
    row = await db.fetchrow("SELECT booked_by_user_id, booked_by_api_key_id FROM jobs")
    assert row is not None
    assert (row["booked_by_user_id"], row["booked_by_api_key_id"]) == (None, uuid_of(created["apiKey"]["id"], "ApiKey"))


async def test_a_store_archived_while_its_quote_is_being_booked_stops_the_booking(
    gql: GraphQL, services: Services, shop: Shop, db: asyncpg.Connection
) -> None:
    """Driven through the service: the HTTP test client would block this loop while the booking waits."""
    quote_id = uuid_of(await quoted(gql, shop), "Quote")
    principal = Principal(role=Role.RETAILER, user_id=None, organization_id=shop.organization_id)
    async with services.db.uow() as uow:
        store = await uow.repos.pickup_locations.get(shop.location_id, shop.organization_id, for_update=True)
        assert store is not None
        await uow.repos.pickup_locations.save(replace(store, archived_at=T0))
        booking = asyncio.create_task(services.jobs.book_quote(principal, QuoteBooking(quote_id)))
        await wait_until_blocked_on_a_lock(db, "the booking")
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await booking
    assert [(e.code, e.field) for e in refused.value.errors] == [(ErrorCode.LOCATION_ARCHIVED, "quoteId")]
    assert await count(db, "jobs") == 0


async def test_a_locker_switched_off_while_a_quote_to_it_is_being_booked_stops_the_booking(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    locker = await make_locker(services, area)
    quote_id = uuid_of(await quoted(gql, shop, dropoff={"lockerId": str(global_id("Locker", locker.id))}), "Quote")
    principal = Principal(role=Role.RETAILER, user_id=None, organization_id=shop.organization_id)
    async with services.db.uow() as uow:
        assert await uow.repos.lockers.get(locker.id, for_update=True) is not None
        await uow.repos.lockers.save(replace(locker, active=False))
        booking = asyncio.create_task(services.jobs.book_quote(principal, QuoteBooking(quote_id)))
        await wait_until_blocked_on_a_lock(db, "the booking")
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await booking
    assert [(e.code, e.field) for e in refused.value.errors] == [(ErrorCode.LOCKER_UNAVAILABLE, "quoteId")]
    assert await count(db, "jobs") == 0


async def test_a_job_is_found_by_its_own_organisations_reference_only(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    booked = await book_quote(gql, shop.token, await quoted(gql, shop, reference="  ORDER   7 "))
    job = booked["job"]
    assert job["reference"] == "ORDER 7"
    key = (await gql('mutation { createApiKey(input: {name: "erp"}) { secret } }', token=shop.token))["data"]
    for token in (shop.token, key["createApiKey"]["secret"]):
        for given in ("ORDER 7", " ORDER  7"):  # looked up as stored: whitespace collapsed
            found = await gql(JOB_BY_REFERENCE, {"reference": given}, token=token)
            assert found["data"]["jobByReference"] == job
    own = str(global_id("Organization", shop.organization_id))
    assert (await gql(JOB_BY_REFERENCE, {"reference": "ORDER 7", "organizationId": own}, token=shop.token))["data"][
        "jobByReference"
    ] == job

    # Another organisation's reference, a reference nobody booked, and naming another organisation:
    # all read exactly like a missing job.
    other = await open_shop(gql, services, area, "other@example.com", "Other shop")
    other_job = await book_quote(gql, other.token, await quoted(gql, other, reference="ORDER 8"))
    assert other_job["errors"] == []
    theirs = str(global_id("Organization", other.organization_id))
    for variables, token in (
        ({"reference": "ORDER 7"}, other.token),
        ({"reference": "ORDER 8"}, shop.token),
        ({"reference": "ORDER 9"}, shop.token),
        ({"reference": "ORDER 8", "organizationId": theirs}, shop.token),
        ({"reference": "ORDER\x00 7"}, shop.token),
    ):
        body = await gql(JOB_BY_REFERENCE, variables, token=token)
        assert body["data"]["jobByReference"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]


async def test_admins_find_a_job_by_reference_only_within_the_organisation_they_name(
    gql: GraphQL, services: Services, shop: Shop
) -> None:
    booked = await book_quote(gql, shop.token, await quoted(gql, shop, reference="ORDER-7"))
    admin = await admin_token(gql, services)
    own = str(global_id("Organization", shop.organization_id))
    found = await gql(JOB_BY_REFERENCE, {"reference": "ORDER-7", "organizationId": own}, token=admin)
    assert found["data"]["jobByReference"]["id"] == booked["job"]["id"]
    unnamed = await gql(JOB_BY_REFERENCE, {"reference": "ORDER-7"}, token=admin)
    assert unnamed["data"]["jobByReference"] is None
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in unnamed["errors"]] == [
        ("BAD_USER_INPUT", "organizationId")
    ]
