"""Couriers' vehicles: kinds with documented defaults a courier may override within limits.

A vehicle is never deleted: trips and their history point at it. Retiring it keeps it readable
while trips refuse it from then on (`Vehicle.retired`, VEHICLE_RETIRED). Its kind is fixed, since
the kind decides the limits every other figure was checked against; another kind is another vehicle.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.trips import TripStatus, transition
from marketplace.domain.vehicles import KIND_SPECS, KindSpec, NewVehicle, Vehicle, VehicleKind, resolve_capabilities
from marketplace.services.idempotency import Idempotency


def _id_dump(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_load(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


def _not_found() -> DomainError:
    return DomainError.single(ErrorCode.NOT_FOUND, "no such vehicle", "id")


class VehicleService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency

    @staticmethod
    def kinds() -> list[tuple[VehicleKind, KindSpec]]:
        """Every kind with its documented defaults and limits, in declaration order."""
        return [(kind, KIND_SPECS[kind]) for kind in VehicleKind]

    async def register_vehicle(
        self, principal: Principal, new: NewVehicle, *, idempotency_key: str | None = None
    ) -> Vehicle:
        """Figures not given take the kind's defaults (KIND_SPECS)."""
        courier_id = Scope(principal).courier()
        problems: list[FieldError] = []
        clean_name = validation.text(new.name, "name", problems)
        capabilities = resolve_capabilities(
            new.kind,
            problems,
            max_weight_g=new.max_weight_g,
            max_volume_cm3=new.max_volume_cm3,
            zero_emission=new.zero_emission,
            co2_g_per_km=new.co2_g_per_km,
            typical_speed_kmh=new.typical_speed_kmh,
        )
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:

            async def register() -> UUID:
                vehicle = Vehicle(
                    id=uuid4(),
                    courier_id=courier_id,
                    kind=new.kind,
                    name=clean_name,
                    max_weight_g=capabilities.max_weight_g,
                    max_volume_cm3=capabilities.max_volume_cm3,
                    zero_emission=capabilities.zero_emission,
                    co2_g_per_km=capabilities.co2_g_per_km,
                    typical_speed_kmh=capabilities.typical_speed_kmh,
                    created_at=self._clock.now(),
                )
                await uow.repos.vehicles.save(vehicle)
                return vehicle.id

            vehicle_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="registerVehicle",
                key=idempotency_key,
                request=new,
                action=register,
                dump=_id_dump,
                load=_id_load,
            )
            vehicle = await uow.repos.vehicles.get(vehicle_id, courier_id)
            assert vehicle is not None
            await uow.commit()
        return vehicle

    async def update_vehicle(
        self,
        principal: Principal,
        vehicle_id: UUID,
        *,
        name: str | None = None,
        max_weight_g: int | None = None,
        max_volume_cm3: int | None = None,
        zero_emission: bool | None = None,
        co2_g_per_km: int | None = None,
        typical_speed_kmh: int | None = None,
    ) -> Vehicle:
        """Changes what is given and re-checks the whole vehicle against its kind's limits."""
        courier_id = Scope(principal).courier()
        async with self._db.uow() as uow:
            vehicle = await uow.repos.vehicles.get(vehicle_id, courier_id, for_update=True)
            if vehicle is None:
                raise _not_found()
            if vehicle.retired:
                raise DomainError.single(ErrorCode.VEHICLE_RETIRED, "a retired vehicle cannot be changed", "id")
            problems: list[FieldError] = []
            new_name = vehicle.name if name is None else validation.text(name, "name", problems)
            capabilities = resolve_capabilities(
                vehicle.kind,
                problems,
                current=vehicle.capabilities,
                max_weight_g=max_weight_g,
                max_volume_cm3=max_volume_cm3,
                zero_emission=zero_emission,
                co2_g_per_km=co2_g_per_km,
                typical_speed_kmh=typical_speed_kmh,
            )
            if problems:
                raise DomainError(problems)
            updated = Vehicle(
                id=vehicle.id,
                courier_id=vehicle.courier_id,
                kind=vehicle.kind,
                name=new_name,
                max_weight_g=capabilities.max_weight_g,
                max_volume_cm3=capabilities.max_volume_cm3,
                zero_emission=capabilities.zero_emission,
                co2_g_per_km=capabilities.co2_g_per_km,
                typical_speed_kmh=capabilities.typical_speed_kmh,
                created_at=vehicle.created_at,
            )
            await uow.repos.vehicles.save(updated)
            await uow.commit()
        return updated

    async def retire_vehicle(self, principal: Principal, vehicle_id: UUID) -> Vehicle:
        """Retiring twice keeps the first time. The vehicle's open trips are cancelled with it, since
        nobody could carry their parcels; a vehicle with a matched or running trip must finish it first."""
        courier_id = Scope(principal).courier()
        async with self._db.uow() as uow:
            vehicle = await uow.repos.vehicles.get(vehicle_id, courier_id, for_update=True)
            if vehicle is None:
                raise _not_found()
            if not vehicle.retired:
                if await uow.repos.trips.vehicle_has_trips_under_way(vehicle.id):
                    raise DomainError.single(
                        ErrorCode.VEHICLE_IN_USE,
                        "the vehicle has a matched or running trip; finish it before retiring the vehicle",
                        "id",
                    )
                await uow.repos.trips.apply_to_vehicle(
                    vehicle.id, transition(TripStatus.OPEN, TripStatus.CANCELLED), self._clock.now()
                )
                vehicle = Vehicle(
                    id=vehicle.id,
                    courier_id=vehicle.courier_id,
                    kind=vehicle.kind,
                    name=vehicle.name,
                    max_weight_g=vehicle.max_weight_g,
                    max_volume_cm3=vehicle.max_volume_cm3,
                    zero_emission=vehicle.zero_emission,
                    co2_g_per_km=vehicle.co2_g_per_km,
                    typical_speed_kmh=vehicle.typical_speed_kmh,
                    created_at=vehicle.created_at,
                    retired_at=self._clock.now(),
                )
                await uow.repos.vehicles.save(vehicle)
                await uow.commit()
        return vehicle

    async def list_vehicles(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        include_retired: bool = False,
        courier_id: UUID | None = None,
    ) -> Page[Vehicle]:
        """A courier's own vehicles; operations see all, or one courier's with `courier_id`."""
        visible = Scope(principal).courier_filter(courier_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            return await repos.vehicles.list_page(page, courier_id=visible.owner, include_retired=include_retired)

    async def get_vehicle(self, principal: Principal, vehicle_id: UUID) -> Vehicle | None:
        """Another courier's vehicle is None, exactly like a missing one."""
        owner = Scope(principal).courier_filter().owner
        async with self._db.read() as repos:
            return await repos.vehicles.get(vehicle_id, owner)

    async def vehicles_of_couriers(self, keys: list[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], Vehicle]:
        """By (vehicle id, courier id), for objects the caller was already allowed to read (a trip, a commute):
        the courier comes from that object, so a vehicle is never reached under another courier."""
        async with self._db.read() as repos:
            return await repos.vehicles.get_many_owned(keys)
