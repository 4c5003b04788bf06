"""Fixed places parcels move between: retailers' pickup locations, lockers and pickup points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    house_number: str
    postal_code: str
    city: str
    country_code: str


class PickupLocationKind(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"
    MICRO_HUB = "micro_hub"


@dataclass(frozen=True, slots=True)
class PickupLocation:
    id: UUID
    organization_id: UUID
    kind: PickupLocationKind
    name: str
    address: Address
    point: Point
    area_id: UUID
    opening_hours: OpeningHours
    created_at: datetime
    archived_at: datetime | None = None


class LockerKind(StrEnum):
    LOCKER = "locker"
    PICKUP_POINT = "pickup_point"


class CompartmentSize(StrEnum):
    S = "S"
    M = "M"
    L = "L"
    XL = "XL"


# Inner dimensions (mm, sorted small to large) of the common parcel-locker compartment classes.
COMPARTMENT_DIMENSIONS_MM: dict[CompartmentSize, tuple[int, int, int]] = {
    CompartmentSize.S: (80, 380, 640),
    CompartmentSize.M: (190, 380, 640),
    CompartmentSize.L: (410, 380, 640),
    CompartmentSize.XL: (600, 600, 800),
}
COMPARTMENT_MAX_WEIGHT_G = 25_000


def fits(size: CompartmentSize, dimensions_mm: tuple[int, int, int]) -> bool:
    """Sorted side by side: the parcel fits in any orientation iff its sorted sides all fit."""
    inner = sorted(COMPARTMENT_DIMENSIONS_MM[size])
    return all(p <= c for p, c in zip(sorted(dimensions_mm), inner, strict=True))


@dataclass(frozen=True, slots=True)
class Compartments:
    counts: tuple[tuple[CompartmentSize, int], ...]

    def accepts(self, dimensions_mm: tuple[int, int, int], weight_g: int) -> bool:
        if weight_g > COMPARTMENT_MAX_WEIGHT_G:
            return False
        return any(count > 0 and fits(size, dimensions_mm) for size, count in self.counts)


@dataclass(frozen=True, slots=True)
class Locker:
    """A parcel locker, or a staffed pickup point whose shelf space is listed as compartments too."""

    id: UUID
    kind: LockerKind
    name: str
    operator: str
    address: Address
    point: Point
    area_id: UUID
    opening_hours: OpeningHours
    compartments: Compartments
    active: bool
    created_at: datetime
    updated_at: datetime
