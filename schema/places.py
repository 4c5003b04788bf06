"""Service areas, pickup locations, organisation users, lockers and pickup points in GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry

from marketplace.domain import areas as area_domain
from marketplace.domain import places as domain
from marketplace.domain.accounts import NewColleague
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.hours import OpeningHours
from marketplace.domain.paging import Page, Position
from schema.access import allow, mutation, query
from schema.common import (
    IDEMPOTENCY_KEY,
    Address,
    AddressInput,
    GeoPoint,
    GeoPointInput,
    OpeningInterval,
    OpeningIntervalInput,
    not_found,
    opening_hours,
    opening_hours_input,
    page_or_error,
)
from schema.common import opening_hours as opening_intervals
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, Organization, User, decode_id, global_id, user_connection

# Where the service runs is no secret from anyone signed in: couriers and retailers plan around it.
SIGNED_IN = allow(DomainRole.COURIER, DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN, api_keys=True)
OPERATIONS = allow(DomainRole.ADMIN)
RETAILERS = allow(DomainRole.RETAILER, api_keys=True)
RETAILERS_AND_OPERATIONS = allow(DomainRole.RETAILER, DomainRole.ADMIN, api_keys=True)

PickupLocationKind = strawberry.enum(domain.PickupLocationKind, name="PickupLocationKind")
LockerKind = strawberry.enum(domain.LockerKind, name="LockerKind")
CompartmentSize = strawberry.enum(
    domain.CompartmentSize, name="CompartmentSize", description="Parcel-locker compartment classes, small to large."
)


def _position(item: area_domain.ServiceArea | domain.PickupLocation | domain.Locker) -> Position:
    return Position(created_at=item.created_at, id=item.id)


def _address(value: AddressInput) -> domain.Address:
    return domain.Address(
        street=value.street,
        house_number=value.house_number,
        postal_code=value.postal_code,
        city=value.city,
        country_code=value.country_code,
    )


def _polygon(points: list[GeoPointInput]) -> list[tuple[float, float]]:
    return [(p.lat, p.lng) for p in points]


# --- service areas ---------------------------------------------------------------------------


@strawberry.type(
    description="A city the platform serves: pickups and drop-offs must lie inside an active one. "
    "fleetBaseMinor and fleetPerKmMinor (the professional fleet's price per parcel and per km, in the "
    "area's currency) are shown to operations and finance only, and are null for everyone else."
)
class ServiceArea:
    id: strawberry.ID
    name: str
    country_code: str
    currency: str
    time_zone: str = strawberry.field(description="IANA name; opening hours in the area are read in it.")
    polygon: list[GeoPoint]
    active: bool
    created_at: datetime
    updated_at: datetime
    round_interval_s: int = strawberry.field(description="Seconds between scheduled matching rounds.")
    round_time_limit_s: int = strawberry.field(description="The solver's time limit per round, in seconds.")
    offer_ttl_s: int = strawberry.field(description="Seconds a courier has to accept an offer.")
    fleet_cutoff_s: int = strawberry.field(
        description="Seconds before a parcel's pickup window closes at which an unplaced parcel goes to the fleet."
    )
    fleet: strawberry.Private[tuple[int, int]]

    @strawberry.field
    async def fleet_base_minor(self, info: Info) -> int | None:
        return self.fleet[0] if area_domain.sees_fleet_prices((await info.context.principal()).role) else None

    @strawberry.field
    async def fleet_per_km_minor(self, info: Info) -> int | None:
        return self.fleet[1] if area_domain.sees_fleet_prices((await info.context.principal()).role) else None

    @classmethod
    def from_domain(cls, area: area_domain.ServiceArea) -> ServiceArea:
        return cls(
            id=global_id("ServiceArea", area.id),
            name=area.name,
            country_code=area.country_code,
            currency=area.currency,
            time_zone=area.time_zone,
            polygon=[GeoPoint.from_domain(v) for v in area.polygon.vertices],
            active=area.active,
            created_at=area.created_at,
            updated_at=area.updated_at,
            round_interval_s=area.dispatch.round_interval_s,
            round_time_limit_s=area.dispatch.round_time_limit_s,
            offer_ttl_s=area.dispatch.offer_ttl_s,
            fleet_cutoff_s=area.dispatch.fleet_cutoff_s,
            fleet=(area.fleet_base_minor, area.fleet_per_km_minor),
        )


async def load_service_area(info: Info, area_id: UUID) -> ServiceArea | None:
    """For nested `area` fields: batched per request; every signed-in caller may read any service area."""
    loaders = info.context.loaders

    async def build() -> ServiceArea | None:
        area = await loaders.service_areas.load(area_id)
        return None if area is None else ServiceArea.from_domain(area)

    return await loaders.once(("ServiceArea", area_id), build)


def service_area_connection(page: Page[area_domain.ServiceArea], *, has_previous: bool) -> Connection[ServiceArea]:
    return Connection[ServiceArea].from_page(page, ServiceArea.from_domain, _position, has_previous=has_previous)


@strawberry.input
class CreateServiceAreaInput:
    name: str
    country_code: str = strawberry.field(description="ISO 3166 alpha-2; one whose postal codes we can check.")
    currency: str = strawberry.field(description="ISO 4217, one of the supported currencies.")
    time_zone: str = strawberry.field(description="IANA name, e.g. Europe/Amsterdam.")
    polygon: list[GeoPointInput] = strawberry.field(
        description="3 to 500 vertices in order, not repeating the first, edges not crossing or touching."
    )
    fleet_base_minor: int = strawberry.field(description="Fleet price per parcel, minor units, >= 0.")
    fleet_per_km_minor: int = strawberry.field(description="Fleet price per km, minor units, >= 0.")
    active: bool = True
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)
    round_interval_s: int | None = strawberry.field(default=None, description="30 to 86400; default 300.")
    round_time_limit_s: int | None = strawberry.field(default=None, description="5 to 600; default 20.")
    offer_ttl_s: int | None = strawberry.field(default=None, description="30 to 3600; default 180.")
    fleet_cutoff_s: int | None = strawberry.field(default=None, description="0 to 86400; default 1800.")

    def to_domain(self) -> area_domain.NewServiceArea:
        return area_domain.NewServiceArea(
            name=self.name,
            country_code=self.country_code,
            currency=self.currency,
            time_zone=self.time_zone,
            polygon=tuple(_polygon(self.polygon)),
            fleet_base_minor=self.fleet_base_minor,
            fleet_per_km_minor=self.fleet_per_km_minor,
            active=self.active,
            round_interval_s=self.round_interval_s,
            round_time_limit_s=self.round_time_limit_s,
            offer_ttl_s=self.offer_ttl_s,
            fleet_cutoff_s=self.fleet_cutoff_s,
        )


def _dispatch(value: CreateServiceAreaInput | UpdateServiceAreaInput) -> dict[str, int | None]:
    return {
        "round_interval_s": value.round_interval_s,
        "round_time_limit_s": value.round_time_limit_s,
        "offer_ttl_s": value.offer_ttl_s,
        "fleet_cutoff_s": value.fleet_cutoff_s,
    }


@strawberry.input(description="Only the fields given change.")
class UpdateServiceAreaInput:
    id: strawberry.ID
    name: str | None = None
    country_code: str | None = None
    currency: str | None = None
    time_zone: str | None = None
    polygon: list[GeoPointInput] | None = None
    fleet_base_minor: int | None = None
    fleet_per_km_minor: int | None = None
    active: bool | None = None
    round_interval_s: int | None = strawberry.field(default=None, description="30 to 86400.")
    round_time_limit_s: int | None = strawberry.field(default=None, description="5 to 600.")
    offer_ttl_s: int | None = strawberry.field(default=None, description="30 to 3600.")
    fleet_cutoff_s: int | None = strawberry.field(default=None, description="0 to 86400.")


@strawberry.type
class ServiceAreaPayload:
    service_area: ServiceArea | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- pickup locations ------------------------------------------------------------------------


def _location_hours(root: PickupLocation) -> list[OpeningInterval]:
    """Built only when asked for: a job list shows its stores' names, not their week."""
    return opening_intervals(root.hours)


@strawberry.type(description="Where a retailer's parcels are collected: a store, warehouse or micro-hub.")
class PickupLocation:
    id: strawberry.ID
    kind: PickupLocationKind  # type: ignore[valid-type]
    name: str
    address: Address
    point: GeoPoint
    area_id: strawberry.ID
    opening_hours: list[OpeningInterval] = strawberry.field(
        description="Local time of the area.", resolver=_location_hours
    )
    created_at: datetime
    archived_at: datetime | None
    organization_id: strawberry.Private[UUID]
    area_uuid: strawberry.Private[UUID]
    hours: strawberry.Private[OpeningHours]

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organizations.load(self.organization_id)
        return None if org is None else Organization.from_domain(org)

    @strawberry.field
    async def area(self, info: Info) -> ServiceArea | None:
        return await load_service_area(info, self.area_uuid)

    @classmethod
    def from_domain(cls, location: domain.PickupLocation) -> PickupLocation:
        return cls(
            id=global_id("PickupLocation", location.id),
            kind=location.kind,
            name=location.name,
            address=Address.from_domain(location.address),
            point=GeoPoint.from_domain(location.point),
            area_id=global_id("ServiceArea", location.area_id),
            created_at=location.created_at,
            archived_at=location.archived_at,
            organization_id=location.organization_id,
            area_uuid=location.area_id,
            hours=location.opening_hours,
        )


async def load_pickup_location(info: Info, location_id: UUID, organization_id: UUID) -> PickupLocation | None:
    """For nested fields of an object of `organization_id` the caller may read: found only under that owner."""
    loaders = info.context.loaders

    async def build() -> PickupLocation | None:
        location = await loaders.pickup_locations.load((location_id, organization_id))
        return None if location is None else PickupLocation.from_domain(location)

    return await loaders.once(("PickupLocation", location_id, organization_id), build)


def pickup_location_connection(page: Page[domain.PickupLocation], *, has_previous: bool) -> Connection[PickupLocation]:
    return Connection[PickupLocation].from_page(page, PickupLocation.from_domain, _position, has_previous=has_previous)


@strawberry.input
class CreatePickupLocationInput:
    kind: PickupLocationKind  # type: ignore[valid-type]
    name: str
    address: AddressInput
    point: GeoPointInput = strawberry.field(description="Must lie inside an active service area.")
    opening_hours: list[OpeningIntervalInput] = strawberry.field(description="At least one interval, local time.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> domain.NewPickupLocation:
        return domain.NewPickupLocation(
            kind=domain.PickupLocationKind(self.kind),
            name=self.name,
            address=_address(self.address),
            point=self.point.to_domain(),
            opening_hours=tuple(opening_hours_input(self.opening_hours)),
        )


@strawberry.input(description="Only the fields given change; the result is validated as a whole.")
class UpdatePickupLocationInput:
    id: strawberry.ID
    kind: PickupLocationKind | None = None  # type: ignore[valid-type]
    name: str | None = None
    address: AddressInput | None = None
    point: GeoPointInput | None = None
    opening_hours: list[OpeningIntervalInput] | None = None


@strawberry.input
class ArchivePickupLocationInput:
    id: strawberry.ID


@strawberry.type
class PickupLocationPayload:
    pickup_location: PickupLocation | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- organisation users ----------------------------------------------------------------------


@strawberry.input
class CreateOrganizationUserInput:
    email: str
    password: str
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> NewColleague:
        return NewColleague(email=self.email, password=self.password)


@strawberry.type
class OrganizationUserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- lockers and pickup points ---------------------------------------------------------------


@strawberry.type(description="A compartment class: inner dimensions and the weight any locker takes in it.")
class CompartmentSizeInfo:
    size: CompartmentSize  # type: ignore[valid-type]
    height_mm: int
    width_mm: int
    depth_mm: int
    max_weight_g: int

    @classmethod
    def of(cls, size: domain.CompartmentSize) -> CompartmentSizeInfo:
        height, width, depth = domain.COMPARTMENT_DIMENSIONS_MM[size]
        return cls(
            size=size, height_mm=height, width_mm=width, depth_mm=depth, max_weight_g=domain.COMPARTMENT_MAX_WEIGHT_G
        )


@strawberry.type
class LockerCompartments:
    size: CompartmentSize  # type: ignore[valid-type]
    count: int
    dimensions: CompartmentSizeInfo


@strawberry.type(description="A parcel locker or a staffed pickup point (whose shelf space is listed as compartments).")
class Locker:
    id: strawberry.ID
    kind: LockerKind  # type: ignore[valid-type]
    name: str
    operator: str
    address: Address
    point: GeoPoint
    area_id: strawberry.ID
    opening_hours: list[OpeningInterval] = strawberry.field(description="Local time of the area.")
    always_open: bool
    compartments: list[LockerCompartments]
    active: bool
    created_at: datetime
    updated_at: datetime
    area_uuid: strawberry.Private[UUID]

    @strawberry.field
    async def area(self, info: Info) -> ServiceArea | None:
        return await load_service_area(info, self.area_uuid)

    @classmethod
    def from_domain(cls, locker: domain.Locker) -> Locker:
        return cls(
            id=global_id("Locker", locker.id),
            kind=locker.kind,
            name=locker.name,
            operator=locker.operator,
            address=Address.from_domain(locker.address),
            point=GeoPoint.from_domain(locker.point),
            area_id=global_id("ServiceArea", locker.area_id),
            opening_hours=opening_hours(locker.opening_hours),
            always_open=locker.opening_hours.always_open,
            compartments=[
                LockerCompartments(size=size, count=count, dimensions=CompartmentSizeInfo.of(size))
                for size, count in locker.compartments.counts
            ],
            active=locker.active,
            created_at=locker.created_at,
            updated_at=locker.updated_at,
            area_uuid=locker.area_id,
        )


async def load_locker(info: Info, locker_id: UUID | None) -> Locker | None:
    """For nested locker fields: batched per request; every signed-in caller may read any locker."""
    if locker_id is None:
        return None
    loaders = info.context.loaders

    async def build() -> Locker | None:
        locker = await loaders.lockers.load(locker_id)
        return None if locker is None else Locker.from_domain(locker)

    return await loaders.once(("Locker", locker_id), build)


def locker_connection(page: Page[domain.Locker], *, has_previous: bool) -> Connection[Locker]:
    return Connection[Locker].from_page(page, Locker.from_domain, _position, has_previous=has_previous)


@strawberry.input
class CompartmentsInput:
    size: CompartmentSize  # type: ignore[valid-type]
    count: int


def _compartments(items: list[CompartmentsInput]) -> list[tuple[domain.CompartmentSize, int]]:
    return [(domain.CompartmentSize(c.size), c.count) for c in items]


@strawberry.input
class CreateLockerInput:
    kind: LockerKind  # type: ignore[valid-type]
    name: str
    operator: str
    address: AddressInput
    point: GeoPointInput = strawberry.field(description="Must lie inside an active service area.")
    opening_hours: list[OpeningIntervalInput] = strawberry.field(
        description="Local time; 24/7 is every weekday 00:00 to 00:00."
    )
    compartments: list[CompartmentsInput] = strawberry.field(
        description="Each size once, counts >= 0, at least one compartment."
    )
    active: bool = True
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> domain.NewLocker:
        return domain.NewLocker(
            kind=domain.LockerKind(self.kind),
            name=self.name,
            operator=self.operator,
            address=_address(self.address),
            point=self.point.to_domain(),
            opening_hours=tuple(opening_hours_input(self.opening_hours)),
            compartments=tuple(_compartments(self.compartments)),
            active=self.active,
        )


@strawberry.input(description="Only the fields given change; the result is validated as a whole.")
class UpdateLockerInput:
    id: strawberry.ID
    kind: LockerKind | None = None  # type: ignore[valid-type]
    name: str | None = None
    operator: str | None = None
    address: AddressInput | None = None
    point: GeoPointInput | None = None
    opening_hours: list[OpeningIntervalInput] | None = None
    compartments: list[CompartmentsInput] | None = None
    active: bool | None = None


@strawberry.type
class LockerPayload:
    locker: Locker | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PlacesQuery:
    # --- service areas
    @query(SIGNED_IN)
    async def service_areas(
        self, info: Info, first: int | None = None, after: str | None = None, active: bool | None = None
    ) -> Connection[ServiceArea]:
        page = await info.context.services.places.list_service_areas(page_or_error(first, after), active=active)
        return service_area_connection(page, has_previous=after is not None)

    @query(SIGNED_IN)
    async def service_area(self, info: Info, id: strawberry.ID) -> ServiceArea | None:
        area = await info.context.services.places.get_service_area(decode_id(id, "ServiceArea"))
        if area is None:
            raise not_found("service area")
        return ServiceArea.from_domain(area)

    @query(SIGNED_IN, description="The active service area holding the point, or null outside every one.")
    async def locate_service_area(self, info: Info, point: GeoPointInput) -> ServiceArea | None:
        area = await info.context.services.places.locate_service_area(point.to_domain())
        return None if area is None else ServiceArea.from_domain(area)

    # --- pickup locations
    @query(RETAILERS_AND_OPERATIONS)
    async def pickup_locations(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_archived: bool = False,
        organization_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Operations only: one organisation's locations.")
        ] = None,
    ) -> Connection[PickupLocation]:
        page = await info.context.services.places.list_pickup_locations(
            await info.context.principal(),
            page_or_error(first, after),
            include_archived=include_archived,
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
        )
        return pickup_location_connection(page, has_previous=after is not None)

    @query(RETAILERS_AND_OPERATIONS)
    async def pickup_location(self, info: Info, id: strawberry.ID) -> PickupLocation | None:
        location = await info.context.services.places.get_pickup_location(
            await info.context.principal(), decode_id(id, "PickupLocation")
        )
        if location is None:
            raise not_found("pickup location")
        return PickupLocation.from_domain(location)

    # --- organisation users
    @query(allow(DomainRole.RETAILER, DomainRole.ADMIN))
    async def organization_users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        organization_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Operations only: one organisation's users (default: all of them)."),
        ] = None,
    ) -> Connection[User]:
        page = await info.context.services.accounts.list_organization_users(
            await info.context.principal(),
            page_or_error(first, after),
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
        )
        return user_connection(page, has_previous=after is not None)

    # --- lockers and pickup points
    @query(SIGNED_IN)
    async def lockers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        area_id: strawberry.ID | None = None,
        active: bool | None = None,
    ) -> Connection[Locker]:
        page = await info.context.services.places.list_lockers(
            page_or_error(first, after), area_id=decode_id(area_id, "ServiceArea", field="areaId"), active=active
        )
        return locker_connection(page, has_previous=after is not None)

    @query(SIGNED_IN)
    async def locker(self, info: Info, id: strawberry.ID) -> Locker | None:
        locker = await info.context.services.places.get_locker(decode_id(id, "Locker"))
        if locker is None:
            raise not_found("locker")
        return Locker.from_domain(locker)

    @query(SIGNED_IN, description="Every compartment class with its inner dimensions.")
    async def compartment_sizes(self) -> list[CompartmentSizeInfo]:
        return [CompartmentSizeInfo.of(size) for size in domain.CompartmentSize]


@strawberry.type
class PlacesMutation:
    # --- service areas
    @mutation(OPERATIONS)
    async def create_service_area(self, info: Info, input: CreateServiceAreaInput) -> ServiceAreaPayload:
        try:
            area = await info.context.services.places.create_service_area(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return ServiceAreaPayload(errors=user_errors(exc))
        return ServiceAreaPayload(service_area=ServiceArea.from_domain(area))

    @mutation(OPERATIONS)
    async def update_service_area(self, info: Info, input: UpdateServiceAreaInput) -> ServiceAreaPayload:
        try:
            area_id = decode_id(input.id, "ServiceArea")
            area = await info.context.services.places.update_service_area(
                await info.context.principal(),
                area_id,
                name=input.name,
                country_code=input.country_code,
                currency=input.currency,
                time_zone=input.time_zone,
                polygon=None if input.polygon is None else _polygon(input.polygon),
                fleet_base_minor=input.fleet_base_minor,
                fleet_per_km_minor=input.fleet_per_km_minor,
                active=input.active,
                dispatch=_dispatch(input),
            )
        except DomainError as exc:
            return ServiceAreaPayload(errors=user_errors(exc))
        return ServiceAreaPayload(service_area=ServiceArea.from_domain(area))

    # --- pickup locations
    @mutation(RETAILERS)
    async def create_pickup_location(self, info: Info, input: CreatePickupLocationInput) -> PickupLocationPayload:
        try:
            location = await info.context.services.places.create_pickup_location(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return PickupLocationPayload(errors=user_errors(exc))
        return PickupLocationPayload(pickup_location=PickupLocation.from_domain(location))

    @mutation(RETAILERS)
    async def update_pickup_location(self, info: Info, input: UpdatePickupLocationInput) -> PickupLocationPayload:
        try:
            location_id = decode_id(input.id, "PickupLocation")
            location = await info.context.services.places.update_pickup_location(
                await info.context.principal(),
                location_id,
                kind=None if input.kind is None else domain.PickupLocationKind(input.kind),
                name=input.name,
                address=None if input.address is None else _address(input.address),
                point=None if input.point is None else input.point.to_domain(),
                opening_hours=None if input.opening_hours is None else opening_hours_input(input.opening_hours),
            )
        except DomainError as exc:
            return PickupLocationPayload(errors=user_errors(exc))
        return PickupLocationPayload(pickup_location=PickupLocation.from_domain(location))

    @mutation(RETAILERS)
    async def archive_pickup_location(self, info: Info, input: ArchivePickupLocationInput) -> PickupLocationPayload:
        try:
            location_id = decode_id(input.id, "PickupLocation")
            location = await info.context.services.places.archive_pickup_location(
                await info.context.principal(), location_id
            )
        except DomainError as exc:
            return PickupLocationPayload(errors=user_errors(exc))
        return PickupLocationPayload(pickup_location=PickupLocation.from_domain(location))

    # --- organisation users
    @mutation(allow(DomainRole.RETAILER))
    async def create_organization_user(self, info: Info, input: CreateOrganizationUserInput) -> OrganizationUserPayload:
        try:
            user = await info.context.services.accounts.create_organization_user(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return OrganizationUserPayload(errors=user_errors(exc))
        return OrganizationUserPayload(user=User.from_domain(user))

    # --- lockers and pickup points
    @mutation(OPERATIONS)
    async def create_locker(self, info: Info, input: CreateLockerInput) -> LockerPayload:
        try:
            locker = await info.context.services.places.create_locker(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return LockerPayload(errors=user_errors(exc))
        return LockerPayload(locker=Locker.from_domain(locker))

    @mutation(OPERATIONS)
    async def update_locker(self, info: Info, input: UpdateLockerInput) -> LockerPayload:
        try:
            locker_id = decode_id(input.id, "Locker")
            locker = await info.context.services.places.update_locker(
                await info.context.principal(),
                locker_id,
                kind=None if input.kind is None else domain.LockerKind(input.kind),
                name=input.name,
                operator=input.operator,
                address=None if input.address is None else _address(input.address),
                point=None if input.point is None else input.point.to_domain(),
                opening_hours=None if input.opening_hours is None else opening_hours_input(input.opening_hours),
                compartments=None if input.compartments is None else _compartments(input.compartments),
                active=input.active,
            )
        except DomainError as exc:
            return LockerPayload(errors=user_errors(exc))
        return LockerPayload(locker=Locker.from_domain(locker))
