"""Couriers and their offers over HTTP: accept (race-safe, never after the exact expiry), decline (the
pair is never offered again), and only one's own offers are visible."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.db.pool import create_pool
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError
from marketplace.domain.offers import Offer
from marketplace.domain.places import CompartmentSize
from marketplace.services.container import Services, build_services
from marketplace.settings import Settings
from schema.types import global_id
from tests.factories import make_locker
from tests.helpers import GraphQL
from tests.integration import ops_delivery
from tests.integration.ops_delivery import (
    DECLINE,
    JOB_WITH_RECIPIENT,
    MY_OFFERS,
    OFFER,
    PARCEL,
    Courier,
    accept,
    book,
    codes,
    courier_with_trip,
    offered,
)
from tests.integration.ops_jobs import Shop

area, shop = ops_delivery.area, ops_delivery.shop


@pytest.fixture
async def wide_services(settings: Settings, clock: ManualClock) -> AsyncIterator[Services]:
    """Services on a pool of 21 connections, so 20 accepts really run at the same time.

    (The HTTP test client hands the application one request at a time; concurrency is tested here.)
    """
    pool = await create_pool(settings.database_url or "", min_size=21, max_size=21)
    yield build_services(settings, pool, clock)
    await pool.close()


async def test_of_twenty_concurrent_accepts_exactly_one_wins(
    gql: GraphQL,
    services: Services,
    wide_services: Services,
    shop: Shop,
    area: ServiceArea,
    db: asyncpg.Connection,
) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    offer = await offered(services, courier, booked)
    principal = Principal(role=Role.COURIER, user_id=courier.user_id, organization_id=None)

    async def attempt(n: int) -> str:
        try:
            await wide_services.offers.accept_offer(principal, offer_id=offer.id, idempotency_key=f"key-{n}")
        except DomainError as exc:
            return exc.errors[0].code.value
        return "won"

    results = await asyncio.gather(*(attempt(n) for n in range(20)))

    assert sorted(results) == ["OFFER_NOT_OPEN"] * 19 + ["won"]
    read = await gql(OFFER, {"id": str(global_id("Offer", offer.id))}, token=courier.token)
    assert read["data"]["offer"]["status"] == "ACCEPTED"
    retried = await accept(gql, courier, offer, "key-21")
    assert codes(retried) == ["OFFER_NOT_OPEN"]
    assert await db.fetchval("SELECT count(*) FROM offers WHERE status = 'accepted'") == 1
    accepted_per_parcel = await db.fetch(
        """
        SELECT op.parcel_id, count(*) AS n FROM offer_parcels op JOIN offers o ON o.id = op.offer_id
        WHERE o.status = 'accepted' AND op.live GROUP BY op.parcel_id
        """
    )
    assert [r["n"] for r in accepted_per_parcel] == [1]
    row = await db.fetchrow("SELECT status, assigned_courier_id, assigned_trip_id FROM parcels")
    assert row is not None
    assert (row["status"], row["assigned_courier_id"], row["assigned_trip_id"]) == (
        "assigned",
        courier.user_id,
        courier.trip.id,
    )
    assert await db.fetchval("SELECT status FROM trips WHERE id = $1", courier.trip.id) == "matched"
    assert await db.fetchval("SELECT status FROM jobs") == "assigned"
    kinds = await db.fetch("SELECT kind FROM parcel_events ORDER BY seq")
    assert [r["kind"] for r in kinds] == ["booked", "offered", "assigned"]


async def test_accepting_is_idempotent_per_key(gql: GraphQL, services: Services, shop: Shop, area: ServiceArea) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    offer = await offered(services, courier, booked)
    first = await accept(gql, courier, offer, "same")
    again = await accept(gql, courier, offer, "same")
    assert first["errors"] == []
    assert again == first


async def test_an_offer_cannot_be_accepted_at_its_exact_expiry_instant(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    just_in_time = await offered(services, courier, await book(gql, shop), ttl=timedelta(minutes=3))
    clock.advance(timedelta(minutes=3) - timedelta(microseconds=1))
    assert (await accept(gql, courier, just_in_time))["errors"] == []

    other = await courier_with_trip(gql, services, area, "other@example.com")
    too_late = await offered(services, other, await book(gql, shop), ttl=timedelta(minutes=3))
    clock.advance(timedelta(minutes=3))
    refused = await accept(gql, other, too_late, "late")
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("offerId", "OFFER_EXPIRED")]
    assert await db.fetchval("SELECT status FROM offers WHERE id = $1", too_late.id) == "open"  # no sweep ran
    read = await gql(OFFER, {"id": str(global_id("Offer", too_late.id))}, token=other.token)
    assert read["data"]["offer"]["status"] == "EXPIRED"


async def test_declining_returns_the_parcels_and_forbids_the_pair(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    offer = await offered(services, courier, booked)
    body = await gql(
        DECLINE,
        {"input": {"offerId": str(global_id("Offer", offer.id)), "reason": "TOO_FAR", "idempotencyKey": "d"}},
        token=courier.token,
    )
    payload = body["data"]["declineOffer"]
    assert payload["errors"] == []
    assert (payload["offer"]["status"], payload["offer"]["declineReason"]) == ("DECLINED", "too_far")
    assert await db.fetchval("SELECT status FROM parcels") == "booked"
    assert await db.fetchval("SELECT live FROM offer_parcels") is False
    pairs = await db.fetch("SELECT trip_id, parcel_id, reason FROM forbidden_pairs")
    assert [(r["trip_id"], r["parcel_id"], r["reason"]) for r in pairs] == [
        (courier.trip.id, booked.parcel_uuids[0], "declined")
    ]
    async with services.db.read() as repos:
        assert await repos.offers.forbidden_pairs(area.id) == [(courier.trip.id, booked.parcel_uuids[0])]
    events = await db.fetch("SELECT kind, reason_code FROM parcel_events ORDER BY seq")
    assert [(r["kind"], r["reason_code"]) for r in events][-1] == ("booked", "offer_declined")
    assert await db.fetchval("SELECT status FROM trips") == "open"
    # Declined is final: no accept afterwards.
    assert codes(await accept(gql, courier, offer)) == ["OFFER_NOT_OPEN"]


async def test_a_courier_sees_only_its_own_offers_parcels_and_recipients(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    booked = await book(gql, shop)
    mine = await courier_with_trip(gql, services, area, "mine@example.com")
    other = await courier_with_trip(gql, services, area, "other@example.com")
    offer = await offered(services, mine, booked)
    offer_id = str(global_id("Offer", offer.id))

    listed = await gql(MY_OFFERS, {"status": "OPEN"}, token=mine.token)
    assert [e["node"]["id"] for e in listed["data"]["myOffers"]["edges"]] == [offer_id]
    assert (await gql(MY_OFFERS, {}, token=other.token))["data"]["myOffers"]["edges"] == []
    theirs = await gql(OFFER, {"id": offer_id}, token=other.token)
    assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    stolen = await accept(gql, other, offer)
    assert codes(stolen) == ["NOT_FOUND"]

    # Before accepting, not even the offered courier sees the job, its parcel or its recipient.
    for token in (mine.token, other.token):
        job = await gql(JOB_WITH_RECIPIENT, {"id": booked.job_id}, token=token)
        assert job["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        parcel = await gql(PARCEL, {"id": booked.parcel_ids[0]}, token=token)
        assert parcel["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    assert (await accept(gql, mine, offer))["errors"] == []
    job = await gql(JOB_WITH_RECIPIENT, {"id": booked.job_id}, token=mine.token)
    assert job["data"]["job"]["recipient"] == {"name": "Ada de Vries", "phone": "+31612345678"}
    assert job["data"]["job"]["parcels"][0]["labelCode"] is None  # never shown to couriers
    assert [e["kind"] for e in job["data"]["job"]["parcels"][0]["events"]] == ["booked", "offered", "assigned"]
    for document, variables in ((JOB_WITH_RECIPIENT, {"id": booked.job_id}), (PARCEL, {"id": booked.parcel_ids[0]})):
        refused = await gql(document, variables, token=other.token)
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_one_free_compartment_and_two_concurrent_accepts_reserve_it_once(
    gql: GraphQL,
    services: Services,
    wide_services: Services,
    shop: Shop,
    area: ServiceArea,
    db: asyncpg.Connection,
) -> None:
    locker = await make_locker(services, area, compartments=((CompartmentSize.M, 1),))
    to_locker = {"dropoff": {"lockerId": str(global_id("Locker", locker.id))}}
    first = await courier_with_trip(gql, services, area, "first@example.com")
    second = await courier_with_trip(gql, services, area, "second@example.com")
    offer_1 = await offered(services, first, await book(gql, shop, **to_locker))
    offer_2 = await offered(services, second, await book(gql, shop, **to_locker))

    async def attempt(courier: Courier, offer: Offer) -> str:
        principal = Principal(role=Role.COURIER, user_id=courier.user_id, organization_id=None)
        try:
            await wide_services.offers.accept_offer(principal, offer_id=offer.id, idempotency_key=None)
        except DomainError as exc:
            return exc.errors[0].code.value
        return "reserved"

    results = await asyncio.gather(attempt(first, offer_1), attempt(second, offer_2))

    assert sorted(results) == ["LOCKER_FULL", "reserved"]
    assert await db.fetchval("SELECT count(*) FROM locker_reservations WHERE status = 'held'") == 1
    assert await db.fetchval("SELECT count(*) FROM offers WHERE status = 'accepted'") == 1
    assert await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'assigned'") == 1
    # The loser's offer stays open and its parcel offered: nothing of the refused accept was written.
    assert await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'offered'") == 1
