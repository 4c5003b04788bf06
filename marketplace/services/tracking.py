"""Location pings from the courier app: kept, thinned, judged, and turned into ETAs and `running_late` events.

One batch is one unit of work. A courier's batches are serialised (an advisory lock per courier), so
the last position and pace they build on are never read twice; the per-second unique index keeps one
point per courier and second even across replicas. A retried batch keeps nothing twice: its points'
seconds are taken, so they count as dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.delivery import ARRIVING_SOON, RUNNING_LATE, SYSTEM, ParcelStatus
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.tracking import (
    ARRIVING_SOON as ARRIVING_SOON_WITHIN,
)
from marketplace.domain.tracking import (
    PING_RETENTION,
    Ping,
    RemainingStop,
    StopEta,
    StopKind,
    arriving_within,
    check_batch,
    classify,
    estimate,
    one_per_second,
)
from marketplace.repositories import Repositories
from marketplace.repositories.tracking import CarriedParcel
from marketplace.services.dispatch_common import event

# Before the pickup: both stops ahead. After it: the drop-off only.
_PICKUP_AHEAD = frozenset({ParcelStatus.ASSIGNED, ParcelStatus.AT_PICKUP})
_DROPOFF_AHEAD = _PICKUP_AHEAD | {ParcelStatus.PICKED_UP, ParcelStatus.AT_DROPOFF}
PURGE_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class PingResult:
    received: int
    kept: int
    dropped: int  # a second already taken, in this batch or before
    flagged: int  # kept, but implausible: left out of positions and ETAs
    etas: tuple[StopEta, ...]


def remaining_stops(parcels: list[CarriedParcel]) -> list[RemainingStop]:
    """The stops still ahead, in the round's planned order (a stop without a plan goes by its window)."""
    stops = []
    for p in parcels:
        if p.status in _PICKUP_AHEAD:
            planned = p.planned.get("pickup", p.pickup_from)
            stops.append(RemainingStop(p.id, StopKind.PICKUP, p.pickup, planned, p.pickup_from, p.pickup_until))
        if p.status in _DROPOFF_AHEAD:
            planned = p.planned.get("dropoff", p.deliver_from)
            stops.append(RemainingStop(p.id, StopKind.DROPOFF, p.dropoff, planned, p.deliver_from, p.deliver_until))
    # Pickups before drop-offs of the same parcel whatever the plan says; otherwise the plan's order.
    return sorted(stops, key=lambda s: (s.planned_at, s.kind is StopKind.DROPOFF, s.parcel_id))


class TrackingService:
    def __init__(self, db: Database, clock: Clock, *, arriving_soon: timedelta = ARRIVING_SOON_WITHIN) -> None:
        self._db = db
        self._clock = clock
        self._arriving_soon = arriving_soon

    async def record_pings(self, principal: Principal, pings: list[Ping]) -> PingResult:
        courier_id = Scope(principal).courier()
        now = self._clock.now()
        check_batch(pings, now)
        points, dropped_in_batch = one_per_second(pings)
        async with self._db.uow() as uow:
            repos = uow.repos
            carried = await repos.tracking.carried_by(courier_id)
            if not carried:
                raise DomainError.single(
                    ErrorCode.NO_ACTIVE_DELIVERY,
                    "positions are taken only while you carry or head for a parcel you accepted",
                    "pings",
                )
            # The trip under way, else the next one to start: its stops get the ETAs.
            trip_id = next((p.trip_id for p in carried if p.trip_status == "in_progress"), carried[0].trip_id)
            on_trip = [p for p in carried if p.trip_id == trip_id]
            area_id, kind = on_trip[0].area_id, on_trip[0].vehicle_kind

            last = await repos.tracking.lock_courier(courier_id)
            fixes, latest = classify(points, last, kind)
            kept_seconds = await repos.tracking.add_pings(courier_id, trip_id, area_id, fixes, now)
            kept = [f for f in fixes if f.ping.second in kept_seconds]
            etas: list[StopEta] = []
            moved = latest is not None and latest != last and any(not f.implausible for f in kept)
            if moved and latest is not None:
                heading = next((f.ping.heading_deg for f in reversed(kept) if not f.implausible), None)
                etas = estimate(remaining_stops(on_trip), latest, kind, now)
                # The position, the ETAs and the notice to every replica (at commit): one round trip.
                await repos.tracking.record_progress(courier_id, trip_id, area_id, latest, heading, etas, now)
                late = await repos.tracking.mark_running_late([e.stop.parcel_id for e in etas if e.late], now)
                if late:
                    await self._report_late(repos, on_trip, etas, late, now)
                await self._report_arriving(repos, on_trip, etas, now)
            await uow.commit()
        return PingResult(
            received=len(pings),
            kept=len(kept),
            dropped=dropped_in_batch + len(points) - len(kept),
            flagged=sum(f.implausible for f in kept),
            etas=tuple(etas),
        )

    async def _report_late(
        self, repos: Repositories, parcels: list[CarriedParcel], etas: list[StopEta], late: list[UUID], now: datetime
    ) -> None:
        """One `running_late` event per parcel, through the one event writer, naming the late stop."""
        by_id = {p.id: p for p in parcels}
        events = []
        for parcel_id in late:
            first = next(e for e in etas if e.stop.parcel_id == parcel_id and e.late)
            details = {
                "stop": first.stop.kind.value,
                "eta_at": first.eta_at.isoformat(),
                "window_end_at": first.stop.window_end_at.isoformat(),
                "trip_id": str(by_id[parcel_id].trip_id),
            }
            events.append(event(by_id[parcel_id], SYSTEM, now, kind=RUNNING_LATE, details=details))
        await repos.parcel_events.append(events)

    async def _report_arriving(
        self, repos: Repositories, parcels: list[CarriedParcel], etas: list[StopEta], now: datetime
    ) -> None:
        """One `arriving_soon` event per parcel on board whose drop-off ETA is within the threshold.

        Its recipient notification goes out through the outbox (written with the event). Only a parcel
        the courier has picked up: before that the ETA leans on a pickup still ahead.
        """
        by_id = {p.id: p for p in parcels}
        soon = {
            e.stop.parcel_id: e
            for e in arriving_within(etas, now, self._arriving_soon)
            if by_id[e.stop.parcel_id].status is ParcelStatus.PICKED_UP
        }
        marked = await repos.tracking.mark_arriving_soon(list(soon), now)
        if not marked:
            return
        events = []
        for parcel_id in marked:
            details = {"eta_at": soon[parcel_id].eta_at.isoformat(), "trip_id": str(by_id[parcel_id].trip_id)}
            events.append(event(by_id[parcel_id], SYSTEM, now, kind=ARRIVING_SOON, details=details))
        await repos.parcel_events.append(events)

    async def purge_pings(self) -> int:
        """Deletes pings past their 30 days, in batches; safe from any replica or worker at any time."""
        cutoff = self._clock.now() - PING_RETENTION
        total = 0
        while True:
            async with self._db.uow() as uow:
                deleted = await uow.repos.tracking.purge_pings(cutoff, PURGE_BATCH)
                await uow.commit()
            total += deleted
            if deleted < PURGE_BATCH:
                return total
