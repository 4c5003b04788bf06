"""Idempotency fingerprints cover the whole input: a retry that changes any field is IDEMPOTENCY_KEY_REUSED.

A field left out of a fingerprint makes a changed retry silently return the first result. The
variants here are generated from the GraphQL input type itself, one per field at any depth (and a
null for each optional one), so a field added to an input later is tried without touching this
file; the base input must set every field, or name a value to try for one it leaves out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    build_schema,
    get_nullable_type,
)
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.places import CompartmentSize
from marketplace.domain.trips import NewTrip, Waypoint
from marketplace.services.container import Services
from marketplace.services.idempotency import Idempotency
from schema.export import printed_schema
from schema.types import global_id
from tests.conftest import T0
from tests.factories import AMSTERDAM, DAM_SQUARE, OOST, ZUID, make_area, make_locker, make_vehicle, uuid_of
from tests.helpers import GraphQL, admin_token
from tests.integration.ops_jobs import Shop, open_shop, quote_request

KEY = "retry-me"


@pytest.fixture(scope="module")
def sdl() -> GraphQLSchema:
    return build_schema(printed_schema())


def _changed_scalar(type_name: str, value: Any) -> Any:
    if type_name == "Int":
        return value + 1
    if type_name == "Float":
        return value + 0.0001
    if type_name == "String":
        return "x" + value
    if type_name == "Boolean":
        return not value
    if type_name == "ID":  # another object of the same kind, which need not exist
        return str(global_id(relay.GlobalID.from_id(value).type_name, uuid4()))
    if type_name == "DateTime":
        return (datetime.fromisoformat(value) + timedelta(minutes=1)).isoformat()
    if type_name == "Time":
        return (datetime.combine(date(2026, 1, 1), time.fromisoformat(value)) + timedelta(minutes=1)).time().isoformat()
    raise AssertionError(f"no way yet to change a {type_name}: teach _changed_scalar")


def variants(type_: GraphQLInputType, value: Any, path: str, absent: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(what changed, the whole value with that one change) for every field under `value`."""
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = get_nullable_type(type_)
    if value is None:
        assert path in absent, f"the base input leaves {path} out: set it, or name a value to try in `absent`"
        yield f"{path} given", absent[path]
        return
    if nullable and path:
        yield f"{path} null", None
    if isinstance(inner, GraphQLInputObjectType):
        for name, field in inner.fields.items():
            if not path and name == "idempotencyKey":
                continue
            sub = f"{path}.{name}" if path else name
            for what, changed in variants(field.type, value.get(name), sub, absent):
                yield what, {**value, name: changed}
    elif isinstance(inner, GraphQLList):
        assert value, f"give {path} at least one element"
        for what, changed in variants(inner.of_type, value[0], f"{path}[0]", absent):
            yield what, [changed, *value[1:]]
        yield f"{path} one more", [*value, value[0]]
    elif isinstance(inner, GraphQLEnumType):
        names = list(inner.values)
        yield path, names[(names.index(value) + 1) % len(names)]
    else:
        yield path, _changed_scalar(inner.name, value)


@dataclass
class Case:
    mutation: str
    input_type: str
    token: str
    base: dict[str, Any]
    absent: dict[str, Any]


async def assert_every_field_counts(gql: GraphQL, sdl: GraphQLSchema, case: Case) -> None:
    document = f"mutation($i: {case.input_type}!) {{ {case.mutation}(input: $i) {{ errors {{ field code }} }} }}"
    input_type = sdl.get_type(case.input_type)
    assert isinstance(input_type, GraphQLInputObjectType)

    async def call(value: dict[str, Any]) -> list[tuple[str, str]]:
        body = await gql(document, {"i": {**value, "idempotencyKey": KEY}}, token=case.token)
        assert body.get("data"), body
        return [(e["field"], e["code"]) for e in body["data"][case.mutation]["errors"]]

    assert await call(case.base) == []
    assert await call(case.base) == [], "the same key and input return the first result"
    tried = list(variants(GraphQLNonNull(input_type), case.base, "", case.absent))
    assert len(tried) >= len(input_type.fields) - 1
    not_reused = {}
    for what, changed in tried:
        errors = await call(changed)
        if errors != [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]:
            not_reused[what] = errors
    assert not_reused == {}, "a retry with these fields changed was not told its key was used"


def test_variants_cover_every_field_of_the_input_type(sdl: GraphQLSchema) -> None:
    """The generator itself: one variant per field, nested ones included, and a null per optional one."""
    create_trip = sdl.get_type("CreateTripInput")
    assert isinstance(create_trip, GraphQLInputObjectType)
    base = {
        "vehicleId": str(global_id("Vehicle", uuid4())),
        "origin": {"point": {"lat": 1.0, "lng": 2.0}, "label": "a"},
        "destination": {"point": {"lat": 1.0, "lng": 2.0}, "label": "b"},
        "departAfter": T0.isoformat(),
        "arriveBy": T0.isoformat(),
        "spareWeightG": 1,
        "spareVolumeCm3": 1,
        "maxDetourM": 1,
    }
    assert sorted(what for what, _ in variants(GraphQLNonNull(create_trip), base, "", {})) == sorted(
        [
            "vehicleId",
            "origin.point.lat",
            "origin.point.lng",
            "origin.label",
            "destination.point.lat",
            "destination.point.lng",
            "destination.label",
            "departAfter",
            "arriveBy",
            "spareWeightG",
            "spareWeightG null",
            "spareVolumeCm3",
            "spareVolumeCm3 null",
            "maxDetourM",
            "maxDetourM null",
        ]
    )
    with pytest.raises(AssertionError, match="leaves maxDetourM out"):
        list(variants(GraphQLNonNull(create_trip), {**base, "maxDetourM": None}, "", {}))


def test_a_fingerprint_reads_nested_fields_and_instants_whatever_their_offset() -> None:
    idempotency = Idempotency(ManualClock(T0), ttl_s=60, fingerprint_key=b"test")
    trip = NewTrip(
        vehicle_id=uuid4(),
        origin=Waypoint(DAM_SQUARE, "home"),
        destination=Waypoint(ZUID, "office"),
        depart_after=T0,
        arrive_by=T0 + timedelta(hours=1),
    )
    same_instant = replace(trip, depart_after=T0.astimezone(timezone(timedelta(hours=1))))
    assert idempotency.fingerprint(same_instant) == idempotency.fingerprint(trip)
    moved = replace(trip, origin=Waypoint(DAM_SQUARE, "home, really"))
    assert idempotency.fingerprint(moved) != idempotency.fingerprint(trip)


def point(p: Any) -> dict[str, float]:
    return {"lat": p.lat, "lng": p.lng}


async def courier_with_vehicle(gql: GraphQL, services: Services) -> tuple[str, str]:
    session = await gql.session("courier@example.com")
    vehicle = await make_vehicle(services, uuid_of(session["user"]["id"], "User"))
    return session["accessToken"], str(global_id("Vehicle", vehicle.id))


async def test_create_trip_retried_with_any_field_changed_is_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    await make_area(services)
    token, vehicle = await courier_with_vehicle(gql, services)
    base = {
        "vehicleId": vehicle,
        "origin": {"point": point(DAM_SQUARE), "label": "home"},
        "destination": {"point": point(ZUID), "label": "office"},
        "departAfter": (T0 + timedelta(hours=1)).isoformat(),
        "arriveBy": (T0 + timedelta(hours=2)).isoformat(),
        "spareWeightG": 20_000,
        "spareVolumeCm3": 100_000,
        "maxDetourM": 2_000,
    }
    await assert_every_field_counts(gql, sdl, Case("createTrip", "CreateTripInput", token, base, {}))


async def test_create_commute_retried_with_any_field_changed_is_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    await make_area(services)
    token, vehicle = await courier_with_vehicle(gql, services)
    base = {
        "vehicleId": vehicle,
        "origin": {"point": point(DAM_SQUARE), "label": "home"},
        "destination": {"point": point(ZUID), "label": "office"},
        "weekdays": [1, 3],
        "departTime": "08:00:00",
        "arriveTime": "09:00:00",
        "timeZone": "Europe/Amsterdam",
        "spareWeightG": 20_000,
        "spareVolumeCm3": 100_000,
        "maxDetourM": 2_000,
    }
    await assert_every_field_counts(gql, sdl, Case("createCommute", "CreateCommuteInput", token, base, {}))


async def test_register_insurance_policy_retried_with_any_field_changed_is_refused(
    gql: GraphQL, sdl: GraphQLSchema
) -> None:
    token = (await gql.session("courier@example.com"))["accessToken"]
    base = {
        "insurer": "Crowd Mutual",
        "policyNumber": "CM-1",
        "coverPerParcel": {"amountMinor": 100_000, "currency": "EUR"},
        "coverPerTrip": {"amountMinor": 300_000, "currency": "EUR"},
        "validFrom": (T0 - timedelta(days=1)).isoformat(),
        "validUntil": (T0 + timedelta(days=300)).isoformat(),
    }
    await assert_every_field_counts(
        gql, sdl, Case("registerInsurancePolicy", "RegisterInsurancePolicyInput", token, base, {})
    )


async def test_submit_verification_retried_with_any_field_changed_is_refused(gql: GraphQL, sdl: GraphQLSchema) -> None:
    token = (await gql.session("courier@example.com"))["accessToken"]
    document = {
        "kind": "PASSPORT",
        "issuingCountry": "NL",
        "expiresAt": (T0 + timedelta(days=300)).isoformat(),
        "numberLast4": "1234",
    }
    base = {"level": 1, "documents": [document]}
    await assert_every_field_counts(gql, sdl, Case("submitVerification", "SubmitVerificationInput", token, base, {}))


HOURS = [{"weekday": 1, "opens": "09:00:00", "closes": "17:00:00"}]
ADDRESS = {"street": "Damrak", "houseNumber": "1", "postalCode": "1012 LG", "city": "Amsterdam", "countryCode": "NL"}


async def test_create_service_area_retried_with_any_field_changed_is_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    token = await admin_token(gql, services)
    base = {
        "name": "Amsterdam",
        "countryCode": "NL",
        "currency": "EUR",
        "timeZone": "Europe/Amsterdam",
        "polygon": [{"lat": lat, "lng": lng} for lat, lng in AMSTERDAM],
        "fleetBaseMinor": 650,
        "fleetPerKmMinor": 60,
        "active": True,
    }
    dispatch = {"roundIntervalS": 600, "roundTimeLimitS": 30, "offerTtlS": 240, "fleetCutoffS": 3600}
    await assert_every_field_counts(
        gql, sdl, Case("createServiceArea", "CreateServiceAreaInput", token, base, dispatch)
    )


async def test_create_pickup_location_and_locker_retried_with_any_field_changed_are_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    await make_area(services)
    shop = (await gql.session("shop@example.com", "RETAILER", organization="Shop"))["accessToken"]
    location = {
        "kind": "STORE",
        "name": "Flagship",
        "address": ADDRESS,
        "point": point(DAM_SQUARE),
        "openingHours": HOURS,
    }
    await assert_every_field_counts(
        gql, sdl, Case("createPickupLocation", "CreatePickupLocationInput", shop, location, {})
    )
    locker = {
        "kind": "LOCKER",
        "name": "Oost",
        "operator": "Lockr",
        "address": {**ADDRESS, "street": "Oosterpark", "postalCode": "1092 AE"},
        "point": point(OOST),
        "openingHours": HOURS,
        "compartments": [{"size": CompartmentSize.S.name, "count": 4}],
        "active": True,
    }
    admin = await admin_token(gql, services)
    await assert_every_field_counts(gql, sdl, Case("createLocker", "CreateLockerInput", admin, locker, {}))


async def test_request_quote_and_book_jobs_retried_with_any_field_changed_are_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    area = await make_area(services)
    shop: Shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    locker = await make_locker(services, area)
    base = quote_request(
        shop.location,
        onFailure="LOCKER",
        fallbackLockerId=str(global_id("Locker", locker.id)),
        reference="ORDER-1",
    )
    base["parcels"][0].update(fragile=True, idCheck=False, adultsOnly=False)
    base["recipient"].update(
        safePlace="porch", safePlaceConsent=False, neighbourConsent=True, email="ada@example.com", language="nl"
    )
    # A drop-off is a locker or an address, never both: the base is an address, the locker is tried.
    absent = {"dropoff.lockerId": str(global_id("Locker", uuid4()))}
    await assert_every_field_counts(gql, sdl, Case("requestQuote", "RequestQuoteInput", shop.token, base, absent))
    rows = {"jobs": [{**base, "reference": "ORDER-2"}]}
    absent = {"jobs[0].dropoff.lockerId": absent["dropoff.lockerId"]}
    await assert_every_field_counts(gql, sdl, Case("bookJobs", "BookJobsInput", shop.token, rows, absent))


async def test_create_webhook_endpoint_and_rotate_its_secret_retried_with_any_field_changed_are_refused(
    gql: GraphQL, services: Services, sdl: GraphQLSchema
) -> None:
    area = await make_area(services)
    shop: Shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    base = {"url": "https://93.184.216.34/hooks", "eventTypes": ["parcel.booked"], "description": "orders"}
    await assert_every_field_counts(
        gql, sdl, Case("createWebhookEndpoint", "CreateWebhookEndpointInput", shop.token, base, {})
    )
    body = await gql(
        'mutation { createWebhookEndpoint(input: {url: "https://93.184.216.34/b", eventTypes: ["job.status_changed"]})'
        " { endpoint { id } } }",
        token=shop.token,
    )
    endpoint_id = body["data"]["createWebhookEndpoint"]["endpoint"]["id"]
    rotation = {"id": endpoint_id, "overlapS": 600}
    await assert_every_field_counts(
        gql, sdl, Case("rotateWebhookSecret", "RotateWebhookSecretInput", shop.token, rotation, {})
    )
