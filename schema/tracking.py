"""Live tracking in GraphQL: the courier app's location pings, and subscriptions over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from marketplace.domain import tracking as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.delivery import ParcelEvent as DomainParcelEvent
from marketplace.domain.errors import DomainError
from marketplace.repositories.tracking import ParcelLive
from marketplace.services.live import OfferUpdate as DomainOfferUpdate
from marketplace.services.live import ParcelUpdate
from schema.access import allow, mutation, subscription
from schema.common import GeoPoint, GeoPointInput
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.offers import Offer, OfferStatus
from schema.parcel_history import ParcelEvent, ParcelStatus
from schema.types import decode_id, global_id

COURIERS = allow(DomainRole.COURIER)
RETAILERS_AND_ADMINS = allow(DomainRole.RETAILER, DomainRole.ADMIN, api_keys=True)

TrackingStopKind = strawberry.enum(domain.StopKind, name="TrackingStopKind")


@strawberry.input(description="One point as the phone recorded it.")
class LocationPingInput:
    recorded_at: datetime
    position: GeoPointInput
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = strawberry.field(default=None, description="Degrees clockwise from north, [0, 360).")

    def to_domain(self) -> domain.Ping:
        return domain.Ping(
            recorded_at=self.recorded_at,
            position=self.position.to_domain(),
            accuracy_m=self.accuracy_m,
            speed_mps=self.speed_mps,
            heading_deg=self.heading_deg,
        )


@strawberry.input
class RecordLocationPingsInput:
    pings: list[LocationPingInput] = strawberry.field(description="1 to 50 points, in any order.")


@strawberry.type(description="The estimated arrival at one stop still ahead, and its window's end.")
class StopEta:
    parcel_id: strawberry.ID
    kind: TrackingStopKind  # type: ignore[valid-type]
    eta_at: datetime
    window_end_at: datetime
    late: bool

    @classmethod
    def from_domain(cls, e: domain.StopEta) -> StopEta:
        return cls(
            parcel_id=global_id("Parcel", e.stop.parcel_id),
            kind=e.stop.kind,
            eta_at=e.eta_at,
            window_end_at=e.stop.window_end_at,
            late=e.late,
        )


@strawberry.type
class RecordLocationPingsPayload:
    kept: int = strawberry.field(default=0, description="Points stored (at most one per second).")
    dropped: int = strawberry.field(default=0, description="Points of a second already taken, not stored.")
    flagged: int = strawberry.field(default=0, description="Stored but implausible jumps, left out of ETAs.")
    etas: list[StopEta] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CourierPosition:
    position: GeoPoint
    recorded_at: datetime
    heading_deg: float | None


@strawberry.type(description="An event with its parcel and its sequence number (resume after it with afterSeq).")
class SequencedParcelEvent:
    seq: int
    parcel_id: strawberry.ID
    job_id: strawberry.ID
    event: ParcelEvent

    @classmethod
    def of(cls, seq: int, e: DomainParcelEvent) -> SequencedParcelEvent:
        return cls(
            seq=seq,
            parcel_id=global_id("Parcel", e.parcel_id),
            job_id=global_id("Job", e.job_id),
            event=ParcelEvent.from_domain(e),
        )


@strawberry.type(description="A parcel as it is now, and the events since the last update.")
class ParcelLiveUpdate:
    parcel_id: strawberry.ID
    status: ParcelStatus  # type: ignore[valid-type]
    seq: int = strawberry.field(description="The newest event's sequence number.")
    courier_position: CourierPosition | None = strawberry.field(
        description="Only while a courier has the parcel: from acceptance to hand-over."
    )
    pickup_eta_at: datetime | None
    dropoff_eta_at: datetime | None
    deliver_from: datetime
    deliver_until: datetime
    events: list[SequencedParcelEvent]

    @classmethod
    def from_domain(cls, update: ParcelUpdate) -> ParcelLiveUpdate:
        live: ParcelLive = update.live
        position = None
        if live.position is not None and live.position_at is not None:
            position = CourierPosition(
                position=GeoPoint.from_domain(live.position), recorded_at=live.position_at, heading_deg=live.heading_deg
            )
        return cls(
            parcel_id=global_id("Parcel", live.parcel_id),
            status=live.status,
            seq=max([live.last_seq, *(seq for seq, _ in update.events)]),
            courier_position=position,
            pickup_eta_at=live.pickup_eta_at,
            dropoff_eta_at=live.dropoff_eta_at,
            deliver_from=live.deliver_from,
            deliver_until=live.deliver_until,
            events=[SequencedParcelEvent.of(seq, e) for seq, e in update.events],
        )


@strawberry.type(description="A new offer (change OPEN), or what became of one: withdrawn, expired, accepted...")
class OfferUpdate:
    change: OfferStatus  # type: ignore[valid-type]
    offer: Offer

    @classmethod
    def from_domain(cls, update: DomainOfferUpdate, now: datetime) -> OfferUpdate:
        return cls(change=update.change, offer=Offer.from_domain(update.offer, now))


@strawberry.type
class TrackingMutation:
    @mutation(
        COURIERS,
        description="Positions while you carry or head for an accepted parcel; a retried batch keeps nothing twice.",
    )
    async def record_location_pings(self, info: Info, input: RecordLocationPingsInput) -> RecordLocationPingsPayload:
        try:
            result = await info.context.services.tracking.record_pings(
                await info.context.principal(), [p.to_domain() for p in input.pings]
            )
        except DomainError as exc:
            return RecordLocationPingsPayload(errors=user_errors(exc))
        return RecordLocationPingsPayload(
            kept=result.kept,
            dropped=result.dropped,
            flagged=result.flagged,
            etas=[StopEta.from_domain(e) for e in result.etas],
        )


@strawberry.type
class TrackingSubscription:
    @subscription(
        RETAILERS_AND_ADMINS,
        description="The parcel now, then each change of status, courier position or ETA; ends at logout or expiry.",
    )
    async def parcel_updates(self, info: Info, parcel_id: strawberry.ID) -> AsyncGenerator[ParcelLiveUpdate, None]:
        decoded = decode_id(parcel_id, "Parcel", field="parcelId")
        stream = info.context.services.live.parcel_updates(await info.context.principal(), decoded)
        async for update in stream:
            yield ParcelLiveUpdate.from_domain(update)

    @subscription(COURIERS, description="Your open offers, then each new one and what becomes of each.")
    async def offer_updates(self, info: Info) -> AsyncGenerator[OfferUpdate, None]:
        live = info.context.services.live
        clock = info.context.services.clock
        async for update in live.offer_updates(await info.context.principal()):
            yield OfferUpdate.from_domain(update, clock.now())

    @subscription(
        RETAILERS_AND_ADMINS,
        description="Every event of the organisation's parcels from now, or after `afterSeq` to resume.",
    )
    async def organization_parcel_events(
        self, info: Info, organization_id: strawberry.ID | None = None, after_seq: int | None = None
    ) -> AsyncGenerator[SequencedParcelEvent, None]:
        org = decode_id(organization_id, "Organization", field="organizationId")
        stream = info.context.services.live.organization_events(await info.context.principal(), org, after_seq)
        async for seq, event in stream:
            yield SequencedParcelEvent.of(seq, event)
