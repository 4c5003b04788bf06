"""After booking: what a job's status is from its parcels', what a cancellation costs, why an attempt fails.

Pure rules only; the status machine itself is `marketplace/domain/delivery.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.domain.delivery import FINAL, ParcelStatus
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.jobs import DropoffKind, FailureAction, JobStatus
from marketplace.domain.pricing import local_minor

S = ParcelStatus

# How long a parcel waits in a locker for its recipient before it goes back (`return_uncollected`).
LOCKER_HOLD = timedelta(hours=72)


class FailureReason(StrEnum):
    RECIPIENT_ABSENT = "recipient_absent"
    ADDRESS_NOT_FOUND = "address_not_found"
    REFUSED = "refused"
    ACCESS_IMPOSSIBLE = "access_impossible"
    UNSAFE = "unsafe"


class DeclineReason(StrEnum):
    TOO_FAR = "too_far"
    NO_TIME = "no_time"
    TOO_BIG = "too_big"
    PAY_TOO_LOW = "pay_too_low"
    OTHER = "other"


# Settled for its trip: nothing more for the courier to do with it.
SETTLED_FOR_TRIP = FINAL | {S.IN_LOCKER}


def job_status(statuses: Iterable[ParcelStatus]) -> JobStatus:
    """A job's status from its parcels': the least advanced parcel that still matters decides.

    Cancelled parcels do not count unless all are; a job whose parcels are all settled is delivered
    when any reached its recipient (at the door, a safe place or from a locker), else returned.
    """
    all_statuses = list(statuses)
    live = [s for s in all_statuses if s is not S.CANCELLED]
    if not live:
        return JobStatus.CANCELLED
    if all(s in FINAL for s in live):
        if any(s in (S.DELIVERED, S.COLLECTED) for s in live):
            return JobStatus.DELIVERED
        if all(s is S.HANDED_TO_FLEET for s in live):
            return JobStatus.HANDED_TO_FLEET
        return JobStatus.RETURNED
    unsettled = [s for s in live if s not in FINAL]
    if all(s in (S.BOOKED, S.OFFERED) for s in unsettled):
        return JobStatus.BOOKED
    if all(s in (S.BOOKED, S.OFFERED, S.ASSIGNED, S.AT_PICKUP) for s in unsettled):
        return JobStatus.ASSIGNED
    if all(s is S.IN_LOCKER for s in unsettled):
        return JobStatus.IN_LOCKER
    return JobStatus.IN_TRANSIT


# --- cancellation ---------------------------------------------------------------------------------

# Euro cents per parcel; other currencies at their price level (domain/pricing.py).
FEE_AFTER_ASSIGNMENT_EUR = 250
FEE_AFTER_PICKUP_EUR = 600

FREE = frozenset({S.BOOKED, S.OFFERED})
AFTER_ASSIGNMENT = frozenset({S.ASSIGNED, S.AT_PICKUP})
# Picked up: the parcel goes back to the store (returning), so the courier is paid for the way back.
AFTER_PICKUP = frozenset({S.PICKED_UP, S.AT_DROPOFF, S.FAILED_ATTEMPT})


def cancellation_fee_minor(status: ParcelStatus, currency: str) -> int:
    """The fee for cancelling one parcel now, or NOT_CANCELLABLE once it is delivered or on its way back."""
    if status in FREE:
        return 0
    if status in AFTER_ASSIGNMENT:
        return local_minor(FEE_AFTER_ASSIGNMENT_EUR, currency)
    if status in AFTER_PICKUP:
        return local_minor(FEE_AFTER_PICKUP_EUR, currency)
    raise DomainError.single(
        ErrorCode.NOT_CANCELLABLE, f"the parcel is {status.value}; it can no longer be cancelled", "parcelId"
    )


def cancelled_status(status: ParcelStatus) -> ParcelStatus:
    """Where a cancellation takes the parcel: nowhere before pickup, back to the store after."""
    return S.RETURNING if status in AFTER_PICKUP else S.CANCELLED


# --- a parcel as the delivery steps see it ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParcelState:
    """One parcel with what its job says about handing it over, read (and locked) for one step."""

    id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID
    currency: str
    status: ParcelStatus
    assigned_courier_id: UUID | None
    assigned_trip_id: UUID | None
    dimensions_mm: tuple[int, int, int]
    weight_g: int
    needs_id_check: bool
    failure_action: FailureAction
    dropoff_kind: DropoffKind
    dropoff_locker_id: UUID | None
    fallback_locker_id: UUID | None
    label_code: str | None
    pin_hash: bytes | None
    pin_failures: int
    pin_locked: bool
    locker_id: UUID | None
    locker_pickup_code: str | None
    deposited_at: datetime | None

    @property
    def locker_to_reserve(self) -> UUID | None:
        """The locker a courier may have to use: the drop-off itself, or the fallback for a failed hand-over."""
        return self.dropoff_locker_id or self.fallback_locker_id
