"""Quotes over HTTP: validation before pricing, the documented price, and who may read a quote."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours, OpeningInterval
from marketplace.domain.jobs import ParcelSpec
from marketplace.domain.places import CompartmentSize
from marketplace.domain.pricing import price_delivery, road_distance_m
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import DAM_SQUARE, UTRECHT, ZUID, make_area, make_locker, make_pickup_location
from tests.helpers import GraphQL, admin_token
from tests.integration import ops_delivery
from tests.integration.ops_jobs import (
    QUOTE,
    Shop,
    address,
    book_quote,
    count,
    open_shop,
    parcel,
    request_quote,
    window,
)

ROTTERDAM = ((51.85, 4.35), (51.85, 4.60), (51.98, 4.60), (51.98, 4.35))
ROTTERDAM_CENTRAAL = Point(51.9244, 4.4690)
# Overlaps the test area's south-east: Dam Square and Zuid lie in both.
AMSTEL = ((52.25, 4.85), (52.25, 5.10), (52.40, 5.10), (52.40, 4.85))
DIEMEN_ZUID = Point(52.27, 5.00)  # in AMSTEL only


area, shop = ops_delivery.area, ops_delivery.shop


def problems(payload: dict[str, object]) -> set[tuple[str, str]]:
    errors = payload["errors"]
    assert isinstance(errors, list)
    return {(e["field"], e["code"]) for e in errors}


async def test_a_quote_prices_the_delivery_by_the_formula_and_its_parts_sum_to_the_price(
    gql: GraphQL, shop: Shop, area: ServiceArea, db: asyncpg.Connection
) -> None:
    payload = await request_quote(gql, shop.token, shop.request())
    assert payload["errors"] == []
    quote = payload["quote"]

    expected = price_delivery(
        currency="EUR",
        distance_m=road_distance_m(DAM_SQUARE, ZUID),
        parcels=[ParcelSpec(1_500, 300, 200, 100, 4_999, "EUR", False, False, False)],
        deliver_from=T0 + timedelta(hours=4),
        deliver_until=T0 + timedelta(hours=10),
        now=T0,
    )
    assert quote["price"] == {"amountMinor": expected.total_minor, "currency": "EUR"}
    assert expected.total_minor > 0
    assert sum(p["amount"]["amountMinor"] for p in quote["parts"]) == quote["price"]["amountMinor"]
    assert [p["kind"] for p in quote["parts"]] == ["BASE", "DISTANCE", "SIZE", "URGENCY", "COVER"]
    assert quote["distanceM"] == road_distance_m(DAM_SQUARE, ZUID)
    assert quote["expiresAt"] == (T0 + timedelta(minutes=15)).isoformat()
    assert quote["areaId"] == str(global_id("ServiceArea", area.id))
    assert quote["jobId"] is None
    stored = await db.fetchrow("SELECT price_minor, currency, area_id, expires_at FROM quotes")
    assert stored is not None
    assert (stored["price_minor"], stored["currency"], stored["area_id"]) == (expected.total_minor, "EUR", area.id)
    assert stored["expires_at"] == T0 + timedelta(minutes=15)


async def test_a_dropoff_outside_every_service_area_is_refused_and_nothing_is_written(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    payload = await request_quote(gql, shop.token, shop.request(dropoff=address(UTRECHT, postalCode="3511 AB")))
    assert payload["quote"] is None
    assert problems(payload) == {("dropoff.point", "OUTSIDE_SERVICE_AREA")}
    assert await count(db, "quotes") == 0


async def test_a_dropoff_in_another_service_area_than_the_pickup_is_refused(
    gql: GraphQL, services: Services, shop: Shop
) -> None:
    await make_area(services, name="Rotterdam", polygon=ROTTERDAM)
    payload = await request_quote(
        gql, shop.token, shop.request(dropoff=address(ROTTERDAM_CENTRAAL, postalCode="3012 AA"))
    )
    assert problems(payload) == {("dropoff.point", "OUTSIDE_SERVICE_AREA")}
    assert "Rotterdam" in payload["errors"][0]["message"]


async def test_every_problem_of_a_request_is_reported_at_once_with_its_field(
    gql: GraphQL, shop: Shop, db: asyncpg.Connection
) -> None:
    request = shop.request(
        dropoff=address(houseNumber=" ", postalCode="10777 JH", countryCode="DE"),
        pickupWindow=window(T0 - timedelta(hours=3), 2),
        parcels=[
            parcel(),
            parcel(weightG=1_500_000),
            parcel(lengthMm=3_500, declaredValue={"amountMinor": 600_000, "currency": "EUR"}),
            parcel(declaredValue={"amountMinor": 100, "currency": "GBP"}),
            parcel(widthMm=0),
        ],
        recipient={"name": "  ", "phone": "06 1234"},
        reference="x" * 101,
    )
    payload = await request_quote(gql, shop.token, request)
    assert payload["quote"] is None
    assert problems(payload) == {
        ("pickupWindow", "IN_THE_PAST"),
        ("dropoff.houseNumber", "HOUSE_NUMBER_REQUIRED"),
        ("dropoff.countryCode", "INVALID_COUNTRY"),
        ("dropoff.postalCode", "INVALID_POSTAL_CODE"),
        ("parcels[1].weightG", "TOO_HEAVY"),
        ("parcels[2].lengthMm", "TOO_LARGE"),
        ("parcels[2].declaredValue.amountMinor", "VALUE_TOO_HIGH"),
        ("parcels[3].declaredValue.currency", "CURRENCY_MISMATCH"),
        ("parcels[4].widthMm", "OUT_OF_RANGE"),
        ("recipient.name", "REQUIRED"),
        ("recipient.phone", "INVALID"),
        ("reference", "TOO_LONG"),
    }
    assert await count(db, "quotes") == 0


async def test_a_delivery_window_ending_before_the_pickup_starts_is_refused(gql: GraphQL, shop: Shop) -> None:
    request = shop.request(
        pickupWindow=window(T0 + timedelta(hours=6), 2), deliveryWindow=window(T0 + timedelta(hours=2), 4)
    )
    payload = await request_quote(gql, shop.token, request)
    assert problems(payload) == {("deliveryWindow", "WINDOW_ORDER")}


async def test_a_pickup_location_closed_throughout_the_pickup_window_is_refused(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    # Open only on Sundays; T0 is a Tuesday.
    sundays = OpeningHours((OpeningInterval(7, time(9), time(17)),))
    closed = await make_pickup_location(services, shop.organization_id, area, name="Sunday shop", hours=sundays)
    request = shop.request(pickupLocationId=global_id("PickupLocation", closed.id))
    payload = await request_quote(gql, shop.token, request)
    assert problems(payload) == {("pickupWindow", "LOCATION_CLOSED")}


async def test_another_organisations_pickup_location_is_not_found(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    other = await open_shop(gql, services, area, "other@example.com", "Other shop")
    payload = await request_quote(gql, other.token, shop.request())
    assert problems(payload) == {("pickupLocationId", "NOT_FOUND")}
    payload = await request_quote(gql, other.token, shop.request(pickupLocationId="garbage"))
    assert problems(payload) == {("pickupLocationId", "NOT_FOUND")}


async def test_a_locker_dropoff_must_fit_every_parcel_and_be_open_and_in_service(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    small = await make_locker(services, area, compartments=((CompartmentSize.S, 4),))
    saturdays = OpeningHours((OpeningInterval(6, time(8), time(20)),))
    closed = await make_locker(services, area, hours=saturdays)
    retired = await make_locker(services, area, active=False)
    good = await make_locker(services, area)

    def to(locker_id: object, **extra: object) -> dict[str, object]:
        return shop.request(dropoff={"lockerId": global_id("Locker", locker_id)}, **extra)  # type: ignore[arg-type]

    # 300 x 200 x 100 mm does not fit an S compartment (80 mm high).
    payload = await request_quote(gql, shop.token, to(small.id))
    assert problems(payload) == {("dropoff.lockerId", "LOCKER_UNAVAILABLE")}
    payload = await request_quote(gql, shop.token, to(closed.id))
    assert problems(payload) == {("deliveryWindow", "LOCATION_CLOSED")}
    payload = await request_quote(gql, shop.token, to(retired.id))
    assert problems(payload) == {("dropoff.lockerId", "LOCKER_UNAVAILABLE")}
    payload = await request_quote(gql, shop.token, to(good.id, parcels=[parcel(idCheck=True)]))
    assert problems(payload) == {("dropoff.lockerId", "LOCKER_UNAVAILABLE")}
    payload = await request_quote(
        gql,
        shop.token,
        shop.request(dropoff={"lockerId": global_id("Locker", good.id), "street": "Damrak"}),
    )
    assert problems(payload) == {("dropoff", "INVALID")}

    payload = await request_quote(gql, shop.token, to(good.id))
    assert payload["errors"] == []
    assert payload["quote"]["distanceM"] == road_distance_m(DAM_SQUARE, good.point)


async def test_failure_actions_need_what_they_rely_on(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    payload = await request_quote(
        gql, shop.token, shop.request(onFailure="SAFE_PLACE", parcels=[parcel(adultsOnly=True)])
    )
    assert problems(payload) == {
        ("recipient.safePlace", "REQUIRED"),
        ("recipient.safePlaceConsent", "REQUIRED"),
        ("onFailure", "INVALID"),
    }
    payload = await request_quote(gql, shop.token, shop.request(onFailure="LOCKER"))
    assert problems(payload) == {("fallbackLockerId", "REQUIRED")}

    locker = await make_locker(services, area)
    locker_id = global_id("Locker", locker.id)
    payload = await request_quote(gql, shop.token, shop.request(fallbackLockerId=locker_id))
    assert problems(payload) == {("fallbackLockerId", "INVALID")}
    payload = await request_quote(gql, shop.token, shop.request(onFailure="LOCKER", fallbackLockerId=locker_id))
    assert payload["errors"] == []
    recipient = {"name": "Ada", "phone": "+31612345678", "safePlace": "Behind the shed", "safePlaceConsent": True}
    payload = await request_quote(gql, shop.token, shop.request(onFailure="SAFE_PLACE", recipient=recipient))
    assert payload["errors"] == []


async def test_a_reference_already_booked_is_refused(gql: GraphQL, shop: Shop, db: asyncpg.Connection) -> None:
    first = await request_quote(gql, shop.token, shop.request(reference="ORDER-1"))
    booked = await book_quote(gql, shop.token, first["quote"]["id"])
    assert booked["errors"] == []
    again = await request_quote(gql, shop.token, shop.request(reference="ORDER-1"))
    assert problems(again) == {("reference", "DUPLICATE_REFERENCE")}
    assert await count(db, "quotes") == 1


async def test_an_api_key_may_ask_for_quotes(gql: GraphQL, shop: Shop) -> None:
    body = await gql('mutation { createApiKey(input: {name: "shop system"}) { secret } }', token=shop.token)
    secret = body["data"]["createApiKey"]["secret"]
    payload = await request_quote(gql, secret, shop.request())
    assert payload["errors"] == []
    assert payload["quote"]["price"]["amountMinor"] > 0


async def test_another_tenants_quote_reads_exactly_like_a_missing_one(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea
) -> None:
    quote_id = (await request_quote(gql, shop.token, shop.request()))["quote"]["id"]
    other = await open_shop(gql, services, area, "other@example.com", "Other shop")

    mine = await gql(QUOTE, {"id": quote_id}, token=shop.token)
    assert mine["data"]["quote"]["id"] == quote_id
    theirs = await gql(QUOTE, {"id": quote_id}, token=other.token)
    missing = await gql(QUOTE, {"id": global_id("Quote", area.id)}, token=other.token)
    assert theirs["data"] == missing["data"] == {"quote": None}
    assert [e["extensions"]["code"] for e in theirs["errors"]] == ["NOT_FOUND"]
    assert [(e["message"], e["extensions"]) for e in theirs["errors"]] == [
        (e["message"], e["extensions"]) for e in missing["errors"]
    ]
    admin = await gql(QUOTE, {"id": quote_id}, token=await admin_token(gql, services))
    assert admin["data"]["quote"]["id"] == quote_id

    booked_by_other = await book_quote(gql, other.token, quote_id, "k")
    assert booked_by_other["errors"][0]["code"] == "NOT_FOUND"


async def test_asking_again_with_the_same_key_returns_the_first_quote(
    gql: GraphQL, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    first = await request_quote(gql, shop.token, shop.request(), idempotencyKey="q-1")
    clock.advance(timedelta(minutes=1))
    again = await request_quote(gql, shop.token, shop.request(), idempotencyKey="q-1")
    assert first["errors"] == []
    assert again == first
    assert await count(db, "quotes") == 1
    changed = await request_quote(gql, shop.token, shop.request(reference="NEW"), idempotencyKey="q-1")
    assert [e["code"] for e in changed["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_a_job_is_priced_in_its_stores_own_area_even_where_areas_overlap(
    gql: GraphQL, services: Services, shop: Shop, area: ServiceArea, clock: ManualClock, db: asyncpg.Connection
) -> None:
    """The store belongs to the older area; a newer one covers it too. The store's own area decides,
    never whichever area the map finds at its point."""
    clock.advance(timedelta(minutes=1))
    newer = await make_area(services, name="Amstel", polygon=AMSTEL)
    quoted = await request_quote(gql, shop.token, shop.request())
    assert quoted["quote"]["areaId"] == str(global_id("ServiceArea", area.id))

    outside_the_stores = await request_quote(
        gql, shop.token, shop.request(dropoff=address(DIEMEN_ZUID, postalCode="1111 AB"))
    )
    assert problems(outside_the_stores) == {("dropoff.point", "OUTSIDE_SERVICE_AREA")}

    async with services.db.uow() as uow:
        assert await uow.repos.areas.save(replace(area, active=False))
        await uow.commit()
    paused = await request_quote(gql, shop.token, shop.request())
    assert paused["quote"] is None
    assert problems(paused) == {("pickupLocationId", "OUTSIDE_SERVICE_AREA")}
    assert "paused" in paused["errors"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM quotes WHERE area_id = $1", newer.id) == 0
