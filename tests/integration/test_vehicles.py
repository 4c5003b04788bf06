"""Couriers' vehicles over HTTP: kind defaults, bounded overrides, retirement, and who sees what."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.vehicles import KIND_SPECS, MAX_SPEED_KMH, VehicleKind
from marketplace.services.container import Services
from tests.factories import make_vehicle, uuid_of
from tests.helpers import PASSWORD, GraphQL, wait_until_blocked_on_a_lock

FIELDS = "id kind name maxWeightG maxVolumeCm3 zeroEmission co2GPerKm typicalSpeedKmh retiredAt"
REGISTER = f"""
mutation($i: RegisterVehicleInput!) {{
  registerVehicle(input: $i) {{ vehicle {{ {FIELDS} }} errors {{ field code }} }}
}}
"""
UPDATE = f"""
mutation($i: UpdateVehicleInput!) {{ updateVehicle(input: $i) {{ vehicle {{ {FIELDS} }} errors {{ field code }} }} }}
"""
RETIRE = "mutation($id: ID!) { retireVehicle(input: {id: $id}) { vehicle { retiredAt } errors { field code } } }"
GET = "query($id: ID!) { vehicle(id: $id) { name courier { email } } }"
LIST = """
query($retired: Boolean! = false, $courier: ID) {
  vehicles(first: 50, includeRetired: $retired, courierId: $courier) { edges { node { name } } }
}
"""


async def register(gql: GraphQL, token: str, **fields: Any) -> dict[str, Any]:
    body = await gql(REGISTER, {"i": {"kind": "BICYCLE", "name": "Gazelle", **fields}}, token=token)
    return body["data"]["registerVehicle"]  # type: ignore[no-any-return]


async def names(gql: GraphQL, token: str, **variables: Any) -> list[str]:
    return [e["node"]["name"] for e in (await gql(LIST, variables, token=token))["data"]["vehicles"]["edges"]]


async def test_a_vehicle_given_only_its_kind_takes_the_documented_defaults(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    for kind in VehicleKind:
        payload = await register(gql, courier["accessToken"], kind=kind.name, name=f"my {kind.value}")
        assert payload["errors"] == []
        vehicle, spec = payload["vehicle"], KIND_SPECS[kind]
        assert (vehicle["maxWeightG"], vehicle["maxVolumeCm3"]) == (spec.max_weight_g, spec.max_volume_cm3)
        assert (vehicle["zeroEmission"], vehicle["co2GPerKm"]) == (spec.zero_emission, spec.co2_g_per_km)
        assert vehicle["typicalSpeedKmh"] == spec.typical_speed_kmh
    assert len(await names(gql, courier["accessToken"])) == len(VehicleKind)


async def test_overrides_within_the_kind_limits_are_kept(gql: GraphQL) -> None:
    courier = await gql.session("courier@example.com")
    payload = await register(
        gql,
        courier["accessToken"],
        kind="CAR",
        name="  Model 3 ",
        maxWeightG=200_000,
        zeroEmission=True,
        typicalSpeedKmh=35,
    )
    assert payload["errors"] == []
    vehicle = payload["vehicle"]
    assert vehicle["name"] == "Model 3"
    assert (vehicle["maxWeightG"], vehicle["maxVolumeCm3"]) == (200_000, KIND_SPECS[VehicleKind.CAR].max_volume_cm3)
    assert (vehicle["zeroEmission"], vehicle["co2GPerKm"], vehicle["typicalSpeedKmh"]) == (True, 0, 35)


async def test_every_override_out_of_bounds_is_reported_at_once_and_nothing_is_written(
    gql: GraphQL, db: asyncpg.Connection
) -> None:
    courier = await gql.session("courier@example.com")
    bike = KIND_SPECS[VehicleKind.BICYCLE]
    payload = await register(
        gql,
        courier["accessToken"],
        name="",
        maxWeightG=bike.limit_weight_g + 1,
        maxVolumeCm3=0,
        typicalSpeedKmh=MAX_SPEED_KMH + 1,
        zeroEmission=True,
        co2GPerKm=40,
    )
    assert payload == {
        "vehicle": None,
        "errors": [
            {"field": "name", "code": "REQUIRED"},
            {"field": "maxWeightG", "code": "OUT_OF_RANGE"},
            {"field": "maxVolumeCm3", "code": "OUT_OF_RANGE"},
            {"field": "typicalSpeedKmh", "code": "OUT_OF_RANGE"},
            {"field": "co2GPerKm", "code": "EMISSIONS_INCONSISTENT"},
        ],
    }
    assert await db.fetchval("SELECT count(*) FROM vehicles") == 0


async def test_retrying_a_registration_with_its_key_registers_one_vehicle(gql: GraphQL, db: asyncpg.Connection) -> None:
    courier = await gql.session("courier@example.com")
    first = await register(gql, courier["accessToken"], idempotencyKey="bike-1")
    assert await register(gql, courier["accessToken"], idempotencyKey="bike-1") == first
    other = await register(gql, courier["accessToken"], idempotencyKey="bike-1", name="Batavus")
    assert other["errors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    assert await db.fetchval("SELECT count(*) FROM vehicles") == 1


async def test_an_update_changes_what_it_names_within_the_kind_limits(gql: GraphQL, db: asyncpg.Connection) -> None:
    courier = await gql.session("courier@example.com")
    token = courier["accessToken"]
    car = (await register(gql, token, kind="CAR", name="Golf"))["vehicle"]
    electric = (await gql(UPDATE, {"i": {"id": car["id"], "zeroEmission": True}}, token=token))["data"]["updateVehicle"]
    assert electric["errors"] == []
    assert (electric["vehicle"]["zeroEmission"], electric["vehicle"]["co2GPerKm"]) == (True, 0)
    assert electric["vehicle"]["name"] == "Golf"
    too_much = await gql(
        UPDATE, {"i": {"id": car["id"], "maxVolumeCm3": 1_500_001, "zeroEmission": True, "co2GPerKm": 80}}, token=token
    )
    assert too_much["data"]["updateVehicle"]["errors"] == [
        {"field": "maxVolumeCm3", "code": "OUT_OF_RANGE"},
        {"field": "co2GPerKm", "code": "EMISSIONS_INCONSISTENT"},
    ]
    row = await db.fetchrow("SELECT zero_emission, co2_g_per_km, max_volume_cm3 FROM vehicles")
    assert row is not None
    assert tuple(row) == (True, 0, KIND_SPECS[VehicleKind.CAR].max_volume_cm3)


async def test_a_retired_vehicle_stays_readable_but_leaves_the_list_and_cannot_change(
    gql: GraphQL, clock: ManualClock
) -> None:
    courier = await gql.session("courier@example.com")
    token = courier["accessToken"]
    old = (await register(gql, token, name="Old bike"))["vehicle"]
    clock.advance(timedelta(seconds=1))
    await register(gql, token, name="New bike")
    retired = (await gql(RETIRE, {"id": old["id"]}, token=token))["data"]["retireVehicle"]
    assert retired == {"vehicle": {"retiredAt": clock.now().isoformat()}, "errors": []}
    clock.advance(timedelta(minutes=1))
    assert (await gql(RETIRE, {"id": old["id"]}, token=token))["data"]["retireVehicle"] == retired
    assert await names(gql, token) == ["New bike"]
    assert await names(gql, token, retired=True) == ["Old bike", "New bike"]
    edit = await gql(UPDATE, {"i": {"id": old["id"], "name": "Revived"}}, token=token)
    assert edit["data"]["updateVehicle"]["errors"] == [{"field": "id", "code": "VEHICLE_RETIRED"}]
    assert (await gql(GET, {"id": old["id"]}, token=token))["data"]["vehicle"]["name"] == "Old bike"


async def test_another_couriers_vehicle_is_exactly_like_a_missing_one(gql: GraphQL, db: asyncpg.Connection) -> None:
    alice = await gql.session("alice@example.com")
    bob = await gql.session("bob@example.com")
    theirs = (await register(gql, alice["accessToken"]))["vehicle"]["id"]
    missing = str(relay.GlobalID("Vehicle", str(uuid4())))
    token = bob["accessToken"]
    reads = [await gql(GET, {"id": i}, token=token) for i in (theirs, missing)]
    assert reads[0] == reads[1]
    assert reads[0]["data"] == {"vehicle": None}
    assert reads[0]["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    not_found = {"vehicle": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}
    for i in (theirs, missing):
        assert (await gql(UPDATE, {"i": {"id": i, "name": "Mine"}}, token=token))["data"]["updateVehicle"] == not_found
        assert (await gql(RETIRE, {"id": i}, token=token))["data"]["retireVehicle"] == {
            "vehicle": None,
            "errors": [{"field": "id", "code": "NOT_FOUND"}],
        }
    assert await names(gql, token) == []
    row = await db.fetchrow("SELECT name, retired_at FROM vehicles")
    assert row is not None
    assert tuple(row) == ("Gazelle", None)


async def test_operations_see_every_couriers_vehicles_or_one_couriers(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    alice = await gql.session("alice@example.com")
    bob = await gql.session("bob@example.com")
    mine = (await register(gql, alice["accessToken"], name="Alice's bike"))["vehicle"]
    clock.advance(timedelta(seconds=1))
    await register(gql, bob["accessToken"], name="Bob's van", kind="VAN")
    await services.accounts.create_user(email="ops@example.com", password=PASSWORD, role=Role.ADMIN)
    ops = (await gql.login("ops@example.com"))["session"]["accessToken"]
    assert await names(gql, ops) == ["Alice's bike", "Bob's van"]
    assert await names(gql, ops, courier=alice["user"]["id"]) == ["Alice's bike"]
    assert (await gql(GET, {"id": mine["id"]}, token=ops))["data"]["vehicle"] == {
        "name": "Alice's bike",
        "courier": {"email": "alice@example.com"},
    }
    assert await names(gql, bob["accessToken"], courier=alice["user"]["id"]) == []


async def test_vehicle_kinds_document_defaults_and_limits(gql: GraphQL) -> None:
    shop = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    body = await gql(
        "query { vehicleKinds { kind defaultMaxWeightG limitWeightG zeroEmission co2GPerKm maxSpeedKmh } }",
        token=shop["accessToken"],
    )
    kinds = body["data"]["vehicleKinds"]
    assert [k["kind"] for k in kinds] == [k.name for k in VehicleKind]
    van = next(k for k in kinds if k["kind"] == "VAN")
    spec = KIND_SPECS[VehicleKind.VAN]
    assert van == {
        "kind": "VAN",
        "defaultMaxWeightG": spec.max_weight_g,
        "limitWeightG": spec.limit_weight_g,
        "zeroEmission": False,
        "co2GPerKm": 250,
        "maxSpeedKmh": MAX_SPEED_KMH,
    }


async def test_an_edit_made_while_another_is_in_flight_keeps_both(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Each edit rewrites the whole row, so the second must read after the first commits, or undo it."""
    session = await gql.session("rider@example.com")
    courier_id = uuid_of(session["user"]["id"], "User")
    vehicle = await make_vehicle(services, courier_id, VehicleKind.CAR)
    principal = Principal(role=Role.COURIER, user_id=courier_id, organization_id=None)
    async with services.db.uow() as uow:
        mid_edit = await uow.repos.vehicles.get(vehicle.id, courier_id, for_update=True)
        assert mid_edit is not None
        editing = asyncio.create_task(services.vehicles.update_vehicle(principal, vehicle.id, max_weight_g=90_000))
        await wait_until_blocked_on_a_lock(db, "the edit")
        await uow.repos.vehicles.save(replace(mid_edit, name="The blue one"))
        await uow.commit()
    await editing
    stored = await db.fetchrow("SELECT name, max_weight_g FROM vehicles")
    assert stored is not None
    assert (stored["name"], stored["max_weight_g"]) == ("The blue one", 90_000)
