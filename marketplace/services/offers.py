"""A courier's side of an offer: accept it (race-safe), decline it (never offered again), read one's own."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import trips as trip_rules
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.delivery import Actor, ActorKind, OfferDecisionRequest, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.offers import Offer, OfferStatus, offer_transition
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.settlement import DeclineReason
from marketplace.domain.trips import TripStatus
from marketplace.repositories import Repositories
from marketplace.services.dispatch_common import event, refresh_jobs, reserve_compartments
from marketplace.services.idempotency import Idempotency
from marketplace.services.offers_release import release_offer


def _id_to_json(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_from_json(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


def _not_found() -> DomainError:
    return DomainError.single(ErrorCode.NOT_FOUND, "no such offer", "offerId")


async def _open_offer(repos: Repositories, principal: Principal, offer_id: UUID, now: datetime) -> Offer:
    """The caller's own offer, locked, still open at `now`: of concurrent decisions, one runs at a time."""
    courier_id = Scope(principal).courier()
    offer = await repos.offers.get(offer_id, for_update=True)
    if offer is None or offer.courier_id != courier_id:
        raise _not_found()
    status = offer.status_at(now)
    if status is OfferStatus.EXPIRED:
        raise DomainError.single(ErrorCode.OFFER_EXPIRED, "the offer has expired", "offerId")
    if status is not OfferStatus.OPEN:
        raise DomainError.single(ErrorCode.OFFER_NOT_OPEN, f"the offer is {status.value}", "offerId")
    return offer


class OfferService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency

    async def accept_offer(self, principal: Principal, *, offer_id: UUID, idempotency_key: str | None) -> Offer:
        """Exactly one of any number of concurrent accepts wins; the rest find it accepted.

        In one transaction: the offer becomes accepted, its trip matched, its parcels assigned to the
        courier (who from then on sees their recipients), a locker compartment is held for every parcel
        that may end in a locker, and every parcel's history and job status follow.
        """
        async with self._db.uow() as uow:
            repos = uow.repos

            async def accept() -> UUID:
                now = self._clock.now()
                offer = await _open_offer(repos, principal, offer_id, now)
                offer_transition(offer.status, OfferStatus.ACCEPTED)
                trip = await repos.trips.get(offer.trip_id, offer.courier_id, for_update=True)
                trip_status = None if trip is None else trip.as_of(now).status
                if trip is None or trip_status is not TripStatus.OPEN:
                    state = "gone" if trip_status is None else trip_status.value
                    raise DomainError.single(ErrorCode.TRIP_NOT_OPEN, f"the offer's trip is {state}", "offerId")
                parcels = await repos.delivery.parcels(
                    await repos.offer_decisions.live_parcels(offer.id), for_update=True
                )
                changes = [(p.id, transition(p.status, ParcelStatus.ASSIGNED, "offerId")) for p in parcels]
                await repos.offer_decisions.decide(offer.id, OfferStatus.OPEN, OfferStatus.ACCEPTED, now, None)
                await repos.trips.apply(trip.id, trip_rules.transition(TripStatus.OPEN, TripStatus.MATCHED), now)
                await repos.delivery.apply(changes, now)
                await repos.delivery.assign([p.id for p in parcels], offer.courier_id, offer.trip_id)
                await reserve_compartments(repos, parcels, now)
                actor = Actor(ActorKind.COURIER, offer.courier_id)
                details = {"offer_id": str(offer.id), "trip_id": str(offer.trip_id)}
                await repos.parcel_events.append(
                    [
                        event(p, actor, now, change=c, reason_code="offer_accepted", details=details)
                        for p, (_, c) in zip(parcels, changes, strict=True)
                    ]
                )
                await refresh_jobs(repos, [p.job_id for p in parcels], now)
                return offer.id

            await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="acceptOffer",
                key=idempotency_key,
                request=OfferDecisionRequest(offer_id=offer_id, accept=True, decline_reason=None),
                action=accept,
                dump=_id_to_json,
                load=_id_from_json,
            )
            offer = await repos.offers.get(offer_id)
            assert offer is not None
            await uow.commit()
        return offer

    async def decline_offer(
        self, principal: Principal, *, offer_id: UUID, reason: DeclineReason | None, idempotency_key: str | None
    ) -> Offer:
        """The parcels go back to the pool, and the engine never pairs them with this trip again."""
        async with self._db.uow() as uow:
            repos = uow.repos

            async def decline() -> UUID:
                now = self._clock.now()
                offer = await _open_offer(repos, principal, offer_id, now)
                reason_code = None if reason is None else reason.value
                actor = Actor(ActorKind.COURIER, offer.courier_id)
                events = await release_offer(uow, offer, OfferStatus.DECLINED, reason_code, now, actor)
                await refresh_jobs(repos, [e.job_id for e in events], now)
                return offer.id

            await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="declineOffer",
                key=idempotency_key,
                request=OfferDecisionRequest(
                    offer_id=offer_id, accept=False, decline_reason=None if reason is None else reason.value
                ),
                action=decline,
                dump=_id_to_json,
                load=_id_from_json,
            )
            offer = await repos.offers.get(offer_id)
            assert offer is not None
            await uow.commit()
        return offer

    async def get_offer(self, principal: Principal, offer_id: UUID) -> Offer | None:
        """A courier's own offer, or any for operations; anyone else's reads as missing."""
        async with self._db.read() as repos:
            offer = await repos.offers.get(offer_id)
        if offer is None:
            return None
        return offer if Scope(principal).sees_courier(offer.courier_id) else None

    async def list_offers(
        self, principal: Principal, page: PageRequest, *, status: OfferStatus | None = None
    ) -> Page[Offer]:
        visible = Scope(principal).courier_filter()
        if visible.nothing:
            return Page(items=(), has_next=False)
        courier_id = visible.owner
        async with self._db.read() as repos:
            return await repos.offer_decisions.list_for_courier(
                page, courier_id=courier_id, status=status, now=self._clock.now()
            )

    def now(self) -> datetime:
        return self._clock.now()
