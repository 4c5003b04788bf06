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
from dataclasses import dataclass
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
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import DAM_SQUARE, UTRECHT, ZUID, make_area, make_vehicle, uuid_of
from tests.helpers import GraphQL
from tests.integration.ops_jobs import Shop, admin_token, book_quote, open_shop, parcel, request_quote
from tests.integration.test_cli import crowdship

HOUR = timedelta(hours=1)
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


async def insured(gql: GraphQL, courier: str, admin: str | None, *, until: datetime, per_parcel: int = 100_000) -> None:
    policy = await ok(
        gql,
        REGISTER,
        {
            "insurer": "Crowd Mutual",
            "policyNumber": f"CM-{until.timestamp():.0f}-{per_parcel}",
            "coverPerParcel": {"amountMinor": per_parcel, "currency": "EUR"},
            "coverPerTrip": {"amountMinor": 3 * per_parcel, "currency": "EUR"},
            "validFrom": iso(T0 - timedelta(days=1)),
            "validUntil": iso(until),
        },
        courier,
    )
    if admin is not None:
        await ok(gql, VERIFY, {"policyId": policy["policy"]["id"]}, admin)


async def courier_with_trip(
    gql: GraphQL, services: Services, email: str, *, origin: Point = HOME, destination: Point = ZUID
) -> Courier:
    session = await gql.session(email)
    courier_id = uuid_of(session["user"]["id"], "User")
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
    return Courier(courier_id, session["accessToken"], uuid_of(trip["trip"]["id"], "Trip"))


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
    lapsing: Courier  # level 1 until T0 + 1 h, a verified policy
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
    for c in (valid, expiring, unverified):
        await verified(gql, c.token, admin, level=2, documents_expire_at=T0 + YEAR)
    await verified(gql, lapsing.token, admin, level=1, documents_expire_at=T0 + HOUR)
    await insured(gql, valid.token, admin, until=T0 + YEAR)
    await insured(gql, expiring.token, admin, until=T0 + HOUR)
    await insured(gql, unverified.token, None, until=T0 + YEAR)
    await insured(gql, lapsing.token, admin, until=T0 + YEAR)

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
    return Day(area, valid, expiring, unverified, lapsing, jobs)


async def export(services: Services, day: Day, now: datetime) -> matching.Instance:
    data = await services.matching.instance_json(area_id=day.area.id, start=T0, end=T0 + timedelta(days=1), now=now)
    return matching.parse_instance(data)


def trips_by_courier(instance: matching.Instance) -> dict[str, matching.Trip]:
    return {t.courier_id: t for t in instance.trips}


async def test_the_instance_carries_each_couriers_level_and_valid_cover_as_of_now(day: Day, services: Services) -> None:
    instance = await export(services, day, T0)
    trips = trips_by_courier(instance)
    assert set(trips) == {str(c.id) for c in (day.valid, day.expiring, day.unverified, day.lapsing)}
    assert {t.id for t in instance.trips} == {
        str(c.trip_id) for c in (day.valid, day.expiring, day.unverified, day.lapsing)
    }

    valid = trips[str(day.valid.id)]
    assert valid.verification_level == 2
    assert valid.insurance is not None
    assert (valid.insurance.per_parcel, valid.insurance.per_trip, valid.insurance.currency) == (100_000, 300_000, "EUR")
    assert valid.insurance.valid_until == T0 + YEAR
    assert trips[str(day.expiring.id)].insurance is not None  # still valid for the next hour
    assert trips[str(day.unverified.id)].insurance is None
    assert trips[str(day.unverified.id)].verification_level == 2
    assert trips[str(day.lapsing.id)].verification_level == 1
    # The trip's own offer reaches the engine unchanged.
    assert valid.capacity_g > 0
    assert valid.max_detour_m == 5_000
    assert valid.depart_after == T0 + 2 * HOUR
    assert valid.arrive_by == T0 + 6 * HOUR


async def test_an_expired_policy_and_a_lapsed_level_stop_counting_at_the_exact_instant(
    day: Day, services: Services
) -> None:
    before = trips_by_courier(await export(services, day, T0 + HOUR - timedelta(microseconds=1)))
    at = trips_by_courier(await export(services, day, T0 + HOUR))

    assert before[str(day.expiring.id)].insurance is not None
    assert at[str(day.expiring.id)].insurance is None
    assert before[str(day.lapsing.id)].verification_level == 1
    assert at[str(day.lapsing.id)].verification_level == 0
    # Nothing else changed at that instant.
    assert at[str(day.valid.id)].insurance is not None
    assert at[str(day.valid.id)].verification_level == 2
    assert at[str(day.lapsing.id)].insurance is not None


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
    assert "exported 3 parcels and 4 trips" in exported.stderr

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
    # At T0 + 1 h only the valid courier (level 2) and the lapsed one (level 0, insured) may carry anything,
    # and only the valid one may take the 800.00 parcel; the engine places it with them.
    allowed = {str(day.valid.id), str(day.lapsing.id)}
    assert set(carried.values()) <= allowed
    high = next(pid for pid, v in values.items() if v == 80_000)
    assert carried.get(high) == str(day.valid.id)
    for pid, courier in carried.items():
        if courier == str(day.lapsing.id):
            assert values[pid] < 10_000


async def test_export_instance_names_an_unknown_area_and_exits_2(database_url: str) -> None:
    result = await crowdship("export-instance", "--area", "Atlantis", env={"DATABASE_URL": database_url})
    assert result.returncode == 2
    assert "no service area named 'Atlantis'" in result.stderr
