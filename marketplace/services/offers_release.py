"""Returning an offer's parcels to the pool: shared by expiry (the worker), decline and withdrawal
(a retailer's cancellation, a recipient's redirect).

`release_offer` runs inside the caller's unit of work, so the offer's decision, its parcels' return
to `booked` (with their events) and the pairs the engine must never offer again are one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from marketplace.db.uow import UnitOfWork
from marketplace.domain.delivery import SYSTEM, Actor, ParcelEvent, ParcelStatus, transition
from marketplace.domain.offers import Offer, OfferStatus, offer_transition
from marketplace.repositories import Repositories
from marketplace.services.dispatch_common import EventSubject, event

# Why the engine never pairs the trip and the parcel again, per way an offer can end without delivery.
FORBID_REASON = {
    OfferStatus.DECLINED: "declined",
    OfferStatus.EXPIRED: "expired",
    OfferStatus.WITHDRAWN: "withdrawn",
}
# Parcels of the offer in these states go back to the pool; cancelled (or further) ones stay where they are.
RELEASABLE = frozenset({ParcelStatus.OFFERED, ParcelStatus.ASSIGNED})


async def release_offer(
    uow: UnitOfWork,
    offer: Offer,
    status: OfferStatus,
    reason: str | None,
    at: datetime,
    actor: Actor = SYSTEM,
) -> list[ParcelEvent]:
    """Ends `offer` as `status` (declined, expired or withdrawn) and puts its parcels back to `booked`.

    The caller has locked the offer (`offers.get(id, for_update=True)`) and checked who may do this;
    `reason` is the decline reason (64 characters at most) or None. Returns the events appended.
    """
    if status not in FORBID_REASON:
        raise ValueError(f"release_offer ends an offer as declined, expired or withdrawn, not {status.value}")
    offer_transition(offer.status, status)
    await uow.repos.dispatch.close_offer(offer.id, status.value, reason, at)
    heads = await uow.repos.dispatch.lock_parcels(offer.parcel_ids)
    released = [h for h in heads.values() if h.status in RELEASABLE]
    changes = [(h.id, transition(h.status, ParcelStatus.BOOKED)) for h in released]
    await uow.repos.delivery.apply(changes, at)
    events = [
        ParcelEvent(
            id=uuid.uuid4(),
            parcel_id=h.id,
            job_id=h.job_id,
            organization_id=h.organization_id,
            area_id=h.area_id,
            kind=ParcelStatus.BOOKED.value,
            actor=actor,
            occurred_at=at,
            from_status=h.status,
            to_status=ParcelStatus.BOOKED,
            reason_code=f"offer_{status.value}",
            details={
                "offer_id": str(offer.id),
                "trip_id": str(offer.trip_id),
                "round_id": str(offer.round_id),
                **({"decline_reason": reason} if reason is not None else {}),
            },
        )
        for h in released
    ]
    await uow.repos.parcel_events.append(events)
    await uow.repos.dispatch.forbid(offer.trip_id, offer.parcel_ids, offer.area_id, offer.id, FORBID_REASON[status], at)
    return events


async def expire_offers(uow: UnitOfWork, now: datetime, limit: int = 200) -> int:
    """Sweeps open offers whose instant has come (at most `limit`, skipping ones another sweeper holds)."""
    expired = 0
    for offer_id in await uow.repos.dispatch.expired_offer_ids(now, limit):
        offer = await uow.repos.offers.get(offer_id, for_update=True)
        if offer is None or offer.status is not OfferStatus.OPEN:
            continue
        await release_offer(uow, offer, OfferStatus.EXPIRED, None, now)
        expired += 1
    return expired


async def withdraw_from_offers(
    repos: Repositories,
    offers: Sequence[Offer],
    parcels: Mapping[UUID, EventSubject],
    actor: Actor,
    at: datetime,
    reason_code: str,
) -> list[ParcelEvent]:
    """Takes `parcels` out of their live (open or accepted) `offers`: shared by cancellation and redirect.

    An offer left with no parcel is withdrawn, which its courier hears of through `offerUpdates` (the
    offers trigger); each parcel taken out gets an `offer_withdrawn` event naming the offer and the
    courier. The caller has locked the offers (`offer_decisions.live_offers_of`), then the parcels, and
    appends the returned events itself. No pair is forbidden: the courier did nothing wrong.
    """
    events: list[ParcelEvent] = []
    for offer in offers:
        removed = [pid for pid in offer.parcel_ids if pid in parcels]
        if not removed:
            continue
        await repos.offer_decisions.release_parcels(offer.id, removed)
        left = await repos.offer_decisions.live_parcels(offer.id)
        if not left:
            offer_transition(offer.status, OfferStatus.WITHDRAWN)
            await repos.offer_decisions.decide(offer.id, offer.status, OfferStatus.WITHDRAWN, at, None)
        details = {"offer_id": str(offer.id), "courier_id": str(offer.courier_id), "offer_withdrawn": not left}
        events += [
            event(parcels[pid], actor, at, kind="offer_withdrawn", reason_code=reason_code, details=details)
            for pid in removed
        ]
    return events
