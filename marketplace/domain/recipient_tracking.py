"""The recipient's tracking token: what it shows, how long it lives, and what the recipient may change.

A token names one parcel and is the recipient's only credential, so every refusal (unknown, expired,
rate limited) looks the same whatever the token: nothing tells whether a token ever existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.jobs import DropoffKind
from marketplace.domain.vehicles import VehicleKind

S = ParcelStatus

# A token keeps working this long after its parcel is settled, for the recipient to look back.
TOKEN_TTL_AFTER_SETTLED = timedelta(days=14)
# Where a parcel's story has ended for its recipient (a parcel in a locker still waits for them).
SETTLED_FOR_RECIPIENT = frozenset({S.DELIVERED, S.COLLECTED, S.RETURNED, S.CANCELLED, S.HANDED_TO_FLEET})
# Before it is out for delivery: waiting for a round, or offered to or accepted by a courier who has not
# reached the store. A redirect to a locker withdraws the offer (the next round plans the new drop-off);
# from `at_pickup` on the courier is at the store or carries it, and the drop-off no longer changes.
REDIRECTABLE = frozenset({S.BOOKED, S.OFFERED, S.ASSIGNED})
# A redirect of a parcel in these takes it out of its offer and back to `booked`.
WITHDRAWN_ON_REDIRECT = frozenset({S.OFFERED, S.ASSIGNED})

TOKEN_PATTERN = re.compile(r"[0-9a-f]{64}")
# Rate limits: requests per token and per client address per window (page loads, subscriptions, changes).
RATE_WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class TrackingLimits:
    per_token: int = 60
    per_address: int = 300
    window_s: int = RATE_WINDOW_S


@dataclass(frozen=True, slots=True)
class TrackedParcel:
    """What the recipient's page shows of one parcel: never a courier's phone, surname or position."""

    parcel_id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID
    status: ParcelStatus
    status_changed_at: datetime
    courier_first_name: str | None
    vehicle_kind: VehicleKind | None
    deliver_from: datetime
    deliver_until: datetime
    dropoff_eta_at: datetime | None
    dropoff_kind: DropoffKind
    locker_id: UUID | None
    locker_name: str | None
    safe_place: str | None
    safe_place_consent: bool
    neighbour_consent: bool
    id_check: bool

    @property
    def id(self) -> UUID:
        return self.parcel_id

    def expires_at(self) -> datetime | None:
        """When the token stops working: 14 days after settlement; None while the parcel is under way."""
        if self.status not in SETTLED_FOR_RECIPIENT:
            return None
        return self.status_changed_at + TOKEN_TTL_AFTER_SETTLED

    def expired(self, now: datetime) -> bool:
        end = self.expires_at()
        return end is not None and now >= end

    @property
    def redirectable(self) -> bool:
        return self.status in REDIRECTABLE


def well_formed(token: str) -> bool:
    return TOKEN_PATTERN.fullmatch(token) is not None


@dataclass(frozen=True, slots=True)
class Redirect:
    """The recipient's change, the idempotency fingerprint: a locker, or leave-it consents."""

    locker_id: UUID | None = None
    safe_place: str | None = None
    allow_neighbour: bool = False
