"""What the marketplace hands the matching engine: open trips and parcels waiting for a courier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from marketplace.domain.geo import Point


@dataclass(frozen=True, slots=True)
class OpenTrip:
    id: UUID
    courier_id: UUID
    origin: Point
    destination: Point
    depart_after: datetime
    arrive_by: datetime
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    speed_kmh: int
    co2_g_per_km: int


@dataclass(frozen=True, slots=True)
class WaitingParcel:
    id: UUID
    job_id: UUID
    pickup: Point
    dropoff: Point
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    weight_g: int
    volume_cm3: int
    declared_value_minor: int
    currency: str
