"""Trips couriers offer, their status machine, and the weekly commutes that create trips ahead of time.

Pure rules only: the status table and the one function that applies it, the input rules of a trip
and a commute, and the conversion of a commute's local wall-clock times into UTC instants per date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from marketplace.domain import validation
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, point_problems
from marketplace.domain.vehicles import Vehicle

# A trip is one journey: from earliest departure to latest arrival at most a day.
MAX_TRIP_SPAN = timedelta(hours=24)
# How far ahead a trip may be offered; beyond it plans are guesses nobody should book against.
MAX_TRIP_LEAD = timedelta(days=90)
# The most a courier may offer to go out of their way per trip (50 km), and the default (3 km).
MAX_DETOUR_M = 50_000
DEFAULT_MAX_DETOUR_M = 3_000
# How many days ahead commutes create trips; four weeks keeps the table the size of real plans.
MAX_SCHEDULE_DAYS = 28
DEFAULT_SCHEDULE_DAYS = 7


class TripStatus(StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# The whole status machine. A matched trip may fall back to open when its parcels are released.
TRANSITIONS: dict[TripStatus, frozenset[TripStatus]] = {
    TripStatus.OPEN: frozenset({TripStatus.MATCHED, TripStatus.CANCELLED, TripStatus.EXPIRED}),
    TripStatus.MATCHED: frozenset({TripStatus.OPEN, TripStatus.IN_PROGRESS}),
    TripStatus.IN_PROGRESS: frozenset({TripStatus.COMPLETED}),
    TripStatus.COMPLETED: frozenset(),
    TripStatus.CANCELLED: frozenset(),
    TripStatus.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed status change. Only `transition` makes one, and repositories change status only from one."""

    source: TripStatus
    target: TripStatus


def transition(source: TripStatus, target: TripStatus) -> Transition:
    """The one place the status machine is enforced: every status change in the code asks here first."""
    if target not in TRANSITIONS[source]:
        raise DomainError.single(
            ErrorCode.INVALID_TRANSITION, f"a trip cannot go from {source.value} to {target.value}", "status"
        )
    return Transition(source, target)


def effective_status(status: TripStatus, arrive_by: datetime, now: datetime) -> TripStatus:
    """An open trip is expired from the instant its latest arrival is reached, sweep or no sweep."""
    if status is TripStatus.OPEN and now >= arrive_by:
        return TripStatus.EXPIRED
    return status


@dataclass(frozen=True, slots=True)
class Waypoint:
    point: Point
    label: str


@dataclass(frozen=True, slots=True)
class Trip:
    id: UUID
    courier_id: UUID
    vehicle_id: UUID
    area_id: UUID
    origin: Waypoint
    destination: Waypoint
    depart_after: datetime
    arrive_by: datetime
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    status: TripStatus
    template_id: UUID | None
    template_date: date | None
    created_at: datetime
    updated_at: datetime

    def as_of(self, now: datetime) -> Trip:
        """The trip as readers see it at `now`: overdue open trips read as expired."""
        status = effective_status(self.status, self.arrive_by, now)
        return self if status is self.status else replace(self, status=status)


@dataclass(frozen=True, slots=True)
class Commute:
    """A weekly template: on each ISO weekday, a trip from `depart_local` to `arrive_local` in `time_zone`."""

    id: UUID
    courier_id: UUID
    vehicle_id: UUID
    origin: Waypoint
    destination: Waypoint
    weekdays: tuple[int, ...]
    depart_local: time
    arrive_local: time
    time_zone: str
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    active: bool
    created_at: datetime
    updated_at: datetime


# --- input rules (each appends to `problems`, so one request reports everything at once) ------


def waypoint(raw: Waypoint, field: str, problems: list[FieldError]) -> Waypoint:
    problems.extend(point_problems(raw.point.lat, raw.point.lng, f"{field}.point"))
    return Waypoint(raw.point, validation.text(raw.label, f"{field}.label", problems))


def trip_window(depart_after: datetime, arrive_by: datetime, now: datetime, problems: list[FieldError]) -> None:
    """Ordered, at most MAX_TRIP_SPAN long, not over yet, not beyond MAX_TRIP_LEAD; departure may have begun."""
    depart_ok = validation.instant(depart_after, "departAfter", problems)
    arrive_ok = validation.instant(arrive_by, "arriveBy", problems)
    if not (depart_ok and arrive_ok):
        return
    if arrive_by <= depart_after:
        problems.append(FieldError(ErrorCode.WINDOW_ORDER, "must be after departAfter", "arriveBy"))
    elif arrive_by - depart_after > MAX_TRIP_SPAN:
        hours = int(MAX_TRIP_SPAN.total_seconds() // 3600)
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"a trip may span at most {hours} h", "arriveBy"))
    if arrive_by <= now:
        problems.append(FieldError(ErrorCode.IN_THE_PAST, "must be in the future", "arriveBy"))
    if depart_after > now + MAX_TRIP_LEAD:
        problems.append(
            FieldError(ErrorCode.OUT_OF_RANGE, f"must be within {MAX_TRIP_LEAD.days} days from now", "departAfter")
        )


def max_detour(value: int, problems: list[FieldError]) -> int:
    if not 0 <= value <= MAX_DETOUR_M:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"must be between 0 and {MAX_DETOUR_M} m", "maxDetourM"))
    return value


def usable_vehicle(vehicle: Vehicle | None, problems: list[FieldError]) -> Vehicle | None:
    """The courier's own vehicle, not retired; another courier's vehicle reads as missing."""
    if vehicle is None:
        problems.append(FieldError(ErrorCode.NOT_FOUND, "no such vehicle", "vehicleId"))
        return None
    if vehicle.retired_at is not None:
        problems.append(FieldError(ErrorCode.VEHICLE_RETIRED, "this vehicle is retired", "vehicleId"))
        return None
    return vehicle


def spare_capacity(
    weight_g: int | None, volume_cm3: int | None, vehicle: Vehicle | None, problems: list[FieldError]
) -> tuple[int, int]:
    """Defaults to the vehicle's maximum; never more than the vehicle carries. Unknown vehicle: only positivity."""
    checked = []
    for value, field, limit, unit in (
        (weight_g, "spareWeightG", None if vehicle is None else vehicle.max_weight_g, "g"),
        (volume_cm3, "spareVolumeCm3", None if vehicle is None else vehicle.max_volume_cm3, "cm3"),
    ):
        if value is None:
            checked.append(limit or 0)
            continue
        if value <= 0:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be greater than zero", field))
        elif limit is not None and value > limit:
            problems.append(
                FieldError(ErrorCode.CAPACITY_EXCEEDS_VEHICLE, f"the vehicle carries at most {limit} {unit}", field)
            )
        checked.append(value)
    return checked[0], checked[1]


def weekdays(raw: Iterable[int], problems: list[FieldError]) -> tuple[int, ...]:
    """ISO weekdays (1 = Monday .. 7 = Sunday), at least one, each once; stored sorted."""
    values = list(raw)
    if not values:
        problems.append(FieldError(ErrorCode.REQUIRED, "name at least one weekday", "weekdays"))
    seen: set[int] = set()
    for i, day in enumerate(values):
        if not 1 <= day <= 7:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be 1 (Monday) to 7 (Sunday)", f"weekdays[{i}]"))
        elif day in seen:
            problems.append(FieldError(ErrorCode.INVALID, "each weekday may appear once", f"weekdays[{i}]"))
        seen.add(day)
    return tuple(sorted(seen))


def local_times(depart: time, arrive: time, problems: list[FieldError]) -> None:
    """Whole-minute wall-clock times without an offset (the template's zone gives it), arriving later the same day."""
    ok = True
    for value, field in ((depart, "departTime"), (arrive, "arriveTime")):
        if value.tzinfo is not None:
            problems.append(FieldError(ErrorCode.INVALID, "a local time without offset; set timeZone", field))
            ok = False
        elif value.second or value.microsecond:
            problems.append(FieldError(ErrorCode.INVALID, "whole minutes only, e.g. 08:15", field))
            ok = False
    if ok and arrive <= depart:
        problems.append(FieldError(ErrorCode.WINDOW_ORDER, "must be after departTime on the same day", "arriveTime"))


def schedule_days(days: int) -> int:
    if not 1 <= days <= MAX_SCHEDULE_DAYS:
        raise DomainError.single(ErrorCode.OUT_OF_RANGE, f"must be between 1 and {MAX_SCHEDULE_DAYS}", "days")
    return days


# --- commute dates ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One day's trip of a commute: its local date and the window in UTC."""

    template_date: date
    depart_after: datetime
    arrive_by: datetime


def occurrences(commute: Commute, now: datetime, days: int) -> list[Occurrence]:
    """The commute's trips for the `days` local dates starting today (in its zone), departing after `now`.

    Local times become UTC per date, so 08:00 stays 08:00 across a DST change. A time that does not
    exist that day (the spring-forward gap) is read with the offset before the change (02:30 becomes
    03:30 summer time); an ambiguous one (autumn) is its first occurrence. A day on which that makes
    the window empty is skipped.
    """
    zone = ZoneInfo(commute.time_zone)
    today = now.astimezone(zone).date()
    found = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        if day.isoweekday() not in commute.weekdays:
            continue
        depart_at = datetime.combine(day, commute.depart_local, tzinfo=zone).astimezone(UTC)
        arrive_at = datetime.combine(day, commute.arrive_local, tzinfo=zone).astimezone(UTC)
        if depart_at <= now or arrive_at <= depart_at:
            continue
        found.append(Occurrence(day, depart_at, arrive_at))
    return found
