"""Quotes and jobs in GraphQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from marketplace.domain import jobs as domain
from marketplace.domain import pricing
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError, FieldError
from marketplace.domain.paging import Position
from schema.access import allow, mutation, query
from schema.common import (
    Address,
    GeoPoint,
    GeoPointInput,
    Money,
    MoneyInput,
    TimeWindow,
    TimeWindowInput,
    not_found,
    page_or_error,
)
from schema.context import Info
from schema.dispatch import Placement, load_placement
from schema.errors import UserError, user_errors
from schema.parcel_history import DeliveryProof, ParcelEvent, ParcelStatus
from schema.places import Locker, PickupLocation, ServiceArea, load_locker, load_pickup_location, load_service_area
from schema.types import Connection, decode_id, global_id

RETAILERS = allow(DomainRole.RETAILER, api_keys=True)
RETAILERS_AND_ADMINS = allow(DomainRole.RETAILER, DomainRole.ADMIN, api_keys=True)
JOB_READERS = allow(DomainRole.RETAILER, DomainRole.ADMIN, DomainRole.COURIER, api_keys=True)

JobStatus = strawberry.enum(domain.JobStatus, name="JobStatus")
FailureAction = strawberry.enum(
    domain.FailureAction, name="FailureAction", description="What the courier does when no one takes the parcel."
)
DropoffKind = strawberry.enum(domain.DropoffKind, name="DropoffKind")
PricePartKind = strawberry.enum(pricing.PricePartKind, name="PricePartKind")


# --- inputs ---------------------------------------------------------------------------------------


@strawberry.input(
    description="Where the parcels go: a `lockerId` (locker or pickup point), or an address with its point."
)
class DropoffInput:
    locker_id: strawberry.ID | None = None
    street: str | None = None
    house_number: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str | None = strawberry.field(default=None, description="ISO 3166 alpha-2; the area's country.")
    point: GeoPointInput | None = None

    def to_domain(self, path: str) -> domain.DropoffRequest:
        return domain.DropoffRequest(
            locker_id=decode_id(self.locker_id, "Locker", field=f"{path}.lockerId"),
            street=self.street,
            house_number=self.house_number,
            postal_code=self.postal_code,
            city=self.city,
            country_code=self.country_code,
            point=None if self.point is None else self.point.to_domain(),
        )


@strawberry.input(description="One parcel: weight, outer dimensions, declared value in the area's currency, handling.")
class ParcelInput:
    weight_g: int
    length_mm: int
    width_mm: int
    height_mm: int
    declared_value: MoneyInput
    fragile: bool = False
    id_check: bool = strawberry.field(default=False, description="Hand over only against the recipient's ID.")
    adults_only: bool = strawberry.field(default=False, description="Hand over only to someone 18 or older.")

    def to_domain(self) -> domain.ParcelRequest:
        return domain.ParcelRequest(
            weight_g=self.weight_g,
            length_mm=self.length_mm,
            width_mm=self.width_mm,
            height_mm=self.height_mm,
            declared_value_minor=self.declared_value.amount_minor,
            currency=self.declared_value.currency,
            fragile=self.fragile,
            id_check=self.id_check,
            adults_only=self.adults_only,
        )


@strawberry.input
class RecipientInput:
    name: str
    phone: str = strawberry.field(description="International format: + and 7 to 15 digits.")
    instructions: str | None = None
    safe_place: str | None = None
    safe_place_consent: bool = False
    neighbour_consent: bool = False
    email: str | None = strawberry.field(default=None, description="Notifications by e-mail go here.")
    language: str | None = strawberry.field(
        default=None, description="ISO 639-1 (de, en, ...) for notifications; unknown: the area's language."
    )

    def to_domain(self) -> domain.RecipientRequest:
        return domain.RecipientRequest(
            name=self.name,
            phone=self.phone,
            instructions=self.instructions,
            safe_place=self.safe_place,
            safe_place_consent=self.safe_place_consent,
            neighbour_consent=self.neighbour_consent,
            email=self.email,
            language=self.language,
        )


@strawberry.input(description="A delivery to price: from one of your pickup locations to an address or a locker.")
class QuoteRequestInput:
    pickup_location_id: strawberry.ID
    dropoff: DropoffInput
    pickup_window: TimeWindowInput
    delivery_window: TimeWindowInput
    parcels: list[ParcelInput]
    recipient: RecipientInput
    on_failure: FailureAction = domain.FailureAction.RETURN_TO_PICKUP  # type: ignore[valid-type]
    fallback_locker_id: strawberry.ID | None = strawberry.field(default=None, description="Required for LOCKER.")
    reference: str | None = strawberry.field(default=None, description="Your order reference; unique per organisation.")

    def to_domain(self, prefix: str = "") -> domain.QuoteRequest:
        """`prefix` names the request within a batch (`jobs[17].`), so an ID naming nothing points at its row."""
        return domain.QuoteRequest(
            pickup_location_id=decode_id(self.pickup_location_id, "PickupLocation", field=f"{prefix}pickupLocationId"),
            dropoff=self.dropoff.to_domain(f"{prefix}dropoff"),
            pickup_from=self.pickup_window.start,
            pickup_until=self.pickup_window.end,
            deliver_from=self.delivery_window.start,
            deliver_until=self.delivery_window.end,
            parcels=tuple(p.to_domain() for p in self.parcels),
            recipient=self.recipient.to_domain(),
            on_failure=domain.FailureAction(self.on_failure),
            fallback_locker_id=decode_id(self.fallback_locker_id, "Locker", field=f"{prefix}fallbackLockerId"),
            reference=self.reference,
        )


@strawberry.input
class RequestQuoteInput(QuoteRequestInput):
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first quote comes back and no second one is made."
    )


@strawberry.input
class BookQuoteInput:
    quote_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first job comes back and the quote is booked once."
    )

    def to_domain(self) -> domain.QuoteBooking:
        return domain.QuoteBooking(quote_id=decode_id(self.quote_id, "Quote", field="quoteId"))


@strawberry.input
class BookJobsInput:
    jobs: list[QuoteRequestInput] = strawberry.field(description="1 to 500 deliveries, booked all or none.")
    idempotency_key: str | None = None


# --- types ----------------------------------------------------------------------------------------


@strawberry.type
class PricePart:
    kind: PricePartKind  # type: ignore[valid-type]
    amount: Money
    description: str


def _parts(price: pricing.Price) -> list[PricePart]:
    return [
        PricePart(kind=p.kind, amount=Money.of(p.amount_minor, price.currency), description=p.description)
        for p in price.parts
    ]


OPEN_PICKUP = (
    "The part of the pickup window when the pickup location is open: what the courier is held to. Where the "
    "opening hours split the window, its longest part still ahead."
)
OPEN_DELIVERY = (
    "The part of the delivery window when a locker is open (an address: the whole window), ending after the "
    "pickup can start: what was priced and what the courier is held to."
)


def _window(window: domain.Window) -> TimeWindow:
    return TimeWindow(start=window.start_at, end=window.end_at)


@strawberry.type(description="A price for one delivery, good until `expiresAt`; its parts sum to `price`.")
class Quote:
    id: strawberry.ID
    price: Money
    parts: list[PricePart]
    distance_m: int = strawberry.field(description="Road distance from pickup to drop-off.")
    created_at: datetime
    expires_at: datetime
    area_id: strawberry.ID
    job_id: strawberry.ID | None = strawberry.field(description="The job it was booked into, once booked.")
    pickup_window_open: TimeWindow = strawberry.field(description=OPEN_PICKUP)
    delivery_window_open: TimeWindow = strawberry.field(description=OPEN_DELIVERY)
    area_uuid: strawberry.Private[UUID]

    @strawberry.field
    async def area(self, info: Info) -> ServiceArea | None:
        return await load_service_area(info, self.area_uuid)

    @classmethod
    def from_domain(cls, quote: domain.Quote) -> Quote:
        return cls(
            id=global_id("Quote", quote.id),
            price=Money.of(quote.price.total_minor, quote.price.currency),
            parts=_parts(quote.price),
            distance_m=quote.distance_m,
            created_at=quote.created_at,
            expires_at=quote.expires_at,
            area_id=global_id("ServiceArea", quote.area_id),
            job_id=None if quote.job_id is None else global_id("Job", quote.job_id),
            pickup_window_open=_window(quote.order.pickup_window_open),
            delivery_window_open=_window(quote.order.delivery_window_open),
            area_uuid=quote.area_id,
        )


def _parcel_job_id(root: Parcel) -> strawberry.ID:
    return global_id("Job", root.parcel.job_id)


def _parcel_declared_value(root: Parcel) -> Money:
    spec = root.parcel.spec
    return Money.of(spec.declared_value_minor, spec.currency)


@strawberry.type
class Parcel:
    id: strawberry.ID
    job_id: strawberry.ID = strawberry.field(resolver=_parcel_job_id)
    weight_g: int
    length_mm: int
    width_mm: int
    height_mm: int
    volume_cm3: int
    declared_value: Money = strawberry.field(resolver=_parcel_declared_value)
    fragile: bool
    id_check: bool
    adults_only: bool
    status: ParcelStatus  # type: ignore[valid-type]
    status_changed_at: datetime | None
    label_code: str | None = strawberry.field(
        description="Printed on the parcel; the courier types it at pickup. Booking organisation and operations only."
    )
    recipient_pin: str | None = strawberry.field(
        description="The recipient's 4-digit PIN, in the answer to the booking only (it is stored hashed): pass it "
        "on to the recipient. Lost: operations issue a new one (resetRecipientPin)."
    )
    uuid: strawberry.Private[UUID]
    owner: strawberry.Private[bool]
    followed: strawberry.Private[bool]
    parcel: strawberry.Private[domain.Parcel]

    @strawberry.field
    async def events(self, info: Info) -> list[ParcelEvent] | None:
        if not self.followed:
            return None
        found = await info.context.loaders.parcel_events.load(self.uuid)
        return [ParcelEvent.from_domain(e) for e in found or []]

    @strawberry.field
    async def pin_locked(self, info: Info) -> bool | None:
        extra = await self._extra(info)
        return None if extra is None else bool(extra["pin_locked"])

    @strawberry.field
    async def locker_pickup_code(self, info: Info) -> str | None:
        extra = await self._extra(info)
        return None if extra is None else extra["locker_pickup_code"]

    @strawberry.field
    async def cancellation_fee(self, info: Info) -> Money | None:
        extra = await self._extra(info)
        if extra is None or extra["cancellation_fee_minor"] is None:
            return None
        return Money.of(extra["cancellation_fee_minor"], self.parcel.spec.currency)

    @strawberry.field
    async def proof(self, info: Info) -> DeliveryProof | None:
        if not self.owner:
            return None
        row = await info.context.loaders.proofs.load(self.uuid)
        if row is None:
            return None
        photo = row["photo_sha256"]
        return DeliveryProof.from_row(row, None if photo is None else info.context.services.delivery.photo_url(photo))

    async def _extra(self, info: Info) -> Any:
        if not self.owner:
            return None
        return await info.context.loaders.parcel_extras.load(self.uuid)

    @strawberry.field
    async def placement(self, info: Info) -> Placement | None:
        """Where its dispatch stands (retailers and operations; null for couriers)."""
        return await load_placement(info, self.uuid)

    @classmethod
    def from_view(cls, parcel: domain.Parcel, view: domain.JobView, principal_id: UUID | None = None) -> Parcel:
        s = parcel.spec
        followed = view.owner or (principal_id is not None and parcel.assigned_courier_id == principal_id)
        return cls(
            id=global_id("Parcel", parcel.id),
            weight_g=s.weight_g,
            length_mm=s.length_mm,
            width_mm=s.width_mm,
            height_mm=s.height_mm,
            volume_cm3=s.volume_cm3,
            fragile=s.fragile,
            id_check=s.id_check,
            adults_only=s.adults_only,
            status=parcel.status,
            status_changed_at=parcel.status_changed_at,
            label_code=parcel.label_code if view.owner else None,
            recipient_pin=view.pins.get(parcel.id),
            uuid=parcel.id,
            owner=view.owner,
            followed=followed,
            parcel=parcel,
        )


@strawberry.type(description="Who receives the parcels. Couriers see it only once a parcel is assigned to them.")
class Recipient:
    name: str
    phone: str
    instructions: str | None
    safe_place: str | None
    safe_place_consent: bool
    neighbour_consent: bool
    email: str | None
    language: str | None

    @classmethod
    def from_domain(cls, recipient: domain.Recipient) -> Recipient:
        return cls(
            name=recipient.name,
            phone=recipient.phone,
            instructions=recipient.instructions,
            safe_place=recipient.safe_place,
            safe_place_consent=recipient.safe_place_consent,
            neighbour_consent=recipient.neighbour_consent,
            email=recipient.email,
            language=recipient.language,
        )


@strawberry.type(description="Where the parcels go; a locker drop-off shows the locker's address.")
class Dropoff:
    kind: DropoffKind  # type: ignore[valid-type]
    point: GeoPoint
    address: Address
    locker_id: strawberry.ID | None
    locker_uuid: strawberry.Private[UUID | None]

    @strawberry.field
    async def locker(self, info: Info) -> Locker | None:
        return await load_locker(info, self.locker_uuid)


@dataclass(frozen=True, slots=True)
class Prefetched:
    """A job's pickup location, fetched with its page (None: not found under the job's organisation)."""

    location: PickupLocation | None


def _nodes_select(info: Info, name: str) -> bool:
    """Whether the connection's nodes ask for the field `name`, directly or through fragments."""

    def under(selections: list[Selection], path: tuple[str, ...]) -> bool:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name == path[0] and (len(path) == 1 or under(selection.selections, path[1:])):
                    return True
            elif under(selection.selections, path):
                return True
        return False

    return under(info.selected_fields, (info.field_name, "edges", "node", name))


async def _prefetch_stores(info: Info, jobs: list[Job]) -> None:
    """The page's stores in one batched read, each built once, for the synchronous `pickupLocation`."""
    keys = list({(j.view.job.order.pickup_location_id, j.view.job.organization_id) for j in jobs})
    found = await info.context.loaders.pickup_locations.load_many(keys)
    built = {
        key: Prefetched(None if location is None else PickupLocation.from_domain(location))
        for key, location in zip(keys, found, strict=True)
    }
    for job in jobs:
        job.store = built[(job.view.job.order.pickup_location_id, job.view.job.organization_id)]


def _job_area_id(root: Job) -> strawberry.ID:
    return global_id("ServiceArea", root.view.job.order.area_id)


def _job_pickup_location_id(root: Job) -> strawberry.ID:
    return global_id("PickupLocation", root.view.job.order.pickup_location_id)


def _job_pickup_point(root: Job) -> GeoPoint:
    return GeoPoint.from_domain(root.view.job.order.pickup_point)


def _job_dropoff(root: Job) -> Dropoff:
    dropoff = root.view.job.order.dropoff
    return Dropoff(
        kind=dropoff.kind,
        point=GeoPoint.from_domain(dropoff.point),
        address=Address.from_domain(dropoff.address),
        locker_id=None if dropoff.locker_id is None else global_id("Locker", dropoff.locker_id),
        locker_uuid=dropoff.locker_id,
    )


def _job_pickup_window(root: Job) -> TimeWindow:
    return _window(root.view.job.order.pickup_window)


def _job_delivery_window(root: Job) -> TimeWindow:
    return _window(root.view.job.order.delivery_window)


def _job_pickup_window_open(root: Job) -> TimeWindow:
    return _window(root.view.job.order.pickup_window_open)


def _job_delivery_window_open(root: Job) -> TimeWindow:
    return _window(root.view.job.order.delivery_window_open)


def _job_parts(root: Job) -> list[PricePart]:
    return _parts(root.view.job.price)


def _job_failure_action(root: Job) -> FailureAction:  # type: ignore[valid-type]
    return root.view.job.order.failure_action


def _job_fallback_locker_id(root: Job) -> strawberry.ID | None:
    locker_id = root.view.job.order.fallback_locker_id
    return None if locker_id is None else global_id("Locker", locker_id)


def _job_recipient(root: Job) -> Recipient | None:
    recipient = root.view.recipient
    return None if recipient is None else Recipient.from_domain(recipient)


def _job_quote_id(root: Job) -> strawberry.ID | None:
    quote_id = root.view.job.quote_id
    return None if quote_id is None else global_id("Quote", quote_id)


@strawberry.type
class Job:
    """Fields a list rarely shows (the drop-off, the recipient, the price's parts, the windows) are built
    from `view` only when the query selects them: a page of twenty jobs used to build them all."""

    id: strawberry.ID
    reference: str | None
    status: JobStatus  # type: ignore[valid-type]
    area_id: strawberry.ID = strawberry.field(resolver=_job_area_id)
    pickup_location_id: strawberry.ID = strawberry.field(resolver=_job_pickup_location_id)
    pickup_point: GeoPoint = strawberry.field(resolver=_job_pickup_point)
    dropoff: Dropoff = strawberry.field(resolver=_job_dropoff)
    pickup_window: TimeWindow = strawberry.field(resolver=_job_pickup_window)
    delivery_window: TimeWindow = strawberry.field(resolver=_job_delivery_window)
    pickup_window_open: TimeWindow = strawberry.field(description=OPEN_PICKUP, resolver=_job_pickup_window_open)
    delivery_window_open: TimeWindow = strawberry.field(description=OPEN_DELIVERY, resolver=_job_delivery_window_open)
    parcels: list[Parcel]
    price: Money
    parts: list[PricePart] = strawberry.field(resolver=_job_parts)
    distance_m: int
    failure_action: FailureAction = strawberry.field(resolver=_job_failure_action)  # type: ignore[valid-type]
    fallback_locker_id: strawberry.ID | None = strawberry.field(resolver=_job_fallback_locker_id)
    recipient: Recipient | None = strawberry.field(
        description="Null when the caller may not see who receives it.", resolver=_job_recipient
    )
    quote_id: strawberry.ID | None = strawberry.field(resolver=_job_quote_id)
    created_at: datetime
    updated_at: datetime
    view: strawberry.Private[domain.JobView]
    store: strawberry.Private[Prefetched | None] = None

    @strawberry.field
    async def area(self, info: Info) -> ServiceArea | None:
        return await load_service_area(info, self.view.job.order.area_id)

    @strawberry.field
    def pickup_location(self, info: Info) -> PickupLocation | None:
        """Synchronous when the list fetched the page's stores up front (see `JobQuery.jobs`): twenty
        jobs then cost no awaits at all; otherwise the batched loader, awaited by the executor."""
        if self.store is not None:
            return self.store.location
        order = self.view.job.order
        pending = load_pickup_location(info, order.pickup_location_id, self.view.job.organization_id)
        return cast("PickupLocation | None", pending)  # graphql-core awaits what a resolver returns

    @strawberry.field
    async def fallback_locker(self, info: Info) -> Locker | None:
        return await load_locker(info, self.view.job.order.fallback_locker_id)

    @strawberry.field
    async def events(self, info: Info) -> list[ParcelEvent]:
        """The history of every parcel the caller may follow, in the order it was written."""
        followed = tuple(p.uuid for p in self.parcels if p.followed)
        if not followed:
            return []
        found = await info.context.loaders.job_events.load(followed)
        return [ParcelEvent.from_domain(e) for e in found]

    @classmethod
    def from_view(cls, view: domain.JobView, viewer: UUID | None = None) -> Job:
        """`viewer`: the calling user, so a courier sees the history of the parcels assigned to them."""
        job = view.job
        return cls(
            id=global_id("Job", job.id),
            reference=job.order.reference,
            status=job.status,
            parcels=[Parcel.from_view(p, view, viewer) for p in job.parcels],
            price=Money.of(job.price.total_minor, job.price.currency),
            distance_m=job.distance_m,
            created_at=job.created_at,
            updated_at=job.updated_at,
            view=view,
        )


def _position(view: domain.JobView) -> Position:
    return Position(created_at=view.job.created_at, id=view.job.id)


@strawberry.type
class RequestQuotePayload:
    quote: Quote | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BookQuotePayload:
    job: Job | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BookJobsPayload:
    jobs: list[Job] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


def _batch(rows: list[QuoteRequestInput]) -> list[domain.QuoteRequest]:
    """Every row of a batch; the IDs that name nothing are reported together, each at its row."""
    requests: list[domain.QuoteRequest] = []
    problems: list[FieldError] = []
    for i, row in enumerate(rows):
        try:
            requests.append(row.to_domain(f"jobs[{i}]."))
        except DomainError as exc:
            problems.extend(exc.errors)
    if problems:
        raise DomainError(problems)
    return requests


# --- operations -----------------------------------------------------------------------------------


@strawberry.type
class JobQuery:
    @query(RETAILERS_AND_ADMINS)
    async def quote(self, info: Info, id: strawberry.ID) -> Quote | None:
        found = await info.context.services.jobs.get_quote(await info.context.principal(), decode_id(id, "Quote"))
        if found is None:
            raise not_found("quote")
        return Quote.from_domain(found)

    @query(JOB_READERS, description="A courier reads a job only once a parcel of it is assigned to them.")
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        principal = await info.context.principal()
        view = await info.context.services.jobs.get_job(principal, decode_id(id, "Job"))
        if view is None:
            raise not_found("job")
        return Job.from_view(view, principal.user_id)

    @query(
        RETAILERS_AND_ADMINS,
        description="Your organisation's job with this order reference (the `reference` it was booked with). "
        "References are unique per organisation: admins give `organizationId`.",
    )
    async def job_by_reference(
        self,
        info: Info,
        reference: str,
        organization_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Admins: required. Retailers: their own or none.")
        ] = None,
    ) -> Job | None:
        view = await info.context.services.jobs.get_job_by_reference(
            await info.context.principal(),
            reference,
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
        )
        if view is None:
            raise not_found("job")
        return Job.from_view(view)

    @query(RETAILERS_AND_ADMINS, description="Your organisation's jobs (admins: all, or one organisation's).")
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: JobStatus | None = None,  # type: ignore[valid-type]
        pickup_from: Annotated[
            datetime | None, strawberry.argument(description="Jobs whose pickup window ends after this.")
        ] = None,
        pickup_until: Annotated[
            datetime | None, strawberry.argument(description="Jobs whose pickup window starts before this.")
        ] = None,
        area_id: strawberry.ID | None = None,
        organization_id: Annotated[strawberry.ID | None, strawberry.argument(description="Admins only.")] = None,
    ) -> Connection[Job]:
        page_of_views = await info.context.services.jobs.list_jobs(
            await info.context.principal(),
            page_or_error(first, after),
            status=None if status is None else domain.JobStatus(status),
            pickup_from=pickup_from,
            pickup_until=pickup_until,
            area_id=decode_id(area_id, "ServiceArea", field="areaId"),
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
        )
        connection = Connection[Job].from_page(page_of_views, Job.from_view, _position, has_previous=after is not None)
        if connection.edges and _nodes_select(info, "pickupLocation"):
            await _prefetch_stores(info, [edge.node for edge in connection.edges])
        return connection


@strawberry.type
class JobMutation:
    @mutation(RETAILERS)
    async def request_quote(self, info: Info, input: RequestQuoteInput) -> RequestQuotePayload:
        try:
            quote = await info.context.services.jobs.request_quote(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return RequestQuotePayload(errors=user_errors(exc))
        return RequestQuotePayload(quote=Quote.from_domain(quote))

    @mutation(RETAILERS)
    async def book_quote(self, info: Info, input: BookQuoteInput) -> BookQuotePayload:
        try:
            view = await info.context.services.jobs.book_quote(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return BookQuotePayload(errors=user_errors(exc))
        return BookQuotePayload(job=Job.from_view(view))

    @mutation(RETAILERS, description="Quote and book up to 500 deliveries at once: all are booked, or none.")
    async def book_jobs(self, info: Info, input: BookJobsInput) -> BookJobsPayload:
        try:
            views = await info.context.services.jobs.book_jobs(
                await info.context.principal(),
                _batch(input.jobs),
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return BookJobsPayload(errors=user_errors(exc))
        return BookJobsPayload(jobs=[Job.from_view(v) for v in views])
