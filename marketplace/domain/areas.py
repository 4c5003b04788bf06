"""Service areas: where the platform operates, in which currency and time zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from marketplace.domain.accounts import Role
from marketplace.domain.geo import Point, Polygon


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
