"""Vehicle kinds: documented defaults, the limits of a courier's overrides, and the emission pair."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.vehicles import (
    KIND_SPECS,
    LARGEST_VOLUME_CM3,
    LARGEST_WEIGHT_G,
    MAX_CO2_G_PER_KM,
    MAX_SPEED_KMH,
    Capabilities,
    VehicleKind,
    kind_defaults,
    resolve_capabilities,
)


def test_every_kind_has_consistent_documented_defaults() -> None:
    assert set(KIND_SPECS) == set(VehicleKind)
    for kind, spec in KIND_SPECS.items():
        assert 0 < spec.max_weight_g <= spec.limit_weight_g, kind
        assert 0 < spec.max_volume_cm3 <= spec.limit_volume_cm3, kind
        assert 0 < spec.typical_speed_kmh <= MAX_SPEED_KMH, kind
        assert 0 <= spec.co2_g_per_km <= MAX_CO2_G_PER_KM, kind
        assert not (spec.zero_emission and spec.co2_g_per_km), kind


def test_the_largest_parcel_is_what_the_biggest_vehicle_may_be_set_to_carry() -> None:
    assert LARGEST_WEIGHT_G == KIND_SPECS[VehicleKind.VAN].limit_weight_g == 1_200_000
    assert LARGEST_VOLUME_CM3 == KIND_SPECS[VehicleKind.VAN].limit_volume_cm3 == 10_000_000


def test_muscle_power_and_public_transport_emit_nothing_and_motors_do() -> None:
    zero = {k for k, s in KIND_SPECS.items() if s.zero_emission}
    assert zero == {
        VehicleKind.FOOT,
        VehicleKind.BICYCLE,
        VehicleKind.CARGO_BIKE,
        VehicleKind.E_SCOOTER,
        VehicleKind.PUBLIC_TRANSPORT,
    }
    assert KIND_SPECS[VehicleKind.CAR].co2_g_per_km == 170
    assert KIND_SPECS[VehicleKind.VAN].co2_g_per_km == 250


def resolve(
    kind: VehicleKind, current: Capabilities | None = None, **overrides: Any
) -> tuple[Capabilities, list[tuple[ErrorCode, str]]]:
    problems: list[FieldError] = []
    result = resolve_capabilities(kind, problems, current=current, **overrides)
    return result, [(p.code, p.field or "") for p in problems]


@pytest.mark.parametrize("kind", list(VehicleKind))
def test_nothing_given_means_the_kind_defaults(kind: VehicleKind) -> None:
    result, problems = resolve(kind)
    assert problems == []
    assert result == kind_defaults(kind)


def test_overrides_up_to_the_kind_limit_are_taken() -> None:
    spec = KIND_SPECS[VehicleKind.BICYCLE]
    result, problems = resolve(
        VehicleKind.BICYCLE, max_weight_g=spec.limit_weight_g, max_volume_cm3=1, typical_speed_kmh=MAX_SPEED_KMH
    )
    assert problems == []
    assert (result.max_weight_g, result.max_volume_cm3, result.typical_speed_kmh) == (
        spec.limit_weight_g,
        1,
        MAX_SPEED_KMH,
    )


def test_every_figure_beyond_its_bound_is_reported_at_once() -> None:
    spec = KIND_SPECS[VehicleKind.BICYCLE]
    _, problems = resolve(
        VehicleKind.BICYCLE,
        max_weight_g=spec.limit_weight_g + 1,
        max_volume_cm3=0,
        typical_speed_kmh=MAX_SPEED_KMH + 1,
        co2_g_per_km=MAX_CO2_G_PER_KM + 1,
        zero_emission=False,
    )
    assert problems == [
        (ErrorCode.OUT_OF_RANGE, "maxWeightG"),
        (ErrorCode.OUT_OF_RANGE, "maxVolumeCm3"),
        (ErrorCode.OUT_OF_RANGE, "typicalSpeedKmh"),
        (ErrorCode.OUT_OF_RANGE, "co2GPerKm"),
    ]
    _, problems = resolve(VehicleKind.CAR, co2_g_per_km=-1, typical_speed_kmh=0)
    assert problems == [(ErrorCode.OUT_OF_RANGE, "typicalSpeedKmh"), (ErrorCode.OUT_OF_RANGE, "co2GPerKm")]


def test_a_car_may_carry_what_a_bicycle_may_not() -> None:
    assert resolve(VehicleKind.CAR, max_weight_g=40_000)[1] == []
    assert resolve(VehicleKind.BICYCLE, max_weight_g=40_000)[1] == [(ErrorCode.OUT_OF_RANGE, "maxWeightG")]


def test_an_electric_car_is_zero_emission_with_no_co2() -> None:
    result, problems = resolve(VehicleKind.CAR, zero_emission=True)
    assert problems == []
    assert (result.zero_emission, result.co2_g_per_km) == (True, 0)
    result, problems = resolve(VehicleKind.CAR, co2_g_per_km=0)
    assert (result.zero_emission, result.co2_g_per_km, problems) == (False, 0, [])


def test_a_co2_figure_alone_makes_a_vehicle_not_zero_emission() -> None:
    result, problems = resolve(VehicleKind.E_SCOOTER, co2_g_per_km=12)
    assert problems == []
    assert (result.zero_emission, result.co2_g_per_km) == (False, 12)


def test_a_zero_emission_vehicle_that_emits_is_contradictory() -> None:
    _, problems = resolve(VehicleKind.CAR, zero_emission=True, co2_g_per_km=90)
    assert problems == [(ErrorCode.EMISSIONS_INCONSISTENT, "co2GPerKm")]


def test_a_diesel_bus_counts_its_marginal_emission_as_zero_without_being_zero_emission() -> None:
    result, problems = resolve(VehicleKind.PUBLIC_TRANSPORT, zero_emission=False)
    assert problems == []
    assert (result.zero_emission, result.co2_g_per_km) == (False, 0)


def test_edits_start_from_the_current_vehicle_not_the_defaults() -> None:
    electric = Capabilities(
        max_weight_g=90_000, max_volume_cm3=350_000, zero_emission=True, co2_g_per_km=0, typical_speed_kmh=25
    )
    result, problems = resolve(VehicleKind.CAR, current=electric, typical_speed_kmh=35)
    assert problems == []
    assert result == Capabilities(90_000, 350_000, True, 0, 35)
    # Back to a combustion engine without a figure: the kind's documented CO2.
    result, _ = resolve(VehicleKind.CAR, current=electric, zero_emission=False)
    assert (result.zero_emission, result.co2_g_per_km) == (False, 170)
    hybrid = Capabilities(90_000, 350_000, False, 95, 30)
    heavier, _ = resolve(VehicleKind.CAR, current=hybrid, max_weight_g=100_000)
    assert heavier == Capabilities(100_000, 350_000, False, 95, 30)
