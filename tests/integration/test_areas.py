"""Service areas over HTTP: operations define them, everyone signed in reads them and locates points."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.services.container import Services
from tests.factories import AMSTERDAM, DAM_SQUARE, UTRECHT, make_area, make_pickup_location, make_vehicle, uuid_of
from tests.helpers import PASSWORD, GraphQL, admin_token

AREA_FIELDS = (
    "id name countryCode currency timeZone polygon { lat lng } active fleetBaseMinor fleetPerKmMinor updatedAt"
)
CREATE = f"""
mutation($i: CreateServiceAreaInput!) {{
  createServiceArea(input: $i) {{ serviceArea {{ {AREA_FIELDS} }} errors {{ field code }} }}
}}
"""
UPDATE = f"""
mutation($i: UpdateServiceAreaInput!) {{
  updateServiceArea(input: $i) {{ serviceArea {{ {AREA_FIELDS} }} errors {{ field code }} }}
}}
"""
LIST = """
query($first: Int, $after: String, $active: Boolean) {
  serviceAreas(first: $first, after: $after, active: $active) {
    edges { node { name fleetBaseMinor } } pageInfo { hasNextPage endCursor }
  }
}
"""
GET = "query($id: ID!) { serviceArea(id: $id) { name fleetBaseMinor } }"
LOCATE = "query($p: GeoPointInput!) { locateServiceArea(point: $p) { name } }"

ROTTERDAM = [
    {"lat": 51.85, "lng": 4.35},
    {"lat": 51.85, "lng": 4.60},
    {"lat": 51.98, "lng": 4.60},
    {"lat": 51.98, "lng": 4.35},
]


def area_input(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Rotterdam",
        "countryCode": "NL",
        "currency": "EUR",
        "timeZone": "Europe/Amsterdam",
        "polygon": ROTTERDAM,
        "fleetBaseMinor": 650,
        "fleetPerKmMinor": 60,
    }
    return base | changes


async def create(gql: GraphQL, token: str, **changes: Any) -> dict[str, Any]:
    body = await gql(CREATE, {"i": area_input(**changes)}, token=token)
    return body["data"]["createServiceArea"]  # type: ignore[no-any-return]


async def test_operations_create_an_area_that_everyone_signed_in_can_read(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    token = await admin_token(gql, services)
    payload = await create(gql, token, currency="eur", countryCode="nl")
    assert payload["errors"] == []
    area = payload["serviceArea"]
    assert area["name"] == "Rotterdam"
    assert (area["countryCode"], area["currency"], area["active"]) == ("NL", "EUR", True)
    assert area["polygon"] == ROTTERDAM
    assert (area["fleetBaseMinor"], area["fleetPerKmMinor"]) == (650, 60)
    row = await db.fetchrow("SELECT min_lat, max_lng, fleet_base_minor FROM service_areas")
    assert row is not None
    assert (row["min_lat"], row["max_lng"], row["fleet_base_minor"]) == (51.85, 4.60, 650)

    courier = await gql.session("courier@example.com")
    listed = (await gql(LIST, token=courier["accessToken"]))["data"]["serviceAreas"]["edges"]
    # Where the service runs is public to the signed in; what the fleet costs is not.
    assert listed == [{"node": {"name": "Rotterdam", "fleetBaseMinor": None}}]
    retailer = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    one = await gql(GET, {"id": area["id"]}, token=retailer["accessToken"])
    assert one["data"]["serviceArea"] == {"name": "Rotterdam", "fleetBaseMinor": None}
    await services.accounts.create_user(email="finance@example.com", password=PASSWORD, role=Role.FINANCE)
    finance = (await gql.login("finance@example.com"))["session"]["accessToken"]
    assert (await gql(GET, {"id": area["id"]}, token=finance))["data"]["serviceArea"]["fleetBaseMinor"] == 650


async def test_every_problem_of_an_area_is_reported_at_once_and_nothing_is_written(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    token = await admin_token(gql, services)
    bow_tie = [{"lat": 0, "lng": 0}, {"lat": 1, "lng": 1}, {"lat": 0, "lng": 1}, {"lat": 1, "lng": 0}]
    payload = await create(
        gql,
        token,
        name="  ",
        countryCode="US",
        currency="USD",
        timeZone="Europe",
        polygon=bow_tie,
        fleetBaseMinor=-1,
        fleetPerKmMinor=100_001,
    )
    assert payload["serviceArea"] is None
    assert payload["errors"] == [
        {"field": "name", "code": "REQUIRED"},
        {"field": "countryCode", "code": "INVALID_COUNTRY"},
        {"field": "currency", "code": "UNSUPPORTED_CURRENCY"},
        {"field": "timeZone", "code": "INVALID_TIME_ZONE"},
        {"field": "polygon", "code": "INVALID_POLYGON"},
        {"field": "fleetBaseMinor", "code": "OUT_OF_RANGE"},
        {"field": "fleetPerKmMinor", "code": "OUT_OF_RANGE"},
    ]
    out_of_range = [{"lat": 91, "lng": 0}, {"lat": 0, "lng": 1}, {"lat": 1, "lng": 181}]
    payload = await create(gql, token, polygon=out_of_range)
    assert payload["errors"] == [
        {"field": "polygon[0].lat", "code": "OUT_OF_RANGE"},
        {"field": "polygon[2].lng", "code": "OUT_OF_RANGE"},
    ]
    assert await db.fetchval("SELECT count(*) FROM service_areas") == 0


async def test_area_names_are_unique_whatever_their_case(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    token = await admin_token(gql, services)
    assert (await create(gql, token))["errors"] == []
    assert (await create(gql, token, name="ROTTERDAM"))["errors"] == [{"field": "name", "code": "DUPLICATE_NAME"}]
    other = (await create(gql, token, name="Delft"))["serviceArea"]
    renamed = (await gql(UPDATE, {"i": {"id": other["id"], "name": "rotterdam"}}, token=token))["data"]
    assert renamed["updateServiceArea"]["errors"] == [{"field": "name", "code": "DUPLICATE_NAME"}]
    assert [r["name"] for r in await db.fetch("SELECT name FROM service_areas ORDER BY name")] == ["Delft", "Rotterdam"]


async def test_retrying_a_creation_with_its_key_returns_the_first_area(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    token = await admin_token(gql, services)
    first = await create(gql, token, idempotencyKey="area-1")
    again = await create(gql, token, idempotencyKey="area-1")
    assert again == first
    changed = await create(gql, token, idempotencyKey="area-1", name="Delft")
    assert changed["errors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    assert await db.fetchval("SELECT count(*) FROM service_areas") == 1


async def test_an_update_changes_only_what_it_names(gql: GraphQL, services: Services, clock: ManualClock) -> None:
    token = await admin_token(gql, services)
    area = (await create(gql, token))["serviceArea"]
    clock.advance(timedelta(minutes=5))
    payload = (await gql(UPDATE, {"i": {"id": area["id"], "active": False, "fleetPerKmMinor": 75}}, token=token))[
        "data"
    ]["updateServiceArea"]
    assert payload["errors"] == []
    updated = payload["serviceArea"]
    assert (updated["active"], updated["fleetPerKmMinor"]) == (False, 75)
    assert updated["updatedAt"] == clock.now().isoformat()
    assert {k: v for k, v in updated.items() if k not in ("active", "fleetPerKmMinor", "updatedAt")} == {
        k: v for k, v in area.items() if k not in ("active", "fleetPerKmMinor", "updatedAt")
    }


async def test_an_update_of_a_missing_area_is_not_found(gql: GraphQL, services: Services) -> None:
    token = await admin_token(gql, services)
    payload = (await gql(UPDATE, {"i": {"id": "not-an-id", "active": False}}, token=token))["data"]
    assert payload["updateServiceArea"] == {"serviceArea": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}


async def test_an_area_with_places_keeps_its_country_and_cannot_shrink_away_from_them(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    token = await admin_token(gql, services)
    area = await make_area(services)
    shop = await gql.sign_up("shop@example.com", "RETAILER", organization="Shop")
    await make_pickup_location(services, uuid_of(shop["organization"]["id"], "Organization"), area, point=DAM_SQUARE)
    area_id = str(relay.GlobalID("ServiceArea", str(area.id)))
    # A polygon south of the Dam: the store would fall outside.
    south = [
        {"lat": 52.30, "lng": 4.75},
        {"lat": 52.30, "lng": 5.05},
        {"lat": 52.35, "lng": 5.05},
        {"lat": 52.35, "lng": 4.75},
    ]
    change = {"id": area_id, "countryCode": "BE", "currency": "CHF", "timeZone": "America/New_York", "polygon": south}
    payload = (await gql(UPDATE, {"i": change}, token=token))["data"]["updateServiceArea"]
    assert payload["errors"] == [
        {"field": "countryCode", "code": "AREA_IN_USE"},
        {"field": "timeZone", "code": "AREA_IN_USE"},
        {"field": "currency", "code": "AREA_IN_USE"},
        {"field": "polygon", "code": "AREA_IN_USE"},
    ]
    # Shrinking that keeps the store inside is fine.
    north = [{"lat": lat, "lng": lng} for lat, lng in AMSTERDAM[:2]] + [
        {"lat": 52.40, "lng": 5.05},
        {"lat": 52.40, "lng": 4.75},
    ]
    ok = (await gql(UPDATE, {"i": {"id": area_id, "polygon": north}}, token=token))["data"]["updateServiceArea"]
    assert ok["errors"] == []
    assert await db.fetchval("SELECT country_code FROM service_areas") == "NL"
    assert await db.fetchval("SELECT currency FROM service_areas") == "EUR"
    assert await db.fetchval("SELECT time_zone FROM service_areas") == "Europe/Amsterdam"
    assert await db.fetchval("SELECT max_lat FROM service_areas") == 52.40


async def test_an_area_without_places_changes_currency_until_a_trip_is_offered_in_it(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Trips, quotes and jobs are priced in the area's currency: once one exists, it stays."""
    token = await admin_token(gql, services)
    area = await make_area(services)
    area_id = str(relay.GlobalID("ServiceArea", str(area.id)))
    first = (await gql(UPDATE, {"i": {"id": area_id, "currency": "CHF"}}, token=token))["data"]["updateServiceArea"]
    assert first["errors"] == []
    courier = await gql.session("courier@example.com")
    vehicle = await make_vehicle(services, uuid_of(courier["user"]["id"], "User"))
    trip = await gql(
        """mutation($i: CreateTripInput!) { createTrip(input: $i) { errors { code } } }""",
        {
            "i": {
                "vehicleId": str(relay.GlobalID("Vehicle", str(vehicle.id))),
                "origin": {"point": {"lat": DAM_SQUARE.lat, "lng": DAM_SQUARE.lng}, "label": "home"},
                "destination": {"point": {"lat": 52.34, "lng": 4.87}, "label": "work"},
                "departAfter": (services.clock.now() + timedelta(hours=1)).isoformat(),
                "arriveBy": (services.clock.now() + timedelta(hours=2)).isoformat(),
            }
        },
        token=courier["accessToken"],
    )
    assert trip["data"]["createTrip"]["errors"] == []
    again = (await gql(UPDATE, {"i": {"id": area_id, "currency": "EUR"}}, token=token))["data"]["updateServiceArea"]
    assert again["errors"] == [{"field": "currency", "code": "AREA_IN_USE"}]
    assert await db.fetchval("SELECT currency FROM service_areas") == "CHF"


async def test_areas_page_and_filter_by_state(gql: GraphQL, services: Services, clock: ManualClock) -> None:
    for n in range(3):
        await make_area(services, name=f"Area {n}", active=n != 1)
        clock.advance(timedelta(seconds=1))
    courier = await gql.session("courier@example.com")
    token = courier["accessToken"]
    first = (await gql(LIST, {"first": 2}, token=token))["data"]["serviceAreas"]
    assert [e["node"]["name"] for e in first["edges"]] == ["Area 0", "Area 1"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await gql(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=token))["data"]
    assert [e["node"]["name"] for e in rest["serviceAreas"]["edges"]] == ["Area 2"]
    active = (await gql(LIST, {"active": True}, token=token))["data"]["serviceAreas"]["edges"]
    assert [e["node"]["name"] for e in active] == ["Area 0", "Area 2"]
    inactive = (await gql(LIST, {"active": False}, token=token))["data"]["serviceAreas"]["edges"]
    assert [e["node"]["name"] for e in inactive] == ["Area 1"]


async def test_a_missing_area_reads_as_not_found(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    for bad in ["nothing", "U2VydmljZUFyZWE6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"]:
        body = await gql(GET, {"id": bad}, token=courier["accessToken"])
        assert body["data"] == {"serviceArea": None}
        assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_locating_a_point_finds_the_active_area_holding_it(gql: GraphQL, services: Services) -> None:
    await make_area(services, name="Amsterdam")
    await make_area(
        services,
        name="Utrecht (paused)",
        polygon=((52.05, 5.05), (52.05, 5.20), (52.15, 5.20), (52.15, 5.05)),
        active=False,
    )
    session = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    token = session["accessToken"]
    dam = await gql(LOCATE, {"p": {"lat": DAM_SQUARE.lat, "lng": DAM_SQUARE.lng}}, token=token)
    assert dam["data"]["locateServiceArea"] == {"name": "Amsterdam"}
    utrecht = await gql(LOCATE, {"p": {"lat": UTRECHT.lat, "lng": UTRECHT.lng}}, token=token)
    assert utrecht["data"]["locateServiceArea"] is None  # inside an area, but a paused one
    sea = await gql(LOCATE, {"p": {"lat": 53.5, "lng": 3.0}}, token=token)
    assert sea["data"]["locateServiceArea"] is None


async def test_locating_an_impossible_point_is_bad_input(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    body = await gql(LOCATE, {"p": {"lat": 95, "lng": 4.9}}, token=courier["accessToken"])
    assert body["data"] is None or body["data"]["locateServiceArea"] is None
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "BAD_USER_INPUT"
    assert extensions["errors"] == [
        {"field": "point.lat", "code": "OUT_OF_RANGE", "message": extensions["errors"][0]["message"]}
    ]
