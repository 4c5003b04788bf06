"""Operations' KPIs on a hand-built day: every figure computed by hand here, read through the real API.

The day, in Amsterdam (T0 is 09:00 local on 24 November): a shop books five one-parcel jobs at T0.
Rounds are stood in for by offers written as the round writes them (`make_offer`); couriers accept
or decline over GraphQL, collect, hand over, fail, return and deposit through their real steps; the
fleet cut-off and the payments' settlement run through their services. The clock moves; nothing sleeps.

- P1: courier A (car, 1.2 km detour, 204 g CO2), assigned after 20 min, delivered on time;
- P2: courier B (bicycle, 0.8 km, 0 g), assigned after 40 min, not at home (RECIPIENT_ABSENT), left in
  the fallback locker after the delivery window closed (late), collected there;
- P3: courier C (car, 2.0 km, 340 g), assigned after 60 min, refused at the door (REFUSED), returned;
- P4: never offered, handed to the fleet; P5: offered to courier D, declined, handed to the fleet.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import Point, haversine_m
from marketplace.domain.trips import Trip
from marketplace.domain.vans import FleetDepot, VanPlanKind
from marketplace.domain.vehicles import VehicleKind
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.dispatch_factories import make_offer, make_trip
from tests.factories import DAM_SQUARE, ZUID, enable_payouts, make_area, make_locker, uuid_of
from tests.helpers import GraphQL, admin_token, fresh_token
from tests.integration.ops_delivery import (
    ACCEPT,
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    COLLECT,
    CONFIRM_PICKUP,
    CONFIRM_RETURN,
    DECLINE,
    DELIVER,
    DEPOSIT,
    FAILED_ATTEMPT,
    HERE,
    PARCEL,
    Booked,
    book,
    step,
)
from tests.integration.ops_jobs import Shop, open_shop

KPIS = """
query($a: ID!, $d: Date!) {
  deliveryKpis(areaId: $a, date: $d) {
    areaId startAt endAt parcelsBooked parcelsDelivered deliveredOnTime onTimeRate
    firstAttempts firstAttemptSuccesses firstAttemptSuccessRate deliveryAttempts failedAttempts failedDeliveryRate
    failedByReason { reason count rate }
    returned handedToFleet crowdParcels crowdShare crowdStops fleetStops
    crowdPay { amountMinor currency } fleetCost { amountMinor }
    costPerParcel { amountMinor } costPerStop { amountMinor }
    crowdCostPerParcel { amountMinor } fleetCostPerParcel { amountMinor }
    crowdCostPerStop { amountMinor } fleetCostPerStop { amountMinor }
    vanOnlyCost { amountMinor } vanOnlyCostPerParcel { amountMinor }
    revenue { amountMinor } revenuePerParcel { amountMinor }
    offers offersAccepted offerAcceptanceRate trips capacityWeightUsed capacityVolumeUsed
    bookingToAssignmentMedianS bookingToAssignmentP90S
    crowdCo2G fleetCo2G co2PerParcelG vanOnlyCo2PerParcelG
    fleetSource fleetDistanceM fleetCo2GPerKm crowdDetourM crowdCo2GPerKm co2GPerKm
    fleetRouteParcels fleetRouteCost { amountMinor } fleetRouteCo2G
    fleetTariffParcels fleetTariffCost { amountMinor } fleetTariffCo2G
    vanOnlySource vanOnlyParcels vanOnlyRouteParcels vanOnlyTariffParcels vanOnlyTariffCost { amountMinor }
    vanOnlyStops vanOnlyCostPerStop { amountMinor } vanOnlyDistanceM vanOnlyCo2G
    vanOnlyCo2GPerKm
    emissionsByVehicle { kind offers parcels detourM co2G }
    lockerDeposits lockerCollections lockerReturns lockerShare
  }
}
"""
VAN_BASELINE = """
query($a: ID!, $d: Date!) {
  vanBaseline(areaId: $a, date: $d) { served stops distanceM cost { amountMinor } costPerParcel { amountMinor }
    costPerStop { amountMinor } co2G }
}
"""
BY_HOUR_SOURCES = "query($a: ID!) { deliveryKpisByHour(areaId: $a) { fleetSource vanOnlySource } }"
BY_HOUR = """
query($a: ID!) {
  deliveryKpisByHour(areaId: $a) { startAt endAt parcelsBooked parcelsDelivered failedAttempts handedToFleet offers }
}
"""


@dataclass
class Courier:
    email: str
    user_id: UUID
    trip: Trip


@dataclass
class Day:
    area: ServiceArea
    shop: Shop
    jobs: list[Booked]
    prices: list[int]


async def courier(gql: GraphQL, services: Services, area: ServiceArea, email: str, kind: VehicleKind) -> Courier:
    session = await gql.session(email, "COURIER")
    user_id = uuid_of(session["user"]["id"], "User")
    await enable_payouts(services, user_id)
    return Courier(email, user_id, await make_trip(services, user_id, area.id, kind=kind))


async def decide(gql: GraphQL, who: Courier, document: str, offer_id: UUID) -> None:
    token = await fresh_token(gql, who.email)
    body = await gql(document, {"input": {"offerId": str(global_id("Offer", offer_id))}}, token=token)
    payload = next(iter(body["data"].values()))
    assert payload["errors"] == [], payload


async def go(gql: GraphQL, who: Courier, document: str, parcel: str, **extra: Any) -> dict[str, Any]:
    payload = await step(gql, await fresh_token(gql, who.email), document, parcelId=parcel, position=HERE, **extra)
    assert payload["errors"] == [], payload
    return payload


@pytest.fixture
async def day(gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection) -> Day:
    area = await make_area(services)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    locker = await make_locker(services, area)
    a = await courier(gql, services, area, "a@example.com", VehicleKind.CAR)
    b = await courier(gql, services, area, "b@example.com", VehicleKind.BICYCLE)
    c = await courier(gql, services, area, "c@example.com", VehicleKind.CAR)
    d = await courier(gql, services, area, "d@example.com", VehicleKind.CAR)
    jobs = [
        await book(gql, shop),
        await book(gql, shop, onFailure="LOCKER", fallbackLockerId=str(global_id("Locker", locker.id))),
        await book(gql, shop),
        await book(gql, shop),
        await book(gql, shop),
    ]
    p1, p2, p3, _, _ = (j.parcel_ids[0] for j in jobs)

    clock.advance(timedelta(minutes=10))
    ttl = timedelta(hours=2)
    o1 = await make_offer(services, a.trip, jobs[0].parcel_uuids, ttl=ttl, detour_m=1_200, co2_g=204)
    o2 = await make_offer(services, b.trip, jobs[1].parcel_uuids, ttl=ttl, detour_m=800, co2_g=0)
    o3 = await make_offer(services, c.trip, jobs[2].parcel_uuids, ttl=ttl, detour_m=2_000, co2_g=340)
    o5 = await make_offer(services, d.trip, jobs[4].parcel_uuids, ttl=ttl, detour_m=900, co2_g=153)
    for minutes, who, offer in ((20, a, o1), (40, b, o2), (60, c, o3)):
        clock.at = T0 + timedelta(minutes=minutes)
        await decide(gql, who, ACCEPT, offer.id)
    clock.at = T0 + timedelta(minutes=70)
    await decide(gql, d, DECLINE, o5.id)

    clock.at = T0 + timedelta(hours=2, minutes=10)
    for who, job, parcel in ((a, jobs[0], p1), (b, jobs[1], p2), (c, jobs[2], p3)):
        await go(gql, who, ARRIVE_AT_PICKUP, parcel)
        await go(gql, who, CONFIRM_PICKUP, parcel, labelCode=job.label_codes[0])
        await go(gql, who, ARRIVE_AT_DROPOFF, parcel)

    clock.at = T0 + timedelta(hours=3, minutes=40)  # past the cut-off: 30 minutes before pickup closes (T0+4h)
    assert await services.fleet.hand_off_due() == 2

    clock.at = T0 + timedelta(hours=4, minutes=30)
    await go(gql, a, DELIVER, p1, proof={"pin": jobs[0].pins[0]})
    failed = await go(gql, b, FAILED_ATTEMPT, p2, reason="RECIPIENT_ABSENT")
    assert failed["parcel"]["status"] == "TO_LOCKER"
    refused = await go(gql, c, FAILED_ATTEMPT, p3, reason="REFUSED")
    assert refused["parcel"]["status"] == "RETURNING"
    clock.at = T0 + timedelta(hours=5)
    await go(gql, c, CONFIRM_RETURN, p3)
    clock.at = T0 + timedelta(hours=10, minutes=30)  # the delivery window closed at T0+10h
    await go(gql, b, DEPOSIT, p2)
    clock.at = T0 + timedelta(hours=11)
    shop_token = await fresh_token(gql, "shop@example.com")
    code = (await gql(PARCEL, {"id": p2}, token=shop_token))["data"]["parcel"]["lockerPickupCode"]
    ops = await admin_token(gql, services)
    assert (await step(gql, ops, COLLECT, parcelId=p2, pickupCode=code))["errors"] == []

    clock.at = T0 + timedelta(hours=11, minutes=10)  # 20:10 in Amsterdam, still the 24th
    for job in jobs:
        assert await services.payments.settle_job(uuid_of(job.job_id, "Job")) is not None
    prices = [await db.fetchval("SELECT price_minor FROM jobs WHERE id = $1", uuid_of(j.job_id, "Job")) for j in jobs]
    return Day(area, shop, jobs, prices)


def fleet_tariff_minor() -> int:
    """The area's fleet tariff (650 + 60 per road km, road = 1.3 x great circle) from Dam Square to Zuid."""
    return 650 + math.ceil(60 * haversine_m(DAM_SQUARE, ZUID) * 1.3 / 1000)


def half_up(amount: int, n: int) -> int:
    return math.floor(amount / n + 0.5)


async def test_a_hand_built_day_gives_each_kpi_its_hand_computed_value(
    gql: GraphQL, services: Services, day: Day
) -> None:
    ops = await admin_token(gql, services, "kpis@example.com")
    area = str(global_id("ServiceArea", day.area.id))
    body = await gql(KPIS, {"a": area, "d": "2026-11-24"}, token=ops)
    assert "errors" not in body, body
    k = body["data"]["deliveryKpis"]

    assert k["startAt"] == "2026-11-23T23:00:00+00:00"  # local midnight, CET
    assert k["endAt"] == "2026-11-24T23:00:00+00:00"
    assert k["parcelsBooked"] == 5
    # Delivered: P1 at the door, P2 into the locker; only P1 inside its window.
    assert (k["parcelsDelivered"], k["deliveredOnTime"], k["onTimeRate"]) == (2, 1, 0.5)
    # Attempts: P1 (success), P2 and P3 (failed), each its parcel's first.
    assert (k["deliveryAttempts"], k["firstAttempts"], k["firstAttemptSuccesses"]) == (3, 3, 1)
    assert k["firstAttemptSuccessRate"] == pytest.approx(1 / 3)
    assert (k["failedAttempts"], k["failedDeliveryRate"]) == (2, pytest.approx(2 / 3))
    assert k["failedByReason"] == [
        {"reason": "RECIPIENT_ABSENT", "count": 1, "rate": pytest.approx(1 / 3)},
        {"reason": "REFUSED", "count": 1, "rate": pytest.approx(1 / 3)},
    ]
    assert (k["returned"], k["handedToFleet"]) == (1, 2)
    # Carried: three parcels picked up by the crowd, two handed to the fleet.
    assert (k["crowdParcels"], k["crowdShare"], k["crowdStops"], k["fleetStops"]) == (3, 0.6, 3, 2)

    # Money. Couriers earned their offers' pay (450) for P1 and P2, half of it for P3's attempt.
    crowd_pay = 450 + 450 + 225
    fleet = 2 * fleet_tariff_minor()
    assert k["crowdPay"] == {"amountMinor": crowd_pay, "currency": "EUR"}
    assert k["fleetCost"]["amountMinor"] == fleet
    assert k["costPerParcel"]["amountMinor"] == half_up(crowd_pay + fleet, 5)
    assert k["costPerStop"]["amountMinor"] == half_up(crowd_pay + fleet, 5)
    assert k["crowdCostPerParcel"]["amountMinor"] == 375
    assert k["fleetCostPerParcel"]["amountMinor"] == fleet_tariff_minor()
    assert k["crowdCostPerStop"]["amountMinor"] == 375  # three stops
    assert k["fleetCostPerStop"]["amountMinor"] == fleet_tariff_minor()  # two jobs, two stops
    # No depot, no van plan: the fleet and the van-only figures are the labelled tariff fallback.
    assert (k["fleetSource"], k["vanOnlySource"]) == ("TARIFF", "TARIFF")
    assert (k["fleetRouteParcels"], k["fleetRouteCost"]["amountMinor"], k["fleetRouteCo2G"]) == (0, 0, 0)
    assert (k["fleetTariffParcels"], k["fleetTariffCost"]["amountMinor"], k["fleetTariffCo2G"]) == (2, fleet, 400)
    assert (k["vanOnlyRouteParcels"], k["vanOnlyTariffParcels"]) == (0, 5)
    assert k["vanOnlyTariffCost"]["amountMinor"] == 5 * fleet_tariff_minor()
    assert k["vanOnlyCost"]["amountMinor"] == 5 * fleet_tariff_minor()
    assert k["vanOnlyCostPerParcel"]["amountMinor"] == fleet_tariff_minor()
    assert (k["vanOnlyParcels"], k["vanOnlyStops"]) == (5, 5)
    assert k["vanOnlyCostPerStop"]["amountMinor"] == fleet_tariff_minor()
    # Revenue, the platform's margin: price - pay for the delivered jobs, half the price - half the pay
    # for P3's attempt, the whole price for the fleet's two (the fleet's cost is not in the ledger).
    p = day.prices
    revenue = (p[0] - 450) + (p[1] - 450) + (p[2] // 2 - 225) + p[3] + p[4]
    assert k["revenue"]["amountMinor"] == revenue
    assert k["revenuePerParcel"]["amountMinor"] == half_up(revenue, 5)

    # Couriers: four offers, three accepted; four car or bike trips of 150 kg / 400 l (bike 15 kg / 60 l)
    # carried three parcels of 1.5 kg and 6 l each.
    assert (k["offers"], k["offersAccepted"], k["offerAcceptanceRate"]) == (4, 3, 0.75)
    assert k["trips"] == 4
    assert k["capacityWeightUsed"] == pytest.approx(3 * 1_500 / (3 * 150_000 + 15_000))
    assert k["capacityVolumeUsed"] == pytest.approx(3 * 6_000 / (3 * 400_000 + 60_000))
    # Booking to assignment: 1200 s, 2400 s, 3600 s; p90 interpolates 2400 + 0.8 x 1200.
    assert k["bookingToAssignmentMedianS"] == 2_400
    assert k["bookingToAssignmentP90S"] == pytest.approx(3_360)

    # CO2: the accepted offers' detours (the declined one emitted nothing), the fleet's two parcels at
    # the van baseline of 250 g/km x 0.8 km = 200 g, over the five parcels carried.
    assert k["emissionsByVehicle"] == [
        {"kind": "BICYCLE", "offers": 1, "parcels": 1, "detourM": 800, "co2G": 0},
        {"kind": "CAR", "offers": 2, "parcels": 2, "detourM": 3_200, "co2G": 544},
    ]
    assert (k["crowdCo2G"], k["fleetCo2G"]) == (544, 400)
    assert k["co2PerParcelG"] == pytest.approx((544 + 400) / 5)
    assert k["vanOnlyCo2PerParcelG"] == 200
    # Per km: the crowd's 4.0 km of detours; the fleet's estimated 0.8 km per parcel.
    assert (k["crowdDetourM"], k["crowdCo2GPerKm"]) == (4_000, pytest.approx(544 / 4))
    assert (k["fleetDistanceM"], k["fleetCo2GPerKm"]) == (1_600, 250)
    assert k["co2GPerKm"] == pytest.approx((544 + 400) / 5.6)
    assert (k["vanOnlyDistanceM"], k["vanOnlyCo2G"], k["vanOnlyCo2GPerKm"]) == (4_000, 1_000, 250)

    assert (k["lockerDeposits"], k["lockerCollections"], k["lockerReturns"], k["lockerShare"]) == (1, 1, 0, 0.5)

    # The next day saw nothing: zeros, and no rate where there is nothing to divide by.
    empty = (await gql(KPIS, {"a": area, "d": "2026-11-25"}, token=ops))["data"]["deliveryKpis"]
    assert (empty["parcelsBooked"], empty["onTimeRate"], empty["costPerParcel"]) == (0, None, None)


# The depot of the van rounds' test: the README's default van (60.00 a day, 0.35 per km, 30.00 per hour,
# 250 g CO2/km, 800 kg) on the Amstel, open 06:00-22:00.
DEPOT_POINT = Point(52.3600, 4.9000)
DAY_RATE, PER_KM, PER_HOUR, G_PER_KM = 6_000, 35, 3_000, 250


@dataclass(frozen=True)
class HandRoute:
    """One stored route, and its km, cost and CO2 computed here from its stops."""

    distance_m: int
    cost_minor: int
    co2_g: int
    stops: int

    @staticmethod
    def total(routes: list[HandRoute]) -> HandRoute:
        """The plan's figures: each summed over its routes."""
        return HandRoute(*(sum(getattr(r, f) for r in routes) for f in ("distance_m", "cost_minor", "co2_g", "stops")))


async def hand_routes(db: asyncpg.Connection, area_id: UUID, kind: str) -> list[HandRoute]:
    """The area-day's stored routes of a plan, each recomputed by hand: depot, stops in order, depot;
    great circle x 1.3 per hop in whole metres; day rate + per km + per hour (depot to depot) rounded up
    once; CO2 km x g/km rounded up; consecutive parcels at one point are one stop."""
    routes = await db.fetch(
        """
        SELECT r.route_no, r.depart_at, r.return_at, r.distance_m, r.cost_minor, r.co2_g, p.id AS plan_id
        FROM van_routes r JOIN van_plans p ON p.id = r.plan_id
        WHERE p.area_id = $1 AND p.local_date = '2026-11-24' AND p.kind = $2 ORDER BY r.route_no
        """,
        area_id,
        kind,
    )
    out = []
    for r in routes:
        stops = await db.fetch(
            "SELECT lat, lng FROM van_stops WHERE plan_id = $1 AND route_no = $2 ORDER BY seq",
            r["plan_id"],
            r["route_no"],
        )
        path = [DEPOT_POINT, *(Point(s["lat"], s["lng"]) for s in stops), DEPOT_POINT]
        distance = sum(round(1.3 * haversine_m(a, b)) for a, b in itertools.pairwise(path))
        seconds = int((r["return_at"] - r["depart_at"]).total_seconds())
        cost = DAY_RATE + math.ceil((distance * PER_KM * 3600 + seconds * PER_HOUR * 1000) / 3_600_000)
        co2 = math.ceil(distance * G_PER_KM / 1000)
        assert (r["distance_m"], r["cost_minor"], r["co2_g"]) == (distance, cost, co2)  # stored as computed
        points = [(s["lat"], s["lng"]) for s in stops]
        out.append(HandRoute(distance, cost, co2, sum(1 for i, q in enumerate(points) if i == 0 or points[i - 1] != q)))
    return out


async def test_a_day_with_van_rounds_takes_the_fleet_and_the_van_only_figures_from_their_routes(
    gql: GraphQL, services: Services, db: asyncpg.Connection, day: Day
) -> None:
    ops = await admin_token(gql, services, "kpis@example.com")
    area = str(global_id("ServiceArea", day.area.id))
    await services.fleet.set_depot(
        FleetDepot(
            day.area.id,
            "Amstel hub",
            DEPOT_POINT,
            6 * 3600,
            22 * 3600,
            10,
            800_000,
            DAY_RATE,
            PER_KM,
            PER_HOUR,
            G_PER_KM,
        )
    )
    the_day = date(2026, 11, 24)

    # Only the fleet's plan: its routes replace the fleet's tariff; the van-only stays the fallback.
    fleet_plan = await services.fleet.plan_van_rounds(day.area.id, the_day, VanPlanKind.FLEET)
    assert fleet_plan is not None
    assert fleet_plan.parcels == 2
    fleet = await hand_routes(db, day.area.id, "fleet")
    assert {len(fleet), sum(r.stops for r in fleet)} >= {2}  # a collection and a delivery route at least
    fleet_total = HandRoute.total(fleet)
    fleet_cost, fleet_m, fleet_co2 = fleet_total.cost_minor, fleet_total.distance_m, fleet_total.co2_g
    k = (await gql(KPIS, {"a": area, "d": "2026-11-24"}, token=ops))["data"]["deliveryKpis"]
    assert (k["fleetSource"], k["vanOnlySource"]) == ("VAN_ROUTES", "TARIFF")
    assert fleet_plan.unserved == ()  # ten vans of 800 kg deliver both
    assert (k["fleetRouteParcels"], k["fleetRouteCost"]["amountMinor"], k["fleetRouteCo2G"]) == (
        2,
        fleet_cost,
        fleet_co2,
    )
    assert (k["fleetTariffParcels"], k["fleetTariffCost"]["amountMinor"], k["fleetTariffCo2G"]) == (0, 0, 0)
    assert (k["fleetCost"]["amountMinor"], k["fleetDistanceM"], k["fleetCo2G"]) == (fleet_cost, fleet_m, fleet_co2)
    assert k["fleetCo2GPerKm"] == pytest.approx(fleet_co2 * 1000 / fleet_m)
    # What the fleet carried is still the day's hand-overs: two parcels, two jobs.
    assert (k["handedToFleet"], k["fleetStops"], k["crowdShare"]) == (2, 2, 0.6)
    assert k["fleetCostPerParcel"]["amountMinor"] == half_up(fleet_cost, 2)
    assert k["fleetCostPerStop"]["amountMinor"] == half_up(fleet_cost, 2)
    crowd_pay = 450 + 450 + 225
    assert k["costPerParcel"]["amountMinor"] == half_up(crowd_pay + fleet_cost, 5)
    assert k["co2PerParcelG"] == pytest.approx((544 + fleet_co2) / 5)
    assert k["co2GPerKm"] == pytest.approx((544 + fleet_co2) * 1000 / (4_000 + fleet_m))
    assert k["vanOnlyCost"]["amountMinor"] == 5 * fleet_tariff_minor()

    # The baseline plan too: every parcel of the day by van.
    baseline_plan = await services.fleet.plan_van_rounds(day.area.id, the_day, VanPlanKind.BASELINE)
    assert baseline_plan is not None
    assert baseline_plan.parcels == 5
    served = baseline_plan.served
    base = await hand_routes(db, day.area.id, "baseline")
    base_total = HandRoute.total(base)
    cost, metres, co2, stops = base_total.cost_minor, base_total.distance_m, base_total.co2_g, base_total.stops
    k = (await gql(KPIS, {"a": area, "d": "2026-11-24"}, token=ops))["data"]["deliveryKpis"]
    assert (k["fleetSource"], k["vanOnlySource"]) == ("VAN_ROUTES", "VAN_ROUTES")
    assert served == 5  # every parcel of the day
    assert (k["vanOnlyRouteParcels"], k["vanOnlyTariffParcels"], k["vanOnlyTariffCost"]["amountMinor"]) == (5, 0, 0)
    assert (k["vanOnlyParcels"], k["vanOnlyStops"]) == (served, stops)
    assert (k["vanOnlyCost"]["amountMinor"], k["vanOnlyDistanceM"], k["vanOnlyCo2G"]) == (cost, metres, co2)
    assert k["vanOnlyCostPerParcel"]["amountMinor"] == half_up(cost, served)
    assert k["vanOnlyCostPerStop"]["amountMinor"] == half_up(cost, stops)
    assert k["vanOnlyCo2PerParcelG"] == pytest.approx(co2 / served)
    assert k["vanOnlyCo2GPerKm"] == pytest.approx(co2 * 1000 / metres)
    # The same figures `vanBaseline` reads back.
    body = await gql(VAN_BASELINE, {"a": area, "d": "2026-11-24"}, token=ops)
    assert body["data"]["vanBaseline"] == {
        "served": served,
        "stops": stops,
        "distanceM": metres,
        "cost": {"amountMinor": cost},
        "costPerParcel": {"amountMinor": k["vanOnlyCostPerParcel"]["amountMinor"]},
        "costPerStop": {"amountMinor": k["vanOnlyCostPerStop"]["amountMinor"]},
        "co2G": co2,
    }

    # Hours are no plan's: they keep the labelled fallback.
    hours = (await gql(BY_HOUR_SOURCES, {"a": area}, token=ops))["data"]["deliveryKpisByHour"]
    assert {(h["fleetSource"], h["vanOnlySource"]) for h in hours} == {("TARIFF", "TARIFF")}


async def test_parcels_the_van_plans_leave_unserved_are_priced_at_the_fleet_tariff(
    gql: GraphQL, services: Services, db: asyncpg.Connection, day: Day
) -> None:
    """One van that carries one 1.5 kg parcel: the fleet's plan delivers one of its two parcels, the
    baseline one of five. Each other parcel costs the fleet tariff (its hand-off's, or the area's for its
    own distance; here the same for all: one shop, one address), 0.8 km and 200 g; per parcel, the cost
    divides by every parcel it is of."""
    ops = await admin_token(gql, services, "kpis@example.com")
    area = str(global_id("ServiceArea", day.area.id))
    await services.fleet.set_depot(
        FleetDepot(
            day.area.id, "Amstel hub", DEPOT_POINT, 6 * 3600, 22 * 3600, 1, 1_500, DAY_RATE, PER_KM, PER_HOUR, G_PER_KM
        )
    )
    the_day = date(2026, 11, 24)
    tariff = fleet_tariff_minor()

    fleet_plan = await services.fleet.plan_van_rounds(day.area.id, the_day, VanPlanKind.FLEET)
    assert fleet_plan is not None
    assert (fleet_plan.parcels, fleet_plan.served, len(fleet_plan.unserved)) == (2, 1, 1)
    routes = await hand_routes(db, day.area.id, "fleet")
    total = HandRoute.total(routes)
    route_cost, route_m, route_co2 = total.cost_minor, total.distance_m, total.co2_g
    k = (await gql(KPIS, {"a": area, "d": "2026-11-24"}, token=ops))["data"]["deliveryKpis"]
    assert k["fleetSource"] == "VAN_ROUTES"
    assert (k["fleetRouteParcels"], k["fleetRouteCost"]["amountMinor"], k["fleetRouteCo2G"]) == (
        1,
        route_cost,
        route_co2,
    )
    assert (k["fleetTariffParcels"], k["fleetTariffCost"]["amountMinor"], k["fleetTariffCo2G"]) == (1, tariff, 200)
    assert (k["fleetCost"]["amountMinor"], k["fleetDistanceM"], k["fleetCo2G"]) == (
        route_cost + tariff,
        route_m + 800,
        route_co2 + 200,
    )
    assert k["fleetCostPerParcel"]["amountMinor"] == half_up(route_cost + tariff, 2)
    crowd_pay = 450 + 450 + 225
    assert k["costPerParcel"]["amountMinor"] == half_up(crowd_pay + route_cost + tariff, 5)
    assert k["co2PerParcelG"] == pytest.approx((544 + route_co2 + 200) / 5)
    assert k["co2GPerKm"] == pytest.approx((544 + route_co2 + 200) * 1000 / (4_000 + route_m + 800))

    baseline_plan = await services.fleet.plan_van_rounds(day.area.id, the_day, VanPlanKind.BASELINE)
    assert baseline_plan is not None
    assert (baseline_plan.parcels, baseline_plan.served) == (5, 1)
    base = await hand_routes(db, day.area.id, "baseline")
    base_total = HandRoute.total(base)
    cost, metres, co2, stops = base_total.cost_minor, base_total.distance_m, base_total.co2_g, base_total.stops
    k = (await gql(KPIS, {"a": area, "d": "2026-11-24"}, token=ops))["data"]["deliveryKpis"]
    assert k["vanOnlySource"] == "VAN_ROUTES"
    assert (k["vanOnlyRouteParcels"], k["vanOnlyTariffParcels"], k["vanOnlyParcels"]) == (1, 4, 5)
    assert k["vanOnlyTariffCost"]["amountMinor"] == 4 * tariff
    assert k["vanOnlyStops"] == stops + 4  # the routes' store and door stops, a door per unserved job
    assert (k["vanOnlyCost"]["amountMinor"], k["vanOnlyDistanceM"], k["vanOnlyCo2G"]) == (
        cost + 4 * tariff,
        metres + 4 * 800,
        co2 + 4 * 200,
    )
    assert k["vanOnlyCostPerParcel"]["amountMinor"] == half_up(cost + 4 * tariff, 5)
    assert k["vanOnlyCostPerStop"]["amountMinor"] == half_up(cost + 4 * tariff, stops + 4)
    assert k["vanOnlyCo2PerParcelG"] == pytest.approx((co2 + 800) / 5)


async def test_another_area_and_a_missing_one(gql: GraphQL, services: Services, day: Day) -> None:
    ops = await admin_token(gql, services, "kpis@example.com")
    other = await make_area(services, name="Rotterdam")
    body = await gql(KPIS, {"a": str(global_id("ServiceArea", other.id)), "d": "2026-11-24"}, token=ops)
    assert body["data"]["deliveryKpis"]["parcelsBooked"] == 0
    missing = await gql(KPIS, {"a": str(global_id("ServiceArea", UUID(int=7))), "d": "2026-11-24"}, token=ops)
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    shop = await fresh_token(gql, "shop@example.com")
    refused = await gql(KPIS, {"a": str(global_id("ServiceArea", day.area.id)), "d": "2026-11-24"}, token=shop)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_hours_of_today(gql: GraphQL, services: Services, clock: ManualClock, day: Day) -> None:
    ops = await admin_token(gql, services, "kpis@example.com")
    body = await gql(BY_HOUR, {"a": str(global_id("ServiceArea", day.area.id))}, token=ops)
    hours = body["data"]["deliveryKpisByHour"]
    # From local midnight (23:00 UTC) to the hour running now (19:00 UTC, 20:00 local): 21 hours.
    assert len(hours) == 21
    assert hours[0]["startAt"] == "2026-11-23T23:00:00+00:00"
    assert hours[-1]["startAt"] == "2026-11-24T19:00:00+00:00"
    by_start = {h["startAt"][11:16]: h for h in hours}
    assert by_start["08:00"]["parcelsBooked"] == 5
    assert by_start["08:00"]["offers"] == 4
    assert by_start["11:00"]["handedToFleet"] == 2  # T0 + 3h40
    assert (by_start["12:00"]["parcelsDelivered"], by_start["12:00"]["failedAttempts"]) == (1, 2)
    assert by_start["18:00"]["parcelsDelivered"] == 1  # the late locker deposit
    assert sum(h["parcelsBooked"] for h in hours) == 5
    assert by_start["09:00"]["parcelsBooked"] == 0


async def test_the_kpis_export_as_csv_for_finance_and_operations(
    app_and_gql: tuple[Litestar, GraphQL], services: Services, day: Day
) -> None:
    gql = app_and_gql[1]
    client = gql.client
    ops = await admin_token(gql, services, "kpis@example.com")
    url = f"/kpis.csv?from=2026-11-24&until=2026-11-25&area={global_id('ServiceArea', day.area.id)}"
    response = await client.get(url, headers={"Authorization": f"Bearer {ops}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["date"], r["booked"], r["delivered"], r["handed_to_fleet"]) for r in rows] == [
        ("2026-11-24", "5", "2", "2"),
        ("2026-11-25", "0", "0", "0"),
    ]
    assert rows[0]["on_time_rate"] == "0.5"
    assert rows[0]["failed_by_reason"] == "recipient_absent:1;refused:1"
    assert rows[0]["crowd_pay_minor"] == "1125"
    assert (rows[0]["fleet_source"], rows[0]["van_only_source"], rows[0]["fleet_distance_m"]) == (
        "tariff",
        "tariff",
        "1600",
    )
    assert (rows[0]["crowd_detour_m"], rows[0]["fleet_co2_g_per_km"], rows[0]["van_only_co2_g"]) == (
        "4000",
        "250.0",
        "1000",
    )
    assert (rows[0]["fleet_route_parcels"], rows[0]["fleet_tariff_parcels"], rows[0]["van_only_tariff_parcels"]) == (
        "0",
        "2",
        "5",
    )
    assert rows[1]["on_time_rate"] == ""
    assert (await client.get(url)).status_code == 401
    shop = await fresh_token(gql, "shop@example.com")
    assert (await client.get(url, headers={"Authorization": f"Bearer {shop}"})).status_code == 403
    too_long = "/kpis.csv?from=2026-01-01&until=2026-12-31"
    assert (await client.get(too_long, headers={"Authorization": f"Bearer {ops}"})).status_code == 400
