"""An area-day through the bridge: parcels in local time, a stored plan whose figures are hand-computed."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from marketplace.domain.geo import Point
from marketplace.domain.vans import DAY_S, FleetDepot, VanPlanKind
from marketplace.repositories.vans import DayParcel
from marketplace.services import van_bridge

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 24)
ORIGIN = datetime(2026, 11, 24, tzinfo=BERLIN)
AREA = UUID(int=1)
STORE = UUID(int=2)
EARTH_M = 6_371_008.8


def _meridian_m(lat_a: float, lat_b: float) -> int:
    return round(1.3 * EARTH_M * math.radians(abs(lat_a - lat_b)))


def _local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=BERLIN)


def test_one_parcel_day_is_stored_with_hand_computed_times_cost_km_and_co2() -> None:
    depot = FleetDepot(AREA, "Hub", Point(52.50, 13.40), 6 * 3600, DAY_S, 1, 100_000, 5_000, 40, 3_000, 250)
    parcel = DayParcel(
        parcel_id=UUID(int=10),
        pickup_location_id=STORE,
        pickup=Point(52.51, 13.40),
        dropoff=Point(52.48, 13.40),
        weight_g=1_500,
        pickup_from=_local(9),
        pickup_until=_local(10),
        deliver_from=_local(12),
        deliver_until=_local(18),
    )
    problem = van_bridge.problem_of(depot, [parcel], ORIGIN)
    solved = van_bridge.solve(problem)
    plan = van_bridge.stored_plan(
        problem,
        solved,
        area_id=AREA,
        local_date=DAY,
        kind=VanPlanKind.FLEET,
        origin=ORIGIN,
        planned_at=ORIGIN,
        currency="EUR",
    )

    store_m, drop_m = _meridian_m(52.50, 52.51), _meridian_m(52.50, 52.48)
    to_store_s, to_drop_s = math.ceil(store_m / 7), math.ceil(drop_m / 7)
    collect, deliver = plan.routes
    assert (collect.leg, deliver.leg) == ("collection", "delivery")
    # The van reaches the store as it opens at 9:00 and is back after 120 s of service and the ride home.
    assert collect.stops[0].start_at == _local(9)
    assert collect.depart_at == _local(9) - timedelta(seconds=to_store_s)
    assert collect.return_at == _local(9) + timedelta(seconds=120 + to_store_s)
    # Delivery opens at 12:00, long after the parcel is at the depot: the van arrives at 12:00 sharp.
    assert deliver.stops[0].start_at == _local(12)
    assert deliver.depart_at == _local(12) - timedelta(seconds=to_drop_s)

    def cost(metres: int, seconds: int) -> int:
        return 5_000 + math.ceil((metres * 40 * 3600 + seconds * 3_000 * 1000) / 3_600_000)

    assert collect.distance_m == 2 * store_m
    assert deliver.distance_m == 2 * drop_m
    assert collect.cost_minor == cost(2 * store_m, 2 * to_store_s + 120)
    assert deliver.cost_minor == cost(2 * drop_m, 2 * to_drop_s + 120)
    assert plan.cost_minor == collect.cost_minor + deliver.cost_minor
    assert plan.distance_m == 2 * store_m + 2 * drop_m
    assert plan.co2_g == math.ceil(2 * store_m * 250 / 1000) + math.ceil(2 * drop_m * 250 / 1000)
    assert (plan.parcels, plan.served, plan.stops, plan.unserved) == (1, 1, 2, ())
