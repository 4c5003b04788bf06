"""Couriers' vehicles in GraphQL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry

from marketplace.domain import vehicles as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Page, Position
from schema.access import allow, mutation, query
from schema.common import IDEMPOTENCY_KEY, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, User, decode_id, global_id

VehicleKind = strawberry.enum(domain.VehicleKind, name="VehicleKind")

COURIERS = allow(DomainRole.COURIER)
COURIERS_AND_OPERATIONS = allow(DomainRole.COURIER, DomainRole.ADMIN)
SIGNED_IN = allow(DomainRole.COURIER, DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN, api_keys=True)


@strawberry.type(description="A courier's vehicle. Retired vehicles stay readable but cannot carry new trips.")
class Vehicle:
    id: strawberry.ID
    kind: VehicleKind  # type: ignore[valid-type]
    name: str
    max_weight_g: int
    max_volume_cm3: int
    zero_emission: bool
    co2_g_per_km: int = strawberry.field(description="Marginal CO2 per km of detour.")
    typical_speed_kmh: int
    created_at: datetime
    retired_at: datetime | None
    courier_id: strawberry.Private[UUID]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.courier_id)
        return None if user is None else User.from_domain(user)

    @classmethod
    def from_domain(cls, vehicle: domain.Vehicle) -> Vehicle:
        return cls(
            id=global_id("Vehicle", vehicle.id),
            kind=vehicle.kind,
            name=vehicle.name,
            max_weight_g=vehicle.max_weight_g,
            max_volume_cm3=vehicle.max_volume_cm3,
            zero_emission=vehicle.zero_emission,
            co2_g_per_km=vehicle.co2_g_per_km,
            typical_speed_kmh=vehicle.typical_speed_kmh,
            created_at=vehicle.created_at,
            retired_at=vehicle.retired_at,
            courier_id=vehicle.courier_id,
        )


async def load_vehicle(info: Info, vehicle_id: UUID, courier_id: UUID) -> Vehicle | None:
    """For nested fields of a courier's object the caller may read: found only under that courier."""
    vehicle = await info.context.loaders.vehicles.load((vehicle_id, courier_id))
    return None if vehicle is None else Vehicle.from_domain(vehicle)


def _position(vehicle: domain.Vehicle) -> Position:
    return Position(created_at=vehicle.created_at, id=vehicle.id)


def vehicle_connection(page: Page[domain.Vehicle], *, has_previous: bool) -> Connection[Vehicle]:
    return Connection[Vehicle].from_page(page, Vehicle.from_domain, _position, has_previous=has_previous)


@strawberry.type(
    description="A kind's documented defaults (taken when a vehicle leaves a figure out) and the limits "
    "an override may reach. Speed is at most maxSpeedKmh and CO2 at most maxCo2GPerKm for every kind."
)
class VehicleKindInfo:
    kind: VehicleKind  # type: ignore[valid-type]
    default_max_weight_g: int
    default_max_volume_cm3: int
    limit_weight_g: int
    limit_volume_cm3: int
    zero_emission: bool
    co2_g_per_km: int
    typical_speed_kmh: int
    max_speed_kmh: int
    max_co2_g_per_km: int

    @classmethod
    def of(cls, kind: domain.VehicleKind, spec: domain.KindSpec) -> VehicleKindInfo:
        return cls(
            kind=kind,
            default_max_weight_g=spec.max_weight_g,
            default_max_volume_cm3=spec.max_volume_cm3,
            limit_weight_g=spec.limit_weight_g,
            limit_volume_cm3=spec.limit_volume_cm3,
            zero_emission=spec.zero_emission,
            co2_g_per_km=spec.co2_g_per_km,
            typical_speed_kmh=spec.typical_speed_kmh,
            max_speed_kmh=domain.MAX_SPEED_KMH,
            max_co2_g_per_km=domain.MAX_CO2_G_PER_KM,
        )


@strawberry.input(description="Figures left out take the kind's defaults (see vehicleKinds).")
class RegisterVehicleInput:
    kind: VehicleKind  # type: ignore[valid-type]
    name: str
    max_weight_g: int | None = None
    max_volume_cm3: int | None = None
    zero_emission: bool | None = None
    co2_g_per_km: int | None = None
    typical_speed_kmh: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> domain.NewVehicle:
        return domain.NewVehicle(
            kind=domain.VehicleKind(self.kind),
            name=self.name,
            max_weight_g=self.max_weight_g,
            max_volume_cm3=self.max_volume_cm3,
            zero_emission=self.zero_emission,
            co2_g_per_km=self.co2_g_per_km,
            typical_speed_kmh=self.typical_speed_kmh,
        )


@strawberry.input(description="Only the fields given change; the kind is fixed.")
class UpdateVehicleInput:
    id: strawberry.ID
    name: str | None = None
    max_weight_g: int | None = None
    max_volume_cm3: int | None = None
    zero_emission: bool | None = None
    co2_g_per_km: int | None = None
    typical_speed_kmh: int | None = None


@strawberry.input
class RetireVehicleInput:
    id: strawberry.ID


@strawberry.type
class VehiclePayload:
    vehicle: Vehicle | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class VehicleQuery:
    @query(COURIERS_AND_OPERATIONS)
    async def vehicles(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_retired: bool = False,
        courier_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Operations only: one courier's vehicles.")
        ] = None,
    ) -> Connection[Vehicle]:
        page = await info.context.services.vehicles.list_vehicles(
            await info.context.principal(),
            page_or_error(first, after),
            include_retired=include_retired,
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
        )
        return vehicle_connection(page, has_previous=after is not None)

    @query(COURIERS_AND_OPERATIONS)
    async def vehicle(self, info: Info, id: strawberry.ID) -> Vehicle | None:
        vehicle = await info.context.services.vehicles.get_vehicle(
            await info.context.principal(), decode_id(id, "Vehicle")
        )
        if vehicle is None:
            raise not_found("vehicle")
        return Vehicle.from_domain(vehicle)

    @query(SIGNED_IN, description="Each vehicle kind's documented defaults and the limits of its overrides.")
    async def vehicle_kinds(self, info: Info) -> list[VehicleKindInfo]:
        return [VehicleKindInfo.of(kind, spec) for kind, spec in info.context.services.vehicles.kinds()]


@strawberry.type
class VehicleMutation:
    @mutation(COURIERS)
    async def register_vehicle(self, info: Info, input: RegisterVehicleInput) -> VehiclePayload:
        try:
            vehicle = await info.context.services.vehicles.register_vehicle(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return VehiclePayload(errors=user_errors(exc))
        return VehiclePayload(vehicle=Vehicle.from_domain(vehicle))

    @mutation(COURIERS)
    async def update_vehicle(self, info: Info, input: UpdateVehicleInput) -> VehiclePayload:
        try:
            vehicle_id = decode_id(input.id, "Vehicle")
            vehicle = await info.context.services.vehicles.update_vehicle(
                await info.context.principal(),
                vehicle_id,
                name=input.name,
                max_weight_g=input.max_weight_g,
                max_volume_cm3=input.max_volume_cm3,
                zero_emission=input.zero_emission,
                co2_g_per_km=input.co2_g_per_km,
                typical_speed_kmh=input.typical_speed_kmh,
            )
        except DomainError as exc:
            return VehiclePayload(errors=user_errors(exc))
        return VehiclePayload(vehicle=Vehicle.from_domain(vehicle))

    @mutation(COURIERS)
    async def retire_vehicle(self, info: Info, input: RetireVehicleInput) -> VehiclePayload:
        try:
            vehicle_id = decode_id(input.id, "Vehicle")
            vehicle = await info.context.services.vehicles.retire_vehicle(await info.context.principal(), vehicle_id)
        except DomainError as exc:
            return VehiclePayload(errors=user_errors(exc))
        return VehiclePayload(vehicle=Vehicle.from_domain(vehicle))
