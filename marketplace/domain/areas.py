"""Service areas: where the platform operates, in which currency and time zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from marketplace.domain.accounts import Role
from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.geo import Point, Polygon


@dataclass(frozen=True, slots=True)
class AreaDispatch:
    """How an area dispatches (seconds): rounds every `round_interval_s`, each solving for at most
    `round_time_limit_s`; offers open for `offer_ttl_s`; parcels unplaced `fleet_cutoff_s` before their
    pickup window closes go to the fleet."""

    round_interval_s: int = 300
    round_time_limit_s: int = 20
    offer_ttl_s: int = 180
    fleet_cutoff_s: int = 1800


# Inclusive bounds, as the database checks them; the GraphQL field names are the error paths.
DISPATCH_BOUNDS: dict[str, tuple[str, int, int]] = {
    "round_interval_s": ("roundIntervalS", 30, 86_400),
    "round_time_limit_s": ("roundTimeLimitS", 5, 600),
    "offer_ttl_s": ("offerTtlS", 30, 3_600),
    "fleet_cutoff_s": ("fleetCutoffS", 0, 86_400),
}


def dispatch_settings(
    current: AreaDispatch, changes: dict[str, int | None], problems: list[FieldError]
) -> AreaDispatch:
    """`current` with the given changes, each checked against its bounds (problems appended)."""
    values = {name: getattr(current, name) for name in DISPATCH_BOUNDS}
    for name, value in changes.items():
        if value is None:
            continue
        field, low, high = DISPATCH_BOUNDS[name]
        if not low <= value <= high:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"must be between {low} and {high} seconds", field))
        else:
            values[name] = value
    return AreaDispatch(**values)


@dataclass(frozen=True, slots=True)
class ServiceArea:
    """One city. `fleet_*` price the professional fleet that takes what the crowd cannot carry."""

    id: UUID
    name: str
    country_code: str
    currency: str
    time_zone: str
    polygon: Polygon
    active: bool
    fleet_base_minor: int
    fleet_per_km_minor: int
    created_at: datetime
    updated_at: datetime
    dispatch: AreaDispatch = AreaDispatch()

    def contains(self, p: Point) -> bool:
        return self.polygon.bbox.contains(p) and self.polygon.contains(p)


@dataclass(frozen=True, slots=True)
class NewServiceArea:
    """An area as operations define it, before it is checked; `polygon` is (lat, lng) vertices in order."""

    name: str
    country_code: str
    currency: str
    time_zone: str
    polygon: tuple[tuple[float, float], ...]
    fleet_base_minor: int
    fleet_per_km_minor: int
    active: bool = True
    round_interval_s: int | None = None
    round_time_limit_s: int | None = None
    offer_ttl_s: int | None = None
    fleet_cutoff_s: int | None = None

    def dispatch_changes(self) -> dict[str, int | None]:
        """The dispatch settings given (None keeps the default)."""
        return {name: getattr(self, name) for name in DISPATCH_BOUNDS}


def locate(areas: Iterable[ServiceArea], p: Point) -> ServiceArea | None:
    """The active area holding the point; overlapping areas resolve to the oldest, deterministically."""
    found = [a for a in areas if a.active and a.contains(p)]
    return min(found, key=lambda a: (a.created_at, a.id)) if found else None


# Caps that catch a price typed in whole units instead of cents (or the reverse) in any supported currency.
MAX_FLEET_BASE_MINOR = 1_000_000
MAX_FLEET_PER_KM_MINOR = 100_000


def sees_fleet_prices(role: Role) -> bool:
    """What the professional fleet costs is the platform's business, not its couriers' or retailers'."""
    return role in (Role.ADMIN, Role.FINANCE)
