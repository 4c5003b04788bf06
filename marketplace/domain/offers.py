"""Offers: a round's plan for one trip, put to the trip's courier to accept or decline before it expires.

Pure rules only. An offer is open until its courier accepts or declines it, it expires at its exact
instant, or it is withdrawn (its parcels were cancelled or handed to the fleet). A declined,
expired or withdrawn offer returns its parcels to the pool, and the engine never pairs them with
that trip again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.money import Money


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


OFFER_TRANSITIONS: dict[OfferStatus, frozenset[OfferStatus]] = {
    OfferStatus.OPEN: frozenset(
        {OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED, OfferStatus.WITHDRAWN}
    ),
    # An accepted offer is withdrawn when the retailer cancels every parcel in it before pickup.
    OfferStatus.ACCEPTED: frozenset({OfferStatus.WITHDRAWN}),
    OfferStatus.DECLINED: frozenset(),
    OfferStatus.EXPIRED: frozenset(),
    OfferStatus.WITHDRAWN: frozenset(),
}


class StopKind(StrEnum):
    PICKUP = "pickup"
    DROPOFF = "dropoff"


@dataclass(frozen=True, slots=True)
class OfferStop:
    parcel_id: UUID
    kind: StopKind
    planned_at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    id: UUID
    round_id: UUID
    area_id: UUID
    trip_id: UUID
    courier_id: UUID
    status: OfferStatus
    parcel_ids: tuple[UUID, ...]
    stops: tuple[OfferStop, ...]
    detour_m: int
    co2_g: int
    pay: Money
    expires_at: datetime
    decided_at: datetime | None
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime

    def status_at(self, now: datetime) -> OfferStatus:
        """An open offer reads as expired from its exact instant, whether or not the sweep has run."""
        if self.status is OfferStatus.OPEN and now >= self.expires_at:
            return OfferStatus.EXPIRED
        return self.status


def offer_transition(source: OfferStatus, target: OfferStatus) -> OfferStatus:
    if target not in OFFER_TRANSITIONS[source]:
        code = ErrorCode.INVALID_TRANSITION
        raise DomainError.single(code, f"the offer is {source.value}; it cannot become {target.value}", "offerId")
    return target
