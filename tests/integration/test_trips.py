"""Trips over HTTP: offering capacity, editing and cancelling it while open, expiry, and who sees what."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.domain.trips import TripStatus, transition
from marketplace.domain.vehicles import KIND_SPECS, Vehicle, VehicleKind
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import DAM_SQUARE, OOST, UTRECHT, ZUID, make_area, make_vehicle, uuid_of
from tests.helpers import GraphQL, admin_token
from tests.integration.test_cli import crowdship

UTRECHT_AREA = ((52.03, 5.05), (52.03, 5.20), (52.15, 5.20), (52.15, 5.05))

TRIP_FIELDS = """
fragment TripFields on Trip {
  id courierId vehicleId areaId
  origin { point { lat lng } label } destination { point { lat lng } label }
  departAfter arriveBy spareWeightG spareVolumeCm3 maxDetourM status commuteId commuteDate
}
"""
CREATE_TRIP = (
    "mutation($i: CreateTripInput!) { createTrip(input: $i) { trip { ...TripFields } errors { field code message } } }"
    + TRIP_FIELDS
)
UPDATE_TRIP = (
    "mutation($i: UpdateTripInput!) { updateTrip(input: $i) { trip { ...TripFields } errors { field code message } } }"
    + TRIP_FIELDS
)
CANCEL_TRIP = (
    "mutation($i: CancelTripInput!) { cancelTrip(input: $i) { trip { ...TripFields } errors { field code message } } }"
    + TRIP_FIELDS
)
TRIP = "query($id: ID!) { trip(id: $id) { ...TripFields } }" + TRIP_FIELDS
TRIPS = (
    """
query($first: Int, $after: String, $status: TripStatus, $from: DateTime, $until: DateTime, $area: ID, $courier: ID) {
  trips(first: $first, after: $after, status: $status, departFrom: $from, departUntil: $until, areaId: $area,
        courierId: $courier) {
    edges { node { ...TripFields } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + TRIP_FIELDS
)


@dataclass
class Courier:
    email: str
    token: str
    id: UUID
    vehicle: Vehicle

    async def sign_in_again(self, gql: GraphQL) -> None:
        """After moving the clock past the access token's life."""
        self.token = (await gql.login(self.email))["session"]["accessToken"]

    @property
    def vehicle_gid(self) -> str:
        return str(global_id("Vehicle", self.vehicle.id))


async def courier(gql: GraphQL, services: Services, email: str, kind: VehicleKind = VehicleKind.CAR) -> Courier:
    session = await gql.session(email)
    courier_id = uuid_of(session["user"]["id"], "User")
    return Courier(email, session["accessToken"], courier_id, await make_vehicle(services, courier_id, kind))


def place(point: Any, label: str) -> dict[str, Any]:
    return {"point": {"lat": point.lat, "lng": point.lng}, "label": label}


def trip_input(c: Courier, *, depart: timedelta = timedelta(hours=1), hours: float = 1, **extra: Any) -> dict[str, Any]:
    return {
        "vehicleId": c.vehicle_gid,
        "origin": place(DAM_SQUARE, "home"),
        "destination": place(ZUID, "office"),
        "departAfter": (T0 + depart).isoformat(),
        "arriveBy": (T0 + depart + timedelta(hours=hours)).isoformat(),
        **extra,
    }


async def create_trip(gql: GraphQL, c: Courier, **kwargs: Any) -> dict[str, Any]:
    body = await gql(CREATE_TRIP, {"i": trip_input(c, **kwargs)}, token=c.token)
    payload = body["data"]["createTrip"]
    assert payload["errors"] == [], payload
    return payload["trip"]  # type: ignore[no-any-return]


async def one_row(db: asyncpg.Connection, query: str) -> dict[str, Any]:
    row = await db.fetchrow(query)
    assert row is not None
    return dict(row)


async def trip_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM trips"))


def area_gid(area: ServiceArea) -> str:
    return str(global_id("ServiceArea", area.id))


async def test_create_trip_offers_the_vehicles_capacity_in_the_area_of_its_origin(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    area = await make_area(services)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(gql, c)
    spec = KIND_SPECS[VehicleKind.CAR]
    assert trip["courierId"] == global_id("User", c.id)
    assert trip["vehicleId"] == c.vehicle_gid
    assert trip["areaId"] == area_gid(area)
    assert trip["origin"] == place(DAM_SQUARE, "home")
    assert trip["destination"] == place(ZUID, "office")
    assert (trip["departAfter"], trip["arriveBy"]) == ("2026-11-24T09:00:00+00:00", "2026-11-24T10:00:00+00:00")
    assert (trip["spareWeightG"], trip["spareVolumeCm3"]) == (spec.max_weight_g, spec.max_volume_cm3)
    assert trip["maxDetourM"] == 3_000
    assert (trip["status"], trip["commuteId"], trip["commuteDate"]) == ("OPEN", None, None)
    row = await one_row(db, "SELECT courier_id, area_id, status, spare_weight_g FROM trips")
    assert row == {"courier_id": c.id, "area_id": area.id, "status": "open", "spare_weight_g": spec.max_weight_g}


async def test_create_trip_takes_given_capacity_and_normalises_times_to_utc(gql: GraphQL, services: Services) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(
        gql,
        c,
        spareWeightG=4_000,
        spareVolumeCm3=20_000,
        maxDetourM=0,
        departAfter="2026-11-24T10:30:00+01:00",
        arriveBy="2026-11-24T11:15:00+01:00",
    )
    assert (trip["spareWeightG"], trip["spareVolumeCm3"], trip["maxDetourM"]) == (4_000, 20_000, 0)
    assert (trip["departAfter"], trip["arriveBy"]) == ("2026-11-24T09:30:00+00:00", "2026-11-24T10:15:00+00:00")


async def test_a_trip_into_the_area_from_outside_belongs_to_the_destinations_area(
    gql: GraphQL, services: Services
) -> None:
    area = await make_area(services)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(gql, c, origin=place(UTRECHT, "parents"), destination=place(OOST, "home"), hours=2)
    assert trip["areaId"] == area_gid(area)


async def test_a_trip_outside_every_active_area_is_refused_and_writes_nothing(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    await make_area(services, name="Utrecht", polygon=UTRECHT_AREA, active=False)
    c = await courier(gql, services, "c@example.com")
    outside = place(UTRECHT, "somewhere")
    body = await gql(CREATE_TRIP, {"i": trip_input(c, origin=outside, destination=outside)}, token=c.token)
    payload = body["data"]["createTrip"]
    assert payload["trip"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("origin", "OUTSIDE_SERVICE_AREA")]
    assert await trip_count(db) == 0


async def test_invalid_trip_input_reports_every_problem_at_once_and_writes_nothing(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com", VehicleKind.BICYCLE)
    bad = trip_input(
        c,
        origin={"point": {"lat": 95.0, "lng": 4.9}, "label": "   "},
        departAfter=(T0 + timedelta(hours=2)).isoformat(),
        arriveBy=(T0 + timedelta(hours=1)).isoformat(),
        spareWeightG=KIND_SPECS[VehicleKind.BICYCLE].max_weight_g + 1,
        spareVolumeCm3=0,
        maxDetourM=50_001,
        idempotencyKey="bad-1",
    )
    body = await gql(CREATE_TRIP, {"i": bad}, token=c.token)
    assert [(e["field"], e["code"]) for e in body["data"]["createTrip"]["errors"]] == [
        ("origin.point.lat", "OUT_OF_RANGE"),
        ("origin.label", "REQUIRED"),
        ("arriveBy", "WINDOW_ORDER"),
        ("maxDetourM", "OUT_OF_RANGE"),
        ("spareWeightG", "CAPACITY_EXCEEDS_VEHICLE"),
        ("spareVolumeCm3", "OUT_OF_RANGE"),
    ]
    assert await trip_count(db) == 0
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_trip_windows_must_end_in_the_future_span_at_most_a_day_and_carry_an_offset(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    cases = [
        ({"departAfter": "2026-11-24T06:00:00+00:00", "arriveBy": "2026-11-24T08:00:00+00:00"}, "IN_THE_PAST"),
        ({"departAfter": "2026-11-24T09:00:00+00:00", "arriveBy": "2026-11-25T09:00:01+00:00"}, "OUT_OF_RANGE"),
        ({"departAfter": "2026-11-24T09:00:00", "arriveBy": "2026-11-24T10:00:00+00:00"}, "INVALID"),
    ]
    for window, code in cases:
        body = await gql(CREATE_TRIP, {"i": {**trip_input(c), **window}}, token=c.token)
        assert [e["code"] for e in body["data"]["createTrip"]["errors"]] == [code], window
    assert await trip_count(db) == 0


async def test_create_trip_refuses_a_retired_vehicle_and_another_couriers_vehicle(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    other = await courier(gql, services, "other@example.com")
    async with services.db.uow() as uow:
        await uow.repos.vehicles.save(replace(c.vehicle, retired_at=clock.now()))
        await uow.commit()
    retired = await gql(CREATE_TRIP, {"i": trip_input(c)}, token=c.token)
    assert [(e["field"], e["code"]) for e in retired["data"]["createTrip"]["errors"]] == [
        ("vehicleId", "VEHICLE_RETIRED")
    ]
    foreign = await gql(CREATE_TRIP, {"i": trip_input(c, vehicleId=other.vehicle_gid)}, token=c.token)
    malformed = await gql(CREATE_TRIP, {"i": trip_input(c, vehicleId="nonsense")}, token=c.token)
    assert foreign["data"]["createTrip"]["errors"] == malformed["data"]["createTrip"]["errors"]
    assert [(e["field"], e["code"]) for e in foreign["data"]["createTrip"]["errors"]] == [("vehicleId", "NOT_FOUND")]
    assert await trip_count(db) == 0


async def test_create_trip_retried_with_its_key_creates_one_trip(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    first = await gql(CREATE_TRIP, {"i": trip_input(c, idempotencyKey="trip-1")}, token=c.token)
    again = await gql(CREATE_TRIP, {"i": trip_input(c, idempotencyKey="trip-1")}, token=c.token)
    assert first["data"]["createTrip"]["errors"] == []
    assert again == first
    changed = await gql(CREATE_TRIP, {"i": trip_input(c, idempotencyKey="trip-1", maxDetourM=10)}, token=c.token)
    assert [e["code"] for e in changed["data"]["createTrip"]["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await trip_count(db) == 1


async def test_update_trip_changes_the_fields_given_and_keeps_the_rest(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await make_area(services)
    utrecht = await make_area(services, name="Utrecht", polygon=UTRECHT_AREA)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(gql, c)
    clock.advance(timedelta(minutes=5))
    edit = {
        "id": trip["id"],
        "origin": place(UTRECHT, "parents"),
        "destination": place(UTRECHT, "station"),
        "arriveBy": (T0 + timedelta(hours=3)).isoformat(),
        "spareWeightG": 9_000,
    }
    body = await gql(UPDATE_TRIP, {"i": edit}, token=c.token)
    payload = body["data"]["updateTrip"]
    assert payload["errors"] == []
    updated = payload["trip"]
    assert updated["areaId"] == area_gid(utrecht)
    assert (updated["origin"]["label"], updated["destination"]["label"]) == ("parents", "station")
    assert (updated["departAfter"], updated["arriveBy"]) == (trip["departAfter"], "2026-11-24T11:00:00+00:00")
    assert (updated["spareWeightG"], updated["spareVolumeCm3"]) == (9_000, trip["spareVolumeCm3"])
    assert updated["maxDetourM"] == trip["maxDetourM"]
    assert await gql(TRIP, {"id": trip["id"]}, token=c.token) == {"data": {"trip": updated}}
    row = await one_row(db, "SELECT area_id, spare_weight_g, updated_at FROM trips")
    assert (row["area_id"], row["spare_weight_g"], row["updated_at"]) == (utrecht.id, 9_000, clock.now())


async def test_update_trip_revalidates_the_whole_trip_and_writes_nothing_when_refused(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    bike = await make_vehicle(services, c.id, VehicleKind.BICYCLE)
    trip = await create_trip(gql, c, spareWeightG=40_000, spareVolumeCm3=20_000)
    before = await one_row(db, "SELECT * FROM trips")
    edits: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        ({"vehicleId": global_id("Vehicle", bike.id)}, [("spareWeightG", "CAPACITY_EXCEEDS_VEHICLE")]),
        (
            {"departAfter": "2026-11-24T09:30:00+00:00", "arriveBy": "2026-11-24T09:00:00+00:00"},
            [("arriveBy", "WINDOW_ORDER")],
        ),
        ({"origin": place(UTRECHT, "a"), "destination": place(UTRECHT, "b")}, [("origin", "OUTSIDE_SERVICE_AREA")]),
        ({"vehicleId": "nonsense"}, [("vehicleId", "NOT_FOUND")]),
    ]
    for edit, expected in edits:
        body = await gql(UPDATE_TRIP, {"i": {"id": trip["id"], **edit}}, token=c.token)
        assert [(e["field"], e["code"]) for e in body["data"]["updateTrip"]["errors"]] == expected, edit
    assert await one_row(db, "SELECT * FROM trips") == before


async def test_cancel_trip_cancels_an_open_trip_once_and_then_refuses_edits(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(gql, c)
    body = await gql(CANCEL_TRIP, {"i": {"id": trip["id"]}}, token=c.token)
    assert body["data"]["cancelTrip"]["trip"]["status"] == "CANCELLED"
    again = await gql(CANCEL_TRIP, {"i": {"id": trip["id"]}}, token=c.token)
    edit = await gql(UPDATE_TRIP, {"i": {"id": trip["id"], "maxDetourM": 10}}, token=c.token)
    assert [(e["field"], e["code"]) for e in again["data"]["cancelTrip"]["errors"]] == [("id", "TRIP_NOT_OPEN")]
    assert [(e["field"], e["code"]) for e in edit["data"]["updateTrip"]["errors"]] == [("id", "TRIP_NOT_OPEN")]
    assert await db.fetchval("SELECT status FROM trips") == "cancelled"
    assert await db.fetchval("SELECT max_detour_m FROM trips") == 3_000


async def test_a_matched_trip_can_no_longer_be_edited_or_cancelled(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    trip = await create_trip(gql, c)
    async with services.db.uow() as uow:
        matched = transition(TripStatus.OPEN, TripStatus.MATCHED)
        assert await uow.repos.trips.apply(uuid_of(trip["id"], "Trip"), matched, clock.now()) is not None
        await uow.commit()
    cancel = await gql(CANCEL_TRIP, {"i": {"id": trip["id"]}}, token=c.token)
    edit = await gql(UPDATE_TRIP, {"i": {"id": trip["id"], "maxDetourM": 10}}, token=c.token)
    assert [e["code"] for e in cancel["data"]["cancelTrip"]["errors"]] == ["TRIP_NOT_OPEN"]
    assert [e["code"] for e in edit["data"]["updateTrip"]["errors"]] == ["TRIP_NOT_OPEN"]
    assert "matched" in cancel["data"]["cancelTrip"]["errors"][0]["message"]
    assert await db.fetchval("SELECT status FROM trips") == "matched"


async def test_an_open_trip_reads_expired_from_the_exact_instant_of_its_latest_arrival(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    due = await create_trip(gql, c, depart=timedelta(hours=1), hours=1)
    later = await create_trip(gql, c, depart=timedelta(hours=1), hours=3)

    async def statuses(status: str | None = None) -> dict[str, str]:
        body = await gql(TRIPS, {"status": status}, token=c.token)
        return {e["node"]["id"]: e["node"]["status"] for e in body["data"]["trips"]["edges"]}

    clock.advance(timedelta(hours=2) - timedelta(microseconds=1))
    await c.sign_in_again(gql)
    assert await statuses() == {due["id"]: "OPEN", later["id"]: "OPEN"}
    clock.advance(timedelta(microseconds=1))
    assert (await gql(TRIP, {"id": due["id"]}, token=c.token))["data"]["trip"]["status"] == "EXPIRED"
    assert await statuses() == {due["id"]: "EXPIRED", later["id"]: "OPEN"}
    assert await statuses("OPEN") == {later["id"]: "OPEN"}
    assert await statuses("EXPIRED") == {due["id"]: "EXPIRED"}
    # Not swept yet, but already refused like any trip that is not open.
    assert await db.fetchval("SELECT status FROM trips WHERE arrive_by = $1", clock.now()) == "open"
    edit = await gql(UPDATE_TRIP, {"i": {"id": due["id"], "maxDetourM": 10}}, token=c.token)
    cancel = await gql(CANCEL_TRIP, {"i": {"id": due["id"]}}, token=c.token)
    assert [e["code"] for e in edit["data"]["updateTrip"]["errors"]] == ["TRIP_NOT_OPEN"]
    assert [e["code"] for e in cancel["data"]["cancelTrip"]["errors"]] == ["TRIP_NOT_OPEN"]

    async with services.db.uow() as uow:
        # Nothing can match a trip that already reads as expired.
        matched = transition(TripStatus.OPEN, TripStatus.MATCHED)
        assert await uow.repos.trips.apply(uuid_of(due["id"], "Trip"), matched, clock.now()) is None
        assert await uow.repos.trips.apply(uuid_of(later["id"], "Trip"), matched, clock.now()) is not None
        # Not committed: the unit of work rolls back, and `later` stays open.

    assert await services.trips.expire_overdue() == 1
    assert await services.trips.expire_overdue() == 0
    rows = await db.fetch("SELECT arrive_by, status, updated_at FROM trips ORDER BY arrive_by")
    assert [(r["status"], r["updated_at"]) for r in rows] == [("expired", clock.now()), ("open", T0)]
    assert await statuses("EXPIRED") == {due["id"]: "EXPIRED"}


async def test_another_couriers_trip_is_not_found_exactly_like_a_missing_one(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    owner = await courier(gql, services, "owner@example.com")
    other = await courier(gql, services, "other@example.com")
    trip = await create_trip(gql, owner)
    missing = str(global_id("Trip", UUID(int=1)))

    for document, variables in (
        (TRIP, lambda i: {"id": i}),
        (UPDATE_TRIP, lambda i: {"i": {"id": i, "maxDetourM": 1}}),
        (CANCEL_TRIP, lambda i: {"i": {"id": i}}),
    ):
        theirs = await gql(document, variables(trip["id"]), token=other.token)
        nothing = await gql(document, variables(missing), token=other.token)
        assert theirs == nothing
    assert theirs["data"]["cancelTrip"]["errors"][0]["code"] == "NOT_FOUND"
    single = await gql(TRIP, {"id": trip["id"]}, token=other.token)
    assert single["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await gql(TRIPS, {}, token=other.token))["data"]["trips"]["edges"] == []
    owners = await gql(TRIPS, {"courier": global_id("User", owner.id)}, token=other.token)
    assert owners["data"]["trips"]["edges"] == []
    assert await db.fetchval("SELECT (status, max_detour_m) = ('open', 3000) FROM trips")


async def test_admins_see_every_couriers_trips_and_may_cancel_an_open_one(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    await make_area(services)
    a = await courier(gql, services, "a@example.com")
    b = await courier(gql, services, "b@example.com")
    trip_a = await create_trip(gql, a)
    clock.advance(timedelta(seconds=1))
    trip_b = await create_trip(gql, b)
    token = await admin_token(gql, services)
    everyone = await gql(TRIPS, {}, token=token)
    assert [e["node"]["id"] for e in everyone["data"]["trips"]["edges"]] == [trip_a["id"], trip_b["id"]]
    only_b = await gql(TRIPS, {"courier": global_id("User", b.id)}, token=token)
    assert [e["node"]["id"] for e in only_b["data"]["trips"]["edges"]] == [trip_b["id"]]
    assert (await gql(TRIP, {"id": trip_a["id"]}, token=token))["data"]["trip"] == trip_a
    cancelled = await gql(CANCEL_TRIP, {"i": {"id": trip_a["id"]}}, token=token)
    assert cancelled["data"]["cancelTrip"]["trip"]["status"] == "CANCELLED"


async def test_trips_filter_by_status_departure_and_area_and_page_through_all(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    amsterdam = await make_area(services)
    utrecht = await make_area(services, name="Utrecht", polygon=UTRECHT_AREA)
    c = await courier(gql, services, "c@example.com")
    created = []
    utrecht_trip = {"origin": place(UTRECHT, "a"), "destination": place(UTRECHT, "b")}
    for hours, extra in ((1, {}), (5, {}), (3, utrecht_trip), (2, {})):
        created.append(await create_trip(gql, c, depart=timedelta(hours=hours), **extra))
        clock.advance(timedelta(seconds=1))  # listed in order of creation
    early, late, away, cancelled = created
    await gql(CANCEL_TRIP, {"i": {"id": cancelled["id"]}}, token=c.token)

    async def ids(**filters: Any) -> list[str]:
        body = await gql(TRIPS, filters, token=c.token)
        return [e["node"]["id"] for e in body["data"]["trips"]["edges"]]

    assert await ids(status="OPEN") == [early["id"], late["id"], away["id"]]
    assert await ids(status="CANCELLED") == [cancelled["id"]]
    assert await ids(area=area_gid(utrecht)) == [away["id"]]
    assert await ids(area=area_gid(amsterdam), status="OPEN") == [early["id"], late["id"]]
    window = {"from": (T0 + timedelta(hours=2)).isoformat(), "until": (T0 + timedelta(hours=5)).isoformat()}
    assert await ids(**window) == [away["id"], cancelled["id"]]
    unknown = await gql(TRIPS, {"area": "bm9uc2Vuc2U="}, token=c.token)
    assert [e["extensions"] for e in unknown["errors"]] == [{"code": "NOT_FOUND"}]

    seen: list[str] = []
    after = None
    while True:
        body = (await gql(TRIPS, {"first": 3, "after": after}, token=c.token))["data"]["trips"]
        seen += [e["node"]["id"] for e in body["edges"]]
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
    assert seen == [early["id"], late["id"], away["id"], cancelled["id"]]


async def test_trips_refuses_a_departure_filter_without_offset_or_reversed(gql: GraphQL, services: Services) -> None:
    c = await courier(gql, services, "c@example.com")
    naive = await gql(TRIPS, {"from": "2026-11-24T09:00:00"}, token=c.token)
    backwards = {"from": T0.isoformat(), "until": (T0 - timedelta(hours=1)).isoformat()}
    reversed_ = await gql(TRIPS, backwards, token=c.token)
    for body, field in ((naive, "departFrom"), (reversed_, "departUntil")):
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert body["errors"][0]["extensions"]["field"] == field


async def test_maintenance_purge_stores_the_expiry_of_overdue_trips(
    gql: GraphQL, services: Services, db: asyncpg.Connection, database_url: str
) -> None:
    """Run as operations run it, on the real clock: the trip's latest arrival (on T0's day) is past."""
    await make_area(services)
    c = await courier(gql, services, "rider@example.com")
    await create_trip(gql, c)
    assert await db.fetchval("SELECT status FROM trips") == "open"
    purged = await crowdship("maintenance", "purge", env={"DATABASE_URL": database_url})
    assert purged.returncode == 0, purged.stderr
    assert "expired 1 overdue trips" in purged.stdout
    assert await db.fetchval("SELECT status FROM trips") == "expired"


RETIRE_VEHICLE = (
    "mutation($id: ID!) { retireVehicle(input: {id: $id}) { vehicle { retiredAt } errors { field code } } }"
)


async def test_retiring_a_vehicle_cancels_its_open_trips_and_waits_for_a_matched_one(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    first = await create_trip(gql, c)
    second = await create_trip(gql, c, depart=timedelta(hours=3))
    other = await courier(gql, services, "other@example.com")
    untouched = await create_trip(gql, other)
    async with services.db.uow() as uow:
        matched = transition(TripStatus.OPEN, TripStatus.MATCHED)
        assert await uow.repos.trips.apply(uuid_of(first["id"], "Trip"), matched, clock.now()) is not None
        await uow.commit()

    refused = (await gql(RETIRE_VEHICLE, {"id": c.vehicle_gid}, token=c.token))["data"]["retireVehicle"]
    assert refused == {"vehicle": None, "errors": [{"field": "id", "code": "VEHICLE_IN_USE"}]}
    assert await db.fetchval("SELECT retired_at FROM vehicles WHERE id = $1", c.vehicle.id) is None
    assert await db.fetchval("SELECT status FROM trips WHERE id = $1", uuid_of(second["id"], "Trip")) == "open"

    async with services.db.uow() as uow:
        released = transition(TripStatus.MATCHED, TripStatus.OPEN)
        assert await uow.repos.trips.apply(uuid_of(first["id"], "Trip"), released, clock.now()) is not None
        await uow.commit()
    retired = (await gql(RETIRE_VEHICLE, {"id": c.vehicle_gid}, token=c.token))["data"]["retireVehicle"]
    assert retired["errors"] == []
    statuses = {row["id"]: row["status"] for row in await db.fetch("SELECT id, status FROM trips")}
    assert statuses == {
        uuid_of(first["id"], "Trip"): "cancelled",
        uuid_of(second["id"], "Trip"): "cancelled",
        uuid_of(untouched["id"], "Trip"): "open",
    }
