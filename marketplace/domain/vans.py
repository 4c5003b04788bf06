"""The fleet's depot and its van plans: what operations set, and what a planned area-day holds.

Times on a depot are seconds from the area's local midnight (a depot closing after midnight says so
with more than 86,400). A van plan is either the fleet's (parcels handed to it) or the van-only
baseline (every parcel of the day, the figure the crowd is measured against).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, point_problems

DAY_S = 86_400


class VanPlanKind(StrEnum):
    FLEET = "fleet"
    BASELINE = "baseline"


@dataclass(frozen=True, slots=True)
class FleetDepot:
    """An area's micro-hub and the vans working from it (one van type per depot)."""

    area_id: UUID
    name: str
    point: Point
    opens_s: int
    closes_s: int
    van_count: int
    van_capacity_g: int
    van_fixed_cost_minor: int
    van_cost_per_km_minor: int
    van_cost_per_hour_minor: int
    van_co2_g_per_km: int

    def check(self) -> FleetDepot:
        problems = list(point_problems(self.point.lat, self.point.lng, "point"))
        if not 1 <= len(self.name) <= 200:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "name must be 1 to 200 characters", "name"))
        if not (0 <= self.opens_s < self.closes_s <= 2 * DAY_S):
            problems.append(
                FieldError(ErrorCode.WINDOW_ORDER, "the depot opens before it closes, within two days", "closesS")
            )
        if not 1 <= self.van_count <= 1000:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "1 to 1000 vans", "vanCount"))
        if self.van_capacity_g <= 0:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "a van carries something", "vanCapacityG"))
        for field, value in (
            ("vanFixedCostMinor", self.van_fixed_cost_minor),
            ("vanCostPerKmMinor", self.van_cost_per_km_minor),
            ("vanCostPerHourMinor", self.van_cost_per_hour_minor),
            ("vanCo2GPerKm", self.van_co2_g_per_km),
        ):
            if not 0 <= value <= 10_000_000:
                problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "0 to 10,000,000", field))
        if problems:
            raise DomainError(problems)
        return self


@dataclass(frozen=True, slots=True)
class VanStop:
    parcel_id: UUID
    point: Point
    arrive_at: datetime
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True, slots=True)
class VanRoute:
    route_no: int
    leg: str  # "collection" or "delivery"
    van: str
    depart_at: datetime
    return_at: datetime
    distance_m: int
    cost_minor: int
    co2_g: int
    stops: tuple[VanStop, ...]


@dataclass(frozen=True, slots=True)
class VanPlan:
    """One area-day's van rounds; every figure is summed from `routes`."""

    id: UUID
    area_id: UUID
    local_date: date
    kind: VanPlanKind
    planned_at: datetime
    parcels: int
    unserved: tuple[UUID, ...]
    routes: tuple[VanRoute, ...]
    stops: int
    distance_m: int
    duration_s: int
    cost_minor: int
    currency: str
    co2_g: int

    @property
    def served(self) -> int:
        return self.parcels - len(self.unserved)
