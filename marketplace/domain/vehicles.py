"""Vehicle kinds, their documented defaults, and the largest parcel the platform can carry at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.errors import ErrorCode, FieldError


class VehicleKind(StrEnum):
    FOOT = "foot"
    BICYCLE = "bicycle"
    CARGO_BIKE = "cargo_bike"
    E_SCOOTER = "e_scooter"
    CAR = "car"
    VAN = "van"
    PUBLIC_TRANSPORT = "public_transport"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Defaults a courier may lower (or, up to `limit_*`, raise) for their own vehicle.

    CO2 is the marginal tailpipe-and-grid figure per km of detour, which is what a parcel adds:
    zero for muscle power and public transport (the tram runs anyway), typical EU fleet values
    for cars (~170 g/km) and light vans (~250 g/km).
    """

    max_weight_g: int
    max_volume_cm3: int
    limit_weight_g: int
    limit_volume_cm3: int
    zero_emission: bool
    co2_g_per_km: int
    typical_speed_kmh: int


KIND_SPECS: dict[VehicleKind, KindSpec] = {
    VehicleKind.FOOT: KindSpec(5_000, 30_000, 15_000, 60_000, True, 0, 5),
    VehicleKind.BICYCLE: KindSpec(15_000, 60_000, 30_000, 120_000, True, 0, 15),
    VehicleKind.CARGO_BIKE: KindSpec(80_000, 300_000, 150_000, 600_000, True, 0, 14),
    VehicleKind.E_SCOOTER: KindSpec(10_000, 40_000, 20_000, 60_000, True, 0, 18),
    VehicleKind.CAR: KindSpec(150_000, 400_000, 400_000, 1_500_000, False, 170, 30),
    VehicleKind.VAN: KindSpec(800_000, 3_000_000, 1_200_000, 10_000_000, False, 250, 28),
    VehicleKind.PUBLIC_TRANSPORT: KindSpec(10_000, 40_000, 20_000, 80_000, True, 0, 20),
}

# A parcel heavier or bigger than these can be carried by no vehicle the platform knows.
LARGEST_WEIGHT_G = max(s.limit_weight_g for s in KIND_SPECS.values())
LARGEST_VOLUME_CM3 = max(s.limit_volume_cm3 for s in KIND_SPECS.values())
# The longest side a parcel may have: a light van's load floor.
LARGEST_SIDE_MM = 3_000

MAX_SPEED_KMH = 130
MAX_CO2_G_PER_KM = 1_000


@dataclass(frozen=True, slots=True)
class NewVehicle:
    """A vehicle as the courier registers it; figures left out take the kind's defaults."""

    kind: VehicleKind
    name: str
    max_weight_g: int | None = None
    max_volume_cm3: int | None = None
    zero_emission: bool | None = None
    co2_g_per_km: int | None = None
    typical_speed_kmh: int | None = None


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: UUID
    courier_id: UUID
    kind: VehicleKind
    name: str
    max_weight_g: int
    max_volume_cm3: int
    zero_emission: bool
    co2_g_per_km: int
    typical_speed_kmh: int
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def speed_mps(self) -> float:
        return self.typical_speed_kmh / 3.6

    @property
    def retired(self) -> bool:
        """A retired vehicle stays readable, but new trips must refuse it (VEHICLE_RETIRED)."""
        return self.retired_at is not None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_weight_g=self.max_weight_g,
            max_volume_cm3=self.max_volume_cm3,
            zero_emission=self.zero_emission,
            co2_g_per_km=self.co2_g_per_km,
            typical_speed_kmh=self.typical_speed_kmh,
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vehicle can carry, how fast, and what a km of detour emits."""

    max_weight_g: int
    max_volume_cm3: int
    zero_emission: bool
    co2_g_per_km: int
    typical_speed_kmh: int


def kind_defaults(kind: VehicleKind) -> Capabilities:
    spec = KIND_SPECS[kind]
    return Capabilities(
        max_weight_g=spec.max_weight_g,
        max_volume_cm3=spec.max_volume_cm3,
        zero_emission=spec.zero_emission,
        co2_g_per_km=spec.co2_g_per_km,
        typical_speed_kmh=spec.typical_speed_kmh,
    )


def resolve_capabilities(
    kind: VehicleKind,
    problems: list[FieldError],
    *,
    current: Capabilities | None = None,
    max_weight_g: int | None = None,
    max_volume_cm3: int | None = None,
    zero_emission: bool | None = None,
    co2_g_per_km: int | None = None,
    typical_speed_kmh: int | None = None,
) -> Capabilities:
    """Overrides on top of `current` (an edit) or the kind's defaults (a new vehicle), within the limits.

    The emission pair is completed from what was given: `zeroEmission: true` alone means 0 g/km; a
    positive CO2 figure alone means not zero-emission; flipping to not zero-emission without a figure
    takes the kind's default. Only a zero-emission vehicle that emits is contradictory.
    """
    spec = KIND_SPECS[kind]
    base = current or kind_defaults(kind)
    weight = base.max_weight_g if max_weight_g is None else max_weight_g
    volume = base.max_volume_cm3 if max_volume_cm3 is None else max_volume_cm3
    speed = base.typical_speed_kmh if typical_speed_kmh is None else typical_speed_kmh
    if zero_emission is None:
        zero = base.zero_emission and not (co2_g_per_km is not None and co2_g_per_km > 0)
    else:
        zero = zero_emission
    if co2_g_per_km is not None:
        co2 = co2_g_per_km
    elif zero:
        co2 = 0
    else:
        co2 = base.co2_g_per_km if not base.zero_emission else spec.co2_g_per_km

    def bounded(value: int, low: int, high: int, field: str, unit: str, why: str) -> None:
        if value < low:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"must be at least {low}{unit}", field))
        elif value > high:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"must be at most {high}{unit} {why}", field))

    kind_limit = f"for a {kind.value.replace('_', ' ')}"
    bounded(weight, 1, spec.limit_weight_g, "maxWeightG", " g", kind_limit)
    bounded(volume, 1, spec.limit_volume_cm3, "maxVolumeCm3", " cm3", kind_limit)
    bounded(speed, 1, MAX_SPEED_KMH, "typicalSpeedKmh", " km/h", "on any vehicle")
    bounded(co2, 0, MAX_CO2_G_PER_KM, "co2GPerKm", " g/km", "on any vehicle")
    if zero and co2 > 0:
        problems.append(
            FieldError(ErrorCode.EMISSIONS_INCONSISTENT, "a zero-emission vehicle emits 0 g/km", "co2GPerKm")
        )
    return Capabilities(
        max_weight_g=weight, max_volume_cm3=volume, zero_emission=zero, co2_g_per_km=co2, typical_speed_kmh=speed
    )
