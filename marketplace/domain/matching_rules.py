"""The platform's rules for the matching engine: what an exported instance's `rules` say, and why.

Amounts are minor units of the area's currency (every supported currency has two decimals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import ROAD_FACTOR
from marketplace.domain.pricing import local_minor

__all__ = [
    "MAX_PARCELS_PER_TRIP",
    "PAY_PER_DETOUR_KM_MINOR",
    "PAY_PER_PARCEL_MINOR",
    "ROAD_FACTOR",
    "SERVICE_S",
    "VERIFICATION_RULES",
    "FleetTariff",
    "LocalRules",
]

# Parking, walking to the door and the handover, per stop.
SERVICE_S = 180
# The engine prices bundles of at most three parcels per trip exactly.
MAX_PARCELS_PER_TRIP = 3
# Declared value (euro cents) from which a courier needs a verification level: 100.00 -> level 1
# (identity checked), 500.00 -> level 2 (background checked).
VERIFICATION_RULES: tuple[tuple[int, int], ...] = ((0, 0), (10_000, 1), (50_000, 2))
# What a courier earns (euro cents): per parcel carried, and per started km of detour driven for it.
PAY_PER_PARCEL_MINOR = 300
PAY_PER_DETOUR_KM_MINOR = 40


@dataclass(frozen=True, slots=True)
class LocalRules:
    """The euro-denominated thresholds and pay in one area's currency, by its price level."""

    verification: tuple[tuple[int, int], ...]
    pay_per_parcel_minor: int
    pay_per_detour_km_minor: int

    @classmethod
    def of(cls, currency: str) -> LocalRules:
        return cls(
            verification=tuple((local_minor(value, currency), level) for value, level in VERIFICATION_RULES),
            pay_per_parcel_minor=local_minor(PAY_PER_PARCEL_MINOR, currency),
            pay_per_detour_km_minor=local_minor(PAY_PER_DETOUR_KM_MINOR, currency),
        )


@dataclass(frozen=True, slots=True)
class FleetTariff:
    """The professional fleet's price for one parcel the crowd does not carry."""

    base_minor: int
    per_km_minor: int

    def cost_minor(self, direct_distance_m: float) -> int:
        road_m = direct_distance_m * ROAD_FACTOR
        return self.base_minor + math.ceil(self.per_km_minor * road_m / 1000)

    @classmethod
    def of(cls, area: ServiceArea) -> FleetTariff:
        return cls(base_minor=area.fleet_base_minor, per_km_minor=area.fleet_per_km_minor)
