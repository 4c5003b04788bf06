"""Trips and commute templates in GraphQL."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

import strawberry

from marketplace.domain import trips as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from schema.access import allow, mutation, query
from schema.common import GeoPoint, GeoPointInput, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.places import ServiceArea, load_service_area
from schema.types import Connection, User, decode_id, global_id
from schema.vehicles import Vehicle, load_vehicle

COURIERS = allow(DomainRole.COURIER)
COURIERS_AND_ADMINS = allow(DomainRole.COURIER, DomainRole.ADMIN)

TripStatus = strawberry.enum(
    domain.TripStatus,
    name="TripStatus",
    description="OPEN -> MATCHED | CANCELLED | EXPIRED; MATCHED -> OPEN | IN_PROGRESS; IN_PROGRESS -> COMPLETED.",
)


@strawberry.type(description="Where a trip starts or ends: a point and the courier's own label for it.")
class Waypoint:
    point: GeoPoint
    label: str

    @classmethod
    def from_domain(cls, w: domain.Waypoint) -> Waypoint:
        return cls(point=GeoPoint.from_domain(w.point), label=w.label)


@strawberry.input
class WaypointInput:
    point: GeoPointInput
    label: str = strawberry.field(description="1 to 200 characters, e.g. 'home' or 'office'.")

    def to_domain(self) -> domain.Waypoint:
        return domain.Waypoint(self.point.to_domain(), self.label)


def _waypoint(value: WaypointInput | None) -> domain.Waypoint | None:
    return None if value is None else value.to_domain()


@strawberry.type(description="Capacity a courier offers on a journey they make anyway.")
class Trip:
    id: strawberry.ID
    courier_id: strawberry.ID = strawberry.field(description="The courier's User ID.")
    vehicle_id: strawberry.ID
    area_id: strawberry.ID = strawberry.field(description="The service area holding the origin, else the destination.")
    origin: Waypoint
    destination: Waypoint
    depart_after: datetime = strawberry.field(description="Earliest departure.")
    arrive_by: datetime = strawberry.field(description="Latest arrival; an open trip expires at this instant.")
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    status: TripStatus  # type: ignore[valid-type]
    commute_id: strawberry.ID | None = strawberry.field(description="The commute that created this trip, if any.")
    commute_date: date | None = strawberry.field(description="The commute's local date this trip is for.")
    created_at: datetime
    updated_at: datetime
    courier_uuid: strawberry.Private[UUID]
    vehicle_uuid: strawberry.Private[UUID]
    area_uuid: strawberry.Private[UUID]
    commute_uuid: strawberry.Private[UUID | None]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.courier_uuid)
        return None if user is None else User.from_domain(user)

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        return await load_vehicle(info, self.vehicle_uuid, self.courier_uuid)

    @strawberry.field
    async def area(self, info: Info) -> ServiceArea | None:
        return await load_service_area(info, self.area_uuid)

    @strawberry.field
    async def commute(self, info: Info) -> Commute | None:
        if self.commute_uuid is None:
            return None
        commute = await info.context.loaders.commutes.load((self.commute_uuid, self.courier_uuid))
        return None if commute is None else Commute.from_domain(commute)

    @classmethod
    def from_domain(cls, trip: domain.Trip) -> Trip:
        return cls(
            id=global_id("Trip", trip.id),
            courier_id=global_id("User", trip.courier_id),
            vehicle_id=global_id("Vehicle", trip.vehicle_id),
            area_id=global_id("ServiceArea", trip.area_id),
            origin=Waypoint.from_domain(trip.origin),
            destination=Waypoint.from_domain(trip.destination),
            depart_after=trip.depart_after,
            arrive_by=trip.arrive_by,
            spare_weight_g=trip.spare_weight_g,
            spare_volume_cm3=trip.spare_volume_cm3,
            max_detour_m=trip.max_detour_m,
            status=trip.status,
            commute_id=None if trip.template_id is None else global_id("Commute", trip.template_id),
            commute_date=trip.template_date,
            created_at=trip.created_at,
            updated_at=trip.updated_at,
            courier_uuid=trip.courier_id,
            vehicle_uuid=trip.vehicle_id,
            area_uuid=trip.area_id,
            commute_uuid=trip.template_id,
        )


@strawberry.type(description="A weekly template that creates a trip on each of its weekdays, ahead of time.")
class Commute:
    id: strawberry.ID
    courier_id: strawberry.ID
    vehicle_id: strawberry.ID
    origin: Waypoint
    destination: Waypoint
    weekdays: list[int] = strawberry.field(description="ISO weekdays, 1 = Monday .. 7 = Sunday.")
    depart_time: time = strawberry.field(description="Local wall-clock time in `timeZone`.")
    arrive_time: time = strawberry.field(description="Local wall-clock time in `timeZone`, the same day.")
    time_zone: str
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    active: bool
    created_at: datetime
    updated_at: datetime
    courier_uuid: strawberry.Private[UUID]
    vehicle_uuid: strawberry.Private[UUID]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.courier_uuid)
        return None if user is None else User.from_domain(user)

    @strawberry.field
    async def vehicle(self, info: Info) -> Vehicle | None:
        return await load_vehicle(info, self.vehicle_uuid, self.courier_uuid)

    @classmethod
    def from_domain(cls, commute: domain.Commute) -> Commute:
        return cls(
            id=global_id("Commute", commute.id),
            courier_id=global_id("User", commute.courier_id),
            vehicle_id=global_id("Vehicle", commute.vehicle_id),
            origin=Waypoint.from_domain(commute.origin),
            destination=Waypoint.from_domain(commute.destination),
            weekdays=list(commute.weekdays),
            depart_time=commute.depart_local,
            arrive_time=commute.arrive_local,
            time_zone=commute.time_zone,
            spare_weight_g=commute.spare_weight_g,
            spare_volume_cm3=commute.spare_volume_cm3,
            max_detour_m=commute.max_detour_m,
            active=commute.active,
            created_at=commute.created_at,
            updated_at=commute.updated_at,
            courier_uuid=commute.courier_id,
            vehicle_uuid=commute.vehicle_id,
        )


def _position(item: domain.Trip | domain.Commute) -> Position:
    return Position(created_at=item.created_at, id=item.id)


@strawberry.input
class CreateTripInput:
    vehicle_id: strawberry.ID = strawberry.field(description="One of your own vehicles, not retired.")
    origin: WaypointInput
    destination: WaypointInput
    depart_after: datetime = strawberry.field(description="Earliest departure, with an offset.")
    arrive_by: datetime = strawberry.field(
        description="Latest arrival, with an offset: in the future, after departAfter, at most 24 h later."
    )
    spare_weight_g: int | None = strawberry.field(default=None, description="Defaults to the vehicle's maximum.")
    spare_volume_cm3: int | None = strawberry.field(default=None, description="Defaults to the vehicle's maximum.")
    max_detour_m: int | None = strawberry.field(default=None, description="0 to 50000; defaults to 3000.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first result comes back and nothing is created twice."
    )

    def to_domain(self) -> domain.NewTrip:
        return domain.NewTrip(
            vehicle_id=decode_id(self.vehicle_id, "Vehicle", field="vehicleId"),
            origin=self.origin.to_domain(),
            destination=self.destination.to_domain(),
            depart_after=self.depart_after,
            arrive_by=self.arrive_by,
            spare_weight_g=self.spare_weight_g,
            spare_volume_cm3=self.spare_volume_cm3,
            max_detour_m=self.max_detour_m,
        )


@strawberry.input(description="Only the fields given change; the edited trip is validated as a whole.")
class UpdateTripInput:
    id: strawberry.ID
    vehicle_id: strawberry.ID | None = None
    origin: WaypointInput | None = None
    destination: WaypointInput | None = None
    depart_after: datetime | None = None
    arrive_by: datetime | None = None
    spare_weight_g: int | None = None
    spare_volume_cm3: int | None = None
    max_detour_m: int | None = None


@strawberry.input
class CancelTripInput:
    id: strawberry.ID


@strawberry.type
class TripPayload:
    trip: Trip | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateCommuteInput:
    vehicle_id: strawberry.ID
    origin: WaypointInput
    destination: WaypointInput
    weekdays: list[int] = strawberry.field(description="ISO weekdays, 1 = Monday .. 7 = Sunday, each once.")
    depart_time: time = strawberry.field(description="Local wall-clock time, no offset.")
    arrive_time: time = strawberry.field(description="Local wall-clock time, no offset, after departTime.")
    time_zone: str | None = strawberry.field(
        default=None, description="IANA name, e.g. Europe/Amsterdam; defaults to the service area's."
    )
    spare_weight_g: int | None = strawberry.field(default=None, description="Defaults to the vehicle's maximum.")
    spare_volume_cm3: int | None = strawberry.field(default=None, description="Defaults to the vehicle's maximum.")
    max_detour_m: int | None = strawberry.field(default=None, description="0 to 50000; defaults to 3000.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first result comes back and nothing is created twice."
    )

    def to_domain(self) -> domain.NewCommute:
        return domain.NewCommute(
            vehicle_id=decode_id(self.vehicle_id, "Vehicle", field="vehicleId"),
            origin=self.origin.to_domain(),
            destination=self.destination.to_domain(),
            weekdays=tuple(self.weekdays),
            depart_time=self.depart_time,
            arrive_time=self.arrive_time,
            time_zone=self.time_zone,
            spare_weight_g=self.spare_weight_g,
            spare_volume_cm3=self.spare_volume_cm3,
            max_detour_m=self.max_detour_m,
        )


@strawberry.input(description="Only the fields given change; trips already created keep their terms.")
class UpdateCommuteInput:
    id: strawberry.ID
    vehicle_id: strawberry.ID | None = None
    origin: WaypointInput | None = None
    destination: WaypointInput | None = None
    weekdays: list[int] | None = None
    depart_time: time | None = None
    arrive_time: time | None = None
    time_zone: str | None = None
    spare_weight_g: int | None = None
    spare_volume_cm3: int | None = None
    max_detour_m: int | None = None


@strawberry.input
class SetCommuteActiveInput:
    id: strawberry.ID
    active: bool


@strawberry.type
class CommutePayload:
    commute: Commute | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ScheduleCommuteTripsInput:
    commute_id: strawberry.ID | None = strawberry.field(
        default=None, description="One template; without it every active template you may schedule."
    )
    days: int = strawberry.field(
        default=domain.DEFAULT_SCHEDULE_DAYS, description="Local dates from today on, 1 to 28."
    )


@strawberry.type
class ScheduleCommuteTripsPayload:
    created: int = strawberry.field(default=0, description="Trips created; days that already had one are skipped.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TripQuery:
    @query(COURIERS_AND_ADMINS)
    async def trips(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: TripStatus | None = None,  # type: ignore[valid-type]
        depart_from: datetime | None = None,
        depart_until: datetime | None = None,
        area_id: strawberry.ID | None = None,
        courier_id: strawberry.ID | None = None,
    ) -> Connection[Trip]:
        """A courier's own trips; admins see everyone's and may filter by courier. Departure in [from, until)."""
        found = await info.context.services.trips.list_trips(
            await info.context.principal(),
            page_or_error(first, after),
            status=status,
            depart_from=depart_from,
            depart_until=depart_until,
            area_id=decode_id(area_id, "ServiceArea", field="areaId"),
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
        )
        return Connection[Trip].from_page(found, Trip.from_domain, _position, has_previous=after is not None)

    @query(COURIERS_AND_ADMINS)
    async def trip(self, info: Info, id: strawberry.ID) -> Trip | None:
        """Another courier's trip is NOT_FOUND, exactly like a missing one."""
        found = await info.context.services.trips.trip(await info.context.principal(), decode_id(id, "Trip"))
        if found is None:
            raise not_found("trip")
        return Trip.from_domain(found)

    @query(COURIERS_AND_ADMINS)
    async def commutes(
        self, info: Info, first: int | None = None, after: str | None = None, courier_id: strawberry.ID | None = None
    ) -> Connection[Commute]:
        """A courier's own commute templates; admins see everyone's and may filter by courier."""
        found = await info.context.services.trips.list_commutes(
            await info.context.principal(),
            page_or_error(first, after),
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
        )
        return Connection[Commute].from_page(found, Commute.from_domain, _position, has_previous=after is not None)


@strawberry.type
class TripMutation:
    @mutation(COURIERS)
    async def create_trip(self, info: Info, input: CreateTripInput) -> TripPayload:
        try:
            trip = await info.context.services.trips.create_trip(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return TripPayload(errors=user_errors(exc))
        return TripPayload(trip=Trip.from_domain(trip))

    @mutation(COURIERS)
    async def update_trip(self, info: Info, input: UpdateTripInput) -> TripPayload:
        try:
            trip = await info.context.services.trips.update_trip(
                await info.context.principal(),
                trip_id=decode_id(input.id, "Trip"),
                vehicle_id=decode_id(input.vehicle_id, "Vehicle", field="vehicleId"),
                origin=_waypoint(input.origin),
                destination=_waypoint(input.destination),
                depart_after=input.depart_after,
                arrive_by=input.arrive_by,
                spare_weight_g=input.spare_weight_g,
                spare_volume_cm3=input.spare_volume_cm3,
                max_detour_m=input.max_detour_m,
            )
        except DomainError as exc:
            return TripPayload(errors=user_errors(exc))
        return TripPayload(trip=Trip.from_domain(trip))

    @mutation(COURIERS_AND_ADMINS, description="Only while open; admins may cancel any courier's open trip.")
    async def cancel_trip(self, info: Info, input: CancelTripInput) -> TripPayload:
        try:
            trip = await info.context.services.trips.cancel_trip(
                await info.context.principal(), trip_id=decode_id(input.id, "Trip")
            )
        except DomainError as exc:
            return TripPayload(errors=user_errors(exc))
        return TripPayload(trip=Trip.from_domain(trip))

    @mutation(COURIERS)
    async def create_commute(self, info: Info, input: CreateCommuteInput) -> CommutePayload:
        try:
            commute = await info.context.services.trips.create_commute(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return CommutePayload(errors=user_errors(exc))
        return CommutePayload(commute=Commute.from_domain(commute))

    @mutation(COURIERS)
    async def update_commute(self, info: Info, input: UpdateCommuteInput) -> CommutePayload:
        try:
            commute = await info.context.services.trips.update_commute(
                await info.context.principal(),
                commute_id=decode_id(input.id, "Commute"),
                vehicle_id=decode_id(input.vehicle_id, "Vehicle", field="vehicleId"),
                origin=_waypoint(input.origin),
                destination=_waypoint(input.destination),
                weekdays=input.weekdays,
                depart_time=input.depart_time,
                arrive_time=input.arrive_time,
                time_zone=input.time_zone,
                spare_weight_g=input.spare_weight_g,
                spare_volume_cm3=input.spare_volume_cm3,
                max_detour_m=input.max_detour_m,
            )
        except DomainError as exc:
            return CommutePayload(errors=user_errors(exc))
        return CommutePayload(commute=Commute.from_domain(commute))

    @mutation(COURIERS_AND_ADMINS, description="An inactive commute creates no trips; those it created stay.")
    async def set_commute_active(self, info: Info, input: SetCommuteActiveInput) -> CommutePayload:
        try:
            commute = await info.context.services.trips.set_commute_active(
                await info.context.principal(), commute_id=decode_id(input.id, "Commute"), active=input.active
            )
        except DomainError as exc:
            return CommutePayload(errors=user_errors(exc))
        return CommutePayload(commute=Commute.from_domain(commute))

    @mutation(
        COURIERS_AND_ADMINS,
        description="Creates commute trips for the coming days; running it again creates no duplicates.",
    )
    async def schedule_commute_trips(self, info: Info, input: ScheduleCommuteTripsInput) -> ScheduleCommuteTripsPayload:
        try:
            commute_id = decode_id(input.commute_id, "Commute", field="commuteId")
            created = await info.context.services.trips.schedule_commute_trips(
                await info.context.principal(), commute_id=commute_id, days=input.days
            )
        except DomainError as exc:
            return ScheduleCommuteTripsPayload(errors=user_errors(exc))
        return ScheduleCommuteTripsPayload(created=created)
