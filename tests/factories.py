"""Reference data for tests, written through the same repositories the application uses.

Tests of one part of the marketplace use these to stand up the places another part owns (an
area, a store, a locker, a vehicle) without going through that part's API.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import httpx

from marketplace.domain.accounts import Principal, Role
from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import Point, Polygon
from marketplace.domain.hours import ALWAYS_OPEN, OpeningHours
from marketplace.domain.places import (
    Address,
    Compartments,
    CompartmentSize,
    Locker,
    LockerKind,
    PickupLocation,
    PickupLocationKind,
)
from marketplace.domain.vehicles import KIND_SPECS, Vehicle, VehicleKind
from marketplace.services.container import Services
from schema.types import decode_id

# Central Amsterdam, roughly: a rectangle of about 20 x 17 km.
AMSTERDAM = ((52.30, 4.75), (52.30, 5.05), (52.45, 5.05), (52.45, 4.75))
DAM_SQUARE = Point(52.3731, 4.8926)
ZUID = Point(52.3389, 4.8722)
OOST = Point(52.3600, 4.9400)
UTRECHT = Point(52.0907, 5.1214)  # outside AMSTERDAM


def uuid_of(global_id: str, type_name: str) -> UUID:
    return decode_id(global_id, type_name)


async def make_area(
    services: Services,
    *,
    name: str = "Amsterdam",
    polygon: tuple[tuple[float, float], ...] = AMSTERDAM,
    country_code: str = "NL",
    currency: str = "EUR",
    time_zone: str = "Europe/Amsterdam",
    active: bool = True,
    created_at: datetime | None = None,
) -> ServiceArea:
    now = created_at or services.clock.now()
    area = ServiceArea(
        id=uuid4(),
        name=name,
        country_code=country_code,
        currency=currency,
        time_zone=time_zone,
        polygon=Polygon(tuple(Point(lat, lng) for lat, lng in polygon)),
        active=active,
        fleet_base_minor=650,
        fleet_per_km_minor=60,
        created_at=now,
        updated_at=now,
    )
    async with services.db.uow() as uow:
        assert await uow.repos.areas.save(area)
        await uow.commit()
    return area


async def make_pickup_location(
    services: Services,
    organization_id: UUID,
    area: ServiceArea,
    *,
    point: Point = DAM_SQUARE,
    name: str = "Flagship store",
    hours: OpeningHours = ALWAYS_OPEN,
) -> PickupLocation:
    location = PickupLocation(
        id=uuid4(),
        organization_id=organization_id,
        kind=PickupLocationKind.STORE,
        name=name,
        address=Address("Damrak", "1", "1012 LG", "Amsterdam", area.country_code),
        point=point,
        area_id=area.id,
        opening_hours=hours,
        created_at=services.clock.now(),
    )
    async with services.db.uow() as uow:
        await uow.repos.pickup_locations.save(location)
        await uow.commit()
    return location


async def make_locker(
    services: Services,
    area: ServiceArea,
    *,
    point: Point = OOST,
    hours: OpeningHours = ALWAYS_OPEN,
    compartments: tuple[tuple[CompartmentSize, int], ...] = ((CompartmentSize.S, 10), (CompartmentSize.M, 6)),
    active: bool = True,
) -> Locker:
    now = services.clock.now()
    locker = Locker(
        id=uuid4(),
        kind=LockerKind.LOCKER,
        name="Oost station locker",
        operator="Lockr",
        address=Address("Oosterpark", "10", "1092 AE", "Amsterdam", area.country_code),
        point=point,
        area_id=area.id,
        opening_hours=hours,
        compartments=Compartments(compartments),
        active=active,
        created_at=now,
        updated_at=now,
    )
    async with services.db.uow() as uow:
        await uow.repos.lockers.save(locker)
        await uow.commit()
    return locker


async def make_vehicle(services: Services, courier_id: UUID, kind: VehicleKind = VehicleKind.CAR) -> Vehicle:
    spec = KIND_SPECS[kind]
    vehicle = Vehicle(
        id=uuid4(),
        courier_id=courier_id,
        kind=kind,
        name=f"my {kind.value}",
        max_weight_g=spec.max_weight_g,
        max_volume_cm3=spec.max_volume_cm3,
        zero_emission=spec.zero_emission,
        co2_g_per_km=spec.co2_g_per_km,
        typical_speed_kmh=spec.typical_speed_kmh,
        created_at=services.clock.now(),
    )
    async with services.db.uow() as uow:
        await uow.repos.vehicles.save(vehicle)
        await uow.commit()
    return vehicle


async def enable_payouts(services: Services, courier_id: UUID) -> str:
    """Onboards the courier's Stripe Connect account through the fake, as the courier's browser would.

    `startPayoutOnboarding`'s service creates the account and link; the fake's control completes the
    onboarding (and sends `account.updated`); our copy is brought up to date from the account itself.
    """
    principal = Principal(Role.COURIER, courier_id, None)
    await services.payments.start_payout_onboarding(principal)
    state = await services.payments.payout_state(principal)
    assert state is not None
    assert state.account_id is not None
    base = services.settings.stripe_api_base
    assert base is not None, "tests talk to the Stripe fake"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base}/_fake/accounts/{state.account_id}/onboard", json={}, timeout=30)
        assert response.status_code == 200, response.text
    await services.payments.refresh_account(state.account_id)
    return state.account_id
