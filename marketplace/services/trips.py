"""Trips couriers offer, their status machine, and weekly commutes that create trips ahead of time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any, TypedDict
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database, UnitOfWork
from marketplace.domain import trips as rules
from marketplace.domain import validation
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea, locate
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.paging import Page, PageRequest, Position
from marketplace.domain.trips import Commute, Trip, TripStatus, Waypoint
from marketplace.domain.vehicles import Vehicle
from marketplace.logs import get_logger
from marketplace.repositories import Repositories
from marketplace.repositories.trips import CommuteTrip
from marketplace.services.idempotency import Idempotency

log = get_logger("crowdship.trips")

# Templates read per scheduling batch: bounds memory and the size of the one insert per batch.
SCHEDULE_BATCH = 500


def _owner(principal: Principal) -> UUID | None:
    """Whose rows the caller reaches: a courier its own, an admin everyone's (None)."""
    if principal.role is Role.ADMIN:
        return None
    if principal.role is Role.COURIER and principal.user_id is not None:
        return principal.user_id
    raise PermissionError("trips are for couriers and admins")  # the access rule keeps others out


def _courier(principal: Principal) -> UUID:
    if principal.role is not Role.COURIER or principal.user_id is None:
        raise PermissionError("only couriers offer trips")
    return principal.user_id


def _instant(value: datetime) -> str:
    """In UTC for the idempotency fingerprint; an instant the rules refuse (naive, year 1) is kept as sent."""
    return value.astimezone(UTC).isoformat() if validation.instant(value, "", []) else value.isoformat()


def _waypoint_request(w: Waypoint) -> dict[str, Any]:
    return {"lat": w.point.lat, "lng": w.point.lng, "label": " ".join(w.label.split())}


def _id_to_json(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_from_json(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


async def _area_of(repos: Repositories, origin: Waypoint, destination: Waypoint) -> ServiceArea | None:
    """The active area holding the origin, else the one holding the destination."""
    areas = await repos.areas.containing([origin.point, destination.point])
    return locate(areas, origin.point) or locate(areas, destination.point)


def _outside() -> FieldError:
    return FieldError(
        ErrorCode.OUTSIDE_SERVICE_AREA, "neither the origin nor the destination is in an active service area", "origin"
    )


class _TripTerms(TypedDict):
    """What a courier sets on a trip, checked and normalised: the rest of a Trip's fields."""

    vehicle_id: UUID
    area_id: UUID
    origin: Waypoint
    destination: Waypoint
    depart_after: datetime
    arrive_by: datetime
    spare_weight_g: int
    spare_volume_cm3: int
    max_detour_m: int
    updated_at: datetime


def _not_found(what: str, field: str = "id") -> DomainError:
    return DomainError.single(ErrorCode.NOT_FOUND, f"no such {what}", field)


class TripService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency

    # --- trips ------------------------------------------------------------------------------

    async def create_trip(
        self,
        principal: Principal,
        *,
        vehicle_id: UUID | None,
        origin: Waypoint,
        destination: Waypoint,
        depart_after: datetime,
        arrive_by: datetime,
        spare_weight_g: int | None = None,
        spare_volume_cm3: int | None = None,
        max_detour_m: int | None = None,
        idempotency_key: str | None = None,
    ) -> Trip:
        """A `vehicle_id` of None (an ID that names no vehicle) is NOT_FOUND, like another courier's."""
        courier_id = _courier(principal)
        request = {
            "vehicle_id": str(vehicle_id),
            "origin": _waypoint_request(origin),
            "destination": _waypoint_request(destination),
            "depart_after": _instant(depart_after),
            "arrive_by": _instant(arrive_by),
            "spare_weight_g": spare_weight_g,
            "spare_volume_cm3": spare_volume_cm3,
            "max_detour_m": max_detour_m,
        }
        async with self._db.uow() as uow:

            async def create() -> UUID:
                now = self._clock.now()
                terms = await self._checked_terms(
                    uow,
                    courier_id,
                    vehicle_id=vehicle_id,
                    origin=origin,
                    destination=destination,
                    depart_after=depart_after,
                    arrive_by=arrive_by,
                    spare_weight_g=spare_weight_g,
                    spare_volume_cm3=spare_volume_cm3,
                    max_detour_m=rules.DEFAULT_MAX_DETOUR_M if max_detour_m is None else max_detour_m,
                    now=now,
                )
                trip = Trip(
                    id=uuid4(),
                    courier_id=courier_id,
                    status=TripStatus.OPEN,
                    template_id=None,
                    template_date=None,
                    created_at=now,
                    **terms,
                )
                await uow.repos.trips.add(trip)
                return trip.id

            trip_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="createTrip",
                key=idempotency_key,
                request=request,
                action=create,
                dump=_id_to_json,
                load=_id_from_json,
            )
            trip = await uow.repos.trips.get(trip_id, courier_id)
            await uow.commit()
        assert trip is not None
        return trip.as_of(self._clock.now())

    async def update_trip(
        self,
        principal: Principal,
        *,
        trip_id: UUID | None,
        vehicle_id: UUID | None = None,
        origin: Waypoint | None = None,
        destination: Waypoint | None = None,
        depart_after: datetime | None = None,
        arrive_by: datetime | None = None,
        spare_weight_g: int | None = None,
        spare_volume_cm3: int | None = None,
        max_detour_m: int | None = None,
    ) -> Trip:
        """A partial edit of an open trip; the result is validated as a whole, as if it were new.

        Capacities not given stay as they were, and are checked against a newly chosen vehicle.
        """
        courier_id = _courier(principal)
        async with self._db.uow() as uow:
            now = self._clock.now()
            trip = None if trip_id is None else await uow.repos.trips.get(trip_id, courier_id, for_update=True)
            if trip is None:
                raise _not_found("trip")
            self._require_open(trip, now)
            terms = await self._checked_terms(
                uow,
                courier_id,
                vehicle_id=trip.vehicle_id if vehicle_id is None else vehicle_id,
                origin=trip.origin if origin is None else origin,
                destination=trip.destination if destination is None else destination,
                depart_after=trip.depart_after if depart_after is None else depart_after,
                arrive_by=trip.arrive_by if arrive_by is None else arrive_by,
                spare_weight_g=trip.spare_weight_g if spare_weight_g is None else spare_weight_g,
                spare_volume_cm3=trip.spare_volume_cm3 if spare_volume_cm3 is None else spare_volume_cm3,
                max_detour_m=trip.max_detour_m if max_detour_m is None else max_detour_m,
                now=now,
            )
            updated = replace(trip, **terms)
            await uow.repos.trips.save_terms(updated)
            await uow.commit()
        return updated

    async def cancel_trip(self, principal: Principal, *, trip_id: UUID | None) -> Trip:
        """Only an open trip: once matched, parcels depend on it and operations must reassign them."""
        owner = _owner(principal)
        async with self._db.uow() as uow:
            now = self._clock.now()
            trip = None if trip_id is None else await uow.repos.trips.get(trip_id, owner, for_update=True)
            if trip is None:
                raise _not_found("trip")
            self._require_open(trip, now)
            cancelled = await uow.repos.trips.apply(trip.id, rules.transition(trip.status, TripStatus.CANCELLED), now)
            assert cancelled is not None  # the row is locked and was open
            await uow.commit()
        return cancelled

    async def expire_overdue(self) -> int:
        """Marks every open trip past its latest arrival expired, in one statement; safe to run any time."""
        async with self._db.uow() as uow:
            expired = await uow.repos.trips.apply_overdue(
                rules.transition(TripStatus.OPEN, TripStatus.EXPIRED), self._clock.now()
            )
            await uow.commit()
        return expired

    async def trip(self, principal: Principal, trip_id: UUID) -> Trip | None:
        async with self._db.read() as repos:
            trip = await repos.trips.get(trip_id, _owner(principal))
        return None if trip is None else trip.as_of(self._clock.now())

    async def list_trips(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        status: TripStatus | None = None,
        depart_from: datetime | None = None,
        depart_until: datetime | None = None,
        area_id: UUID | None = None,
        courier_id: UUID | None = None,
    ) -> Page[Trip]:
        """A courier's own trips (a `courier_id` filter cannot widen that); an admin's, everyone's."""
        problems: list[FieldError] = []
        for value, field in ((depart_from, "departFrom"), (depart_until, "departUntil")):
            if value is not None:
                validation.instant(value, field, problems)
        if not problems and depart_from is not None and depart_until is not None and depart_until <= depart_from:
            problems.append(FieldError(ErrorCode.WINDOW_ORDER, "must be after departFrom", "departUntil"))
        if problems:
            raise DomainError(problems)
        owner = _owner(principal)
        if owner is not None and courier_id is not None and courier_id != owner:
            return Page(items=(), has_next=False)
        now = self._clock.now()
        async with self._db.read() as repos:
            found = await repos.trips.list_page(
                page,
                now=now,
                courier_id=owner or courier_id,
                status=status,
                depart_from=depart_from,
                depart_until=depart_until,
                area_id=area_id,
            )
        return Page(items=tuple(t.as_of(now) for t in found.items), has_next=found.has_next)

    def _require_open(self, trip: Trip, now: datetime) -> None:
        status = rules.effective_status(trip.status, trip.arrive_by, now)
        if status is not TripStatus.OPEN:
            raise DomainError.single(
                ErrorCode.TRIP_NOT_OPEN, f"only an open trip can be changed; this one is {status.value}", "id"
            )

    async def _checked_terms(
        self,
        uow: UnitOfWork,
        courier_id: UUID,
        *,
        vehicle_id: UUID | None,
        origin: Waypoint,
        destination: Waypoint,
        depart_after: datetime,
        arrive_by: datetime,
        spare_weight_g: int | None,
        spare_volume_cm3: int | None,
        max_detour_m: int,
        now: datetime,
    ) -> _TripTerms:
        """Every rule of a trip's terms at once: the fields a courier may set and edit, checked and normalised."""
        problems: list[FieldError] = []
        clean_origin = rules.waypoint(origin, "origin", problems)
        clean_destination = rules.waypoint(destination, "destination", problems)
        rules.trip_window(depart_after, arrive_by, now, problems)
        rules.max_detour(max_detour_m, problems)
        vehicle = await self._vehicle(uow, vehicle_id, courier_id, problems)
        weight_g, volume_cm3 = rules.spare_capacity(spare_weight_g, spare_volume_cm3, vehicle, problems)
        area = await self._area(uow, clean_origin, clean_destination, problems)
        if problems:
            raise DomainError(problems)
        assert vehicle is not None
        assert area is not None
        return _TripTerms(
            vehicle_id=vehicle.id,
            area_id=area.id,
            origin=clean_origin,
            destination=clean_destination,
            depart_after=depart_after.astimezone(UTC),
            arrive_by=arrive_by.astimezone(UTC),
            spare_weight_g=weight_g,
            spare_volume_cm3=volume_cm3,
            max_detour_m=max_detour_m,
            updated_at=now,
        )

    async def _vehicle(
        self, uow: UnitOfWork, vehicle_id: UUID | None, courier_id: UUID, problems: list[FieldError]
    ) -> Vehicle | None:
        found = None if vehicle_id is None else await uow.repos.vehicles.get(vehicle_id, courier_id)
        return rules.usable_vehicle(found, problems)

    async def _area(
        self, uow: UnitOfWork, origin: Waypoint, destination: Waypoint, problems: list[FieldError]
    ) -> ServiceArea | None:
        """Looked up only when both points are valid; otherwise their own errors say enough."""
        if any(p.field and p.field.endswith((".lat", ".lng")) for p in problems):
            return None
        area = await _area_of(uow.repos, origin, destination)
        if area is None:
            problems.append(_outside())
        return area

    # --- commutes ---------------------------------------------------------------------------

    async def create_commute(
        self,
        principal: Principal,
        *,
        vehicle_id: UUID | None,
        origin: Waypoint,
        destination: Waypoint,
        weekdays: list[int],
        depart_time: time,
        arrive_time: time,
        time_zone: str | None = None,
        spare_weight_g: int | None = None,
        spare_volume_cm3: int | None = None,
        max_detour_m: int | None = None,
        idempotency_key: str | None = None,
    ) -> Commute:
        """A weekly template; `time_zone` defaults to the service area's. Trips come from scheduling it."""
        courier_id = _courier(principal)
        request = {
            "vehicle_id": str(vehicle_id),
            "origin": _waypoint_request(origin),
            "destination": _waypoint_request(destination),
            "weekdays": weekdays,
            "depart_time": depart_time.isoformat(),
            "arrive_time": arrive_time.isoformat(),
            "time_zone": time_zone,
            "spare_weight_g": spare_weight_g,
            "spare_volume_cm3": spare_volume_cm3,
            "max_detour_m": max_detour_m,
        }
        async with self._db.uow() as uow:

            async def create() -> UUID:
                now = self._clock.now()
                commute = await self._checked_commute(
                    uow,
                    courier_id,
                    commute_id=uuid4(),
                    vehicle_id=vehicle_id,
                    origin=origin,
                    destination=destination,
                    weekdays=weekdays,
                    depart_time=depart_time,
                    arrive_time=arrive_time,
                    time_zone=time_zone,
                    spare_weight_g=spare_weight_g,
                    spare_volume_cm3=spare_volume_cm3,
                    max_detour_m=rules.DEFAULT_MAX_DETOUR_M if max_detour_m is None else max_detour_m,
                    active=True,
                    created_at=now,
                    now=now,
                )
                await uow.repos.commutes.save(commute)
                return commute.id

            commute_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="createCommute",
                key=idempotency_key,
                request=request,
                action=create,
                dump=_id_to_json,
                load=_id_from_json,
            )
            commute = await uow.repos.commutes.get(commute_id, courier_id)
            await uow.commit()
        assert commute is not None
        return commute

    async def update_commute(
        self,
        principal: Principal,
        *,
        commute_id: UUID | None,
        vehicle_id: UUID | None = None,
        origin: Waypoint | None = None,
        destination: Waypoint | None = None,
        weekdays: list[int] | None = None,
        depart_time: time | None = None,
        arrive_time: time | None = None,
        time_zone: str | None = None,
        spare_weight_g: int | None = None,
        spare_volume_cm3: int | None = None,
        max_detour_m: int | None = None,
    ) -> Commute:
        """A partial edit, validated as a whole. It shapes trips scheduled from now on; trips already
        created are trips of their own, edited or cancelled one by one."""
        courier_id = _courier(principal)
        async with self._db.uow() as uow:
            current = None
            if commute_id is not None:
                current = await uow.repos.commutes.get(commute_id, courier_id, for_update=True)
            if current is None:
                raise _not_found("commute")
            now = self._clock.now()
            commute = await self._checked_commute(
                uow,
                courier_id,
                commute_id=current.id,
                vehicle_id=current.vehicle_id if vehicle_id is None else vehicle_id,
                origin=current.origin if origin is None else origin,
                destination=current.destination if destination is None else destination,
                weekdays=list(current.weekdays) if weekdays is None else weekdays,
                depart_time=current.depart_local if depart_time is None else depart_time,
                arrive_time=current.arrive_local if arrive_time is None else arrive_time,
                time_zone=current.time_zone if time_zone is None else time_zone,
                spare_weight_g=current.spare_weight_g if spare_weight_g is None else spare_weight_g,
                spare_volume_cm3=current.spare_volume_cm3 if spare_volume_cm3 is None else spare_volume_cm3,
                max_detour_m=current.max_detour_m if max_detour_m is None else max_detour_m,
                active=current.active,
                created_at=current.created_at,
                now=now,
            )
            await uow.repos.commutes.save(commute)
            await uow.commit()
        return commute

    async def set_commute_active(self, principal: Principal, *, commute_id: UUID | None, active: bool) -> Commute:
        """An inactive template schedules nothing; the trips it already created stay as they are."""
        owner = _owner(principal)
        async with self._db.uow() as uow:
            current = None if commute_id is None else await uow.repos.commutes.get(commute_id, owner, for_update=True)
            if current is None:
                raise _not_found("commute")
            commute = current
            if current.active is not active:
                commute = replace(current, active=active, updated_at=self._clock.now())
            await uow.repos.commutes.save(commute)
            await uow.commit()
        return commute

    async def list_commutes(
        self, principal: Principal, page: PageRequest, *, courier_id: UUID | None = None
    ) -> Page[Commute]:
        owner = _owner(principal)
        if owner is not None and courier_id is not None and courier_id != owner:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            return await repos.commutes.list_page(page, courier_id=owner or courier_id)

    async def commutes_of_couriers(self, keys: list[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], Commute]:
        """By (commute id, courier id), for trips the caller was already allowed to read: the courier comes
        from the trip, so a commute is never reached under another courier."""
        async with self._db.read() as repos:
            return await repos.commutes.get_many_owned(keys)

    async def schedule_commute_trips(
        self, principal: Principal, *, commute_id: UUID | None = None, days: int = rules.DEFAULT_SCHEDULE_DAYS
    ) -> int:
        """Creates the caller's (or, for admins, everyone's) commute trips for the coming `days`.

        With `commute_id`, only that template; a missing or another courier's id is NOT_FOUND, an
        inactive one creates nothing. Returns how many trips were created (0 on a repeat run).
        """
        rules.schedule_days(days)
        owner = _owner(principal)
        if commute_id is not None:
            async with self._db.read() as repos:
                if await repos.commutes.get(commute_id, owner) is None:
                    raise _not_found("commute", "commuteId")
        return await self._schedule(courier_id=owner, commute_id=commute_id, days=days)

    async def schedule_all(self, days: int = rules.DEFAULT_SCHEDULE_DAYS) -> int:
        """Every active template's trips for the coming `days`: for the CLI and a daily cron."""
        return await self._schedule(courier_id=None, commute_id=None, days=rules.schedule_days(days))

    async def _schedule(self, *, courier_id: UUID | None, commute_id: UUID | None, days: int) -> int:
        """Batches of templates; per batch one area look-up and one insert that skips days already there.

        Idempotent and safe to run concurrently: the (template_id, template_date) key decides, so a
        repeat creates nothing and a cancelled day is not recreated.
        """
        created = 0
        page = PageRequest(first=SCHEDULE_BATCH)
        while True:
            now = self._clock.now()
            async with self._db.uow() as uow:
                batch = await uow.repos.commutes.active_page(page, courier_id=courier_id, commute_id=commute_id)
                wanted = await self._commute_trips(uow.repos, batch.items, now, days)
                created += await uow.repos.trips.add_for_commutes(wanted, TripStatus.OPEN, now)
                await uow.commit()
            if not batch.has_next:
                return created
            last = batch.items[-1]
            page = PageRequest(first=SCHEDULE_BATCH, after=Position(created_at=last.created_at, id=last.id))

    async def _commute_trips(
        self, repos: Repositories, commutes: tuple[Commute, ...], now: datetime, days: int
    ) -> list[CommuteTrip]:
        points = [p for c in commutes for p in (c.origin.point, c.destination.point)]
        areas = await repos.areas.containing(points)
        wanted = []
        for commute in commutes:
            area = locate(areas, commute.origin.point) or locate(areas, commute.destination.point)
            if area is None:
                log.warning("commute_outside_service_area", commute_id=str(commute.id))
                continue
            for day in rules.occurrences(commute, now, days):
                wanted.append(
                    CommuteTrip(uuid4(), commute.id, day.template_date, area.id, day.depart_after, day.arrive_by)
                )
        return wanted

    async def _checked_commute(
        self,
        uow: UnitOfWork,
        courier_id: UUID,
        *,
        commute_id: UUID,
        vehicle_id: UUID | None,
        origin: Waypoint,
        destination: Waypoint,
        weekdays: list[int],
        depart_time: time,
        arrive_time: time,
        time_zone: str | None,
        spare_weight_g: int | None,
        spare_volume_cm3: int | None,
        max_detour_m: int,
        active: bool,
        created_at: datetime,
        now: datetime,
    ) -> Commute:
        problems: list[FieldError] = []
        clean_origin = rules.waypoint(origin, "origin", problems)
        clean_destination = rules.waypoint(destination, "destination", problems)
        days = rules.weekdays(weekdays, problems)
        rules.local_times(depart_time, arrive_time, problems)
        if time_zone is not None:
            validation.time_zone(time_zone, "timeZone", problems)
        rules.max_detour(max_detour_m, problems)
        vehicle = await self._vehicle(uow, vehicle_id, courier_id, problems)
        weight_g, volume_cm3 = rules.spare_capacity(spare_weight_g, spare_volume_cm3, vehicle, problems)
        area = await self._area(uow, clean_origin, clean_destination, problems)
        if problems:
            raise DomainError(problems)
        assert vehicle is not None
        assert area is not None
        return Commute(
            id=commute_id,
            courier_id=courier_id,
            vehicle_id=vehicle.id,
            origin=clean_origin,
            destination=clean_destination,
            weekdays=days,
            depart_local=depart_time,
            arrive_local=arrive_time,
            time_zone=time_zone or area.time_zone,
            spare_weight_g=weight_g,
            spare_volume_cm3=volume_cm3,
            max_detour_m=max_detour_m,
            active=active,
            created_at=created_at,
            updated_at=now,
        )
