"""Dispatch in GraphQL: matching rounds and their plans, parcel placements, the fleet manifest, failed jobs."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import strawberry

from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from marketplace.domain.rounds import MatchingRound as DomainRound
from marketplace.domain.rounds import Placement as DomainPlacement
from marketplace.domain.rounds import PlacementState as DomainPlacementState
from marketplace.domain.rounds import RoundStatus as DomainRoundStatus
from marketplace.domain.rounds import RoundTrigger as DomainRoundTrigger
from marketplace.services.fleet import Manifest
from marketplace.services.rounds import RoundRequestInput
from schema.access import allow, mutation, query
from schema.common import GeoPoint, Money, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, decode_id, global_id

OPERATIONS = allow(DomainRole.ADMIN)

RoundStatus = strawberry.enum(
    DomainRoundStatus, name="MatchingRoundStatus", description="QUEUED -> RUNNING -> SUCCEEDED | FAILED."
)
RoundTrigger = strawberry.enum(DomainRoundTrigger, name="MatchingRoundTrigger")
PlacementState = strawberry.enum(
    DomainPlacementState,
    name="PlacementState",
    description="WAITING for a round; OFFERED to a courier; ASSIGNED (accepted); NOT_PLACED by the latest "
    "round (see reasons); HANDED_TO_FLEET; SETTLED once picked up, delivered or cancelled.",
)


@strawberry.type(description="One rule, as the engine names it, and on how many trips it stopped the parcel.")
class PlacementReason:
    code: str
    trips: int


@strawberry.type(description="Where the dispatch of a parcel stands, with the latest round's reasons when unplaced.")
class Placement:
    state: PlacementState  # type: ignore[valid-type]
    round_id: strawberry.ID | None
    reasons: list[PlacementReason]
    fallback_cost_minor: int | None

    @classmethod
    def from_domain(cls, p: DomainPlacement) -> Placement:
        return cls(
            state=p.state,
            round_id=None if p.round_id is None else global_id("MatchingRound", p.round_id),
            reasons=[PlacementReason(code=r.code, trips=r.trips) for r in p.reasons],
            fallback_cost_minor=p.fallback_cost_minor,
        )


@strawberry.type(description="Time spent by a round: reading its instance, solving, writing its offers.")
class RoundTimings:
    load_ms: int
    solve_ms: int
    write_ms: int


@strawberry.type(description="The plan's costs in the area's currency and the engine's proven lower bound.")
class RoundCosts:
    crowd: Money
    fallback: Money
    total: Money
    bound_lower: Money | None
    gap: float | None


@strawberry.type
class PlannedStop:
    parcel_id: strawberry.ID
    kind: str
    at: datetime


@strawberry.type(description="A (trip, bundle) of the plan: the offer made to the trip's courier.")
class PlannedAssignment:
    trip_id: strawberry.ID
    parcel_ids: list[strawberry.ID]
    stops: list[PlannedStop]
    detour_m: float
    co2_g: float
    pay: Money


@strawberry.type(description="A parcel the plan leaves to the fleet, with the engine's reasons.")
class PlannedUnassigned:
    parcel_id: strawberry.ID
    fallback_cost: Money
    reasons: list[PlacementReason]


@strawberry.type(description="What the engine planned in a round, as it returned it.")
class RoundPlan:
    assignments: list[PlannedAssignment]
    unassigned: list[PlannedUnassigned]


def _plan(data: dict[str, Any], currency: str) -> RoundPlan:
    return RoundPlan(
        assignments=[
            PlannedAssignment(
                trip_id=global_id("Trip", a["trip_id"]),
                parcel_ids=[global_id("Parcel", p) for p in a["parcel_ids"]],
                stops=[
                    PlannedStop(
                        parcel_id=global_id("Parcel", s["parcel_id"]),
                        kind=s["kind"],
                        at=datetime.fromisoformat(s["at"].replace("Z", "+00:00")),
                    )
                    for s in a["stops"]
                ],
                detour_m=a["detour_m"],
                co2_g=a["co2_g"],
                pay=Money.of(a["cost"], currency),
            )
            for a in data.get("assignments", [])
        ],
        unassigned=[
            PlannedUnassigned(
                parcel_id=global_id("Parcel", u["parcel_id"]),
                fallback_cost=Money.of(u["fallback_cost"], currency),
                reasons=[PlacementReason(code=r["code"], trips=r["trips"]) for r in u["reasons"]],
            )
            for u in data.get("unassigned", [])
        ],
    )


@strawberry.type(description="One matching round of a service area.")
class MatchingRound:
    id: strawberry.ID
    area_id: strawberry.ID
    status: RoundStatus  # type: ignore[valid-type]
    trigger: RoundTrigger  # type: ignore[valid-type]
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    timings: RoundTimings | None
    costs: RoundCosts | None
    parcels_count: int | None
    trips_count: int | None
    assigned_count: int | None
    unassigned_count: int | None
    offers_count: int | None
    engine_stats: str | None = strawberry.field(description="The engine's own statistics, as JSON text.")
    created_at: datetime
    plan_data: strawberry.Private[dict[str, Any] | None]

    @strawberry.field
    def plan(self) -> RoundPlan | None:
        """The engine's plan; only on `matchingRound(id)`."""
        if self.plan_data is None or self.costs is None:
            return None
        return _plan(self.plan_data, self.costs.crowd.currency)

    @classmethod
    def from_domain(cls, r: DomainRound) -> MatchingRound:
        res = r.result
        return cls(
            id=global_id("MatchingRound", r.id),
            area_id=global_id("ServiceArea", r.area_id),
            status=r.status,
            trigger=r.trigger,
            started_at=r.started_at,
            finished_at=r.finished_at,
            error=r.error,
            timings=None
            if res is None
            else RoundTimings(load_ms=res.load_ms, solve_ms=res.solve_ms, write_ms=res.write_ms),
            costs=None
            if res is None
            else RoundCosts(
                crowd=Money.of(res.cost_crowd_minor, res.currency),
                fallback=Money.of(res.cost_fallback_minor, res.currency),
                total=Money.of(res.cost_total_minor, res.currency),
                bound_lower=None if res.bound_lower_minor is None else Money.of(res.bound_lower_minor, res.currency),
                gap=res.gap,
            ),
            parcels_count=None if res is None else res.parcels_count,
            trips_count=None if res is None else res.trips_count,
            assigned_count=None if res is None else res.assigned_count,
            unassigned_count=None if res is None else res.unassigned_count,
            offers_count=None if res is None else res.offers_count,
            engine_stats=None if res is None else json.dumps(res.engine_stats, sort_keys=True, default=str),
            created_at=r.created_at,
            plan_data=None if res is None or not res.plan else res.plan,
        )


def _round_position(r: DomainRound) -> Position:
    return Position(r.created_at, r.id)


@strawberry.input
class RunMatchingRoundInput:
    area_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key answers with the round the first request got."
    )


@strawberry.type
class RunMatchingRoundPayload:
    round: MatchingRound | None = None
    already_live: bool = strawberry.field(
        default=False, description="True when the area's queued or running round answered instead of a new one."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A parcel handed to the professional fleet, with what the fleet needs to carry it.")
class FleetManifestLine:
    parcel_id: strawberry.ID
    job_id: strawberry.ID
    reference: str | None
    retailer: str
    pickup_name: str
    pickup_address: str
    pickup_point: GeoPoint
    dropoff_address: str
    dropoff_point: GeoPoint
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    weight_g: int
    volume_cm3: int
    fallback_cost: Money | None
    handed_at: datetime
    reasons: list[PlacementReason]


@strawberry.type(description="An area's parcels for the fleet whose pickup window opens on a local date.")
class FleetManifest:
    area_id: strawberry.ID
    date: date
    time_zone: str
    lines: list[FleetManifestLine]
    total_fallback_cost: Money | None

    @classmethod
    def from_domain(cls, m: Manifest) -> FleetManifest:
        lines = [
            FleetManifestLine(
                parcel_id=global_id("Parcel", x.parcel_id),
                job_id=global_id("Job", x.job_id),
                reference=x.reference,
                retailer=x.organization_name,
                pickup_name=x.pickup_name,
                pickup_address=x.pickup_address,
                pickup_point=GeoPoint.from_domain(x.pickup_point),
                dropoff_address=x.dropoff_address,
                dropoff_point=GeoPoint.from_domain(x.dropoff_point),
                pickup_from=x.pickup_from,
                pickup_until=x.pickup_until,
                deliver_from=x.deliver_from,
                deliver_until=x.deliver_until,
                weight_g=x.weight_g,
                volume_cm3=x.volume_cm3,
                fallback_cost=None if x.fallback_cost_minor is None else Money.of(x.fallback_cost_minor, x.currency),
                handed_at=x.handed_at,
                reasons=[PlacementReason(code=str(r["code"]), trips=int(r["trips"])) for r in x.reasons],
            )
            for x in m.lines
        ]
        currency = m.lines[0].currency if m.lines else None
        total = sum(x.fallback_cost_minor or 0 for x in m.lines)
        return cls(
            area_id=global_id("ServiceArea", m.area_id),
            date=m.date,
            time_zone=m.time_zone,
            lines=lines,
            total_fallback_cost=None if currency is None else Money.of(total, currency),
        )


@strawberry.type(description="A background job that failed every retry and is held for operations.")
class FailedJob:
    id: str
    entrypoint: str
    attempts: int
    created_at: datetime
    failed_at: datetime
    payload: str = strawberry.field(description="The job's payload, as JSON text.")
    error: str | None


@strawberry.type
class DispatchQuery:
    @query(OPERATIONS, description="An area's matching rounds, oldest first.")
    async def matching_rounds(
        self, info: Info, area_id: strawberry.ID, first: int | None = None, after: str | None = None
    ) -> Connection[MatchingRound]:
        page = page_or_error(first, after)
        area = decode_id(area_id, "ServiceArea", field="areaId")
        found = await info.context.services.rounds.list_rounds(area, page)
        return Connection[MatchingRound].from_page(
            found, MatchingRound.from_domain, _round_position, has_previous=after is not None
        )

    @query(OPERATIONS, description="One matching round with its plan.")
    async def matching_round(self, info: Info, id: strawberry.ID) -> MatchingRound | None:
        round_id = decode_id(id, "MatchingRound")
        found = await info.context.services.rounds.get(round_id, with_plan=True)
        if found is None:
            raise not_found("matching round")
        return MatchingRound.from_domain(found)

    @query(OPERATIONS, description="Parcels handed to the fleet whose pickup opens on `date` (the area's local date).")
    async def fleet_manifest(self, info: Info, area_id: strawberry.ID, date: date) -> FleetManifest | None:
        manifest = await info.context.services.fleet.manifest(decode_id(area_id, "ServiceArea", field="areaId"), date)
        return FleetManifest.from_domain(manifest)

    @query(OPERATIONS, description="Background jobs that failed every retry, newest first.")
    async def failed_jobs(self, info: Info, first: int | None = None) -> list[FailedJob]:
        jobs = await info.context.services.operations.failed_jobs(page_or_error(first, None).first)
        return [
            FailedJob(
                id=str(j.id),
                entrypoint=j.entrypoint,
                attempts=j.attempts,
                created_at=j.created,
                failed_at=j.updated,
                payload=json.dumps(j.payload, sort_keys=True),
                error=j.error,
            )
            for j in jobs
        ]


@strawberry.type
class DispatchMutation:
    @mutation(OPERATIONS, description="Queue a matching round for an area now; a live round answers instead.")
    async def run_matching_round(self, info: Info, input: RunMatchingRoundInput) -> RunMatchingRoundPayload:
        try:
            request = await info.context.services.rounds.request_by_operations(
                await info.context.principal(),
                RoundRequestInput(area_id=decode_id(input.area_id, "ServiceArea", field="areaId")),
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return RunMatchingRoundPayload(errors=user_errors(exc))
        return RunMatchingRoundPayload(round=MatchingRound.from_domain(request.round), already_live=not request.created)


async def load_placement(info: Info, parcel_id: Any) -> Placement | None:
    """For `Parcel.placement`: batched per request; retailers (their own parcels) and operations only."""
    principal = await info.context.principal()
    if principal.role not in (DomainRole.RETAILER, DomainRole.ADMIN):
        return None
    found = await info.context.loaders.placements.load(parcel_id)
    return None if found is None else Placement.from_domain(found)
