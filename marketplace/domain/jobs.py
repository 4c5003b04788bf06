"""Delivery requests, the rules a request must meet before it is priced, and the jobs it books into.

`check_request` is pure: the service looks up what a batch of requests names (pickup locations,
lockers, service areas, references already taken) in a few queries, and this module decides, for
every request, either the normalised `DeliveryOrder` to price and book or every problem at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.domain import proof, validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role, normalize_email
from marketplace.domain.areas import ServiceArea, locate
from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, point_problems
from marketplace.domain.hours import OpeningHours
from marketplace.domain.places import Address, Locker, LockerKind, PickupLocation
from marketplace.domain.pricing import PRICE_LEVEL_PERCENT, Price, local_minor, price_delivery, road_distance_m
from marketplace.domain.vehicles import LARGEST_SIDE_MM, LARGEST_VOLUME_CM3, LARGEST_WEIGHT_G

QUOTE_TTL = timedelta(minutes=15)
MAX_PARCELS_PER_JOB = 20
MAX_BULK_JOBS = 500
# Trips are offered days, not months, ahead: a pickup further out cannot be priced honestly.
MAX_BOOKING_AHEAD = timedelta(days=30)
# Crowd couriers deliver the same or the next days: a delivery window may close at most this long
# after the pickup window does, so a quote cannot reserve capacity (or a price) for months.
MAX_DELIVERY_AFTER_PICKUP = timedelta(days=3)
# Neither window may be longer: together with the above, a job is done within days of its pickup.
MAX_WINDOW = timedelta(days=3)
REFERENCE_MAX_LENGTH = 100
HOUSE_NUMBER_MAX_LENGTH = 20
# E.164: a country code and subscriber number of at most 15 digits; 7 is the shortest in Europe.
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-./()]")


class JobStatus(StrEnum):
    BOOKED = "booked"
    ASSIGNED = "assigned"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    FAILED = "failed"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    IN_LOCKER = "in_locker"  # every unsettled parcel waits in a locker for its recipient
    HANDED_TO_FLEET = "handed_to_fleet"


# A job in these states still has its parcels picked up or carried from its pickup location.
UNFINISHED_JOB_STATUSES = (JobStatus.BOOKED, JobStatus.ASSIGNED, JobStatus.IN_TRANSIT)


class FailureAction(StrEnum):
    """What the courier does when the parcel cannot be handed over."""

    RETURN_TO_PICKUP = "return_to_pickup"
    SAFE_PLACE = "safe_place"
    LOCKER = "locker"


class DropoffKind(StrEnum):
    ADDRESS = "address"
    LOCKER = "locker"


# --- requests as they arrive --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParcelRequest:
    weight_g: int
    length_mm: int
    width_mm: int
    height_mm: int
    declared_value_minor: int
    currency: str
    fragile: bool = False
    id_check: bool = False
    adults_only: bool = False


@dataclass(frozen=True, slots=True)
class DropoffRequest:
    """Either `locker_id`, or an address with its point; never both."""

    locker_id: UUID | None = None
    street: str | None = None
    house_number: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str | None = None
    point: Point | None = None

    @property
    def has_address(self) -> bool:
        parts = (self.street, self.house_number, self.postal_code, self.city, self.country_code)
        return self.point is not None or any(p is not None and p.strip() for p in parts)


@dataclass(frozen=True, slots=True)
class RecipientRequest:
    name: str
    phone: str
    instructions: str | None = None
    safe_place: str | None = None
    safe_place_consent: bool = False
    neighbour_consent: bool = False
    email: str | None = None  # for notifications by e-mail; the phone gets them by SMS
    language: str | None = None  # ISO 639-1; unknown: the area's language


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    pickup_location_id: UUID
    dropoff: DropoffRequest
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    parcels: tuple[ParcelRequest, ...]
    recipient: RecipientRequest
    on_failure: FailureAction = FailureAction.RETURN_TO_PICKUP
    fallback_locker_id: UUID | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class QuoteBooking:
    """A request to book a quote into a job."""

    quote_id: UUID


@dataclass(frozen=True, slots=True)
class BulkBooking:
    """Deliveries quoted and booked in one call, all or none; row i is `jobs[i]`."""

    jobs: tuple[QuoteRequest, ...]


# --- what a valid request becomes ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    start_at: datetime
    end_at: datetime


def open_windows(
    pickup: Window,
    delivery: Window,
    *,
    store_hours: OpeningHours | None,
    locker_hours: OpeningHours | None,
    time_zone: str,
    now: datetime | None,
) -> tuple[Window | None, Window | None]:
    """The pickup window clipped to the store's hours, and a locker's delivery window to the locker's.

    A courier may only be sent when the place is open. Where the hours split a window, the longest
    part still ahead at `now` (if given) is the one (OpeningHours.open_part); a locker's part must
    also end after the pickup part starts. A home has no hours, so an address keeps its delivery
    window (and hours not given are not judged). None where no part is left: the place is closed for
    the whole (rest of the) window.
    """
    pickup_open: Window | None = pickup
    if store_hours is not None:
        pickup_part = store_hours.open_part(pickup.start_at, pickup.end_at, time_zone, now=now)
        pickup_open = None if pickup_part is None else Window(*pickup_part)
    if locker_hours is None:
        return pickup_open, delivery
    delivery_part = locker_hours.open_part(
        delivery.start_at,
        delivery.end_at,
        time_zone,
        now=now,
        ends_after=None if pickup_open is None else pickup_open.start_at,
    )
    return pickup_open, None if delivery_part is None else Window(*delivery_part)


@dataclass(frozen=True, slots=True)
class ParcelSpec:
    weight_g: int
    length_mm: int
    width_mm: int
    height_mm: int
    declared_value_minor: int
    currency: str
    fragile: bool
    id_check: bool
    adults_only: bool

    @property
    def volume_cm3(self) -> int:
        return parcel_volume_cm3(self.length_mm, self.width_mm, self.height_mm)

    @property
    def dimensions_mm(self) -> tuple[int, int, int]:
        return (self.length_mm, self.width_mm, self.height_mm)


@dataclass(frozen=True, slots=True)
class Dropoff:
    """Where the parcel goes; a locker drop-off carries the locker's address for the courier."""

    kind: DropoffKind
    point: Point
    address: Address
    locker_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    phone: str
    instructions: str | None
    safe_place: str | None
    safe_place_consent: bool
    neighbour_consent: bool
    email: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryOrder:
    """A request that passed every rule, normalised: what a quote prices and a booking stores."""

    area_id: UUID
    currency: str
    pickup_location_id: UUID
    pickup_point: Point
    dropoff: Dropoff
    pickup_window: Window
    delivery_window: Window
    parcels: tuple[ParcelSpec, ...]
    recipient: Recipient
    failure_action: FailureAction
    fallback_locker_id: UUID | None
    reference: str | None
    # The parts of the windows during which the places are open (see `open_windows`): what the courier is
    # held to, what is priced, and what the matching engine is given.
    pickup_window_open: Window
    delivery_window_open: Window

    @property
    def distance_m(self) -> int:
        return road_distance_m(self.pickup_point, self.dropoff.point)

    def price(self, now: datetime) -> Price:
        """Urgency is that of the delivery window as the drop-off is open: a locker closing early is urgent."""
        return price_delivery(
            currency=self.currency,
            distance_m=self.distance_m,
            parcels=self.parcels,
            deliver_from=self.delivery_window_open.start_at,
            deliver_until=self.delivery_window_open.end_at,
            now=now,
        )


@dataclass(frozen=True, slots=True)
class Quote:
    id: UUID
    organization_id: UUID
    order: DeliveryOrder
    price: Price
    distance_m: int
    created_at: datetime
    expires_at: datetime
    job_id: UUID | None = None

    @property
    def area_id(self) -> UUID:
        return self.order.area_id

    def expired(self, now: datetime) -> bool:
        """A quote is good up to, not including, its expiry instant."""
        return now >= self.expires_at


def new_quote(quote_id: UUID, organization_id: UUID, order: DeliveryOrder, now: datetime) -> Quote:
    return Quote(
        id=quote_id,
        organization_id=organization_id,
        order=order,
        price=order.price(now),
        distance_m=order.distance_m,
        created_at=now,
        expires_at=now + QUOTE_TTL,
    )


@dataclass(frozen=True, slots=True)
class Parcel:
    id: UUID
    job_id: UUID
    position: int
    spec: ParcelSpec
    created_at: datetime
    area_id: UUID
    status: ParcelStatus = ParcelStatus.BOOKED
    status_changed_at: datetime | None = None
    assigned_courier_id: UUID | None = None
    assigned_trip_id: UUID | None = None
    label_code: str | None = None  # printed on the parcel; the courier types it at the pickup
    pin_hash: bytes | None = field(default=None, repr=False)  # the recipient's PIN, keyed hash only


@dataclass(frozen=True, slots=True)
class Job:
    id: UUID
    organization_id: UUID
    quote_id: UUID | None
    order: DeliveryOrder
    status: JobStatus
    price: Price
    distance_m: int
    parcels: tuple[Parcel, ...]
    booked_by_user_id: UUID | None
    booked_by_api_key_id: UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def recipient(self) -> Recipient:
        return self.order.recipient


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as one caller may see it: `recipient` is None when its contact details are not theirs to see."""

    job: Job
    recipient: Recipient | None
    # The booking organisation or operations: label codes, locker pickup codes, proof and fees.
    owner: bool = False
    # Recipient PINs, only in the answer to the booking that generated them (they are stored hashed).
    pins: Mapping[UUID, str] = field(default_factory=dict)


def book(
    quote: Quote,
    job_id: UUID,
    parcel_ids: Sequence[UUID],
    principal: Principal,
    now: datetime,
    *,
    pin_key: bytes,
    pins: dict[UUID, str] | None = None,
) -> Job:
    """The job of a quote; every parcel gets a label code and a recipient PIN (kept as a keyed hash).

    The PINs in clear go into `pins` (parcel id -> PIN) for the booking answer, and nowhere else.
    """
    order = quote.order
    issued = {pid: proof.new_pin() for pid in parcel_ids}
    if pins is not None:
        pins.update(issued)
    parcels = tuple(
        Parcel(
            id=pid,
            job_id=job_id,
            position=i,
            spec=spec,
            created_at=now,
            area_id=order.area_id,
            status_changed_at=now,
            label_code=proof.new_label_code(),
            pin_hash=proof.pin_hash(pin_key, pid, issued[pid]),
        )
        for i, (pid, spec) in enumerate(zip(parcel_ids, order.parcels, strict=True))
    )
    return Job(
        id=job_id,
        organization_id=quote.organization_id,
        quote_id=quote.id,
        order=order,
        status=JobStatus.BOOKED,
        price=quote.price,
        distance_m=quote.distance_m,
        parcels=parcels,
        booked_by_user_id=principal.user_id,
        booked_by_api_key_id=principal.api_key_id,
        created_at=now,
        updated_at=now,
    )


# --- who sees what --------------------------------------------------------------------------------


def _assigned_to(job: Job, scope: Scope) -> bool:
    return any(p.assigned_courier_id is not None and scope.sees_courier(p.assigned_courier_id) for p in job.parcels)


def may_read_job(job: Job, principal: Principal) -> bool:
    """The booking organisation and admins; a courier only once a parcel of the job is theirs."""
    scope = Scope(principal)
    return scope.sees_organization(job.organization_id) or _assigned_to(job, scope)


def may_see_recipient(job: Job, principal: Principal) -> bool:
    """Recipient contact details are personal data: no courier sees them before being assigned."""
    scope = Scope(principal)
    return scope.sees_organization(job.organization_id) or _assigned_to(job, scope)


def view_for(job: Job, principal: Principal) -> JobView | None:
    """None when the caller may not read the job at all (answered as NOT_FOUND)."""
    if not may_read_job(job, principal):
        return None
    owner = principal.role is Role.ADMIN or (
        principal.role is Role.RETAILER and principal.organization_id == job.organization_id
    )
    return JobView(job=job, recipient=job.recipient if may_see_recipient(job, principal) else None, owner=owner)


# --- checking requests ----------------------------------------------------------------------------


def parcel_volume_cm3(length_mm: int, width_mm: int, height_mm: int) -> int:
    """Rounded up: a parcel of 1 mm3 still takes a cubic centimetre of a vehicle's space."""
    return math.ceil(length_mm * width_mm * height_mm / 1000)


def normalize_phone(raw: str, field: str, problems: list[FieldError]) -> str:
    """'+31 6 1234-5678' and '0031612345678' become '+31612345678'; national forms are refused."""
    value = _PHONE_SEPARATORS.sub("", raw.strip())
    if value.startswith("00"):
        value = "+" + value[2:]
    if not _PHONE.fullmatch(value):
        problems.append(FieldError(ErrorCode.INVALID, "must be an international number: + and 7 to 15 digits", field))
    return value


@dataclass(frozen=True, slots=True)
class Lookups:
    """What a batch of requests names, looked up once for the whole batch.

    `areas` are the active areas around every point named (the stores' included, since a store lies
    inside its own area): a store's area missing from them is not active.
    """

    now: datetime
    pickup_locations: Mapping[UUID, PickupLocation]
    lockers: Mapping[UUID, Locker]
    areas: Sequence[ServiceArea]
    taken_references: Collection[str] = field(default_factory=frozenset)

    def active_area(self, area_id: UUID) -> ServiceArea | None:
        return next((a for a in self.areas if a.id == area_id and a.active), None)


def max_declared_value_minor(currency: str) -> int:
    """The platform maximum, set in euro cents and carried to other currencies by their price level."""
    if currency not in PRICE_LEVEL_PERCENT:
        return validation.MAX_DECLARED_VALUE_MINOR
    return local_minor(validation.MAX_DECLARED_VALUE_MINOR, currency)


def _path(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def _windows(req: QuoteRequest, now: datetime, p: str, problems: list[FieldError]) -> bool:
    before = len(problems)
    validation.window(req.pickup_from, req.pickup_until, _path(p, "pickupWindow"), problems, now=now)
    validation.window(req.deliver_from, req.deliver_until, _path(p, "deliveryWindow"), problems, now=now)
    if len(problems) > before:
        return False
    if req.deliver_until <= req.pickup_from:
        problems.append(
            FieldError(
                ErrorCode.WINDOW_ORDER,
                "the delivery window must end after the pickup window starts",
                _path(p, "deliveryWindow"),
            )
        )
    for name, start, end in (
        ("pickupWindow", req.pickup_from, req.pickup_until),
        ("deliveryWindow", req.deliver_from, req.deliver_until),
    ):
        if end - start > MAX_WINDOW:
            problems.append(
                FieldError(ErrorCode.OUT_OF_RANGE, f"a window may span at most {MAX_WINDOW.days} days", _path(p, name))
            )
    if req.deliver_until > req.pickup_until + MAX_DELIVERY_AFTER_PICKUP:
        problems.append(
            FieldError(
                ErrorCode.OUT_OF_RANGE,
                f"the delivery window must close at most {MAX_DELIVERY_AFTER_PICKUP.days} days after the pickup window",
                _path(p, "deliveryWindow"),
            )
        )
    if req.pickup_from > now + MAX_BOOKING_AHEAD:
        problems.append(
            FieldError(
                ErrorCode.OUT_OF_RANGE,
                f"pickups can be booked at most {MAX_BOOKING_AHEAD.days} days ahead",
                _path(p, "pickupWindow"),
            )
        )
    return len(problems) == before


def _parcels(req: QuoteRequest, p: str, problems: list[FieldError]) -> list[ParcelSpec]:
    if not req.parcels:
        problems.append(FieldError(ErrorCode.REQUIRED, "a job carries at least one parcel", _path(p, "parcels")))
        return []
    if len(req.parcels) > MAX_PARCELS_PER_JOB:
        problems.append(
            FieldError(
                ErrorCode.TOO_MANY_ROWS, f"a job carries at most {MAX_PARCELS_PER_JOB} parcels", _path(p, "parcels")
            )
        )
        return []
    specs = []
    for i, raw in enumerate(req.parcels):
        at = _path(p, f"parcels[{i}]")
        before = len(problems)
        if raw.weight_g <= 0:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be greater than zero", f"{at}.weightG"))
        elif raw.weight_g > LARGEST_WEIGHT_G:
            problems.append(
                FieldError(ErrorCode.TOO_HEAVY, f"no vehicle carries more than {LARGEST_WEIGHT_G} g", f"{at}.weightG")
            )
        sides_ok = True
        for name, value in (("lengthMm", raw.length_mm), ("widthMm", raw.width_mm), ("heightMm", raw.height_mm)):
            if value <= 0:
                problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be greater than zero", f"{at}.{name}"))
                sides_ok = False
            elif value > LARGEST_SIDE_MM:
                problems.append(
                    FieldError(
                        ErrorCode.TOO_LARGE, f"no vehicle takes a side over {LARGEST_SIDE_MM} mm", f"{at}.{name}"
                    )
                )
                sides_ok = False
        if sides_ok and parcel_volume_cm3(raw.length_mm, raw.width_mm, raw.height_mm) > LARGEST_VOLUME_CM3:
            problems.append(FieldError(ErrorCode.TOO_LARGE, f"no vehicle takes more than {LARGEST_VOLUME_CM3} cm3", at))
        value_at = f"{at}.declaredValue"
        currency = validation.currency(raw.currency, f"{value_at}.currency", problems)
        most = max_declared_value_minor(currency)
        if raw.declared_value_minor < 0:
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must not be negative", f"{value_at}.amountMinor"))
        elif raw.declared_value_minor > most:
            problems.append(
                FieldError(
                    ErrorCode.VALUE_TOO_HIGH,
                    f"at most {most} minor units of {currency} can be declared",
                    f"{value_at}.amountMinor",
                )
            )
        if len(problems) == before:
            specs.append(
                ParcelSpec(
                    weight_g=raw.weight_g,
                    length_mm=raw.length_mm,
                    width_mm=raw.width_mm,
                    height_mm=raw.height_mm,
                    declared_value_minor=raw.declared_value_minor,
                    currency=currency,
                    fragile=raw.fragile,
                    id_check=raw.id_check,
                    adults_only=raw.adults_only,
                )
            )
    return specs


def _recipient(req: QuoteRequest, p: str, problems: list[FieldError]) -> Recipient:
    raw = req.recipient
    at = _path(p, "recipient")
    return Recipient(
        name=validation.text(raw.name, f"{at}.name", problems),
        phone=normalize_phone(raw.phone, f"{at}.phone", problems),
        instructions=validation.optional_text(
            raw.instructions, f"{at}.instructions", problems, max_length=validation.LONG_TEXT
        ),
        safe_place=validation.optional_text(raw.safe_place, f"{at}.safePlace", problems),
        safe_place_consent=raw.safe_place_consent,
        neighbour_consent=raw.neighbour_consent,
        email=_recipient_email(raw.email, f"{at}.email", problems),
        language=_recipient_language(raw.language, f"{at}.language", problems),
    )


def _recipient_email(raw: str | None, field: str, problems: list[FieldError]) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return normalize_email(raw, field)
    except DomainError as exc:
        problems.extend(exc.errors)
        return None


def _recipient_language(raw: str | None, field: str, problems: list[FieldError]) -> str | None:
    if raw is None:
        return None
    if re.fullmatch(r"[a-z]{2}", raw) is None:
        problems.append(FieldError(ErrorCode.INVALID, "an ISO 639-1 language code such as de or en", field))
        return None
    return raw


def reference_key(raw: str | None) -> str | None:
    """A reference as stored and compared: whitespace collapsed; None when blank or not storable text."""
    if raw is None or not raw.strip() or validation.unstorable(raw):
        return None
    return " ".join(raw.split())


def _reference(req: QuoteRequest, p: str, lookups: Lookups, problems: list[FieldError]) -> str | None:
    if req.reference is None or not req.reference.strip():
        return None
    at = _path(p, "reference")
    before = len(problems)
    value = validation.text(req.reference, at, problems, max_length=REFERENCE_MAX_LENGTH)
    if len(problems) > before:
        return value
    if value in lookups.taken_references:
        problems.append(FieldError(ErrorCode.DUPLICATE_REFERENCE, "a job with this reference exists", at))
    return value


def _usable_locker(
    locker_id: UUID, at: str, lookups: Lookups, parcels: Sequence[ParcelSpec], problems: list[FieldError]
) -> Locker | None:
    locker = lookups.lockers.get(locker_id)
    if locker is None:
        problems.append(FieldError(ErrorCode.NOT_FOUND, "no such locker", at))
        return None
    if not locker.active:
        problems.append(FieldError(ErrorCode.LOCKER_UNAVAILABLE, "the locker is not in service", at))
        return None
    too_big = [i for i, s in enumerate(parcels) if not locker.compartments.accepts(s.dimensions_mm, s.weight_g)]
    if too_big:
        which = ", ".join(f"parcels[{i}]" for i in too_big)
        problems.append(FieldError(ErrorCode.LOCKER_UNAVAILABLE, f"no compartment of the locker fits {which}", at))
        return None
    if locker.kind is LockerKind.LOCKER and any(s.id_check or s.adults_only for s in parcels):
        problems.append(
            FieldError(
                ErrorCode.LOCKER_UNAVAILABLE, "an unstaffed locker cannot check ID or age; use a pickup point", at
            )
        )
        return None
    return locker


def _in_area(point: Point, lookups: Lookups) -> ServiceArea | None:
    return locate(lookups.areas, point)


def check_request(
    req: QuoteRequest, lookups: Lookups, *, organization_id: UUID, prefix: str = ""
) -> tuple[DeliveryOrder | None, list[FieldError]]:
    """Every rule a request must meet before it is priced; all problems are reported, each with its path.

    `prefix` names the request within a batch (`jobs[17].`), so each error points at its row.
    """
    p = prefix
    problems: list[FieldError] = []
    now = lookups.now
    windows_ok = _windows(req, now, p, problems)
    parcels = _parcels(req, p, problems)
    parcels_ok = len(parcels) == len(req.parcels) and bool(parcels)
    recipient = _recipient(req, p, problems)
    reference = _reference(req, p, lookups, problems)

    # Pickup: the caller's own location, in service, open during the pickup window. The job is priced and
    # matched in the store's own area, never in another one that happens to overlap it on the map.
    area: ServiceArea | None = None
    location = lookups.pickup_locations.get(req.pickup_location_id)
    location_at = _path(p, "pickupLocationId")
    if location is None or location.organization_id != organization_id:
        problems.append(FieldError(ErrorCode.NOT_FOUND, "no such pickup location", location_at))
        location = None
    elif location.archived_at is not None:
        problems.append(FieldError(ErrorCode.LOCATION_ARCHIVED, "the pickup location is archived", location_at))
        location = None
    else:
        area = lookups.active_area(location.area_id)
        if area is None:
            problems.append(
                FieldError(
                    ErrorCode.OUTSIDE_SERVICE_AREA,
                    "the pickup location's service area is paused: it takes no new deliveries",
                    location_at,
                )
            )

    # Currency: declared values are in the area's currency, which is what the price is in.
    if area is not None:
        for i, raw in enumerate(req.parcels[:MAX_PARCELS_PER_JOB]):
            code = raw.currency.strip().upper()
            if code in validation.SUPPORTED_CURRENCIES and code != area.currency:
                problems.append(
                    FieldError(
                        ErrorCode.CURRENCY_MISMATCH,
                        f"declared values are in the service area's currency, {area.currency}",
                        _path(p, f"parcels[{i}].declaredValue.currency"),
                    )
                )

    dropoff = _dropoff(req, p, lookups, area, parcels if parcels_ok else [], problems)
    pickup_open, delivery_open = None, None
    if windows_ok:
        pickup_open, delivery_open = _open_windows(req, p, lookups, location, area, dropoff, problems)
    fallback_locker_id = _failure_action(req, p, lookups, area, parcels if parcels_ok else [], recipient, problems)

    if problems or area is None or location is None or dropoff is None:
        return None, problems
    assert pickup_open is not None
    assert delivery_open is not None
    if area.currency not in PRICE_LEVEL_PERCENT:  # pragma: no cover - areas are created with a supported currency
        return None, [FieldError(ErrorCode.UNSUPPORTED_CURRENCY, "the service area has no tariff", location_at)]
    order = DeliveryOrder(
        area_id=area.id,
        currency=area.currency,
        pickup_location_id=location.id,
        pickup_point=location.point,
        dropoff=dropoff,
        pickup_window=Window(req.pickup_from.astimezone(UTC), req.pickup_until.astimezone(UTC)),
        delivery_window=Window(req.deliver_from.astimezone(UTC), req.deliver_until.astimezone(UTC)),
        parcels=tuple(parcels),
        recipient=recipient,
        failure_action=req.on_failure,
        fallback_locker_id=fallback_locker_id,
        reference=reference,
        pickup_window_open=_utc(pickup_open),
        delivery_window_open=_utc(delivery_open),
    )
    return order, []


def _open_windows(
    req: QuoteRequest,
    p: str,
    lookups: Lookups,
    location: PickupLocation | None,
    area: ServiceArea | None,
    dropoff: Dropoff | None,
    problems: list[FieldError],
) -> tuple[Window | None, Window | None]:
    """The windows as the store and a locker are open; a place closed throughout is LOCATION_CLOSED."""
    store = location if area is not None else None
    locker = None if dropoff is None or dropoff.locker_id is None else lookups.lockers[dropoff.locker_id]
    # A locker lies in the pickup's area; without a usable one (its own problem), in the area around it.
    zone = area or (None if locker is None else _in_area(locker.point, lookups))
    if zone is None:
        return None, None
    pickup_open, delivery_open = open_windows(
        Window(req.pickup_from, req.pickup_until),
        Window(req.deliver_from, req.deliver_until),
        store_hours=None if store is None else store.opening_hours,
        locker_hours=None if locker is None else locker.opening_hours,
        time_zone=zone.time_zone,
        now=lookups.now,
    )
    if store is not None and pickup_open is None:
        problems.append(
            FieldError(
                ErrorCode.LOCATION_CLOSED,
                "the pickup location is closed throughout the rest of the pickup window",
                _path(p, "pickupWindow"),
            )
        )
    if locker is not None and delivery_open is None:
        problems.append(
            FieldError(
                ErrorCode.LOCATION_CLOSED,
                "the locker is closed throughout the rest of the delivery window after the pickup can start",
                _path(p, "deliveryWindow"),
            )
        )
    return pickup_open, delivery_open


def _utc(window: Window) -> Window:
    return Window(window.start_at.astimezone(UTC), window.end_at.astimezone(UTC))


def _dropoff(
    req: QuoteRequest,
    p: str,
    lookups: Lookups,
    area: ServiceArea | None,
    parcels: Sequence[ParcelSpec],
    problems: list[FieldError],
) -> Dropoff | None:
    raw = req.dropoff
    at = _path(p, "dropoff")
    if raw.locker_id is not None and raw.has_address:
        problems.append(FieldError(ErrorCode.INVALID, "give either a locker or an address, not both", at))
        return None
    if raw.locker_id is not None:
        locker_at = f"{at}.lockerId"
        locker = _usable_locker(raw.locker_id, locker_at, lookups, parcels, problems)
        if locker is None:
            return None
        if _within(area, locker.point, lookups, locker_at, "the locker", problems) is None:
            return None
        return Dropoff(kind=DropoffKind.LOCKER, point=locker.point, address=locker.address, locker_id=locker.id)

    if not raw.has_address:
        problems.append(FieldError(ErrorCode.REQUIRED, "give a drop-off address or a locker", at))
        return None
    before = len(problems)
    street = validation.text(raw.street, f"{at}.street", problems)
    city = validation.text(raw.city, f"{at}.city", problems)
    house_number = " ".join((raw.house_number or "").split())
    if not house_number:
        problems.append(
            FieldError(
                ErrorCode.HOUSE_NUMBER_REQUIRED,
                "a home delivery needs a house number; or choose a locker",
                f"{at}.houseNumber",
            )
        )
    else:
        validation.text(house_number, f"{at}.houseNumber", problems, max_length=HOUSE_NUMBER_MAX_LENGTH)
    country = validation.country(raw.country_code or "", f"{at}.countryCode", problems)
    point = raw.point
    dropoff_area: ServiceArea | None = None
    if point is None:
        problems.append(FieldError(ErrorCode.REQUIRED, "the drop-off needs its coordinates", f"{at}.point"))
    else:
        point_errors = point_problems(point.lat, point.lng, f"{at}.point")
        problems.extend(point_errors)
        if not point_errors:
            dropoff_area = _within(area, point, lookups, f"{at}.point", "the drop-off", problems)
    # The postal code and country must be those of the area the point lies in.
    expected_country = dropoff_area.country_code if dropoff_area is not None else country
    if dropoff_area is not None and country in validation.SUPPORTED_COUNTRIES and country != dropoff_area.country_code:
        problems.append(
            FieldError(
                ErrorCode.INVALID_COUNTRY,
                f"the drop-off lies in {dropoff_area.country_code}, not {country}",
                f"{at}.countryCode",
            )
        )
    postal_code = ""
    if expected_country in validation.SUPPORTED_COUNTRIES:
        postal_code = validation.postal_code(raw.postal_code or "", expected_country, f"{at}.postalCode", problems)
    if len(problems) > before or point is None:
        return None
    return Dropoff(
        kind=DropoffKind.ADDRESS,
        point=point,
        address=Address(
            street=street, house_number=house_number, postal_code=postal_code, city=city, country_code=country
        ),
    )


def _within(
    pickup_area: ServiceArea | None, point: Point, lookups: Lookups, at: str, what: str, problems: list[FieldError]
) -> ServiceArea | None:
    """The area a drop-off point is served in: the pickup's own, which must hold it.

    Without a usable pickup area (its own problem is reported), the point is still checked against
    the active areas, so its address can be validated against the right country.
    """
    if pickup_area is not None and pickup_area.contains(point):
        return pickup_area
    found = _in_area(point, lookups)
    if found is None:
        problems.append(FieldError(ErrorCode.OUTSIDE_SERVICE_AREA, f"{what} is outside every service area", at))
        return None
    if pickup_area is not None:
        problems.append(
            FieldError(
                ErrorCode.OUTSIDE_SERVICE_AREA,
                f"{what} is outside {pickup_area.name}, the pickup's service area (it is in {found.name})",
                at,
            )
        )
        return None
    return found


def _failure_action(
    req: QuoteRequest,
    p: str,
    lookups: Lookups,
    area: ServiceArea | None,
    parcels: Sequence[ParcelSpec],
    recipient: Recipient,
    problems: list[FieldError],
) -> UUID | None:
    action = req.on_failure
    fallback_at = _path(p, "fallbackLockerId")
    if action is not FailureAction.LOCKER and req.fallback_locker_id is not None:
        problems.append(FieldError(ErrorCode.INVALID, "a fallback locker goes with onFailure LOCKER", fallback_at))
    if action is FailureAction.SAFE_PLACE:
        if recipient.safe_place is None:
            problems.append(
                FieldError(ErrorCode.REQUIRED, "leaving it at a safe place needs one", _path(p, "recipient.safePlace"))
            )
        if not recipient.safe_place_consent:
            problems.append(
                FieldError(
                    ErrorCode.REQUIRED,
                    "leaving it at a safe place needs the recipient's consent",
                    _path(p, "recipient.safePlaceConsent"),
                )
            )
        if any(r.id_check or r.adults_only for r in req.parcels):
            problems.append(
                FieldError(
                    ErrorCode.INVALID,
                    "parcels that need an ID or age check cannot be left at a safe place",
                    _path(p, "onFailure"),
                )
            )
        return None
    if action is FailureAction.LOCKER:
        if req.fallback_locker_id is None:
            problems.append(FieldError(ErrorCode.REQUIRED, "onFailure LOCKER names the locker", fallback_at))
            return None
        locker = _usable_locker(req.fallback_locker_id, fallback_at, lookups, parcels, problems)
        if locker is None:
            return None
        if _within(area, locker.point, lookups, fallback_at, "the fallback locker", problems) is None:
            return None
        return locker.id
    return None


def booking_problems(
    quote: Quote,
    now: datetime,
    location: PickupLocation | None,
    lockers: Mapping[UUID, Locker],
    area: ServiceArea | None,
) -> list[FieldError]:
    """What may have changed in the quote's fifteen minutes: the clock, the store, the lockers, the area."""
    order = quote.order
    problems: list[FieldError] = []
    if now >= min(order.pickup_window_open.end_at, order.delivery_window_open.end_at):
        problems.append(FieldError(ErrorCode.WINDOW_CLOSED, "a window of the quote has closed since", "quoteId"))
    if location is None or location.archived_at is not None:
        problems.append(
            FieldError(ErrorCode.LOCATION_ARCHIVED, "the pickup location was archived since the quote", "quoteId")
        )
    elif location.point != order.pickup_point:
        # A store without unfinished jobs may move; the quote priced the pickup where it was.
        problems.append(
            FieldError(
                ErrorCode.QUOTE_EXPIRED, "the pickup location moved since the quote; ask for a new one", "quoteId"
            )
        )
    if area is None or not area.active:
        problems.append(
            FieldError(ErrorCode.OUTSIDE_SERVICE_AREA, "the service area was paused since the quote", "quoteId")
        )
    elif not (area.contains(order.pickup_point) and area.contains(order.dropoff.point)):
        problems.append(
            FieldError(
                ErrorCode.OUTSIDE_SERVICE_AREA, "the service area no longer holds the pickup and drop-off", "quoteId"
            )
        )
    for locker_id in (order.dropoff.locker_id, order.fallback_locker_id):
        if locker_id is not None and not (locker_id in lockers and lockers[locker_id].active):
            problems.append(
                FieldError(ErrorCode.LOCKER_UNAVAILABLE, "a locker of the quote went out of service since", "quoteId")
            )
    return problems


def batch_duplicates(requests: Sequence[QuoteRequest], prefix: str = "jobs") -> list[FieldError]:
    """References repeated within one batch: every occurrence after the first is an error."""
    seen: set[str] = set()
    problems = []
    for i, req in enumerate(requests):
        value = reference_key(req.reference)
        if value is None:
            continue
        if value in seen:
            problems.append(
                FieldError(
                    ErrorCode.DUPLICATE_REFERENCE, "the reference repeats an earlier row", f"{prefix}[{i}].reference"
                )
            )
        seen.add(value)
    return problems
