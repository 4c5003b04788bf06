"""The KPI definitions that need no database: rates, amounts per parcel, the van baseline."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from marketplace.domain.kpis import (
    VAN_BASELINE_CO2_G_PER_PARCEL,
    AreaKpis,
    FigureSource,
    FleetFigures,
    Granularity,
    KpiCounts,
    PlanTotals,
    Priced,
    VanOnlyFigures,
    VehicleEmissions,
    per,
    share,
)
from marketplace.domain.vehicles import VehicleKind

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
    fleet = FleetFigures.at_tariff(parcels=1, stops=1, cost_minor=800)
    van_only = VanOnlyFigures.at_tariff(parcels=4, stops=3, cost_minor=3_200)
    k = AreaKpis(uuid4(), "EUR", Granularity.DAY, AT, AT, counts, fleet, van_only)
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


PLAN = PlanTotals(parcels=6, served=5, stops=8, routes=3, distance_m=41_000, cost_minor=13_205, co2_g=10_250)


def test_the_tariff_fallback_is_labelled_and_puts_the_per_parcel_estimate_on_km_and_co2() -> None:
    fleet = FleetFigures.at_tariff(parcels=2, stops=2, cost_minor=1_700)
    assert (fleet.source, fleet.distance_m, fleet.co2_g, fleet.co2_g_per_km) == (FigureSource.TARIFF, 1_600, 400, 250)
    assert fleet.with_routes(None) == fleet


def test_a_van_plan_replaces_cost_km_and_co2_but_not_what_the_fleet_carried() -> None:
    fleet = FleetFigures.at_tariff(parcels=5, stops=4, cost_minor=4_100).with_routes(PLAN)
    assert fleet == FleetFigures(5, 4, Priced(5, 13_205, 41_000, 10_250), Priced(), FigureSource.VAN_ROUTES)
    assert (fleet.cost_minor, fleet.distance_m, fleet.co2_g, fleet.co2_g_per_km) == (13_205, 41_000, 10_250, 250)
    assert (fleet.priced, fleet.cost_per_parcel_minor) == (5, 2_641)  # 13205 / 5


def test_fleet_parcels_the_van_plan_left_unserved_are_priced_at_their_tariff() -> None:
    """Six handed over, the plan's routes deliver five; the sixth at its hand-off's tariff (850), 0.8 km, 200 g."""
    fleet = FleetFigures.at_tariff(parcels=6, stops=6, cost_minor=4_950).with_routes(PLAN, Priced.at_tariff(1, 850))
    assert (fleet.routes.parcels, fleet.tariff.parcels, fleet.priced) == (5, 1, 6)
    assert (fleet.cost_minor, fleet.distance_m, fleet.co2_g) == (13_205 + 850, 41_800, 10_250 + 200)
    assert fleet.cost_per_parcel_minor == 2_343  # 14055 / 6 = 2342.5, half up
    assert fleet.co2_per_parcel_g == 10_450 / 6
    k = AreaKpis(
        uuid4(),
        "EUR",
        Granularity.DAY,
        AT,
        AT,
        KpiCounts(crowd_parcels=4, crowd_pay_minor=1_600),
        fleet,
        VanOnlyFigures(),
    )
    assert (k.carried, k.costed) == (10, 10)
    assert k.cost_per_parcel_minor == 1_566  # (1600 + 14055) / 10 = 1565.5
    assert k.co2_per_parcel_g == 10_450 / 10


def test_the_van_only_baseline_of_a_plan_counts_its_served_parcels_and_its_stops() -> None:
    v = VanOnlyFigures.of_plan(PLAN)
    assert (v.source, v.parcels, v.stops) == (FigureSource.VAN_ROUTES, 5, 8)
    assert v.cost_per_parcel_minor == 2_641  # 13205 / 5
    assert v.cost_per_stop_minor == 1_651  # 1650.625 rounds up
    assert (v.co2_per_parcel_g, v.co2_g_per_km) == (2_050, 250)


def test_the_van_only_baselines_unserved_parcels_are_priced_at_the_tariff() -> None:
    """The plan's sixth parcel, unserved: at the fleet tariff (900), one door stop, 0.8 km and 200 g."""
    v = VanOnlyFigures.of_plan(PLAN, Priced.at_tariff(1, 900), 1)
    assert (v.routes.parcels, v.tariff.parcels, v.parcels, v.stops) == (5, 1, 6, 9)
    assert (v.cost_minor, v.distance_m, v.co2_g) == (14_105, 41_800, 10_450)
    assert v.cost_per_parcel_minor == 2_351  # 14105 / 6 = 2350.83
    assert v.cost_per_stop_minor == 1_567  # 14105 / 9 = 1567.2
    assert (v.co2_per_parcel_g, v.co2_g_per_km) == (10_450 / 6, 250)


def test_co2_per_km_counts_the_crowds_detours_and_the_fleets_kilometres() -> None:
    counts = KpiCounts(
        crowd_parcels=2,
        vehicles=(
            VehicleEmissions(VehicleKind.CAR, 2, 2, 2_000, 340),
            VehicleEmissions(VehicleKind.BICYCLE, 1, 1, 1_000, 0),
        ),
    )
    fleet = FleetFigures.at_tariff(parcels=1, stops=1, cost_minor=800).with_routes(PLAN)
    k = AreaKpis(uuid4(), "EUR", Granularity.DAY, AT, AT, counts, fleet, VanOnlyFigures.of_plan(PLAN))
    assert (k.crowd_detour_m, k.crowd_co2_g_per_km) == (3_000, 340 / 3)
    assert k.distance_m == 44_000
    assert k.co2_g_per_km == (340 + 10_250) / 44
    assert k.van_only_co2_g == 10_250
