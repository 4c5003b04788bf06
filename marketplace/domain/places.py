"""Fixed places parcels move between: retailers' pickup locations, lockers and pickup points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from uuid import UUID

from marketplace.domain import validation
from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours

HOUSE_NUMBER_MAX_LENGTH = 20
# More compartments of one size than the largest locker banks hold: a typo, not a locker.
MAX_COMPARTMENTS_PER_SIZE = 1_000


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    house_number: str
    postal_code: str
    city: str
    country_code: str


def parse_address(
    *,
    street: str,
    house_number: str,
    postal_code: str,
    city: str,
    country_code: str,
    area_country: str | None,
    field: str,
    problems: list[FieldError],
) -> Address:
    """A deliverable street address in the service area's country (None: the area is not known yet).

    The postal code is checked against the area's country when there is one, else against the given
    country, so a caller whose point missed every area still hears about a malformed code.
    """
    clean_country = validation.country(country_code, f"{field}.countryCode", problems)
    if area_country is not None and clean_country in validation.SUPPORTED_COUNTRIES and clean_country != area_country:
        problems.append(
            FieldError(
                ErrorCode.INVALID_COUNTRY,
                f"must be {area_country}, the country of the service area holding the point",
                f"{field}.countryCode",
            )
        )
    number = " ".join(house_number.split())
    number_field = f"{field}.houseNumber"
    if not number:
        problems.append(FieldError(ErrorCode.HOUSE_NUMBER_REQUIRED, "a house number is required", number_field))
    elif len(number) > HOUSE_NUMBER_MAX_LENGTH:
        msg = f"must be at most {HOUSE_NUMBER_MAX_LENGTH} characters"
        problems.append(FieldError(ErrorCode.TOO_LONG, msg, number_field))
    elif validation.unstorable(number):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain control characters", number_field))
    postal_country = area_country or clean_country
    code = " ".join(postal_code.upper().split())
    if postal_country in validation.SUPPORTED_COUNTRIES:
        code = validation.postal_code(postal_code, postal_country, f"{field}.postalCode", problems)
    return Address(
        street=validation.text(street, f"{field}.street", problems),
        house_number=number,
        postal_code=code,
        city=validation.text(city, f"{field}.city", problems),
        country_code=area_country or clean_country,
    )


class PickupLocationKind(StrEnum):
    STORE = "store"
    WAREHOUSE = "warehouse"
    MICRO_HUB = "micro_hub"


# Weekly opening hours as given: (ISO weekday, opens, closes) in the area's local time.
RawHours = tuple[tuple[int, time, time], ...]


@dataclass(frozen=True, slots=True)
class NewPickupLocation:
    """A retailer's store as registered, before it is checked against its service area."""

    kind: PickupLocationKind
    name: str
    address: Address
    point: Point
    opening_hours: RawHours


@dataclass(frozen=True, slots=True)
class NewLocker:
    """A locker or pickup point as operations register it, before it is checked."""

    kind: LockerKind
    name: str
    operator: str
    address: Address
    point: Point
    opening_hours: RawHours
    compartments: tuple[tuple[CompartmentSize, int], ...]
    active: bool = True


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

    def count_of(self, size: CompartmentSize) -> int:
        return sum(count for s, count in self.counts if s is size)

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


_SIZE_ORDER = tuple(CompartmentSize)


def parse_compartments(
    raw: Iterable[tuple[CompartmentSize, int]], field: str, problems: list[FieldError]
) -> Compartments:
    """Each size at most once, counts 0..MAX_COMPARTMENTS_PER_SIZE, and somewhere to put a parcel."""
    entries = list(raw)
    if len(entries) > len(CompartmentSize):
        msg = f"list each of the {len(CompartmentSize)} sizes at most once"
        problems.append(FieldError(ErrorCode.INVALID_COMPARTMENTS, msg, field))
        return Compartments(())
    seen: dict[CompartmentSize, int] = {}
    for i, (size, count) in enumerate(entries):
        if size in seen:
            msg = "each size is listed once"
            problems.append(FieldError(ErrorCode.INVALID_COMPARTMENTS, msg, f"{field}[{i}].size"))
            continue
        if not 0 <= count <= MAX_COMPARTMENTS_PER_SIZE:
            msg = f"must be between 0 and {MAX_COMPARTMENTS_PER_SIZE}"
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, msg, f"{field}[{i}].count"))
        seen[size] = count
    if not any(count > 0 for count in seen.values()):
        problems.append(FieldError(ErrorCode.INVALID_COMPARTMENTS, "at least one compartment is needed", field))
    return Compartments(tuple((size, seen[size]) for size in _SIZE_ORDER if size in seen))
