"""Retailers' pickup locations over HTTP: inside an active area, validated whole, scoped to the organisation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import time, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import Point
from marketplace.domain.places import Address, NewPickupLocation, PickupLocationKind
from marketplace.services.container import Services
from tests.factories import DAM_SQUARE, OOST, UTRECHT, make_area, make_pickup_location, uuid_of
from tests.helpers import PASSWORD, GraphQL, wait_until_blocked_on_a_lock
from tests.integration.ops_jobs import book_quote, open_shop, request_quote

FIELDS = """
id kind name areaId archivedAt
address { street houseNumber postalCode city countryCode }
point { lat lng } openingHours { weekday opens closes } organization { name }
"""
CREATE = f"""
mutation($i: CreatePickupLocationInput!) {{
  createPickupLocation(input: $i) {{ pickupLocation {{ {FIELDS} }} errors {{ field code }} }}
}}
"""
UPDATE = f"""
mutation($i: UpdatePickupLocationInput!) {{
  updatePickupLocation(input: $i) {{ pickupLocation {{ {FIELDS} }} errors {{ field code }} }}
}}
"""
ARCHIVE = """
mutation($id: ID!) { archivePickupLocation(input: {id: $id}) { pickupLocation { archivedAt } errors { field code } } }
"""
GET = "query($id: ID!) { pickupLocation(id: $id) { name } }"
LIST = """
query($archived: Boolean! = false, $org: ID) {
  pickupLocations(first: 50, includeArchived: $archived, organizationId: $org) { edges { node { name } } }
}
"""
WEEKDAYS = [{"weekday": d, "opens": "08:30:00", "closes": "18:00:00"} for d in range(1, 6)]


def location_input(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "STORE",
        "name": "Flagship store",
        "address": {
            "street": "Damrak",
            "houseNumber": "1",
            "postalCode": "1012lg",
            "city": "Amsterdam",
            "countryCode": "NL",
        },
        "point": {"lat": DAM_SQUARE.lat, "lng": DAM_SQUARE.lng},
        "openingHours": WEEKDAYS,
    }
    return base | changes


async def create(gql: GraphQL, token: str, **changes: Any) -> dict[str, Any]:
    return (await gql(CREATE, {"i": location_input(**changes)}, token=token))["data"]["createPickupLocation"]  # type: ignore[no-any-return]


async def names(gql: GraphQL, token: str, **variables: Any) -> list[str]:
    body = await gql(LIST, variables, token=token)
    return [e["node"]["name"] for e in body["data"]["pickupLocations"]["edges"]]


async def test_a_retailer_registers_a_store_inside_an_active_area(gql: GraphQL, services: Services) -> None:
    area = await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    payload = await create(gql, shop["accessToken"])
    assert payload["errors"] == []
    location = payload["pickupLocation"]
    assert location["kind"] == "STORE"
    assert location["address"] == {
        "street": "Damrak",
        "houseNumber": "1",
        "postalCode": "1012 LG",
        "city": "Amsterdam",
        "countryCode": "NL",
    }
    assert location["areaId"] == str(relay.GlobalID("ServiceArea", str(area.id)))
    assert location["openingHours"][0] == {"weekday": 1, "opens": "08:30:00", "closes": "18:00:00"}
    assert location["organization"] == {"name": "Shop"}
    assert location["archivedAt"] is None
    assert await names(gql, shop["accessToken"]) == ["Flagship store"]


async def test_an_api_key_registers_locations_for_its_organisation(gql: GraphQL, services: Services) -> None:
    await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    key = await gql('mutation { createApiKey(input: {name: "wms"}) { secret } }', token=shop["accessToken"])
    secret = key["data"]["createApiKey"]["secret"]
    payload = await create(gql, secret, kind="WAREHOUSE", name="Warehouse")
    assert payload["errors"] == []
    assert payload["pickupLocation"]["organization"] == {"name": "Shop"}
    assert await names(gql, shop["accessToken"]) == ["Warehouse"]


async def test_a_point_outside_every_active_area_is_refused(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    await make_area(
        services, name="Utrecht", polygon=((52.05, 5.05), (52.05, 5.20), (52.15, 5.20), (52.15, 5.05)), active=False
    )
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    for point in [UTRECHT, Point(53.5, 3.0)]:  # a paused area, then open sea
        payload = await create(
            gql, shop["accessToken"], point={"lat": point.lat, "lng": point.lng}, address=location_input()["address"]
        )
        assert payload == {"pickupLocation": None, "errors": [{"field": "point", "code": "OUTSIDE_SERVICE_AREA"}]}
    assert await db.fetchval("SELECT count(*) FROM pickup_locations") == 0


async def test_every_problem_of_a_location_is_reported_at_once_and_nothing_is_written(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    payload = await create(
        gql,
        shop["accessToken"],
        name=" ",
        address={"street": "Damrak", "houseNumber": " ", "postalCode": "1000", "city": "", "countryCode": "BE"},
        openingHours=[
            {"weekday": 1, "opens": "18:00", "closes": "09:00"},
            {"weekday": 9, "opens": "09:00", "closes": "10:00"},
        ],
    )
    assert payload["errors"] == [
        {"field": "name", "code": "REQUIRED"},
        {"field": "address.countryCode", "code": "INVALID_COUNTRY"},
        {"field": "address.houseNumber", "code": "HOUSE_NUMBER_REQUIRED"},
        {"field": "address.postalCode", "code": "INVALID_POSTAL_CODE"},
        {"field": "address.city", "code": "REQUIRED"},
        {"field": "openingHours[0]", "code": "INVALID_OPENING_HOURS"},
        {"field": "openingHours[1]", "code": "INVALID_OPENING_HOURS"},
    ]
    payload = await create(gql, shop["accessToken"], point={"lat": 91, "lng": 4.9}, openingHours=[])
    assert payload["errors"] == [
        {"field": "point.lat", "code": "OUT_OF_RANGE"},
        {"field": "openingHours", "code": "INVALID_OPENING_HOURS"},
    ]
    assert await db.fetchval("SELECT count(*) FROM pickup_locations") == 0


async def test_another_organisations_location_is_exactly_like_a_missing_one(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    alice = await gql.session("alice@a.example", "RETAILER", organization="A")
    bob = await gql.session("bob@b.example", "RETAILER", organization="B")
    created = (await create(gql, alice["accessToken"]))["pickupLocation"]
    foreign, missing = created["id"], str(relay.GlobalID("PickupLocation", str(uuid4())))
    token = bob["accessToken"]

    reads = [await gql(GET, {"id": i}, token=token) for i in (foreign, missing)]
    assert reads[0] == reads[1]
    assert reads[0]["data"] == {"pickupLocation": None}
    assert reads[0]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    updates = [(await gql(UPDATE, {"i": {"id": i, "name": "Mine"}}, token=token))["data"] for i in (foreign, missing)]
    assert (
        updates[0]
        == updates[1]
        == {"updatePickupLocation": {"pickupLocation": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}}
    )
    archives = [(await gql(ARCHIVE, {"id": i}, token=token))["data"] for i in (foreign, missing)]
    assert archives[0] == archives[1]
    assert archives[0]["archivePickupLocation"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await names(gql, token) == []
    alice_org = created["organization"]
    assert alice_org == {"name": "A"}
    assert await db.fetchval("SELECT name FROM pickup_locations") == "Flagship store"
    assert await db.fetchval("SELECT archived_at FROM pickup_locations") is None


async def test_an_update_changes_what_it_names_and_revalidates_the_whole_location(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    token = shop["accessToken"]
    created = (await create(gql, token))["pickupLocation"]
    always = [{"weekday": d, "opens": "00:00", "closes": "00:00"} for d in range(1, 8)]
    payload = (
        await gql(UPDATE, {"i": {"id": created["id"], "openingHours": always, "kind": "MICRO_HUB"}}, token=token)
    )["data"]["updatePickupLocation"]
    assert payload["errors"] == []
    updated = payload["pickupLocation"]
    assert updated["openingHours"] == [{"weekday": d, "opens": "00:00:00", "closes": "00:00:00"} for d in range(1, 8)]
    assert updated["kind"] == "MICRO_HUB"
    assert {k: v for k, v in updated.items() if k not in ("openingHours", "kind")} == {
        k: v for k, v in created.items() if k not in ("openingHours", "kind")
    }

    moved = await gql(
        UPDATE, {"i": {"id": created["id"], "point": {"lat": UTRECHT.lat, "lng": UTRECHT.lng}}}, token=token
    )
    assert moved["data"]["updatePickupLocation"]["errors"] == [{"field": "point", "code": "OUTSIDE_SERVICE_AREA"}]
    # The stored address is checked again too: a Belgian code does not fit the Dutch area.
    readdressed = await gql(
        UPDATE,
        {"i": {"id": created["id"], "address": {**location_input()["address"], "postalCode": "1000"}}},
        token=token,
    )
    assert readdressed["data"]["updatePickupLocation"]["errors"] == [
        {"field": "address.postalCode", "code": "INVALID_POSTAL_CODE"}
    ]
    row = await db.fetchrow("SELECT lat, postal_code, kind FROM pickup_locations")
    assert row is not None
    assert (row["lat"], row["postal_code"], row["kind"]) == (DAM_SQUARE.lat, "1012 LG", "micro_hub")


async def test_renaming_a_store_in_a_paused_area_still_works(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """The area is looked up again only when the point moves: pausing a city must not freeze its stores."""
    area = await make_area(services)
    shop = await gql.sign_up("owner@shop.example", "RETAILER", organization="Shop")
    location = await make_pickup_location(services, uuid_of(shop["organization"]["id"], "Organization"), area)
    await db.execute("UPDATE service_areas SET active = false")
    token = (await gql.login("owner@shop.example"))["session"]["accessToken"]
    gid = str(relay.GlobalID("PickupLocation", str(location.id)))
    payload = (await gql(UPDATE, {"i": {"id": gid, "name": "Renamed"}}, token=token))["data"]["updatePickupLocation"]
    assert payload["errors"] == []
    assert payload["pickupLocation"]["name"] == "Renamed"


async def test_archived_locations_leave_the_list_and_cannot_change(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    token = shop["accessToken"]
    old = (await create(gql, token, name="Old store"))["pickupLocation"]
    clock.advance(timedelta(seconds=1))
    await create(gql, token, name="New store")
    first = (await gql(ARCHIVE, {"id": old["id"]}, token=token))["data"]["archivePickupLocation"]
    assert first == {"pickupLocation": {"archivedAt": clock.now().isoformat()}, "errors": []}
    clock.advance(timedelta(minutes=1))
    again = (await gql(ARCHIVE, {"id": old["id"]}, token=token))["data"]["archivePickupLocation"]
    assert again == first  # archiving twice keeps the first time
    assert await names(gql, token) == ["New store"]
    assert await names(gql, token, archived=True) == ["Old store", "New store"]
    edit = (await gql(UPDATE, {"i": {"id": old["id"], "name": "Revived"}}, token=token))["data"]
    assert edit["updatePickupLocation"]["errors"] == [{"field": "id", "code": "ARCHIVED"}]
    read = await gql(GET, {"id": old["id"]}, token=token)
    assert read["data"]["pickupLocation"] == {"name": "Old store"}


async def test_operations_see_every_organisations_locations_or_one_of_them(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    await make_area(services)
    alice = await gql.session("alice@a.example", "RETAILER", organization="A")
    bob = await gql.session("bob@b.example", "RETAILER", organization="B")
    a = (await create(gql, alice["accessToken"], name="A store"))["pickupLocation"]
    clock.advance(timedelta(seconds=1))
    await create(gql, bob["accessToken"], name="B store")
    await services.accounts.create_user(email="ops@example.com", password=PASSWORD, role=Role.ADMIN)
    ops = (await gql.login("ops@example.com"))["session"]["accessToken"]
    assert await names(gql, ops) == ["A store", "B store"]
    me = await gql("query { me { organization { id } } }", token=alice["accessToken"])
    alice_org = me["data"]["me"]["organization"]["id"]
    assert await names(gql, ops, org=alice_org) == ["A store"]
    assert (await gql(GET, {"id": a["id"]}, token=ops))["data"]["pickupLocation"] == {"name": "A store"}
    # A retailer's filter cannot reach past its own organisation.
    assert await names(gql, bob["accessToken"], org=alice_org) == []


async def test_retrying_a_creation_with_its_key_creates_one_location(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    shop = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    first = await create(gql, shop["accessToken"], idempotencyKey="store-1")
    again = await create(gql, shop["accessToken"], idempotencyKey="store-1")
    assert again == first
    other = await create(gql, shop["accessToken"], idempotencyKey="store-1", name="Other")
    assert other["errors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    assert await db.fetchval("SELECT count(*) FROM pickup_locations") == 1


async def test_a_store_added_while_its_area_is_being_paused_waits_and_is_refused(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Driven through the service: the HTTP test client would block this loop while the request waits."""
    area = await make_area(services)
    shop = await gql.sign_up("owner@shop.example", "RETAILER", organization="Shop")
    owner = Principal(
        role=Role.RETAILER,
        user_id=uuid_of(shop["id"], "User"),
        organization_id=uuid_of(shop["organization"]["id"], "Organization"),
    )
    async with services.db.uow() as uow:
        assert await uow.repos.areas.get(area.id, for_update=True) is not None
        assert await uow.repos.areas.save(replace(area, active=False))
        creating = asyncio.create_task(
            services.places.create_pickup_location(
                owner,
                NewPickupLocation(
                    kind=PickupLocationKind.STORE,
                    name="Flagship store",
                    address=Address("Damrak", "1", "1012 LG", "Amsterdam", "NL"),
                    point=DAM_SQUARE,
                    opening_hours=((1, time(9), time(17)),),
                ),
            )
        )
        await wait_until_blocked_on_a_lock(db, "the creation")
        await uow.commit()
    with pytest.raises(DomainError) as refused:
        await creating
    assert [(e.code, e.field) for e in refused.value.errors] == [(ErrorCode.OUTSIDE_SERVICE_AREA, "point")]
    assert await db.fetchval("SELECT count(*) FROM pickup_locations") == 0


async def owner_of_a_store(gql: GraphQL, services: Services) -> tuple[Principal, UUID]:
    """A retailer's principal and the id of its store on Dam Square, in a fresh Amsterdam area."""
    area = await make_area(services)
    shop = await gql.sign_up("owner@shop.example", "RETAILER", organization="Shop")
    owner = Principal(
        role=Role.RETAILER,
        user_id=uuid_of(shop["id"], "User"),
        organization_id=uuid_of(shop["organization"]["id"], "Organization"),
    )
    assert owner.organization_id is not None
    store = await make_pickup_location(services, owner.organization_id, area)
    return owner, store.id


async def test_an_edit_made_while_another_is_in_flight_keeps_both(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Each edit rewrites the whole row, so the second must read after the first commits, or undo it."""
    owner, store_id = await owner_of_a_store(gql, services)
    async with services.db.uow() as uow:
        mid_edit = await uow.repos.pickup_locations.get(store_id, owner.organization_id, for_update=True)
        assert mid_edit is not None
        editing = asyncio.create_task(
            services.places.update_pickup_location(owner, store_id, opening_hours=[(1, time(9), time(17))])
        )
        await wait_until_blocked_on_a_lock(db, "the edit")
        await uow.repos.pickup_locations.save(replace(mid_edit, name="Dam store"))
        await uow.commit()
    await editing
    stored = await services.places.get_pickup_location(owner, store_id)
    assert stored is not None
    assert stored.name == "Dam store"
    assert [(i.weekday, i.opens, i.closes) for i in stored.opening_hours.intervals] == [(1, time(9), time(17))]


async def test_archiving_while_an_edit_is_in_flight_keeps_the_edit(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    owner, store_id = await owner_of_a_store(gql, services)
    async with services.db.uow() as uow:
        mid_edit = await uow.repos.pickup_locations.get(store_id, owner.organization_id, for_update=True)
        assert mid_edit is not None
        archiving = asyncio.create_task(services.places.archive_pickup_location(owner, store_id))
        await wait_until_blocked_on_a_lock(db, "the archiving")
        await uow.repos.pickup_locations.save(replace(mid_edit, name="Dam store"))
        await uow.commit()
    await archiving
    stored = await db.fetchrow("SELECT name, archived_at FROM pickup_locations")
    assert stored is not None
    assert (stored["name"], stored["archived_at"]) == ("Dam store", services.clock.now())


async def test_a_store_with_unfinished_jobs_keeps_its_place_but_may_be_renamed(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Jobs booked, assigned or in transit are picked up where the store is: moving it would strand them."""
    shop = await open_shop(gql, services, await make_area(services), "owner@shop.example", "Shop")
    quote = await request_quote(gql, shop.token, shop.request())
    assert (await book_quote(gql, shop.token, quote["quote"]["id"]))["errors"] == []
    oost = {"lat": OOST.lat, "lng": OOST.lng}
    rokin = {**location_input()["address"], "street": "Rokin", "houseNumber": "2"}

    for status in ("booked", "assigned", "in_transit"):
        await db.execute("UPDATE jobs SET status = $1", status)
        body = await gql(UPDATE, {"i": {"id": shop.location, "point": oost, "address": rokin}}, token=shop.token)
        refused = body["data"]["updatePickupLocation"]
        assert refused["pickupLocation"] is None
        assert {(e["field"], e["code"]) for e in refused["errors"]} == {
            ("point", "LOCATION_IN_USE"),
            ("address", "LOCATION_IN_USE"),
        }
    row = await db.fetchrow("SELECT lat, street FROM pickup_locations")
    assert row is not None
    assert (row["lat"], row["street"]) == (DAM_SQUARE.lat, "Damrak")

    # A new name, new hours, or the same address sent again change nothing a job relies on.
    unchanged_address = location_input()["address"]
    changes = {"name": "Dam store", "openingHours": WEEKDAYS, "address": unchanged_address, "point": None}
    body = await gql(UPDATE, {"i": {"id": shop.location, **changes}}, token=shop.token)
    assert body["data"]["updatePickupLocation"]["errors"] == []
    assert body["data"]["updatePickupLocation"]["pickupLocation"]["name"] == "Dam store"

    await db.execute("UPDATE jobs SET status = 'delivered'")
    body = await gql(UPDATE, {"i": {"id": shop.location, "point": oost, "address": rokin}}, token=shop.token)
    assert body["data"]["updatePickupLocation"]["errors"] == []
    assert body["data"]["updatePickupLocation"]["pickupLocation"]["point"] == oost
