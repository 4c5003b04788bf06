"""Cancellation by the retailer: the fee table, by job id, reference or parcel, offers withdrawn with the
courier told through the history, and nothing after delivery."""

from __future__ import annotations

import asyncpg

from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from tests.helpers import GraphQL
from tests.integration import ops_delivery
from tests.integration.ops_delivery import (
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    CANCEL_JOB,
    CANCEL_PARCEL,
    CONFIRM_PICKUP,
    CONFIRM_RETURN,
    DELIVER,
    PARCEL,
    accept,
    book,
    codes,
    courier_with_trip,
    offered,
    step,
)
from tests.integration.ops_jobs import Shop, open_shop

area, shop = ops_delivery.area, ops_delivery.shop


async def test_cancelling_before_assignment_is_free_and_withdraws_the_open_offer(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    booked = await book(gql, shop, reference="ORDER-1")
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    offer = await offered(services, courier, booked)
    payload = await step(gql, shop.token, CANCEL_JOB, reference=" ORDER-1 ", idempotencyKey="c1")
    assert payload["errors"] == []
    assert payload["fee"] == {"amountMinor": 0, "currency": "EUR"}
    assert payload["job"]["status"] == "CANCELLED"
    assert await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.id) == "withdrawn"
    told = await db.fetchrow("SELECT kind, details FROM parcel_events WHERE kind = 'offer_withdrawn'")
    assert told is not None
    assert str(courier.user_id) in told["details"]
    assert codes(await accept(gql, courier, offer)) == ["OFFER_NOT_OPEN"]
    again = await step(gql, shop.token, CANCEL_JOB, reference="ORDER-1", idempotencyKey="c1")
    assert again == payload
    twice = await step(gql, shop.token, CANCEL_JOB, reference="ORDER-1", idempotencyKey="c2")
    assert codes(twice) == ["NOT_CANCELLABLE"]


async def test_a_fee_once_assigned_and_the_trip_is_freed(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    offer = await offered(services, courier, booked)
    assert (await accept(gql, courier, offer))["errors"] == []
    payload = await step(gql, shop.token, CANCEL_JOB, jobId=booked.job_id)
    assert payload["fee"] == {"amountMinor": 250, "currency": "EUR"}
    assert payload["job"]["parcels"][0]["cancellationFee"] == {"amountMinor": 250, "currency": "EUR"}
    assert await db.fetchval("SELECT status FROM offers") == "withdrawn"
    assert await db.fetchval("SELECT status FROM trips") == "open"
    assert await db.fetchval("SELECT assigned_courier_id FROM parcels") is None
    # The courier no longer reaches the parcel.
    assert (await gql(PARCEL, {"id": booked.parcel_ids[0]}, token=courier.token))["errors"]


async def test_a_larger_fee_once_picked_up_and_the_parcel_goes_back(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    parcel = booked.parcel_ids[0]
    await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=parcel)
    await step(gql, courier.token, CONFIRM_PICKUP, parcelId=parcel, labelCode=booked.label_codes[0])
    payload = await step(gql, shop.token, CANCEL_PARCEL, parcelId=parcel)
    assert payload["fee"] == {"amountMinor": 600, "currency": "EUR"}
    assert payload["job"]["parcels"][0]["status"] == "RETURNING"
    assert await db.fetchval("SELECT status FROM offers") == "accepted"
    returned = await step(gql, courier.token, CONFIRM_RETURN, parcelId=parcel)
    assert returned["parcel"]["status"] == "RETURNED"
    assert await db.fetchval("SELECT status FROM trips") == "completed"


async def test_nothing_is_cancelled_after_delivery(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    booked = await book(gql, shop)
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    parcel = booked.parcel_ids[0]
    await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=parcel)
    await step(gql, courier.token, CONFIRM_PICKUP, parcelId=parcel, labelCode=booked.label_codes[0])
    await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=parcel)
    done = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": booked.pins[0]})
    assert done["errors"] == []
    for document, variables in ((CANCEL_JOB, {"jobId": booked.job_id}), (CANCEL_PARCEL, {"parcelId": parcel})):
        refused = await step(gql, shop.token, document, **variables)
        assert codes(refused) == ["NOT_CANCELLABLE"]


async def test_another_tenant_cannot_cancel(gql: GraphQL, services: Services, shop: Shop, area: ServiceArea) -> None:
    booked = await book(gql, shop, reference="MINE")
    other = await open_shop(gql, services, area, "other@example.com", "Other")
    for document, variables in (
        (CANCEL_JOB, {"jobId": booked.job_id}),
        (CANCEL_JOB, {"reference": "MINE"}),
        (CANCEL_PARCEL, {"parcelId": booked.parcel_ids[0]}),
    ):
        assert codes(await step(gql, other.token, document, **variables)) == ["NOT_FOUND"]
