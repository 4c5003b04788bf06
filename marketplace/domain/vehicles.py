"""Vehicle kinds, their documented defaults, and the largest parcel the platform can carry at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


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
