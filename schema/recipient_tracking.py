"""The recipient's tracking token in GraphQL: its parcel's live updates, and the drop-off changes it allows.

Public operations: the token is the credential. It shows one parcel, never a courier's phone, surname
or position; an unknown or expired token answers like a missing parcel, an overused one RATE_LIMITED.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from marketplace.domain import recipient_tracking as domain
from marketplace.domain.delivery import ParcelEvent as DomainParcelEvent
from marketplace.domain.errors import DomainError
from marketplace.services.recipient_tracking import TrackingRefusedError
from schema.access import PUBLIC, mutation, subscription
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.parcel_history import ParcelStatus
from schema.types import decode_id, global_id
from schema.vehicles import VehicleKind


@strawberry.type(description="What the recipient's page shows of their parcel.")
class TrackedParcel:
    status: ParcelStatus  # type: ignore[valid-type]
    courier_first_name: str | None = strawberry.field(description="Once a courier has accepted the parcel.")
    vehicle_kind: VehicleKind | None  # type: ignore[valid-type]
    deliver_from: datetime
    deliver_until: datetime
    dropoff_eta_at: datetime | None
    dropoff_locker_id: strawberry.ID | None
    dropoff_locker_name: str | None
    safe_place_allowed: bool
    neighbour_allowed: bool
    redirectable: bool = strawberry.field(
        description="The drop-off may still change (before the courier reaches the store)."
    )
    expires_at: datetime | None = strawberry.field(description="The token ends 14 days after the parcel is settled.")

    @classmethod
    def from_domain(cls, p: domain.TrackedParcel) -> TrackedParcel:
        return cls(
            status=p.status,
            courier_first_name=p.courier_first_name,
            vehicle_kind=p.vehicle_kind,
            deliver_from=p.deliver_from,
            deliver_until=p.deliver_until,
            dropoff_eta_at=p.dropoff_eta_at,
            dropoff_locker_id=None if p.locker_id is None else global_id("Locker", p.locker_id),
            dropoff_locker_name=p.locker_name,
            safe_place_allowed=p.safe_place_consent,
            neighbour_allowed=p.neighbour_consent,
            redirectable=p.redirectable,
            expires_at=p.expires_at(),
        )


@strawberry.type(description="One line of the parcel's timeline: what happened and when, nothing of who.")
class TrackedParcelEvent:
    seq: int
    kind: str
    status: ParcelStatus | None  # type: ignore[valid-type]
    occurred_at: datetime

    @classmethod
    def of(cls, seq: int, e: DomainParcelEvent) -> TrackedParcelEvent:
        return cls(seq=seq, kind=e.kind, status=e.to_status, occurred_at=e.occurred_at)


@strawberry.type
class TrackedParcelUpdate:
    parcel: TrackedParcel
    events: list[TrackedParcelEvent] = strawberry.field(description="The timeline's lines since the last update.")


@strawberry.input(description="A locker of the area, or consent to a safe place and/or a neighbour.")
class RedirectTrackedParcelInput:
    token: str
    locker_id: strawberry.ID | None = None
    safe_place: str | None = strawberry.field(default=None, description="Where to leave it, e.g. 'behind the gate'.")
    allow_neighbour: bool = False
    idempotency_key: str | None = None

    def to_domain(self) -> domain.Redirect:
        return domain.Redirect(
            locker_id=decode_id(self.locker_id, "Locker", field="lockerId"),
            safe_place=self.safe_place,
            allow_neighbour=self.allow_neighbour,
        )


@strawberry.type
class RedirectTrackedParcelPayload:
    parcel: TrackedParcel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecipientTrackingMutation:
    @mutation(
        PUBLIC,
        description=(
            "The recipient changes the drop-off before the parcel is out for delivery (by tracking token); "
            "a locker takes it out of a courier's offer, to be planned again."
        ),
    )
    async def redirect_tracked_parcel(
        self, info: Info, input: RedirectTrackedParcelInput
    ) -> RedirectTrackedParcelPayload:
        service = info.context.services.recipient_tracking
        try:
            parcel = await service.redirect(
                input.token, info.context.client_address, input.to_domain(), input.idempotency_key
            )
        except TrackingRefusedError as exc:
            return RedirectTrackedParcelPayload(errors=user_errors(exc.as_domain_error()))
        except DomainError as exc:
            return RedirectTrackedParcelPayload(errors=user_errors(exc))
        return RedirectTrackedParcelPayload(parcel=TrackedParcel.from_domain(parcel))


@strawberry.type
class RecipientTrackingSubscription:
    @subscription(PUBLIC, description="The tracked parcel now, then each change; ends when the token expires.")
    async def tracked_parcel(self, info: Info, token: str) -> AsyncGenerator[TrackedParcelUpdate, None]:
        service = info.context.services.recipient_tracking
        try:
            stream = await service.watch(token, info.context.client_address)
        except TrackingRefusedError as exc:
            raise exc.as_domain_error() from None
        first = True
        async for update in stream:
            try:
                parcel = await service.current(token)
            except TrackingRefusedError:
                return
            events = update.events
            if first:
                events = tuple(await service.history(token))
                first = False
            yield TrackedParcelUpdate(
                parcel=TrackedParcel.from_domain(parcel), events=[TrackedParcelEvent.of(s, e) for s, e in events]
            )
