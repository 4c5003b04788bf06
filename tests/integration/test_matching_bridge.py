"""The bridge to the matching engine: what a real day looks like to the engine, and that the engine takes it.

Couriers here differ only in what they proved: a valid policy and level 2, a policy that expires,
a policy nobody verified, and a level that lapses. The bridge must judge each as of the instance's
`now`, to the instant, and the engine's own parser, solver and checker must accept the result.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import matching
from marketplace.domain.areas import ServiceArea
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import Point, haversine_m
from marketplace.domain.matching_rules import VERIFICATION_RULES, FleetTariff
from marketplace.domain.vehicles import Vehicle
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import DAM_SQUARE, UTRECHT, ZUID, enable_payouts, make_area, make_vehicle, uuid_of
from tests.helpers import GraphQL, admin_token
from tests.integration.ops_jobs import Shop, book_quote, open_shop, parcel, request_quote
from tests.integration.test_cli import crowdship

HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)
YEAR = timedelta(days=365)
ROOT = Path(__file__).resolve().parents[2]

SUBMIT = """mutation($i: SubmitVerificationInput!) {
  submitVerification(input: $i) { request { id } errors { field code message } } }"""
APPROVE = """mutation($i: ApproveVerificationInput!) {
  approveVerification(input: $i) { request { id status } errors { field code message } } }"""
REGISTER = """mutation($i: RegisterInsurancePolicyInput!) {
  registerInsurancePolicy(input: $i) { policy { id } errors { field code message } } }"""
VERIFY = """mutation($i: VerifyInsurancePolicyInput!) {
  verifyInsurancePolicy(input: $i) { policy { id status } errors { field code message } } }"""
CREATE_TRIP = (
    """mutation($i: CreateTripInput!) { createTrip(input: $i) { trip { id } errors { field code message } } }"""
)
CANCEL_TRIP = (
    """mutation($i: CancelTripInput!) { cancelTrip(input: $i) { trip { id } errors { field code message } } }"""
)

# Near Dam Square to the south: the trips pass the shop and end near the recipients.
HOME = Point(52.3760, 4.8950)


def gid(type_name: str, value: UUID) -> str:
    return str(global_id(type_name, value))


@dataclass
class Courier:
    id: UUID
    token: str
    trip_id: UUID
    vehicle: Vehicle


def iso(at: datetime) -> str:
    return at.isoformat()


async def ok(gql: GraphQL, document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body = await gql(document, {"i": variables}, token=token)
    payload: dict[str, Any] = next(iter(body["data"].values()))
    assert payload["errors"] == [], payload
    return payload


async def verified(gql: GraphQL, courier: str, admin: str, *, level: int, documents_expire_at: datetime) -> None:
    documents = [
        {"kind": "PASSPORT", "issuingCountry": "NL", "expiresAt": iso(documents_expire_at), "numberLast4": "1234"}
    ]
    if level == 2:
        documents.append(
            {"kind": "BACKGROUND_CHECK", "issuingCountry": "NL", "expiresAt": iso(T0 + YEAR), "numberLast4": "5678"}
        )
    request = await ok(gql, SUBMIT, {"level": level, "documents": documents}, courier)
    await ok(gql, APPROVE, {"requestId": request["request"]["id"]}, admin)


async def insured(
    gql: GraphQL, courier: str, admin: str | None, *, until: datetime, per_parcel: int = 100_000, currency: str = "EUR"
) -> None:
    policy = await ok(
        gql,
        REGISTER,
        {
            "insurer": "Crowd Mutual",
            "policyNumber": f"CM-{until.timestamp():.0f}-{per_parcel}-{currency}",
            "coverPerParcel": {"amountMinor": per_parcel, "currency": currency},
            "coverPerTrip": {"amountMinor": 3 * per_parcel, "currency": currency},
            "validFrom": iso(T0 - timedelta(days=1)),
            "validUntil": iso(until),
        },
        courier,
    )
    if admin is not None:
        await ok(gql, VERIFY, {"policyId": policy["policy"]["id"]}, admin)


async def courier_with_trip(
    gql: GraphQL,
    services: Services,
    email: str,
    *,
    origin: Point = HOME,
    destination: Point = ZUID,
    payouts: bool = True,
) -> Courier:
    """`payouts`: the courier finished Stripe's onboarding (without it, the round gives it nothing)."""
    session = await gql.session(email)
    courier_id = uuid_of(session["user"]["id"], "User")
    if payouts:
        await enable_payouts(services, courier_id)
    vehicle = await make_vehicle(services, courier_id)
    trip = await ok(
        gql,
        CREATE_TRIP,
        {
            "vehicleId": str(gid("Vehicle", vehicle.id)),
            "origin": {"point": {"lat": origin.lat, "lng": origin.lng}, "label": "home"},
            "destination": {"point": {"lat": destination.lat, "lng": destination.lng}, "label": "office"},
            "departAfter": iso(T0 + 2 * HOUR),
            "arriveBy": iso(T0 + 6 * HOUR),
            "maxDetourM": 5_000,
        },
        session["accessToken"],
    )
    return Courier(courier_id, session["accessToken"], uuid_of(trip["trip"]["id"], "Trip"), vehicle)


async def booked_job(gql: GraphQL, shop: Shop, value_minor: int) -> UUID:
    quote = await request_quote(
        gql, shop.token, shop.request(parcels=[parcel(declaredValue={"amountMinor": value_minor, "currency": "EUR"})])
    )
    assert quote["errors"] == [], quote
    booked = await book_quote(gql, shop.token, quote["quote"]["id"])
    assert booked["errors"] == [], booked
    return uuid_of(booked["job"]["id"], "Job")


@dataclass
class Day:
    area: ServiceArea
    valid: Courier  # level 2, a verified policy for a year
    expiring: Courier  # level 2, a verified policy that ends at T0 + 1 h
    unverified: Courier  # level 2, a policy nobody verified
    lapsing: Courier  # level 1 until T0 + 6 h, when its trip must have arrived; a verified policy
    midway: Courier  # level 1 until a microsecond before its trip must have arrived; a verified policy
    jobs: dict[int, UUID]  # declared value -> job


@pytest.fixture
async def day(gql: GraphQL, services: Services) -> Day:
    area = await make_area(services)
    await make_area(services, name="Utrecht", polygon=((52.0, 5.0), (52.0, 5.25), (52.2, 5.25), (52.2, 5.0)))
    admin = await admin_token(gql, services)
    valid = await courier_with_trip(gql, services, "valid@example.com")
    expiring = await courier_with_trip(gql, services, "expiring@example.com")
    unverified = await courier_with_trip(gql, services, "unverified@example.com")
    lapsing = await courier_with_trip(gql, services, "lapsing@example.com")
    midway = await courier_with_trip(gql, services, "midway@example.com")
    for c in (valid, expiring, unverified):
        await verified(gql, c.token, admin, level=2, documents_expire_at=T0 + YEAR)
    await verified(gql, lapsing.token, admin, level=1, documents_expire_at=T0 + 6 * HOUR)
    await verified(gql, midway.token, admin, level=1, documents_expire_at=T0 + 6 * HOUR - MICROSECOND)
    await insured(gql, valid.token, admin, until=T0 + YEAR)
    await insured(gql, expiring.token, admin, until=T0 + HOUR)
    await insured(gql, unverified.token, None, until=T0 + YEAR)
    await insured(gql, lapsing.token, admin, until=T0 + YEAR)
    await insured(gql, midway.token, admin, until=T0 + YEAR)

    # Noise the export must leave out: a cancelled trip, a trip in another city, an assigned parcel.
    cancelled = await courier_with_trip(gql, services, "cancelled@example.com")
    await ok(gql, CANCEL_TRIP, {"id": gid("Trip", cancelled.trip_id)}, cancelled.token)
    await courier_with_trip(
        gql, services, "utrecht@example.com", origin=UTRECHT, destination=Point(UTRECHT.lat + 0.02, UTRECHT.lng)
    )
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    jobs = {value: await booked_job(gql, shop, value) for value in (4_999, 20_000, 80_000)}
    taken = await booked_job(gql, shop, 1_000)
    async with services.db.uow() as uow:
        job = await uow.repos.jobs.get_job(taken)
        assert job is not None
        assert await uow.repos.jobs.assign_parcel(job.parcels[0].id, valid.id, valid.trip_id)
        await uow.commit()
    return Day(area, valid, expiring, unverified, lapsing, midway, jobs)


async def export(services: Services, day: Day, now: datetime) -> matching.Instance:
    data = await services.matching.instance_json(area_id=day.area.id, start=T0, end=T0 + timedelta(days=1), now=now)
    return matching.parse_instance(data)


def trips_by_courier(instance: matching.Instance) -> dict[str, matching.Trip]:
    return {t.courier_id: t for t in instance.trips}


async def test_the_instance_carries_each_couriers_level_and_valid_cover_as_of_now(day: Day, services: Services) -> None:
    instance = await export(services, day, T0)
    trips = trips_by_courier(instance)
    assert set(trips) == {str(c.id) for c in (day.valid, day.expiring, day.unverified, day.lapsing, day.midway)}
    assert {t.id for t in instance.trips} == {
        str(c.trip_id) for c in (day.valid, day.expiring, day.unverified, day.lapsing, day.midway)
    }

    valid = trips[str(day.valid.id)]
    assert valid.verification_level == 2
    assert valid.insurance is not None
    assert (valid.insurance.per_parcel, valid.insurance.per_trip, valid.insurance.currency) == (100_000, 300_000, "EUR")
    assert valid.insurance.valid_until == T0 + YEAR
    assert trips[str(day.expiring.id)].insurance is not None  # still valid for the next hour
    assert trips[str(day.unverified.id)].insurance is None
    assert trips[str(day.unverified.id)].verification_level == 2
    # The engine holds a trip's level fixed: it is the level the grants keep until the latest arrival.
    assert trips[str(day.lapsing.id)].verification_level == 1
    assert trips[str(day.midway.id)].verification_level == 0
    # The trip's own offer reaches the engine unchanged.
    assert valid.capacity_g > 0
    assert valid.max_detour_m == 5_000
    assert valid.depart_after == T0 + 2 * HOUR
    assert valid.arrive_by == T0 + 6 * HOUR


async def test_an_expired_policy_stops_counting_at_the_exact_instant(day: Day, services: Services) -> None:
    before = trips_by_courier(await export(services, day, T0 + HOUR - MICROSECOND))
    at = trips_by_courier(await export(services, day, T0 + HOUR))

    # Until its last microsecond the policy is shown (the engine then explains it does not last the
    # trip); from its end on, the courier is uninsured.
    assert before[str(day.expiring.id)].insurance is not None
    assert at[str(day.expiring.id)].insurance is None
    # Nothing else changed at that instant.
    assert at[str(day.valid.id)].insurance is not None
    assert at[str(day.valid.id)].verification_level == 2
    assert at[str(day.lapsing.id)].insurance is not None
    assert at[str(day.lapsing.id)].verification_level == 1


async def test_a_level_counts_for_a_trip_only_when_it_lasts_to_the_exact_latest_arrival(
    day: Day, services: Services
) -> None:
    instance = await export(services, day, T0)
    trips = trips_by_courier(instance)
    # Both hold level 1 now; one grant ends exactly when the trip must have arrived, the other a
    # microsecond earlier, so that one could lapse while the parcel is on board.
    assert trips[str(day.lapsing.id)].verification_level == 1
    assert trips[str(day.midway.id)].verification_level == 0
    standings = await services.couriers.standings([day.lapsing.id, day.midway.id], T0)
    assert standings[day.lapsing.id].level == standings[day.midway.id].level == 1


async def test_a_trip_is_insured_by_the_best_policy_valid_over_all_of_it(
    day: Day, gql: GraphQL, services: Services
) -> None:
    """A bigger policy that ends mid-trip would leave the courier uninsured in the engine's eyes."""
    admin = str((await gql.login("ops@example.com"))["session"]["accessToken"])
    courier = str((await gql.login("valid@example.com"))["session"]["accessToken"])
    await insured(gql, courier, admin, until=T0 + 3 * HOUR, per_parcel=200_000)
    trip = trips_by_courier(await export(services, day, T0))[str(day.valid.id)]
    assert trip.insurance is not None
    assert (trip.insurance.per_parcel, trip.insurance.valid_until) == (100_000, T0 + YEAR)


async def test_a_cover_in_another_currency_than_the_areas_never_insures_a_trip(
    gql: GraphQL, services: Services
) -> None:
    """Parcels of a EUR area are valued in EUR: a bigger GBP cover protects none of them, over all of the
    trip or not, so the engine must see the EUR policy, or none."""
    area = await make_area(services)
    admin = await admin_token(gql, services)
    both = await courier_with_trip(gql, services, "both@example.com")
    await insured(gql, both.token, admin, until=T0 + YEAR, per_parcel=100_000)
    await insured(gql, both.token, admin, until=T0 + YEAR, per_parcel=500_000, currency="GBP")
    foreign = await courier_with_trip(gql, services, "foreign@example.com")
    await insured(gql, foreign.token, admin, until=T0 + YEAR, per_parcel=500_000, currency="GBP")
    # Only a GBP policy lasts the whole trip; the EUR one ends mid-trip and is the one to show.
    short = await courier_with_trip(gql, services, "short@example.com")
    await insured(gql, short.token, admin, until=T0 + 3 * HOUR, per_parcel=100_000)
    await insured(gql, short.token, admin, until=T0 + YEAR, per_parcel=50_000, currency="GBP")

    instance = await services.matching.instance(area_id=area.id, start=T0, end=T0 + timedelta(days=1), now=T0)
    trips = trips_by_courier(instance)
    cover = trips[str(both.id)].insurance
    assert cover is not None
    assert (cover.per_parcel, cover.currency, cover.valid_until) == (100_000, "EUR", T0 + YEAR)
    assert trips[str(foreign.id)].insurance is None
    cover = trips[str(short.id)].insurance
    assert cover is not None
    assert (cover.per_parcel, cover.currency, cover.valid_until) == (100_000, "EUR", T0 + 3 * HOUR)


async def test_a_retired_or_shrunk_vehicle_limits_its_open_trips(day: Day, services: Services) -> None:
    async with services.db.uow() as uow:
        await uow.repos.vehicles.save(replace(day.valid.vehicle, max_weight_g=20_000, max_volume_cm3=50_000))
        await uow.repos.vehicles.save(replace(day.expiring.vehicle, retired_at=T0))
        await uow.commit()
    trips = trips_by_courier(await export(services, day, T0))
    assert (trips[str(day.valid.id)].capacity_g, trips[str(day.valid.id)].capacity_cm3) == (20_000, 50_000)
    assert str(day.expiring.id) not in trips


async def test_the_instance_holds_the_waiting_parcels_with_value_rules_and_fleet_cost(
    day: Day, services: Services
) -> None:
    instance = await export(services, day, T0)
    assert sorted(p.value for p in instance.parcels) == [4_999, 20_000, 80_000]  # the assigned one is left out
    tariff = FleetTariff.of(day.area)
    for p in instance.parcels:
        assert p.currency == "EUR"
        assert p.pickup == (DAM_SQUARE.lat, DAM_SQUARE.lng)
        assert p.dropoff == (ZUID.lat, ZUID.lng)
        assert p.fallback_cost == tariff.cost_minor(haversine_m(DAM_SQUARE, ZUID)) > day.area.fleet_base_minor
        assert p.weight_g == 1_500
        assert p.volume_cm3 == 6_000
    levels = {p.value: instance.rules.required_level(p.value) for p in instance.parcels}
    assert levels == {4_999: 0, 20_000: 1, 80_000: 2}
    assert [(v.min_value, v.level) for v in instance.rules.verification] == list(VERIFICATION_RULES)


async def test_an_unknown_area_or_a_reversed_range_is_refused(day: Day, services: Services) -> None:
    with pytest.raises(DomainError) as missing:
        await services.matching.instance(area_id=UUID(int=1), start=T0, end=T0 + HOUR)
    assert missing.value.errors[0].code is ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as reversed_range:
        await services.matching.instance(area_id=day.area.id, start=T0 + HOUR, end=T0)
    assert reversed_range.value.errors[0].code is ErrorCode.WINDOW_ORDER


async def test_export_instance_writes_what_the_engine_solves_within_the_rules(
    day: Day, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "day.json"
    exported = await crowdship(
        "export-instance",
        "--area",
        "amsterdam",
        "--from",
        iso(T0),
        "--until",
        iso(T0 + timedelta(days=1)),
        "--now",
        iso(T0 + HOUR),
        "--output",
        str(path),
        env={"DATABASE_URL": database_url},
    )
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 parcels and 5 trips" in exported.stderr

    solved = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "matching", "solve", str(path), "--time-limit", "20", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert solved.returncode == 0, solved.stderr
    solution = json.loads(solved.stdout)
    instance = matching.parse_instance(json.loads(path.read_text()))
    report = matching.check(instance, solution)
    assert report.ok, report

    trips = {t.id: t for t in instance.trips}
    values = {p.id: p.value for p in instance.parcels}
    carried = {pid: trips[a["trip_id"]].courier_id for a in solution["assignments"] for pid in a["parcel_ids"]}
    # At T0 + 1 h the expiring and the unverified couriers are uninsured and carry nothing; only the
    # valid courier (level 2) may take the 800.00 parcel, the lapsing one (level 1 through its trip)
    # nothing above 499.99, the midway one (level 0 for its trip) nothing from 100.00.
    assert set(carried.values()) <= {str(day.valid.id), str(day.lapsing.id), str(day.midway.id)}
    high = next(pid for pid, v in values.items() if v == 80_000)
    assert carried.get(high) == str(day.valid.id)
    limits = {str(day.lapsing.id): 50_000, str(day.midway.id): 10_000}
    for pid, courier in carried.items():
        assert values[pid] < limits.get(courier, 500_001)


async def test_export_instance_names_an_unknown_area_and_exits_2(database_url: str) -> None:
    result = await crowdship("export-instance", "--area", "Atlantis", env={"DATABASE_URL": database_url})
    assert result.returncode == 2
    assert "no service area named 'Atlantis'" in result.stderr


async def test_export_instance_finds_the_area_by_name_uuid_or_graphql_id(services: Services, database_url: str) -> None:
    area = await make_area(services)
    for given in ("amsterdam", str(area.id), gid("ServiceArea", area.id)):
        result = await crowdship(
            "export-instance", "--area", given, "--from", iso(T0), "--now", iso(T0), env={"DATABASE_URL": database_url}
        )
        assert result.returncode == 0, (given, result.stderr)
        assert "exported 0 parcels and 0 trips" in result.stderr
        assert json.loads(result.stdout)["trips"] == []
    # Another type's ID names no area.
    result = await crowdship("export-instance", "--area", gid("Locker", area.id), env={"DATABASE_URL": database_url})
    assert result.returncode == 2
    assert "no service area named" in result.stderr


async def test_a_courier_without_payouts_gets_no_paid_work_and_the_engine_says_why(
    gql: GraphQL, services: Services
) -> None:
    area = await make_area(services)
    admin = await admin_token(gql, services)
    unpaid = await courier_with_trip(gql, services, "unpaid@example.com", payouts=False)
    await verified(gql, unpaid.token, admin, level=2, documents_expire_at=T0 + YEAR)
    await insured(gql, unpaid.token, admin, until=T0 + YEAR)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    job = await booked_job(gql, shop, 4_999)

    instance = await services.matching.instance(area_id=area.id, start=T0, end=T0 + timedelta(days=1), now=T0)
    assert [t.payouts_enabled for t in instance.trips] == [False]
    solution = matching.solve(instance, matching.SolveParams(time_limit_s=10.0, solver="highs"))
    assert solution.assignments == ()
    (unassigned,) = solution.unassigned
    assert [(r.code, r.trips) for r in unassigned.reasons] == [("payouts_disabled", 1)]

    # Once Stripe pays the courier out, the same trip carries the parcel.
    await enable_payouts(services, unpaid.id)
    instance = await services.matching.instance(area_id=area.id, start=T0, end=T0 + timedelta(days=1), now=T0)
    solution = matching.solve(instance, matching.SolveParams(time_limit_s=10.0, solver="highs"))
    async with services.db.read() as repos:
        parcel_ids = [str(p.id) for p in (await repos.jobs.get_job(job)).parcels]  # type: ignore[union-attr]
    assert [list(a.parcel_ids) for a in solution.assignments] == [parcel_ids]
