"""Service areas (operations), retailers' pickup locations, and the locker and pickup-point registry.

Every place must lie inside an active service area: the area fixes the country its address is
checked against and the time zone its opening hours are read in. Edits re-validate the merged
place; the area is looked up again only when the point moves (or a locker is switched back on), so
renaming a store in an area operations have paused still works.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import areas as area_rules
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import AreaDispatch, NewServiceArea, ServiceArea, dispatch_settings
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, parse_polygon, point_problems
from marketplace.domain.hours import OpeningHours, parse_opening_hours
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.places import (
    Address,
    Compartments,
    CompartmentSize,
    Locker,
    LockerKind,
    NewLocker,
    NewPickupLocation,
    PickupLocation,
    PickupLocationKind,
    parse_address,
    parse_compartments,
)
from marketplace.repositories import Repositories
from marketplace.services.idempotency import Idempotency

RawHours = Sequence[tuple[int, time, time]]


async def locate_points(repos: Repositories, points: Sequence[Point]) -> list[ServiceArea | None]:
    """For each point, the active area holding it (None: outside every one); one query for all points."""
    candidates = await repos.areas.containing(list(points))
    return [area_rules.locate(candidates, p) for p in points]


def _id_dump(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_load(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


def _raw_hours(hours: OpeningHours) -> list[tuple[int, time, time]]:
    return [(i.weekday, i.opens, i.closes) for i in hours.intervals]


def _not_found(what: str) -> DomainError:
    return DomainError.single(ErrorCode.NOT_FOUND, f"no such {what}", "id")


class PlacesService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency

    # --- service areas (operations) ----------------------------------------------------------

    async def create_service_area(
        self, principal: Principal, new: NewServiceArea, *, idempotency_key: str | None = None
    ) -> ServiceArea:
        Scope(principal).require_role(Role.ADMIN)
        async with self._db.uow() as uow:

            async def create() -> UUID:
                problems: list[FieldError] = []
                clean_name = validation.text(new.name, "name", problems)
                country = self._area_country(new.country_code, problems)
                money = validation.currency(new.currency, "currency", problems)
                zone = validation.time_zone(new.time_zone, "timeZone", problems)
                shape, polygon_problems = parse_polygon(new.polygon, "polygon")
                problems.extend(polygon_problems)
                self._fleet_prices(new.fleet_base_minor, new.fleet_per_km_minor, problems)
                settings = dispatch_settings(AreaDispatch(), new.dispatch_changes(), problems)
                if problems or shape is None:
                    raise DomainError(problems)
                now = self._clock.now()
                area = ServiceArea(
                    id=uuid4(),
                    name=clean_name,
                    country_code=country,
                    currency=money,
                    time_zone=zone,
                    polygon=shape,
                    active=new.active,
                    fleet_base_minor=new.fleet_base_minor,
                    fleet_per_km_minor=new.fleet_per_km_minor,
                    created_at=now,
                    updated_at=now,
                    dispatch=settings,
                )
                if not await uow.repos.areas.save(area):
                    raise DomainError.single(ErrorCode.DUPLICATE_NAME, "another service area has this name", "name")
                return area.id

            area_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="createServiceArea",
                key=idempotency_key,
                request=new,
                action=create,
                dump=_id_dump,
                load=_id_load,
            )
            area = await uow.repos.areas.get(area_id)
            assert area is not None
            await uow.commit()
        return area

    async def update_service_area(
        self,
        principal: Principal,
        area_id: UUID,
        *,
        name: str | None = None,
        country_code: str | None = None,
        currency: str | None = None,
        time_zone: str | None = None,
        polygon: Sequence[tuple[float, float]] | None = None,
        fleet_base_minor: int | None = None,
        fleet_per_km_minor: int | None = None,
        active: bool | None = None,
        dispatch: dict[str, int | None] | None = None,
    ) -> ServiceArea:
        """Changes only what is given. An area keeps its places: it cannot change country or currency
        once anything was offered or priced in it, nor time zone once places keep hours in it, nor
        shrink so that a place in use falls outside it."""
        Scope(principal).require_role(Role.ADMIN)
        async with self._db.uow() as uow:
            area = await uow.repos.areas.get(area_id, for_update=True)
            if area is None:
                raise _not_found("service area")
            problems: list[FieldError] = []
            new_name = area.name if name is None else validation.text(name, "name", problems)
            country = area.country_code if country_code is None else self._area_country(country_code, problems)
            money = area.currency if currency is None else validation.currency(currency, "currency", problems)
            zone = area.time_zone if time_zone is None else validation.time_zone(time_zone, "timeZone", problems)
            shape = area.polygon
            if polygon is not None:
                parsed, polygon_problems = parse_polygon(polygon, "polygon")
                problems.extend(polygon_problems)
                shape = parsed or shape
            base = area.fleet_base_minor if fleet_base_minor is None else fleet_base_minor
            per_km = area.fleet_per_km_minor if fleet_per_km_minor is None else fleet_per_km_minor
            self._fleet_prices(base, per_km, problems)
            settings = dispatch_settings(area.dispatch, dispatch or {}, problems)
            if country != area.country_code and await uow.repos.areas.has_business(area.id):
                msg = "the area has places, trips, quotes or jobs with addresses in its country; register a new area"
                problems.append(FieldError(ErrorCode.AREA_IN_USE, msg, "countryCode"))
            if zone != area.time_zone and await uow.repos.areas.has_places(area.id):
                # Opening hours are wall-clock times in the area's zone: changing it would move them all.
                msg = "the area's places keep opening hours in its time zone; register a new area instead"
                problems.append(FieldError(ErrorCode.AREA_IN_USE, msg, "timeZone"))
            if money != area.currency and await uow.repos.areas.has_business(area.id):
                # Quotes, jobs, declared values and courier covers are all in the old currency.
                msg = "the area already has places, trips, quotes or jobs in its currency; register a new area instead"
                problems.append(FieldError(ErrorCode.AREA_IN_USE, msg, "currency"))
            if polygon is not None and not polygon_problems:
                outside = [p for p in await uow.repos.areas.places_in_use(area.id) if not shape.contains(p)]
                if outside:
                    msg = f"{len(outside)} pickup location(s) or locker(s) in use would fall outside; move them first"
                    problems.append(FieldError(ErrorCode.AREA_IN_USE, msg, "polygon"))
            if problems:
                raise DomainError(problems)
            updated = ServiceArea(
                id=area.id,
                name=new_name,
                country_code=country,
                currency=money,
                time_zone=zone,
                polygon=shape,
                active=area.active if active is None else active,
                fleet_base_minor=base,
                fleet_per_km_minor=per_km,
                created_at=area.created_at,
                updated_at=self._clock.now(),
                dispatch=settings,
            )
            if not await uow.repos.areas.save(updated):
                raise DomainError.single(ErrorCode.DUPLICATE_NAME, "another service area has this name", "name")
            await uow.commit()
        return updated

    @staticmethod
    def _area_country(code: str, problems: list[FieldError]) -> str:
        """An area's country must be one whose postal codes we can check: its addresses depend on it."""
        return validation.country(code, "countryCode", problems)

    @staticmethod
    def _fleet_prices(base_minor: int, per_km_minor: int, problems: list[FieldError]) -> None:
        validation.non_negative_int(base_minor, "fleetBaseMinor", problems, maximum=area_rules.MAX_FLEET_BASE_MINOR)
        validation.non_negative_int(
            per_km_minor, "fleetPerKmMinor", problems, maximum=area_rules.MAX_FLEET_PER_KM_MINOR
        )

    async def list_service_areas(self, page: PageRequest, *, active: bool | None = None) -> Page[ServiceArea]:
        async with self._db.read() as repos:
            return await repos.areas.list_page(page, active=active)

    async def get_service_area(self, area_id: UUID) -> ServiceArea | None:
        async with self._db.read() as repos:
            return await repos.areas.get(area_id)

    async def service_areas_by_id(self, ids: list[UUID]) -> dict[UUID, ServiceArea]:
        async with self._db.read() as repos:
            return await repos.areas.get_many(ids)

    async def locate_service_area(self, point: Point) -> ServiceArea | None:
        """The active area holding the point; where areas overlap, the oldest."""
        problems = point_problems(point.lat, point.lng, "point")
        if problems:
            raise DomainError(problems)
        async with self._db.read() as repos:
            return (await locate_points(repos, [point]))[0]

    # --- places: what pickup locations and lockers share -------------------------------------

    async def _place(
        self,
        repos: Repositories,
        problems: list[FieldError],
        *,
        address: Address,
        point: Point,
        relocate: bool,
        current_area_id: UUID | None,
    ) -> tuple[Address, ServiceArea | None]:
        """Validates address and point together: the area holding the point fixes the address's country."""
        area: ServiceArea | None = None
        point_bad = point_problems(point.lat, point.lng, "point")
        problems.extend(point_bad)
        if relocate or current_area_id is None:
            if not point_bad:
                found = (await locate_points(repos, [point]))[0]
                if found is not None:
                    # Locked and read again: an edit of the area that committed meanwhile (paused, shrunk)
                    # is seen here, and one that comes later waits for this place and then sees it.
                    area = await repos.areas.get(found.id, for_share=True)
                    if area is not None and not (area.active and area.contains(point)):
                        area = None
                if area is None:
                    msg = "the point is outside every active service area"
                    problems.append(FieldError(ErrorCode.OUTSIDE_SERVICE_AREA, msg, "point"))
        else:
            area = await repos.areas.get(current_area_id)
        clean = parse_address(
            street=address.street,
            house_number=address.house_number,
            postal_code=address.postal_code,
            city=address.city,
            country_code=address.country_code,
            area_country=None if area is None else area.country_code,
            field="address",
            problems=problems,
        )
        return clean, area

    @staticmethod
    def _hours(raw: RawHours, problems: list[FieldError]) -> OpeningHours:
        hours, hour_problems = parse_opening_hours(raw, "openingHours")
        problems.extend(hour_problems)
        return hours or OpeningHours(())

    # --- pickup locations (retailers) --------------------------------------------------------

    async def create_pickup_location(
        self, principal: Principal, new: NewPickupLocation, *, idempotency_key: str | None = None
    ) -> PickupLocation:
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:

            async def create() -> UUID:
                problems: list[FieldError] = []
                clean_name = validation.text(new.name, "name", problems)
                clean_address, area = await self._place(
                    uow.repos, problems, address=new.address, point=new.point, relocate=True, current_area_id=None
                )
                hours = self._hours(new.opening_hours, problems)
                if problems or area is None:
                    raise DomainError(problems)
                location = PickupLocation(
                    id=uuid4(),
                    organization_id=organization_id,
                    kind=new.kind,
                    name=clean_name,
                    address=clean_address,
                    point=new.point,
                    area_id=area.id,
                    opening_hours=hours,
                    created_at=self._clock.now(),
                )
                await uow.repos.pickup_locations.save(location)
                return location.id

            location_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="createPickupLocation",
                key=idempotency_key,
                request=new,
                action=create,
                dump=_id_dump,
                load=_id_load,
            )
            location = await uow.repos.pickup_locations.get(location_id, organization_id)
            assert location is not None
            await uow.commit()
        return location

    async def update_pickup_location(
        self,
        principal: Principal,
        location_id: UUID,
        *,
        kind: PickupLocationKind | None = None,
        name: str | None = None,
        address: Address | None = None,
        point: Point | None = None,
        opening_hours: RawHours | None = None,
    ) -> PickupLocation:
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:
            location = await uow.repos.pickup_locations.get(location_id, organization_id, for_update=True)
            if location is None:
                raise _not_found("pickup location")
            if location.archived_at is not None:
                raise DomainError.single(ErrorCode.ARCHIVED, "an archived pickup location cannot be changed", "id")
            problems: list[FieldError] = []
            new_name = location.name if name is None else validation.text(name, "name", problems)
            new_point = location.point if point is None else point
            clean_address, area = await self._place(
                uow.repos,
                problems,
                address=location.address if address is None else address,
                point=new_point,
                relocate=point is not None,
                current_area_id=location.area_id,
            )
            hours = self._hours(
                _raw_hours(location.opening_hours) if opening_hours is None else opening_hours, problems
            )
            # Unfinished jobs are picked up at the stored point and address (the row is locked, so none
            # is booked meanwhile); a store that really moves is a new location. Name and hours may change.
            changed = []
            if point is not None and point != location.point:
                changed.append("point")
            if address is not None and clean_address != location.address:
                changed.append("address")
            if changed and await uow.repos.jobs.unfinished_at_pickup_location(location.id):
                msg = "jobs booked here are not finished yet; archive this location and add a new one instead"
                problems.extend(FieldError(ErrorCode.LOCATION_IN_USE, msg, path) for path in changed)
            if problems or area is None:
                raise DomainError(problems)
            updated = PickupLocation(
                id=location.id,
                organization_id=location.organization_id,
                kind=location.kind if kind is None else kind,
                name=new_name,
                address=clean_address,
                point=new_point,
                area_id=area.id,
                opening_hours=hours,
                created_at=location.created_at,
            )
            await uow.repos.pickup_locations.save(updated)
            await uow.commit()
        return updated

    async def archive_pickup_location(self, principal: Principal, location_id: UUID) -> PickupLocation:
        """Archived locations take no new jobs but stay readable for the jobs that used them; twice is harmless."""
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:
            location = await uow.repos.pickup_locations.get(location_id, organization_id, for_update=True)
            if location is None:
                raise _not_found("pickup location")
            if location.archived_at is None:
                location = PickupLocation(
                    id=location.id,
                    organization_id=location.organization_id,
                    kind=location.kind,
                    name=location.name,
                    address=location.address,
                    point=location.point,
                    area_id=location.area_id,
                    opening_hours=location.opening_hours,
                    created_at=location.created_at,
                    archived_at=self._clock.now(),
                )
                await uow.repos.pickup_locations.save(location)
                await uow.commit()
        return location

    async def list_pickup_locations(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        include_archived: bool = False,
        organization_id: UUID | None = None,
    ) -> Page[PickupLocation]:
        """A retailer's own locations; operations see all, or one organisation's with `organization_id`."""
        visible = Scope(principal).organization_filter(organization_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            return await repos.pickup_locations.list_page(
                page, organization_id=visible.owner, include_archived=include_archived
            )

    async def get_pickup_location(self, principal: Principal, location_id: UUID) -> PickupLocation | None:
        """Another organisation's location is None, exactly like a missing one."""
        owner = Scope(principal).organization_filter().owner
        async with self._db.read() as repos:
            return await repos.pickup_locations.get(location_id, owner)

    async def pickup_locations_of_organizations(
        self, keys: list[tuple[UUID, UUID]]
    ) -> dict[tuple[UUID, UUID], PickupLocation]:
        """By (location id, organisation id), for objects the caller was already allowed to read (a job):
        the owner comes from that object, so a location is never reached under another organisation."""
        async with self._db.read() as repos:
            return await repos.pickup_locations.get_many_owned(keys)

    # --- lockers and pickup points (operations write, everyone reads) ------------------------

    async def create_locker(
        self, principal: Principal, new: NewLocker, *, idempotency_key: str | None = None
    ) -> Locker:
        Scope(principal).require_role(Role.ADMIN)
        async with self._db.uow() as uow:

            async def create() -> UUID:
                problems: list[FieldError] = []
                clean_name = validation.text(new.name, "name", problems)
                clean_operator = validation.text(new.operator, "operator", problems)
                clean_address, area = await self._place(
                    uow.repos, problems, address=new.address, point=new.point, relocate=True, current_area_id=None
                )
                hours = self._hours(new.opening_hours, problems)
                boxes = parse_compartments(new.compartments, "compartments", problems)
                if problems or area is None:
                    raise DomainError(problems)
                now = self._clock.now()
                locker = Locker(
                    id=uuid4(),
                    kind=new.kind,
                    name=clean_name,
                    operator=clean_operator,
                    address=clean_address,
                    point=new.point,
                    area_id=area.id,
                    opening_hours=hours,
                    compartments=boxes,
                    active=new.active,
                    created_at=now,
                    updated_at=now,
                )
                await uow.repos.lockers.save(locker)
                return locker.id

            locker_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="createLocker",
                key=idempotency_key,
                request=new,
                action=create,
                dump=_id_dump,
                load=_id_load,
            )
            locker = await uow.repos.lockers.get(locker_id)
            assert locker is not None
            await uow.commit()
        return locker

    async def update_locker(
        self,
        principal: Principal,
        locker_id: UUID,
        *,
        kind: LockerKind | None = None,
        name: str | None = None,
        operator: str | None = None,
        address: Address | None = None,
        point: Point | None = None,
        opening_hours: RawHours | None = None,
        compartments: Sequence[tuple[CompartmentSize, int]] | None = None,
        active: bool | None = None,
    ) -> Locker:
        """Switching a locker back on checks its point against the active areas again."""
        Scope(principal).require_role(Role.ADMIN)
        async with self._db.uow() as uow:
            locker = await uow.repos.lockers.get(locker_id, for_update=True)
            if locker is None:
                raise _not_found("locker")
            problems: list[FieldError] = []
            new_active = locker.active if active is None else active
            new_point = locker.point if point is None else point
            clean_address, area = await self._place(
                uow.repos,
                problems,
                address=locker.address if address is None else address,
                point=new_point,
                relocate=point is not None or (new_active and not locker.active),
                current_area_id=locker.area_id,
            )
            hours = self._hours(_raw_hours(locker.opening_hours) if opening_hours is None else opening_hours, problems)
            boxes: Compartments = locker.compartments
            if compartments is not None:
                boxes = parse_compartments(compartments, "compartments", problems)
            new_name = locker.name if name is None else validation.text(name, "name", problems)
            new_operator = locker.operator if operator is None else validation.text(operator, "operator", problems)
            if problems or area is None:
                raise DomainError(problems)
            updated = Locker(
                id=locker.id,
                kind=locker.kind if kind is None else kind,
                name=new_name,
                operator=new_operator,
                address=clean_address,
                point=new_point,
                area_id=area.id,
                opening_hours=hours,
                compartments=boxes,
                active=new_active,
                created_at=locker.created_at,
                updated_at=self._clock.now(),
            )
            await uow.repos.lockers.save(updated)
            await uow.commit()
        return updated

    async def list_lockers(
        self, page: PageRequest, *, area_id: UUID | None = None, active: bool | None = None
    ) -> Page[Locker]:
        async with self._db.read() as repos:
            return await repos.lockers.list_page(page, area_id=area_id, active=active)

    async def get_locker(self, locker_id: UUID) -> Locker | None:
        async with self._db.read() as repos:
            return await repos.lockers.get(locker_id)

    async def lockers_by_id(self, ids: list[UUID]) -> dict[UUID, Locker]:
        async with self._db.read() as repos:
            return await repos.lockers.get_many(ids)
