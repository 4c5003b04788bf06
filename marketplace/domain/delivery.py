"""A parcel's life from booking to hand-over: one status table, and the events every change leaves.

Pure rules only. Names follow what retailers know from Uber Direct and DoorDash Drive. Every
status change goes through `transition`, and every change others must hear of becomes a
`ParcelEvent` appended to the immutable history in the same transaction as the change: tracking,
webhooks, payments and KPIs read that history and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import Point


class ParcelStatus(StrEnum):
    BOOKED = "booked"  # waiting for a round
    OFFERED = "offered"  # in an open offer to a courier
    ASSIGNED = "assigned"  # a courier accepted it
    AT_PICKUP = "at_pickup"
    PICKED_UP = "picked_up"
    AT_DROPOFF = "at_dropoff"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"  # the hand-over failed; the job's failure action follows
    TO_LOCKER = "to_locker"
    IN_LOCKER = "in_locker"
    COLLECTED = "collected"  # the recipient took it from the locker
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    HANDED_TO_FLEET = "handed_to_fleet"


S = ParcelStatus

# The whole status machine. An offer declined, expired or withdrawn puts its parcels back to booked;
# a cancellation after pickup sends the parcel back to the store (returning), never nowhere.
TRANSITIONS: dict[ParcelStatus, frozenset[ParcelStatus]] = {
    S.BOOKED: frozenset({S.OFFERED, S.CANCELLED, S.HANDED_TO_FLEET}),
    S.OFFERED: frozenset({S.BOOKED, S.ASSIGNED, S.CANCELLED, S.HANDED_TO_FLEET}),
    S.ASSIGNED: frozenset({S.BOOKED, S.AT_PICKUP, S.CANCELLED}),
    S.AT_PICKUP: frozenset({S.PICKED_UP, S.CANCELLED}),
    S.PICKED_UP: frozenset({S.AT_DROPOFF, S.RETURNING}),
    # A locker drop-off ends in the locker (at_dropoff -> in_locker), not at a door.
    S.AT_DROPOFF: frozenset({S.DELIVERED, S.FAILED_ATTEMPT, S.IN_LOCKER, S.RETURNING}),
    S.FAILED_ATTEMPT: frozenset({S.TO_LOCKER, S.DELIVERED, S.RETURNING}),
    S.TO_LOCKER: frozenset({S.IN_LOCKER}),
    S.IN_LOCKER: frozenset({S.COLLECTED, S.RETURNED}),
    S.RETURNING: frozenset({S.RETURNED}),
    S.DELIVERED: frozenset(),
    S.COLLECTED: frozenset(),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
    S.HANDED_TO_FLEET: frozenset(),
}

# Nothing more happens to a parcel in these states: it counts as settled for its trip and its job.
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Not yet with a courier: a round may still offer it.
WAITING = frozenset({S.BOOKED, S.OFFERED})
# With a courier who accepted it and has not yet settled it.
WITH_COURIER = frozenset(
    {S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF, S.FAILED_ATTEMPT, S.TO_LOCKER, S.RETURNING}
)


# Events that change no status name what happened. `running_late` is written once per parcel, by live
# tracking, when the ETA of one of its stops passes the end of that stop's window.
RUNNING_LATE = "running_late"
# Written once per parcel by live tracking when its drop-off ETA comes within the area's threshold
# (ARRIVING_SOON_S, 10 minutes) while the courier carries it; the recipient's notification follows.
ARRIVING_SOON = "arriving_soon"


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed status change. Only `transition` makes one; repositories change status only from one."""

    source: ParcelStatus
    target: ParcelStatus


def transition(source: ParcelStatus, target: ParcelStatus, field_name: str = "status") -> Transition:
    """The one place the parcel status machine is enforced; the error names the current state."""
    if target not in TRANSITIONS[source]:
        raise DomainError.single(
            ErrorCode.INVALID_TRANSITION,
            f"the parcel is {source.value}; it cannot become {target.value}",
            field_name,
        )
    return Transition(source, target)


class ActorKind(StrEnum):
    COURIER = "courier"
    RETAILER = "retailer"
    ADMIN = "admin"
    SYSTEM = "system"  # the worker: rounds, expiry, the fleet cut-off
    RECIPIENT = "recipient"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: UUID | None = None  # the user (or API key's organisation user) who acted; None for the system


SYSTEM = Actor(ActorKind.SYSTEM)


@dataclass(frozen=True, slots=True)
class ParcelEvent:
    """One immutable line of a parcel's history: who, when, where, why.

    `kind` is the status reached for a transition (`picked_up`) or a named happening that changes no
    status (`offer_withdrawn`, `pin_locked`); `details` carries what a reader needs without joins.
    """

    id: UUID
    parcel_id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID
    kind: str
    actor: Actor
    occurred_at: datetime
    from_status: ParcelStatus | None = None
    to_status: ParcelStatus | None = None
    reason_code: str | None = None
    position: Point | None = None
    details: dict[str, Any] = field(default_factory=dict)


# --- what a retried step asked for: the whole of it is its idempotency fingerprint ------------------


@dataclass(frozen=True, slots=True)
class StepRequest:
    """A courier step, everything the courier sent with it (no defaults: nothing can be left out)."""

    operation: str
    parcel_id: UUID
    position: Point | None
    fields: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class OfferDecisionRequest:
    offer_id: UUID
    accept: bool
    decline_reason: str | None


@dataclass(frozen=True, slots=True)
class CancellationRequest:
    job_id: UUID | None
    reference: str | None
    parcel_id: UUID | None


@dataclass(frozen=True, slots=True)
class OperationsParcelRequest:
    """Operations acting on one parcel: a locker collection (`pickup_code`) or a PIN reset (`new_pin`)."""

    operation: str
    parcel_id: UUID
    pickup_code: str | None
    new_pin: bool
