"""The locker and pickup-point registry over HTTP: operations write, everyone signed in reads."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Principal, Role
from marketplace.services.container import Services
from tests.factories import OOST, UTRECHT, make_area, make_locker
from tests.helpers import GraphQL, admin_token, wait_until_blocked_on_a_lock

FIELDS = """
id kind name operator areaId active alwaysOpen
address { postalCode countryCode } point { lat lng } openingHours { weekday opens closes }
compartments { size count dimensions { heightMm widthMm depthMm maxWeightG } }
"""
CREATE = f"""
mutation($i: CreateLockerInput!) {{ createLocker(input: $i) {{ locker {{ {FIELDS} }} errors {{ field code }} }} }}
"""
UPDATE = f"""
mutation($i: UpdateLockerInput!) {{ updateLocker(input: $i) {{ locker {{ {FIELDS} }} errors {{ field code }} }} }}
"""
LIST = """
query($area: ID, $active: Boolean) { lockers(first: 50, areaId: $area, active: $active) { edges { node { name } } } }
"""
GET = "query($id: ID!) { locker(id: $id) { name compartments { size count } } }"
ALWAYS = [{"weekday": d, "opens": "00:00", "closes": "00:00"} for d in range(1, 8)]


def locker_input(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "LOCKER",
        "name": "Oost station",
        "operator": "Lockr",
        "address": {
            "street": "Oosterpark",
            "houseNumber": "10",
            "postalCode": "1092ae",
            "city": "Amsterdam",
            "countryCode": "NL",
        },
        "point": {"lat": OOST.lat, "lng": OOST.lng},
        "openingHours": ALWAYS,
        "compartments": [{"size": "M", "count": 6}, {"size": "S", "count": 10}],
    }
    return base | changes


async def create(gql: GraphQL, token: str, **changes: Any) -> dict[str, Any]:
    return (await gql(CREATE, {"i": locker_input(**changes)}, token=token))["data"]["createLocker"]  # type: ignore[no-any-return]


async def names(gql: GraphQL, token: str, **variables: Any) -> list[str]:
    return [e["node"]["name"] for e in (await gql(LIST, variables, token=token))["data"]["lockers"]["edges"]]


async def test_operations_register_a_locker_that_couriers_and_retailers_can_read(
    gql: GraphQL, services: Services
) -> None:
    area = await make_area(services)
    token = await admin_token(gql, services)
    payload = await create(gql, token)
    assert payload["errors"] == []
    locker = payload["locker"]
    assert (locker["kind"], locker["active"], locker["alwaysOpen"]) == ("LOCKER", True, True)
    assert locker["address"] == {"postalCode": "1092 AE", "countryCode": "NL"}
    assert locker["areaId"] == str(relay.GlobalID("ServiceArea", str(area.id)))
    # Kept small to large, whatever order they were given in, with each class's inner dimensions.
    assert locker["compartments"] == [
        {
            "size": "S",
            "count": 10,
            "dimensions": {"heightMm": 80, "widthMm": 380, "depthMm": 640, "maxWeightG": 25_000},
        },
        {
            "size": "M",
            "count": 6,
            "dimensions": {"heightMm": 190, "widthMm": 380, "depthMm": 640, "maxWeightG": 25_000},
        },
    ]
    courier = await gql.session("courier@example.com")
    shop = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    key = await gql('mutation { createApiKey(input: {name: "k"}) { secret } }', token=shop["accessToken"])
    for reader in (courier["accessToken"], shop["accessToken"], key["data"]["createApiKey"]["secret"]):
        assert await names(gql, reader) == ["Oost station"]
        one = await gql(GET, {"id": locker["id"]}, token=reader)
        assert one["data"]["locker"] == {
            "name": "Oost station",
            "compartments": [{"size": "S", "count": 10}, {"size": "M", "count": 6}],
        }


async def test_a_pickup_point_with_shop_hours_is_not_always_open(gql: GraphQL, services: Services) -> None:
    await make_area(services)
    token = await admin_token(gql, services)
    hours = [{"weekday": d, "opens": "09:00", "closes": "21:00"} for d in range(1, 7)]
    payload = await create(
        gql, token, kind="PICKUP_POINT", openingHours=hours, compartments=[{"size": "XL", "count": 3}]
    )
    assert payload["errors"] == []
    assert (payload["locker"]["kind"], payload["locker"]["alwaysOpen"]) == ("PICKUP_POINT", False)


async def test_every_problem_of_a_locker_is_reported_at_once_and_nothing_is_written(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    token = await admin_token(gql, services)
    payload = await create(
        gql,
        token,
        name="",
        operator=" ",
        address={**locker_input()["address"], "postalCode": "ABCD", "houseNumber": ""},
        openingHours=[{"weekday": 0, "opens": "00:00", "closes": "00:00"}],
        compartments=[{"size": "S", "count": -1}, {"size": "S", "count": 3}, {"size": "L", "count": 0}],
    )
    assert payload["errors"] == [
        {"field": "name", "code": "REQUIRED"},
        {"field": "operator", "code": "REQUIRED"},
        {"field": "address.houseNumber", "code": "HOUSE_NUMBER_REQUIRED"},
        {"field": "address.postalCode", "code": "INVALID_POSTAL_CODE"},
        {"field": "openingHours[0]", "code": "INVALID_OPENING_HOURS"},
        {"field": "compartments[0].count", "code": "OUT_OF_RANGE"},
        {"field": "compartments[1].size", "code": "INVALID_COMPARTMENTS"},
        {"field": "compartments", "code": "INVALID_COMPARTMENTS"},
    ]
    outside = await create(gql, token, point={"lat": UTRECHT.lat, "lng": UTRECHT.lng})
    assert outside == {"locker": None, "errors": [{"field": "point", "code": "OUTSIDE_SERVICE_AREA"}]}
    assert await db.fetchval("SELECT count(*) FROM lockers") == 0


async def test_a_locker_in_a_paused_area_is_refused(gql: GraphQL, services: Services, db: asyncpg.Connection) -> None:
    await make_area(services, active=False)
    token = await admin_token(gql, services)
    payload = await create(gql, token)
    assert payload["errors"] == [{"field": "point", "code": "OUTSIDE_SERVICE_AREA"}]
    assert await db.fetchval("SELECT count(*) FROM lockers") == 0


async def test_a_locker_can_be_switched_off_in_a_paused_area_but_not_back_on(
    gql: GraphQL, services: Services, db: asyncpg.Connection, clock: ManualClock
) -> None:
    await make_area(services)
    token = await admin_token(gql, services)
    locker = (await create(gql, token))["locker"]
    await db.execute("UPDATE service_areas SET active = false")
    clock.advance(timedelta(minutes=1))
    off = (await gql(UPDATE, {"i": {"id": locker["id"], "active": False}}, token=token))["data"]["updateLocker"]
    assert off["errors"] == []
    assert off["locker"]["active"] is False
    on = (await gql(UPDATE, {"i": {"id": locker["id"], "active": True}}, token=token))["data"]["updateLocker"]
    assert on["errors"] == [{"field": "point", "code": "OUTSIDE_SERVICE_AREA"}]
    await db.execute("UPDATE service_areas SET active = true")
    on = (await gql(UPDATE, {"i": {"id": locker["id"], "active": True}}, token=token))["data"]["updateLocker"]
    assert on["errors"] == []
    assert await db.fetchval("SELECT updated_at FROM lockers") == clock.now()


async def test_an_update_changes_what_it_names_and_checks_compartments_again(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    token = await admin_token(gql, services)
    locker = (await create(gql, token))["locker"]
    changed = await gql(
        UPDATE,
        {"i": {"id": locker["id"], "compartments": [{"size": "L", "count": 2}], "operator": "Parcl"}},
        token=token,
    )
    updated = changed["data"]["updateLocker"]["locker"]
    assert updated["operator"] == "Parcl"
    assert [(c["size"], c["count"]) for c in updated["compartments"]] == [("L", 2)]
    assert updated["name"] == locker["name"]
    empty = await gql(UPDATE, {"i": {"id": locker["id"], "compartments": [{"size": "L", "count": 0}]}}, token=token)
    assert empty["data"]["updateLocker"]["errors"] == [{"field": "compartments", "code": "INVALID_COMPARTMENTS"}]
    missing = await gql(UPDATE, {"i": {"id": "nothing", "name": "x"}}, token=token)
    assert missing["data"]["updateLocker"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await db.fetchval("SELECT compartments::text FROM lockers") == '[{"size": "L", "count": 2}]'


async def test_lockers_filter_by_area_and_state(gql: GraphQL, services: Services, clock: ManualClock) -> None:
    amsterdam = await make_area(services)
    await make_area(services, name="Utrecht", polygon=((52.05, 5.05), (52.05, 5.20), (52.15, 5.20), (52.15, 5.05)))
    token = await admin_token(gql, services)
    await create(gql, token, name="Oost")
    clock.advance(timedelta(seconds=1))
    await create(gql, token, name="Oost (off)", active=False)
    clock.advance(timedelta(seconds=1))
    await create(
        gql,
        token,
        name="Utrecht Centraal",
        point={"lat": UTRECHT.lat, "lng": UTRECHT.lng},
        address={**locker_input()["address"], "postalCode": "3511 AX", "city": "Utrecht"},
    )
    amsterdam_id = str(relay.GlobalID("ServiceArea", str(amsterdam.id)))
    assert await names(gql, token) == ["Oost", "Oost (off)", "Utrecht Centraal"]
    assert await names(gql, token, area=amsterdam_id) == ["Oost", "Oost (off)"]
    assert await names(gql, token, area=amsterdam_id, active=True) == ["Oost"]
    assert await names(gql, token, active=False) == ["Oost (off)"]
    # An ID that does not decode names no area: NOT_FOUND, as every ID that names nothing.
    unknown = await gql(LIST, {"area": "not-an-area"}, token=token)
    assert unknown["data"] is None
    assert [e["extensions"] for e in unknown["errors"]] == [{"code": "NOT_FOUND"}]


async def test_retrying_a_registration_with_its_key_creates_one_locker(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    token = await admin_token(gql, services)
    first = await create(gql, token, idempotencyKey="locker-1")
    assert await create(gql, token, idempotencyKey="locker-1") == first
    other = await create(gql, token, idempotencyKey="locker-1", name="Other")
    assert other["errors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    assert await db.fetchval("SELECT count(*) FROM lockers") == 1


async def test_compartment_sizes_list_every_class_small_to_large(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    body = await gql("query { compartmentSizes { size heightMm widthMm depthMm } }", token=courier["accessToken"])
    sizes = body["data"]["compartmentSizes"]
    assert [s["size"] for s in sizes] == ["S", "M", "L", "XL"]
    assert sizes[-1] == {"size": "XL", "heightMm": 600, "widthMm": 600, "depthMm": 800}
    volumes = [s["heightMm"] * s["widthMm"] * s["depthMm"] for s in sizes]
    assert volumes == sorted(volumes)


async def test_a_missing_locker_reads_as_not_found(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    body = await gql(
        GET, {"id": str(relay.GlobalID("Locker", "00000000-0000-0000-0000-000000000000"))}, token=courier["accessToken"]
    )
    assert body["data"] == {"locker": None}
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_an_edit_made_while_another_is_in_flight_keeps_both(services: Services, db: asyncpg.Connection) -> None:
    """Each edit rewrites the whole row, so the second must read after the first commits, or undo it."""
    locker = await make_locker(services, await make_area(services))
    operations = Principal(role=Role.ADMIN, user_id=None, organization_id=None)
    async with services.db.uow() as uow:
        mid_edit = await uow.repos.lockers.get(locker.id, for_update=True)
        assert mid_edit is not None
        editing = asyncio.create_task(services.places.update_locker(operations, locker.id, operator="Bloqit"))
        await wait_until_blocked_on_a_lock(db, "the edit")
        await uow.repos.lockers.save(replace(mid_edit, name="Oost"))
        await uow.commit()
    await editing
    stored = await db.fetchrow("SELECT name, operator FROM lockers")
    assert stored is not None
    assert (stored["name"], stored["operator"]) == ("Oost", "Bloqit")
