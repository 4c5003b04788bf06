"""Matching rounds per service area: requested (by schedule or operations), run by a worker, written at once.

Exactly one round per area runs at a time across all workers and replicas. A request inserts a
`queued` round and its job in one transaction; the unique index on an area's live (queued or
running) round makes a second request answer with the first. A worker running a round holds the
area's session-level advisory lock on its own connection for the whole round, so PostgreSQL drops
the lock when that worker dies; the next worker to take the lock fails the dead round as abandoned
and runs a fresh one. A round reads its instance through the bridge, solves in the worker's
process pool, and writes the round's record, its offers, the offered parcels' status and events
and every parcel's placement in one transaction: a round killed before that commit wrote nothing.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database, UnitOfWork
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.delivery import SYSTEM, ParcelEvent, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.money import Money
from marketplace.domain.offers import Offer, OfferStatus, OfferStop, StopKind
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.rounds import (
    ABANDONED,
    MatchingRound,
    Placement,
    Plan,
    RoundResult,
    RoundStatus,
    RoundTrigger,
    placement,
    round_due,
)
from marketplace.logs import get_logger
from marketplace.repositories import Repositories
from marketplace.services.idempotency import Idempotency
from marketplace.services.matching_bridge import MatchingBridge

log = get_logger("crowdship.rounds")

# A round plans the parcels and trips of the coming day.
HORIZON = timedelta(hours=24)
ROUND_JOB = "matching_round"
EXPIRE_OFFERS_JOB = "expire_offers"


def round_dedupe_key(area_id: UUID) -> str:
    return f"matching_round:{area_id}"


class RunOutcome(StrEnum):
    RAN = "ran"
    BUSY = "busy"  # another worker holds the area
    NOTHING = "nothing"  # no round was waiting for the area


@dataclass(frozen=True, slots=True)
class RoundRequestInput:
    """What operations ask for when they run a round now: the whole of it is the idempotency fingerprint."""

    area_id: UUID


@dataclass(frozen=True, slots=True)
class RoundRequest:
    round: MatchingRound
    created: bool  # False: the area's queued or running round answered the request


class RoundService:
    def __init__(self, db: Database, clock: Clock, bridge: MatchingBridge, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._bridge = bridge
        self._idempotency = idempotency
        # The worker sets its process pool here; without one, solves run on the default thread pool.
        self.executor: Executor | None = None

    # --- requests (API, scheduler)

    async def request(self, area_id: UUID, trigger: RoundTrigger, requested_by: UUID | None = None) -> RoundRequest:
        """A new queued round and its job, or the area's live round when it has one."""
        async with self._db.uow() as uow:
            round_id, created = await self._request_in(uow, area_id, trigger, requested_by)
            queued = await uow.repos.rounds.get(round_id)
            await uow.commit()
        assert queued is not None
        return RoundRequest(queued, created=created)

    async def request_by_operations(
        self, principal: Principal, request: RoundRequestInput, *, idempotency_key: str | None = None
    ) -> RoundRequest:
        """`runMatchingRound`: a retried request (same key) answers with the round the first one got."""
        requested_by = Scope(principal).admin()
        async with self._db.uow() as uow:

            async def act() -> tuple[UUID, bool]:
                return await self._request_in(uow, request.area_id, RoundTrigger.OPERATIONS, requested_by)

            round_id, created = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="runMatchingRound",
                key=idempotency_key,
                request=request,
                action=act,
                dump=lambda r: {"round_id": str(r[0]), "created": r[1]},
                load=lambda d: (UUID(d["round_id"]), bool(d["created"])),
            )
            found = await uow.repos.rounds.get(round_id)
            await uow.commit()
        assert found is not None
        return RoundRequest(found, created=created)

    async def _request_in(
        self, uow: UnitOfWork, area_id: UUID, trigger: RoundTrigger, requested_by: UUID | None
    ) -> tuple[UUID, bool]:
        now = self._clock.now()
        settings = await uow.repos.rounds.settings(area_id)
        if settings is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
        live = await uow.repos.rounds.live(area_id)
        if live is not None and live.status is RoundStatus.RUNNING and await uow.repos.rounds.lock_is_free(area_id):
            # Running, yet nobody holds the area: its worker died. Fail it and queue a new one.
            await uow.repos.rounds.abandon_running(area_id, ABANDONED, now)
            live = None
        if live is not None:
            if live.status is RoundStatus.QUEUED:
                # Make sure a job will take it (a no-op while the area's job is queued or running).
                await uow.repos.job_queue.enqueue(
                    ROUND_JOB, {"area_id": str(area_id)}, dedupe_key=round_dedupe_key(area_id)
                )
            return live.id, False
        round_id = uuid.uuid4()
        if not await uow.repos.rounds.add_queued(round_id, area_id, trigger, requested_by, now):
            # A concurrent request queued one first (the insert waited for it): answer with that one.
            raced = await uow.repos.rounds.live(area_id)
            if raced is None:
                raise RuntimeError("the area's live round finished while this request was queuing one; ask again")
            return raced.id, False
        # At most one round job per area is queued or running; that job takes the queued round.
        await uow.repos.job_queue.enqueue(ROUND_JOB, {"area_id": str(area_id)}, dedupe_key=round_dedupe_key(area_id))
        return round_id, True

    async def _live(self, area_id: UUID) -> MatchingRound | None:
        async with self._db.read() as repos:
            return await repos.rounds.live(area_id)

    async def schedule_due(self) -> int:
        """Queues a round for every active area whose interval has passed; returns how many were queued."""
        now = self._clock.now()
        async with self._db.read() as repos:
            areas = await repos.rounds.active_areas()
            last = await repos.rounds.last_started([a.area_id for a in areas])
        queued = 0
        for area in areas:
            if round_due(last.get(area.area_id), now, area.round_interval_s):
                queued += (await self.request(area.area_id, RoundTrigger.SCHEDULE)).created
        return queued

    # --- running (worker)

    async def run(self, area_id: UUID) -> tuple[RunOutcome, MatchingRound | None]:
        """Runs the area's queued round (or replaces an abandoned one) while holding the area's lock."""
        async with self._db.pool.acquire() as conn:
            session = Repositories(conn)
            if not await session.rounds.try_lock(area_id):
                return RunOutcome.BUSY, None
            try:
                current = await self._claim(area_id)
                if current is None:
                    return RunOutcome.NOTHING, None
                try:
                    await self._solve_and_write(current)
                except BaseException as exc:
                    await self._fail(current.id, exc)
                    raise
                return RunOutcome.RAN, await self.get(current.id)
            finally:
                await session.rounds.unlock(area_id)

    async def _claim(self, area_id: UUID) -> MatchingRound | None:
        now = self._clock.now()
        async with self._db.uow() as uow:
            abandoned = await uow.repos.rounds.abandon_running(area_id, ABANDONED, now)
            current = await uow.repos.rounds.claim(area_id, now)
            if current is None and abandoned:
                # The job of a round whose worker died, picked up again: run that round afresh.
                current = await uow.repos.rounds.add_running(uuid.uuid4(), area_id, RoundTrigger.SCHEDULE, now)
            await uow.commit()
        if abandoned:
            log.warning("abandoned round failed", area_id=str(area_id))
        return current

    async def _fail(self, round_id: UUID, exc: BaseException) -> None:
        try:
            async with self._db.uow() as uow:
                await uow.repos.rounds.fail(round_id, f"{type(exc).__name__}: {exc}", self._clock.now())
                await uow.commit()
        except Exception:  # the database itself is gone: the next worker abandons the round instead
            log.exception("could not record the failed round", round_id=str(round_id))

    async def _solve_and_write(self, current: MatchingRound) -> None:
        started = time.perf_counter()
        now = self._clock.now()
        async with self._db.read() as repos:
            settings = await repos.rounds.settings(current.area_id)
        if settings is None:
            raise RuntimeError("the round's area is gone")
        instance = await self._bridge.instance(area_id=current.area_id, start=now, end=now + HORIZON, now=now)
        loaded = time.perf_counter()
        plan = await self._bridge.solve(instance, float(settings.round_time_limit_s), self.executor)
        solved = time.perf_counter()
        await self._write(current, plan, settings.currency, settings.offer_ttl_s, started, loaded, solved)

    async def _write(
        self,
        current: MatchingRound,
        plan: Plan,
        currency: str,
        offer_ttl_s: int,
        started: float,
        loaded: float,
        solved: float,
    ) -> None:
        at = self._clock.now()
        async with self._db.uow() as uow:
            repos = uow.repos
            open_trips = await repos.dispatch.open_trip_ids([b.trip_id for b in plan.bundles])
            heads = await repos.dispatch.lock_parcels([p for b in plan.bundles for p in b.parcel_ids])
            # A trip cancelled or offered, or a parcel cancelled, while the solve ran: drop that bundle.
            bundles = [
                b
                for b in plan.bundles
                if b.trip_id in open_trips
                and all(p in heads and heads[p].status is ParcelStatus.BOOKED for p in b.parcel_ids)
            ]
            offers = [
                Offer(
                    id=uuid.uuid4(),
                    round_id=current.id,
                    area_id=current.area_id,
                    trip_id=b.trip_id,
                    courier_id=b.courier_id,
                    status=OfferStatus.OPEN,
                    parcel_ids=b.parcel_ids,
                    stops=tuple(OfferStop(s.parcel_id, StopKind(s.kind), s.at) for s in b.stops),
                    detour_m=round(b.detour_m),
                    co2_g=round(b.co2_g),
                    pay=Money(b.cost_minor, currency),
                    expires_at=at + timedelta(seconds=offer_ttl_s),
                    decided_at=None,
                    decline_reason=None,
                    created_at=at,
                    updated_at=at,
                )
                for b in bundles
            ]
            await repos.offers.add_many(offers)
            offered = [(p, o) for o in offers for p in o.parcel_ids]
            await repos.delivery.apply([(p, transition(heads[p].status, ParcelStatus.OFFERED)) for p, _ in offered], at)
            await repos.parcel_events.append(
                [
                    ParcelEvent(
                        id=uuid.uuid4(),
                        parcel_id=p,
                        job_id=heads[p].job_id,
                        organization_id=heads[p].organization_id,
                        area_id=heads[p].area_id,
                        kind=ParcelStatus.OFFERED.value,
                        actor=SYSTEM,
                        occurred_at=at,
                        from_status=heads[p].status,
                        to_status=ParcelStatus.OFFERED,
                        details={
                            "round_id": str(current.id),
                            "offer_id": str(o.id),
                            "trip_id": str(o.trip_id),
                            "expires_at": o.expires_at.isoformat(),
                        },
                    )
                    for p, o in offered
                ]
            )
            await repos.dispatch.set_placements(
                current.id,
                [p for p, _ in offered],
                [
                    (u.parcel_id, [{"code": r.code, "trips": r.trips} for r in u.reasons], u.fallback_cost_minor)
                    for u in plan.unplaced
                ],
            )
            if offers:
                # Sweep these offers right at their instant, not at the next minute's sweep.
                await repos.job_queue.enqueue(
                    EXPIRE_OFFERS_JOB,
                    {"round_id": str(current.id)},
                    dedupe_key=f"{EXPIRE_OFFERS_JOB}:{current.id}",
                    execute_after=timedelta(seconds=offer_ttl_s),
                )
            written = time.perf_counter()
            await repos.rounds.succeed(
                current.id,
                RoundResult(
                    load_ms=round((loaded - started) * 1000),
                    solve_ms=round((solved - loaded) * 1000),
                    write_ms=round((written - solved) * 1000),
                    parcels_count=plan.parcels_count,
                    trips_count=plan.trips_count,
                    assigned_count=len(offered),
                    unassigned_count=len(plan.unplaced),
                    offers_count=len(offers),
                    currency=currency,
                    cost_crowd_minor=plan.cost_crowd_minor,
                    cost_fallback_minor=plan.cost_fallback_minor,
                    cost_total_minor=plan.cost_total_minor,
                    bound_lower_minor=plan.bound_lower_minor,
                    gap=plan.gap,
                    engine_stats=plan.stats,
                    plan=plan.solution_json,
                ),
                self._clock.now(),
            )
            await uow.commit()
        # The commit itself belongs to the write phase too.
        async with self._db.uow() as uow:
            await uow.repos.rounds.set_write_ms(current.id, round((time.perf_counter() - solved) * 1000))
            await uow.commit()

    # --- reads (operations, retailers)

    async def get(self, round_id: UUID, *, with_plan: bool = False) -> MatchingRound | None:
        async with self._db.read() as repos:
            return await repos.rounds.get(round_id, with_plan=with_plan)

    async def list_rounds(self, area_id: UUID, page: PageRequest) -> Page[MatchingRound]:
        async with self._db.read() as repos:
            return await repos.rounds.list(area_id, page)

    async def offers_of(self, round_id: UUID) -> list[Offer]:
        async with self._db.read() as repos:
            return await repos.dispatch.round_offers(round_id)

    async def placements(self, parcel_ids: list[UUID]) -> dict[UUID, Placement]:
        async with self._db.read() as repos:
            rows = await repos.dispatch.placements(parcel_ids)
        return {pid: placement(r.status, r.round_id, r.reasons, r.fallback_cost_minor) for pid, r in rows.items()}
