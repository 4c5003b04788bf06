"""A courier is only ever sent when the place is open: windows clipped to opening hours, from quote to engine.

The issue's example: a store open 08:00-20:00 took a pickup window of 19:00-23:00 (only a window
closed for its whole length is refused), the bridge exported it unchanged, and the engine planned
the pickup at 20:58. Amsterdam is UTC+1 on T0's day, so 19:00-23:00 local is 18:00Z-22:00Z.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import pytest

import matching
from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.domain.hours import OpeningHours, OpeningInterval
from marketplace.domain.places import PickupLocation
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import (
    DAM_SQUARE,
    ZUID,
    enable_payouts,
    make_area,
    make_locker,
    make_pickup_location,
    make_vehicle,
    uuid_of,
)
from tests.helpers import GraphQL, admin_token, fresh_token
from tests.integration.ops_jobs import Shop, add_card, book_quote, organization_of, request_quote
from tests.integration.test_matching_bridge import CREATE_TRIP, YEAR, insured, ok

HOUR = timedelta(hours=1)
LOCAL = timedelta(hours=1)  # Europe/Amsterdam in November
DAY_START = T0 - 8 * HOUR  # 2026-11-24 00:00Z


def local(hour: float) -> datetime:
    """An instant on T0's day given as Amsterdam wall-clock hours."""
    return DAY_START + timedelta(hours=hour) - LOCAL


def open_every_day(*spans: tuple[time, time]) -> OpeningHours:
    return OpeningHours(tuple(OpeningInterval(d, opens, closes) for d in range(1, 8) for opens, closes in spans))


EIGHT_TO_EIGHT = open_every_day((time(8), time(20)))


def iso_window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


@pytest.fixture
async def store(gql: GraphQL, services: Services, area: ServiceArea) -> tuple[Shop, PickupLocation]:
    session = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    organization_id = await organization_of(services, session)
    location = await make_pickup_location(services, organization_id, area, hours=EIGHT_TO_EIGHT)
    assert (await add_card(gql, session["accessToken"]))["errors"] == []
    return Shop(session["accessToken"], organization_id, location.id), location


def late_request(shop: Shop, **overrides: Any) -> dict[str, Any]:
    return shop.request(
        pickupWindow=iso_window(local(19), local(23)),
        deliveryWindow=iso_window(local(19), local(23.5)),
        **overrides,
    )


async def test_a_quote_states_the_pickup_window_clipped_to_the_stores_hours(
    gql: GraphQL, store: tuple[Shop, PickupLocation]
) -> None:
    shop, _ = store
    payload = await request_quote(gql, shop.token, late_request(shop))
    assert payload["errors"] == [], payload
    quote = payload["quote"]
    assert quote["pickupWindowOpen"] == iso_window(local(19), local(20))
    # A home has no hours: the delivery window stays as asked.
    assert quote["deliveryWindowOpen"] == iso_window(local(19), local(23.5))
    booked = await book_quote(gql, shop.token, quote["id"])
    assert booked["errors"] == [], booked
    assert booked["job"]["pickupWindow"] == iso_window(local(19), local(23))
    assert booked["job"]["pickupWindowOpen"] == quote["pickupWindowOpen"]
    assert booked["job"]["deliveryWindowOpen"] == quote["deliveryWindowOpen"]


async def test_a_window_closed_for_the_rest_of_its_length_is_refused(
    gql: GraphQL, store: tuple[Shop, PickupLocation], clock: ManualClock
) -> None:
    shop, _ = store
    clock.advance(local(20) - T0)  # the store has just closed: nothing of 19:00-23:00 is left
    payload = await request_quote(gql, await fresh_token(gql, "shop@example.com"), late_request(shop))
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("pickupWindow", "LOCATION_CLOSED")]


async def test_a_locker_delivery_window_is_clipped_to_the_lockers_hours_and_priced_so(
    gql: GraphQL, services: Services, store: tuple[Shop, PickupLocation], area: ServiceArea
) -> None:
    shop, _ = store
    locker = await make_locker(services, area, hours=EIGHT_TO_EIGHT)
    locker_id = str(global_id("Locker", locker.id))
    asked = shop.request(
        dropoff={"lockerId": locker_id},
        pickupWindow=iso_window(local(10), local(12)),
        deliveryWindow=iso_window(local(10), local(23)),
    )
    payload = await request_quote(gql, shop.token, asked)
    assert payload["errors"] == [], payload
    quote = payload["quote"]
    assert quote["pickupWindowOpen"] == iso_window(local(10), local(12))
    assert quote["deliveryWindowOpen"] == iso_window(local(10), local(20))
    # Urgency is priced on the open window: it closes 11 h after the quote (<= 12 h), not 14 h.
    urgency = [p for p in quote["parts"] if p["kind"] == "URGENCY"]
    assert [p["amount"]["amountMinor"] for p in urgency] == [200]


@pytest.fixture
async def late_job(gql: GraphQL, store: tuple[Shop, PickupLocation]) -> str:
    shop, _ = store
    payload = await request_quote(gql, shop.token, late_request(shop))
    booked = await book_quote(gql, shop.token, payload["quote"]["id"])
    assert booked["errors"] == [], booked
    return str(booked["job"]["id"])


async def courier_trip(gql: GraphQL, services: Services, admin: str, email: str, depart: datetime) -> str:
    session = await gql.session(email)
    courier_id = uuid_of(session["user"]["id"], "User")
    await enable_payouts(services, courier_id)
    vehicle = await make_vehicle(services, courier_id)
    await insured(gql, session["accessToken"], admin, until=T0 + YEAR)
    near = {"lat": DAM_SQUARE.lat + 0.003, "lng": DAM_SQUARE.lng}
    await ok(
        gql,
        CREATE_TRIP,
        {
            "vehicleId": str(global_id("Vehicle", vehicle.id)),
            "origin": {"point": near, "label": "home"},
            "destination": {"point": {"lat": ZUID.lat, "lng": ZUID.lng}, "label": "office"},
            "departAfter": depart.isoformat(),
            "arriveBy": local(23.5).isoformat(),
            "maxDetourM": 5_000,
        },
        session["accessToken"],
    )
    return str(courier_id)


async def export(services: Services, area: ServiceArea) -> matching.Instance:
    data = await services.matching.instance_json(area_id=area.id, start=DAY_START, end=DAY_START + 24 * HOUR, now=T0)
    return matching.parse_instance(data)


async def test_the_engine_gets_only_open_times_and_never_plans_a_pickup_after_closing(
    gql: GraphQL, services: Services, area: ServiceArea, late_job: str
) -> None:
    admin = await admin_token(gql, services)
    # One courier passes the store just before it closes, the other only after 20:30.
    early = await courier_trip(gql, services, admin, "early@example.com", local(19.5))
    late = await courier_trip(gql, services, admin, "late@example.com", local(20.5))

    instance = await export(services, area)
    [parcel] = instance.parcels
    assert (parcel.pickup_from, parcel.pickup_until) == (local(19), local(20))
    assert (parcel.deliver_from, parcel.deliver_until) == (local(19), local(23.5))

    solution = matching.solve(instance, matching.SolveParams(time_limit_s=20))
    couriers = {t.id: t.courier_id for t in instance.trips}
    pickups = [(couriers[a.trip_id], s.at) for a in solution.assignments for s in a.stops if s.kind == "pickup"]
    assert pickups, solution
    assert all(at <= local(20) for _, at in pickups), pickups
    assert {courier for courier, _ in pickups} == {early}
    assert late in couriers.values()
    assert matching.check(instance, json.loads(json.dumps(matching.solution_to_json(solution)))).ok


async def test_hours_changed_after_booking_hold_the_courier_to_the_new_ones(
    services: Services, area: ServiceArea, store: tuple[Shop, PickupLocation], late_job: str, log_stream: io.StringIO
) -> None:
    _, location = store
    async with services.db.uow() as uow:
        await uow.repos.pickup_locations.save(replace(location, opening_hours=open_every_day((time(8), time(19)))))
        await uow.commit()
    # 19:00-20:00 was open at booking; now the store shuts at 19:00, so nothing of the window is left.
    assert (await export(services, area)).parcels == ()
    assert "parcel_place_closed" in log_stream.getvalue()

    async with services.db.uow() as uow:
        split = open_every_day((time(8), time(19)), (time(19, 30), time(20)))
        await uow.repos.pickup_locations.save(replace(location, opening_hours=split))
        await uow.commit()
    [parcel] = (await export(services, area)).parcels
    assert (parcel.pickup_from, parcel.pickup_until) == (local(19.5), local(20))
