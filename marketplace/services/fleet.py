"""The professional fleet: parcels the crowd has not taken by the cut-off, and the per-day manifest.

A parcel still waiting (`booked`) when its pickup window closes within the area's cut-off (default
30 minutes before `pickup_until`) becomes `handed_to_fleet`, keeping the latest round's explanation
and its fallback cost. The manifest lists an area's handed-over parcels whose pickup window opens
on a local date of the area, with addresses, windows and the fleet's cost.

Each area's fleet works from a depot (`set_depot`). Handing parcels over queues a `plan_van_rounds`
job for their day: the van planner (`vanrounds/`, PyVRP) routes the collection from the stores and the
delivery to the recipients, and the stored routes join the manifest, which then takes the fleet's cost,
kilometres and CO2 from them. The same job with kind `baseline` plans every parcel of the day by van,
the van-only figure the crowd is measured against.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import matching_rules as rules
from marketplace.domain.delivery import SYSTEM, ParcelEvent, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import haversine_m
from marketplace.domain.vans import FleetDepot, VanPlan, VanPlanKind
from marketplace.repositories.dispatch import ManifestLine
from marketplace.services import van_bridge
from marketplace.services.dispatch_common import refresh_jobs

PLAN_VAN_ROUNDS_JOB = "plan_van_rounds"
# Hand-overs trickle in through the day; one plan a minute after the latest batch covers them together.
REPLAN_DELAY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Manifest:
    area_id: UUID
    area_name: str
    date: date
    time_zone: str
    lines: tuple[ManifestLine, ...]
    van_plan: VanPlan | None = None


CSV_HEADER = (
    "parcel_id",
    "job_id",
    "reference",
    "retailer",
    "pickup_name",
    "pickup_address",
    "pickup_lat",
    "pickup_lng",
    "dropoff_address",
    "dropoff_lat",
    "dropoff_lng",
    "pickup_from",
    "pickup_until",
    "deliver_from",
    "deliver_until",
    "weight_g",
    "volume_cm3",
    "fallback_cost_minor",
    "currency",
    "handed_at",
    "reasons",
    "collection_route",
    "collection_seq",
    "collected_at",
    "delivery_route",
    "delivery_seq",
    "delivered_at",
)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _visits(plan: VanPlan | None) -> dict[tuple[UUID, str], tuple[int, int, datetime]]:
    """(parcel, leg) -> (route number, position on the route, service start)."""
    if plan is None:
        return {}
    return {
        (s.parcel_id, r.leg): (r.route_no, seq, s.start_at)
        for r in plan.routes
        for seq, s in enumerate(r.stops, start=1)
    }


def manifest_csv(manifest: Manifest) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    visits = _visits(manifest.van_plan)
    for line in manifest.lines:
        legs: list[object] = []
        for leg in ("collection", "delivery"):
            v = visits.get((line.parcel_id, leg))
            legs.extend(("", "", "") if v is None else (v[0], v[1], _utc(v[2])))
        writer.writerow(
            (
                line.parcel_id,
                line.job_id,
                line.reference or "",
                line.organization_name,
                line.pickup_name,
                line.pickup_address,
                line.pickup_point.lat,
                line.pickup_point.lng,
                line.dropoff_address,
                line.dropoff_point.lat,
                line.dropoff_point.lng,
                _utc(line.pickup_from),
                _utc(line.pickup_until),
                _utc(line.deliver_from),
                _utc(line.deliver_until),
                line.weight_g,
                line.volume_cm3,
                "" if line.fallback_cost_minor is None else line.fallback_cost_minor,
                line.currency,
                _utc(line.handed_at),
                ";".join(f"{r['code']}:{r['trips']}" for r in line.reasons),
                *legs,
            )
        )
    return out.getvalue()


class FleetService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self.replan_delay = REPLAN_DELAY

    async def hand_off_due(self) -> int:
        """Hands every area's parcels past their cut-off to the fleet; safe on any number of workers."""
        now = self._clock.now()
        async with self._db.read() as repos:
            areas = await repos.rounds.active_areas()
        handed = 0
        for settings in areas:
            async with self._db.uow() as uow:
                due = await uow.repos.dispatch.fleet_due(settings.area_id, now, settings.fleet_cutoff_s)
                if not due:
                    continue
                area = await uow.repos.areas.get(settings.area_id)
                assert area is not None
                tariff = rules.FleetTariff.of(area)
                costs = {
                    c.head.id: c.fallback_cost_minor
                    if c.fallback_cost_minor is not None
                    else tariff.cost_minor(haversine_m(c.pickup, c.dropoff))
                    for c in due
                }
                await uow.repos.dispatch.set_fallback_costs(
                    [(c.head.id, costs[c.head.id]) for c in due if c.fallback_cost_minor is None]
                )
                await uow.repos.delivery.apply(
                    [(c.head.id, transition(c.head.status, ParcelStatus.HANDED_TO_FLEET)) for c in due], now
                )
                await uow.repos.parcel_events.append(
                    [
                        ParcelEvent(
                            id=uuid.uuid4(),
                            parcel_id=c.head.id,
                            job_id=c.head.job_id,
                            organization_id=c.head.organization_id,
                            area_id=c.head.area_id,
                            kind=ParcelStatus.HANDED_TO_FLEET.value,
                            actor=SYSTEM,
                            occurred_at=now,
                            from_status=c.head.status,
                            to_status=ParcelStatus.HANDED_TO_FLEET,
                            reason_code="fleet_cutoff",
                            details={
                                "fallback_cost_minor": costs[c.head.id],
                                "reasons": c.placement_reasons or [],
                            },
                        )
                        for c in due
                    ]
                )
                # The jobs' statuses follow (a job all handed over is settled: its payment is captured).
                await refresh_jobs(uow.repos, {c.head.job_id for c in due}, now)
                if await uow.repos.vans.depot(settings.area_id) is not None:
                    days = await uow.repos.vans.local_days([c.head.id for c in due], area.time_zone)
                    await uow.repos.job_queue.enqueue_many(
                        [PLAN_VAN_ROUNDS_JOB] * len(days),
                        [_plan_payload(settings.area_id, d, VanPlanKind.FLEET) for d in days],
                        execute_after=self.replan_delay,
                        dedupe_keys=[_plan_key(settings.area_id, d, VanPlanKind.FLEET) for d in days],
                    )
                await uow.commit()
            handed += len(due)
        return handed

    async def set_depot(self, depot: FleetDepot) -> FleetDepot:
        """Creates or replaces the area's depot and its vans."""
        depot.check()
        async with self._db.uow() as uow:
            if await uow.repos.areas.get(depot.area_id) is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
            await uow.repos.vans.save_depot(depot, self._clock.now())
            await uow.commit()
        return depot

    async def depot(self, area_id: UUID) -> FleetDepot | None:
        async with self._db.read() as repos:
            return await repos.vans.depot(area_id)

    async def request_van_plan(self, area_id: UUID, day: date, kind: VanPlanKind) -> bool:
        """Queues the area-day's plan; False when one is already queued (it will see the same parcels)."""
        async with self._db.uow() as uow:
            if await uow.repos.areas.get(area_id) is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
            if await uow.repos.vans.depot(area_id) is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "the area has no fleet depot", "areaId")
            job = await uow.repos.job_queue.enqueue(
                PLAN_VAN_ROUNDS_JOB, _plan_payload(area_id, day, kind), dedupe_key=_plan_key(area_id, day, kind)
            )
            await uow.commit()
        return job is not None

    async def plan_van_rounds(self, area_id: UUID, day: date, kind: VanPlanKind) -> VanPlan | None:
        """Plans and stores the area-day's van rounds; None when the area has no depot."""
        async with self._db.read() as repos:
            area = await repos.areas.get(area_id)
            if area is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
            depot = await repos.vans.depot(area_id)
            if depot is None:
                return None
            origin = datetime.combine(day, time(0), ZoneInfo(area.time_zone))
            parcels = await repos.vans.day_parcels(area_id, origin, origin + timedelta(days=1), kind)
        problem = van_bridge.problem_of(depot, parcels, origin)
        # PyVRP releases the GIL while it searches (measured: the loop kept 91 % of its ticks during a
        # 4 s solve), so a thread keeps the worker answering without taking the rounds' process pool.
        solved = await asyncio.to_thread(van_bridge.solve, problem)
        plan = van_bridge.stored_plan(
            problem,
            solved,
            area_id=area_id,
            local_date=day,
            kind=kind,
            origin=origin,
            planned_at=self._clock.now(),
            currency=area.currency,
        )
        async with self._db.uow() as uow:
            await uow.repos.vans.replace_plan(plan)
            await uow.commit()
        return plan

    async def queue_baselines(self) -> int:
        """Queues yesterday's van-only baseline (each area's own local yesterday) for every area with a depot."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            areas = await uow.repos.vans.depot_areas()
            days = [(area_id, (now.astimezone(ZoneInfo(tz)) - timedelta(days=1)).date()) for area_id, tz in areas]
            await uow.repos.job_queue.enqueue_many(
                [PLAN_VAN_ROUNDS_JOB] * len(days),
                [_plan_payload(a, d, VanPlanKind.BASELINE) for a, d in days],
                dedupe_keys=[_plan_key(a, d, VanPlanKind.BASELINE) for a, d in days],
            )
            await uow.commit()
        return len(days)

    async def van_plan(self, area_id: UUID, day: date, kind: VanPlanKind) -> VanPlan | None:
        async with self._db.read() as repos:
            return await repos.vans.plan(area_id, day, kind)

    async def manifest(self, area_id: UUID, day: date) -> Manifest:
        async with self._db.read() as repos:
            area = await repos.areas.get(area_id)
            if area is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such service area", "areaId")
            zone = ZoneInfo(area.time_zone)
            start = datetime.combine(day, time(0), zone)
            end = datetime.combine(day + timedelta(days=1), time(0), zone)
            lines = await repos.dispatch.fleet_manifest(area_id, start, end)
            plan = await repos.vans.plan(area_id, day, VanPlanKind.FLEET)
        return Manifest(area.id, area.name, day, area.time_zone, tuple(lines), plan)


def _plan_payload(area_id: UUID, day: date, kind: VanPlanKind) -> dict[str, str]:
    return {"area_id": str(area_id), "date": day.isoformat(), "kind": kind.value}


def _plan_key(area_id: UUID, day: date, kind: VanPlanKind) -> str:
    return f"{PLAN_VAN_ROUNDS_JOB}:{area_id}:{day.isoformat()}:{kind.value}"
