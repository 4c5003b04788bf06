"""What the marketplace hands the matching engine: open trips and parcels waiting for a courier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours


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
    """A parcel with its job's open windows (the parts when the store and a locker are open, as booked),
    and the hours those places keep now, in the area's time zone."""

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
    store_hours: OpeningHours
    locker_hours: OpeningHours | None
    time_zone: str
