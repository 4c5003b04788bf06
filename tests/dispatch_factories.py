"""Offers as a matching round would make them, for tests of what couriers do with them.

Rounds belong to the worker; these write a round row and its offers through the same repositories,
and move the parcels booked -> offered with their events, as the round does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

from marketplace.domain.delivery import SYSTEM, ParcelStatus, transition
from marketplace.domain.geo import Point
from marketplace.domain.money import Money
from marketplace.domain.offers import Offer, OfferStatus, OfferStop, StopKind
from marketplace.domain.trips import Trip, TripStatus, Waypoint
from marketplace.domain.vehicles import VehicleKind
from marketplace.services.container import Services
from marketplace.services.dispatch_common import event
from tests.factories import DAM_SQUARE, ZUID, make_vehicle


async def make_trip(
    services: Services, courier_id: UUID, area_id: UUID, *, hours: int = 12, kind: VehicleKind = VehicleKind.CAR
) -> Trip:
    vehicle = await make_vehicle(services, courier_id, kind)
    now = services.clock.now()
    trip = Trip(
        id=uuid4(),
        courier_id=courier_id,
        vehicle_id=vehicle.id,
        area_id=area_id,
        origin=Waypoint(DAM_SQUARE, "home"),
        destination=Waypoint(ZUID, "work"),
        depart_after=now,
        arrive_by=now + timedelta(hours=hours),
        spare_weight_g=vehicle.max_weight_g,
        spare_volume_cm3=vehicle.max_volume_cm3,
        max_detour_m=3_000,
        status=TripStatus.OPEN,
        template_id=None,
        template_date=None,
        created_at=now,
        updated_at=now,
    )
    async with services.db.uow() as uow:
        await uow.repos.trips.add(trip)
        await uow.commit()
    return trip


async def make_offer(
    services: Services,
    trip: Trip,
    parcel_ids: list[UUID],
    *,
    ttl: timedelta = timedelta(minutes=3),
    created_at: datetime | None = None,
    detour_m: int = 1_200,
    co2_g: int = 0,
    pay_minor: int = 450,
) -> Offer:
    now = created_at or services.clock.now()
    round_id = uuid4()
    offer = Offer(
        id=uuid4(),
        round_id=round_id,
        area_id=trip.area_id,
        trip_id=trip.id,
        courier_id=trip.courier_id,
        status=OfferStatus.OPEN,
        parcel_ids=tuple(sorted(parcel_ids)),
        stops=tuple(
            OfferStop(p, kind, now + timedelta(minutes=30 * (i + 1)))
            for i, (p, kind) in enumerate((p, k) for p in parcel_ids for k in (StopKind.PICKUP, StopKind.DROPOFF))
        ),
        detour_m=detour_m,
        co2_g=co2_g,
        pay=Money(pay_minor, "EUR"),
        expires_at=now + ttl,
        decided_at=None,
        decline_reason=None,
        created_at=now,
        updated_at=now,
    )
    async with services.db.uow() as uow:
        await uow.repos.offer_decisions.add_finished_round(round_id, trip.area_id, now)
        await uow.repos.offers.add_many([offer])
        parcels = await uow.repos.delivery.parcels(parcel_ids, for_update=True)
        changes = [(p.id, transition(p.status, ParcelStatus.OFFERED)) for p in parcels]
        await uow.repos.delivery.apply(changes, now)
        await uow.repos.parcel_events.append(
            [
                event(p, SYSTEM, now, change=c, details={"offer_id": str(offer.id), "round_id": str(round_id)})
                for p, (_, c) in zip(parcels, changes, strict=True)
            ]
        )
        await uow.commit()
    return offer


__all__ = ["Point", "make_offer", "make_trip"]
