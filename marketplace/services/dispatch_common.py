"""What every step after booking shares: events, job statuses, trips that end, locker compartments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from marketplace.domain import trips as trip_rules
from marketplace.domain.delivery import Actor, ParcelEvent, ParcelStatus, Transition, transition
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import Point
from marketplace.domain.jobs import JobStatus
from marketplace.domain.places import COMPARTMENT_MAX_WEIGHT_G, CompartmentSize, fits
from marketplace.domain.settlement import SETTLED_FOR_TRIP, ParcelState, job_status
from marketplace.domain.trips import TripStatus
from marketplace.repositories import Repositories

SETTLE_PAYMENT_JOB = "settle_payment"
SETTLED_JOB_STATUSES = frozenset(
    {JobStatus.DELIVERED, JobStatus.RETURNED, JobStatus.CANCELLED, JobStatus.HANDED_TO_FLEET}
)


class EventSubject(Protocol):
    """What an event names of its parcel: a parcel read for a step, or one read for tracking."""

    @property
    def id(self) -> UUID: ...
    @property
    def job_id(self) -> UUID: ...
    @property
    def organization_id(self) -> UUID: ...
    @property
    def area_id(self) -> UUID: ...


def event(
    parcel: EventSubject,
    actor: Actor,
    at: datetime,
    *,
    change: Transition | None = None,
    kind: str | None = None,
    reason_code: str | None = None,
    position: Point | None = None,
    details: dict[str, Any] | None = None,
) -> ParcelEvent:
    """A transition's event is named after the status reached; other happenings name themselves."""
    name = kind or (change.target.value if change is not None else None)
    assert name is not None
    return ParcelEvent(
        id=uuid4(),
        parcel_id=parcel.id,
        job_id=parcel.job_id,
        organization_id=parcel.organization_id,
        area_id=parcel.area_id,
        kind=name,
        actor=actor,
        occurred_at=at,
        from_status=None if change is None else change.source,
        to_status=None if change is None else change.target,
        reason_code=reason_code,
        position=position,
        details=details or {},
    )


async def move(
    repos: Repositories,
    parcel: ParcelState,
    target: ParcelStatus,
    at: datetime,
    actor: Actor,
    *,
    position: Point | None,
) -> Transition:
    """A courier step that only moves the parcel: checked by the table, written, and told in its history."""
    change = transition(parcel.status, target, "parcelId")
    await repos.delivery.apply([(parcel.id, change)], at)
    await repos.parcel_events.append([event(parcel, actor, at, change=change, position=position)])
    return change


async def refresh_jobs(repos: Repositories, job_ids: Iterable[UUID], at: datetime) -> None:
    """Each job's status recomputed from its parcels', in the transaction of the change."""
    statuses = await repos.delivery.job_statuses(list(set(job_ids)))
    new = {j: job_status(s) for j, s in statuses.items()}
    await repos.delivery.set_job_statuses(new, at)
    # A finished job's money follows in the worker (capture or cancel, then the couriers' transfers),
    # queued in this transaction so the event and its settlement are committed together.
    for job_id in sorted(j for j, status in new.items() if status in SETTLED_JOB_STATUSES):
        await repos.job_queue.enqueue(SETTLE_PAYMENT_JOB, {"job_id": str(job_id)}, dedupe_key=f"settle:{job_id}")


async def settle_trips(repos: Repositories, trip_ids: Iterable[UUID | None], at: datetime) -> None:
    """A trip whose parcels are all settled ends: completed once under way, open again if none was picked up."""
    for trip_id in sorted({t for t in trip_ids if t is not None}):
        statuses = await repos.delivery.trip_statuses(trip_id)
        if not all(s in SETTLED_FOR_TRIP for s in statuses):
            continue
        trip = await repos.trips.get(trip_id, None, for_update=True)
        if trip is None:
            continue
        if trip.status is TripStatus.IN_PROGRESS:
            await repos.trips.apply(trip_id, trip_rules.transition(trip.status, TripStatus.COMPLETED), at)
        elif trip.status is TripStatus.MATCHED and not statuses:
            await repos.trips.apply(trip_id, trip_rules.transition(trip.status, TripStatus.OPEN), at)


async def start_trip(repos: Repositories, trip_id: UUID | None, at: datetime) -> None:
    """The first pickup puts a matched trip under way."""
    if trip_id is None:
        return
    trip = await repos.trips.get(trip_id, None, for_update=True)
    if trip is not None and trip.status is TripStatus.MATCHED:
        await repos.trips.apply(trip_id, trip_rules.transition(trip.status, TripStatus.IN_PROGRESS), at)


_SIZES = tuple(CompartmentSize)


async def reserve_compartments(repos: Repositories, parcels: Sequence[ParcelState], at: datetime) -> None:
    """The smallest free compartment that fits, per parcel bound for a locker (drop-off or fallback).

    The locker row is locked while its live reservations are counted, so concurrent reservations of
    one locker queue and a size is never overbooked. Lockers are locked in id order (no deadlocks).
    """
    wanted = sorted((p for p in parcels if p.locker_to_reserve is not None), key=lambda p: (p.locker_to_reserve, p.id))
    for parcel in wanted:
        locker_id = parcel.locker_to_reserve
        assert locker_id is not None
        if await repos.delivery.reservation_of(parcel.id) is not None:
            continue
        locker = await repos.lockers.get(locker_id, for_update=True)
        if locker is None or not locker.active:
            raise DomainError.single(ErrorCode.LOCKER_UNAVAILABLE, "the parcel's locker is out of service", "offerId")
        used = await repos.delivery.live_reservations(locker_id)
        size = next(
            (
                s
                for s in _SIZES
                if fits(s, parcel.dimensions_mm)
                and parcel.weight_g <= COMPARTMENT_MAX_WEIGHT_G
                and locker.compartments.count_of(s) - used.get(s, 0) > 0
            ),
            None,
        )
        if size is None:
            raise DomainError.single(
                ErrorCode.LOCKER_FULL, "no compartment of the parcel's locker is free for it", "offerId"
            )
        await repos.delivery.reserve(uuid4(), locker_id, parcel.id, parcel.area_id, size, at)
