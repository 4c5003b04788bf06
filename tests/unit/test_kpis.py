"""The KPI definitions that need no database: rates, amounts per parcel, the van baseline."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from marketplace.domain.kpis import (
    VAN_BASELINE_CO2_G_PER_PARCEL,
    AreaKpis,
    FleetFigures,
    Granularity,
    KpiCounts,
    per,
    share,
)

AT = datetime(2026, 11, 24, tzinfo=UTC)


def test_a_rate_with_nothing_to_divide_by_is_none_not_zero() -> None:
    assert share(0, 0) is None
    assert share(0, 4) == 0
    assert share(1, 4) == 0.25


def test_amounts_per_parcel_stay_integer_and_round_half_up() -> None:
    assert per(1_000, 3) == 333
    assert per(1_001, 2) == 501  # 500.5 rounds up
    assert per(999, 2) == 500  # 499.5 rounds up
    assert per(5, 0) is None


def test_the_van_baseline_is_a_light_vans_g_per_km_over_its_km_per_stop() -> None:
    assert VAN_BASELINE_CO2_G_PER_PARCEL == 250 * 800 // 1000 == 200


def test_cost_and_co2_per_parcel_count_the_crowd_and_the_fleet_together() -> None:
    counts = KpiCounts(crowd_parcels=3, crowd_stops=2, crowd_pay_minor=1_200, revenue_minor=900)
    fleet = FleetFigures(parcels=1, stops=1, cost_minor=800, co2_g=VAN_BASELINE_CO2_G_PER_PARCEL)
    k = AreaKpis(uuid4(), "EUR", Granularity.DAY, AT, AT, counts, fleet, van_only_cost_minor=3_200)
    assert k.carried == 4
    assert k.crowd_share == 0.75
    assert k.cost_per_parcel_minor == 500
    assert k.cost_per_stop_minor == 667  # 2000 / 3 stops
    assert k.crowd_cost_per_parcel_minor == 400
    assert k.crowd_cost_per_stop_minor == 600  # two stops
    assert k.fleet_cost_per_stop_minor == 800
    assert k.van_only_cost_per_parcel_minor == 800
    assert k.revenue_per_parcel_minor == 225
    assert k.co2_per_parcel_g == 50  # the crowd emitted nothing, the fleet's parcel 200 g
    assert k.van_only_co2_g == 800
