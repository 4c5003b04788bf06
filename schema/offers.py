"""Offers in GraphQL: a courier's own offers, accepting and declining them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from marketplace.domain import offers as domain
from marketplace.domain import settlement
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from schema.access import allow, mutation, query
from schema.common import Money, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.parcel_history import DeclineReason
from schema.types import Connection, decode_id, global_id

COURIERS = allow(DomainRole.COURIER)
COURIERS_AND_ADMINS = allow(DomainRole.COURIER, DomainRole.ADMIN)

OfferStatus = strawberry.enum(domain.OfferStatus, name="OfferStatus")
StopKind = strawberry.enum(domain.StopKind, name="StopKind")


@strawberry.type
class OfferStop:
    parcel_id: strawberry.ID
    kind: StopKind  # type: ignore[valid-type]
    planned_at: datetime


@strawberry.type(description="A round's plan for one of your trips: accept it before `expiresAt`, or decline it.")
class Offer:
    id: strawberry.ID
    status: OfferStatus = strawberry.field(description="An open offer reads EXPIRED from its exact instant.")  # type: ignore[valid-type]
    trip_id: strawberry.ID
    parcel_ids: list[strawberry.ID]
    stops: list[OfferStop]
    detour_m: int
    co2_g: int
    pay: Money
    expires_at: datetime
    decided_at: datetime | None
    decline_reason: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, offer: domain.Offer, now: datetime) -> Offer:
        return cls(
            id=global_id("Offer", offer.id),
            status=offer.status_at(now),
            trip_id=global_id("Trip", offer.trip_id),
            parcel_ids=[global_id("Parcel", p) for p in offer.parcel_ids],
            stops=[
                OfferStop(parcel_id=global_id("Parcel", s.parcel_id), kind=s.kind, planned_at=s.planned_at)
                for s in offer.stops
            ],
            detour_m=offer.detour_m,
            co2_g=offer.co2_g,
            pay=Money.from_domain(offer.pay),
            expires_at=offer.expires_at,
            decided_at=offer.decided_at,
            decline_reason=offer.decline_reason,
            created_at=offer.created_at,
        )


def _position(offer: domain.Offer) -> Position:
    return Position(created_at=offer.created_at, id=offer.id)


@strawberry.input
class AcceptOfferInput:
    offer_id: strawberry.ID
    idempotency_key: str | None = None


@strawberry.input
class DeclineOfferInput:
    offer_id: strawberry.ID
    reason: DeclineReason | None = None  # type: ignore[valid-type]
    idempotency_key: str | None = None


@strawberry.type
class AcceptOfferPayload:
    offer: Offer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeclineOfferPayload:
    offer: Offer | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _offer_id(value: str) -> UUID:
    return decode_id(value, "Offer", field="offerId")


@strawberry.type
class OfferQuery:
    @query(COURIERS_AND_ADMINS, description="Your offers, newest last; filter OPEN for the ones waiting for you.")
    async def my_offers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: OfferStatus | None = None,  # type: ignore[valid-type]
    ) -> Connection[Offer]:
        page = page_or_error(first, after)
        offers = info.context.services.offers
        found = await offers.list_offers(
            await info.context.principal(), page, status=None if status is None else domain.OfferStatus(status)
        )
        now = offers.now()
        return Connection[Offer].from_page(
            found, lambda o: Offer.from_domain(o, now), _position, has_previous=after is not None
        )

    @query(COURIERS_AND_ADMINS, description="One of your offers; anyone else's is NOT_FOUND.")
    async def offer(self, info: Info, id: strawberry.ID) -> Offer | None:
        offer_id = decode_id(id, "Offer")
        offers = info.context.services.offers
        found = None if offer_id is None else await offers.get_offer(await info.context.principal(), offer_id)
        if found is None:
            raise not_found("offer")
        return Offer.from_domain(found, offers.now())


@strawberry.type
class OfferMutation:
    @mutation(COURIERS, description="Of concurrent accepts one wins; the trip becomes matched, its parcels yours.")
    async def accept_offer(self, info: Info, input: AcceptOfferInput) -> AcceptOfferPayload:
        offers = info.context.services.offers
        try:
            offer = await offers.accept_offer(
                await info.context.principal(),
                offer_id=_offer_id(input.offer_id),
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return AcceptOfferPayload(errors=user_errors(exc))
        return AcceptOfferPayload(offer=Offer.from_domain(offer, offers.now()))

    @mutation(COURIERS, description="The parcels go back to the pool and are never offered for this trip again.")
    async def decline_offer(self, info: Info, input: DeclineOfferInput) -> DeclineOfferPayload:
        offers = info.context.services.offers
        try:
            offer = await offers.decline_offer(
                await info.context.principal(),
                offer_id=_offer_id(input.offer_id),
                reason=None if input.reason is None else settlement.DeclineReason(input.reason),
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return DeclineOfferPayload(errors=user_errors(exc))
        return DeclineOfferPayload(offer=Offer.from_domain(offer, offers.now()))
