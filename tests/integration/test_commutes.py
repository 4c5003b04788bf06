"""Recurring commutes over HTTP: weekly templates that create trips ahead of time, once per day, across DST."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.vehicles import VehicleKind
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import make_settings
from tests.factories import DAM_SQUARE, UTRECHT, ZUID, make_area, make_vehicle
from tests.helpers import GraphQL, admin_token, running_app, statements_of_last_request
from tests.integration.test_cli import crowdship
from tests.integration.test_trips import CANCEL_TRIP, TRIP_FIELDS, Courier, courier, place

COMMUTE_FIELDS = """
fragment CommuteFields on Commute {
  id courierId vehicleId origin { point { lat lng } label } destination { point { lat lng } label }
  weekdays departTime arriveTime timeZone spareWeightG spareVolumeCm3 maxDetourM active
}
"""
PAYLOAD = "{ commute { ...CommuteFields } errors { field code message } }"
CREATE = "mutation($i: CreateCommuteInput!) { createCommute(input: $i) " + PAYLOAD + " }" + COMMUTE_FIELDS
UPDATE = "mutation($i: UpdateCommuteInput!) { updateCommute(input: $i) " + PAYLOAD + " }" + COMMUTE_FIELDS
SET_ACTIVE = "mutation($i: SetCommuteActiveInput!) { setCommuteActive(input: $i) " + PAYLOAD + " }" + COMMUTE_FIELDS
SCHEDULE = """
mutation($i: ScheduleCommuteTripsInput!) { scheduleCommuteTrips(input: $i) { created errors { field code message } } }
"""
COMMUTES = (
    "query($courier: ID) { commutes(first: 50, courierId: $courier) { edges { node { ...CommuteFields } } } }"
    + COMMUTE_FIELDS
)
COMMUTE_TRIPS = (
    "query($status: TripStatus) { trips(first: 100, status: $status) { edges { node { ...TripFields } } } }"
    + TRIP_FIELDS
)

WEEKDAYS = [1, 2, 3, 4, 5]


def commute_input(c: Courier, **extra: Any) -> dict[str, Any]:
    return {
        "vehicleId": c.vehicle_gid,
        "origin": place(DAM_SQUARE, "home"),
        "destination": place(ZUID, "office"),
        "weekdays": WEEKDAYS,
        "departTime": "08:00:00",
        "arriveTime": "08:45:00",
        **extra,
    }


async def create_commute(gql: GraphQL, c: Courier, **extra: Any) -> dict[str, Any]:
    body = await gql(CREATE, {"i": commute_input(c, **extra)}, token=c.token)
    payload = body["data"]["createCommute"]
    assert payload["errors"] == [], payload
    return payload["commute"]  # type: ignore[no-any-return]


async def schedule(gql: GraphQL, token: str, **extra: Any) -> dict[str, Any]:
    body = await gql(SCHEDULE, {"i": extra}, token=token)
    return body["data"]["scheduleCommuteTrips"]  # type: ignore[no-any-return]


async def commute_trips(gql: GraphQL, c: Courier, status: str | None = None) -> list[dict[str, Any]]:
    body = await gql(COMMUTE_TRIPS, {"status": status}, token=c.token)
    trips = [e["node"] for e in body["data"]["trips"]["edges"]]
    return sorted(trips, key=lambda t: t["departAfter"])


async def count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))


async def test_create_commute_stores_a_weekly_template_in_the_areas_time_zone(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    commute = await create_commute(gql, c, weekdays=[5, 1, 3], spareWeightG=5_000)
    assert commute["courierId"] == global_id("User", c.id)
    assert (commute["weekdays"], commute["departTime"], commute["arriveTime"]) == ([1, 3, 5], "08:00:00", "08:45:00")
    assert (commute["timeZone"], commute["active"]) == ("Europe/Amsterdam", True)
    assert (commute["spareWeightG"], commute["spareVolumeCm3"]) == (5_000, c.vehicle.max_volume_cm3)
    assert commute["maxDetourM"] == 3_000
    # A template alone offers nothing yet: its trips come from scheduling.
    assert await count(db, "commute_templates") == 1
    assert await count(db, "trips") == 0


async def test_invalid_commute_input_reports_every_problem_and_writes_nothing(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    bad = commute_input(
        c,
        origin=place(UTRECHT, "far"),
        destination=place(UTRECHT, "away"),
        weekdays=[0, 2, 2],
        departTime="09:00:00",
        arriveTime="08:00:00",
        timeZone="Mars/Olympus_Mons",
        spareWeightG=c.vehicle.max_weight_g + 1,
        idempotencyKey="bad",
    )
    body = await gql(CREATE, {"i": bad}, token=c.token)
    assert [(e["field"], e["code"]) for e in body["data"]["createCommute"]["errors"]] == [
        ("weekdays[0]", "OUT_OF_RANGE"),
        ("weekdays[2]", "INVALID"),
        ("arriveTime", "WINDOW_ORDER"),
        ("timeZone", "INVALID_TIME_ZONE"),
        ("spareWeightG", "CAPACITY_EXCEEDS_VEHICLE"),
        ("origin", "OUTSIDE_SERVICE_AREA"),
    ]
    assert await count(db, "commute_templates") == 0
    assert await count(db, "idempotency_keys") == 0


async def test_create_commute_retried_with_its_key_creates_one_template(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    first = await gql(CREATE, {"i": commute_input(c, idempotencyKey="commute-1")}, token=c.token)
    again = await gql(CREATE, {"i": commute_input(c, idempotencyKey="commute-1")}, token=c.token)
    assert first["data"]["createCommute"]["errors"] == []
    assert again == first
    other = await gql(CREATE, {"i": commute_input(c, idempotencyKey="commute-1", weekdays=[6])}, token=c.token)
    assert [e["code"] for e in other["data"]["createCommute"]["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await count(db, "commute_templates") == 1


async def test_scheduling_creates_the_coming_weeks_trips_once_however_often_it_runs(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    commute = await create_commute(gql, c)
    # Tuesday 09:00 in Amsterdam: today's 08:00 has left, the weekend has no commute.
    assert await schedule(gql, c.token) == {"created": 4, "errors": []}
    trips = await commute_trips(gql, c)
    assert [(t["commuteDate"], t["departAfter"], t["arriveBy"]) for t in trips] == [
        ("2026-11-25", "2026-11-25T07:00:00+00:00", "2026-11-25T07:45:00+00:00"),
        ("2026-11-26", "2026-11-26T07:00:00+00:00", "2026-11-26T07:45:00+00:00"),
        ("2026-11-27", "2026-11-27T07:00:00+00:00", "2026-11-27T07:45:00+00:00"),
        ("2026-11-30", "2026-11-30T07:00:00+00:00", "2026-11-30T07:45:00+00:00"),
    ]
    assert {(t["commuteId"], t["status"], t["vehicleId"], t["origin"]["label"]) for t in trips} == {
        (commute["id"], "OPEN", c.vehicle_gid, "home")
    }
    assert await schedule(gql, c.token) == {"created": 0, "errors": []}
    assert await schedule(gql, c.token, commuteId=commute["id"], days=7) == {"created": 0, "errors": []}
    assert await count(db, "trips") == 4
    # Three more days reach Tuesday and Wednesday of the next week, and only those are added.
    assert await schedule(gql, c.token, days=9) == {"created": 2, "errors": []}
    assert await count(db, "trips") == 6


async def test_a_cancelled_commute_day_is_not_recreated(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    await create_commute(gql, c)
    await schedule(gql, c.token, days=2)
    [wednesday] = await commute_trips(gql, c)
    body = await gql(CANCEL_TRIP, {"i": {"id": wednesday["id"]}}, token=c.token)
    assert body["data"]["cancelTrip"]["errors"] == []
    assert await schedule(gql, c.token, days=2) == {"created": 0, "errors": []}
    assert [t["status"] for t in await commute_trips(gql, c)] == ["CANCELLED"]
    assert await count(db, "trips") == 1


async def test_commute_trips_keep_their_local_time_on_both_sides_of_dst_changes(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    await create_commute(gql, c, weekdays=[1, 2, 3, 4, 5, 6, 7])

    # Thursday 2027-03-25, 13:00 CET; summer time starts on Sunday the 28th.
    clock.advance(datetime(2027, 3, 25, 12, 0, tzinfo=UTC) - clock.now())
    await c.sign_in_again(gql)
    assert (await schedule(gql, c.token, days=5))["created"] == 4
    departures = [t["departAfter"] for t in await commute_trips(gql, c)]
    assert departures == [
        "2027-03-26T07:00:00+00:00",
        "2027-03-27T07:00:00+00:00",
        "2027-03-28T06:00:00+00:00",
        "2027-03-29T06:00:00+00:00",
    ]

    # Friday 2027-10-29, 14:00 CEST; winter time returns on Sunday the 31st.
    clock.advance(datetime(2027, 10, 29, 12, 0, tzinfo=UTC) - clock.now())
    await c.sign_in_again(gql)
    assert (await schedule(gql, c.token, days=4))["created"] == 3
    departures = [t["departAfter"] for t in await commute_trips(gql, c, "OPEN")]
    assert departures == ["2027-10-30T06:00:00+00:00", "2027-10-31T07:00:00+00:00", "2027-11-01T07:00:00+00:00"]


async def test_an_inactive_commute_schedules_nothing_until_it_is_active_again(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    commute = await create_commute(gql, c)
    off = await gql(SET_ACTIVE, {"i": {"id": commute["id"], "active": False}}, token=c.token)
    assert off["data"]["setCommuteActive"]["commute"]["active"] is False
    assert await schedule(gql, c.token) == {"created": 0, "errors": []}
    assert await schedule(gql, c.token, commuteId=commute["id"]) == {"created": 0, "errors": []}
    assert await services.trips.schedule_all(7) == 0
    assert await count(db, "trips") == 0
    on = await gql(SET_ACTIVE, {"i": {"id": commute["id"], "active": True}}, token=c.token)
    assert on["data"]["setCommuteActive"]["commute"]["active"] is True
    assert await schedule(gql, c.token) == {"created": 4, "errors": []}


async def test_update_commute_shapes_later_trips_and_leaves_created_ones_alone(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    commute = await create_commute(gql, c)
    await schedule(gql, c.token, days=2)
    edit = {"id": commute["id"], "departTime": "07:30:00", "weekdays": [4], "timeZone": "Europe/London"}
    body = await gql(UPDATE, {"i": edit}, token=c.token)
    updated = body["data"]["updateCommute"]["commute"]
    assert (updated["departTime"], updated["arriveTime"], updated["weekdays"]) == ("07:30:00", "08:45:00", [4])
    assert (updated["timeZone"], updated["origin"]) == ("Europe/London", commute["origin"])
    await schedule(gql, c.token, days=3)
    assert [(t["commuteDate"], t["departAfter"]) for t in await commute_trips(gql, c)] == [
        ("2026-11-25", "2026-11-25T07:00:00+00:00"),
        ("2026-11-26", "2026-11-26T07:30:00+00:00"),
    ]
    refused = await gql(UPDATE, {"i": {"id": commute["id"], "arriveTime": "07:00:00"}}, token=c.token)
    assert [(e["field"], e["code"]) for e in refused["data"]["updateCommute"]["errors"]] == [
        ("arriveTime", "WINDOW_ORDER")
    ]
    assert await db.fetchval("SELECT arrive_local::text FROM commute_templates") == "08:45:00"


async def test_scheduling_skips_retired_vehicles_and_caps_capacity_at_what_the_vehicle_carries_now(
    gql: GraphQL, services: Services, db: asyncpg.Connection, clock: ManualClock
) -> None:
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    bike = await make_vehicle(services, c.id, VehicleKind.BICYCLE)
    await create_commute(gql, c)
    await create_commute(gql, c, vehicleId=global_id("Vehicle", bike.id))
    async with services.db.uow() as uow:
        await uow.repos.vehicles.save(replace(c.vehicle, max_weight_g=1_000))
        await uow.repos.vehicles.save(replace(bike, retired_at=clock.now()))
        await uow.commit()
    assert await schedule(gql, c.token, days=2) == {"created": 1, "errors": []}
    row = await db.fetchrow("SELECT vehicle_id, spare_weight_g FROM trips")
    assert row is not None
    assert (row["vehicle_id"], row["spare_weight_g"]) == (c.vehicle.id, 1_000)


async def test_schedule_all_creates_every_active_couriers_trips(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    a = await courier(gql, services, "a@example.com")
    b = await courier(gql, services, "b@example.com")
    await create_commute(gql, a)
    await create_commute(gql, b, weekdays=[3])
    assert await services.trips.schedule_all(7) == 5
    assert await services.trips.schedule_all(7) == 0
    rows = await db.fetch("SELECT courier_id, count(*) AS n FROM trips GROUP BY courier_id")
    assert {r["courier_id"]: r["n"] for r in rows} == {a.id: 4, b.id: 1}


async def test_schedule_days_are_bounded(gql: GraphQL, services: Services) -> None:
    c = await courier(gql, services, "c@example.com")
    for days in (0, 29):
        payload = await schedule(gql, c.token, days=days)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("days", "OUT_OF_RANGE")]


async def test_another_couriers_commute_is_not_found_exactly_like_a_missing_one(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    owner = await courier(gql, services, "owner@example.com")
    other = await courier(gql, services, "other@example.com")
    commute = await create_commute(gql, owner)
    missing = str(global_id("Commute", UUID(int=1)))
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (UPDATE, "updateCommute", "id", {"weekdays": [6]}),
        (SET_ACTIVE, "setCommuteActive", "id", {"active": False}),
        (SCHEDULE, "scheduleCommuteTrips", "commuteId", {}),
    ]
    for document, operation, field, rest in cases:
        theirs = await gql(document, {"i": {field: commute["id"], **rest}}, token=other.token)
        nothing = await gql(document, {"i": {field: missing, **rest}}, token=other.token)
        assert theirs == nothing
        errors = theirs["data"][operation]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "NOT_FOUND")]
    assert (await gql(COMMUTES, {}, token=other.token))["data"]["commutes"]["edges"] == []
    assert await db.fetchval("SELECT (active, weekdays) = (true, '{1,2,3,4,5}') FROM commute_templates")
    assert await count(db, "trips") == 0
    token = await admin_token(gql, services)
    everyone = await gql(COMMUTES, {"courier": global_id("User", owner.id)}, token=token)
    assert [e["node"]["id"] for e in everyone["data"]["commutes"]["edges"]] == [commute["id"]]


async def test_crowdship_commutes_schedule_creates_trips_once(
    database_url: str, gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    """Runs on the real clock: the template's zone is picked so that its local time is about 02:00 now,
    so a 12:00 departure today and on the next two days is certainly still ahead."""
    await make_area(services)
    c = await courier(gql, services, "c@example.com")
    offset = (2 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    await create_commute(
        gql, c, weekdays=[1, 2, 3, 4, 5, 6, 7], departTime="12:00:00", arriveTime="12:30:00", timeZone=zone
    )
    env = {"DATABASE_URL": database_url}
    first = await crowdship("commutes", "schedule", "--days", "3", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "scheduled 3 commute trips for the next 3 days"
    again = await crowdship("commutes", "schedule", "--days", "3", env=env)
    assert again.stdout.strip() == "scheduled 0 commute trips for the next 3 days"
    assert await count(db, "trips") == 3

    refused = await crowdship("commutes", "schedule", "--days", "29", env=env)
    assert refused.returncode == 2
    assert "days" in refused.stderr
    assert "OUT_OF_RANGE" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_scheduling_takes_the_same_few_statements_for_one_day_or_twenty_eight(
    log_stream: io.StringIO, database_url: str, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    """One set-based insert per batch of templates, not one statement per day."""
    await make_area(services)
    async with running_app(make_settings(database_url), clock) as (_, gql):
        statements = []
        # The first run also pays asyncpg's one-off type look-ups on a fresh connection.
        for email, days in (("warm@example.com", 1), ("one@example.com", 1), ("many@example.com", 28)):
            c = await courier(gql, services, email)
            await create_commute(gql, c, weekdays=[1, 2, 3, 4, 5, 6, 7], departTime="10:00:00", arriveTime="11:00:00")
            assert await schedule(gql, c.token, days=days) == {"created": days, "errors": []}
            statements.append(statements_of_last_request(log_stream))
    assert statements[1] == statements[2] < 28
    assert await count(db, "trips") == 30


async def test_admins_schedule_every_couriers_commutes_and_may_switch_one_off(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    await make_area(services)
    a = await courier(gql, services, "a@example.com")
    b = await courier(gql, services, "b@example.com")
    commute_a = await create_commute(gql, a)
    await create_commute(gql, b, weekdays=[3])
    token = await admin_token(gql, services)
    off = await gql(SET_ACTIVE, {"i": {"id": commute_a["id"], "active": False}}, token=token)
    assert off["data"]["setCommuteActive"]["commute"]["active"] is False
    assert await schedule(gql, token) == {"created": 1, "errors": []}
    assert await db.fetchval("SELECT courier_id FROM trips") == b.id
    # A courier's own run reaches only its own templates.
    await gql(SET_ACTIVE, {"i": {"id": commute_a["id"], "active": True}}, token=token)
    assert await schedule(gql, b.token) == {"created": 0, "errors": []}
    assert await schedule(gql, a.token) == {"created": 4, "errors": []}
