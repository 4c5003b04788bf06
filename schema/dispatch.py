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
from marketplace.domain.vans import FleetDepot as DomainFleetDepot
from marketplace.domain.vans import VanPlan as DomainVanPlan
from marketplace.domain.vans import VanPlanKind as DomainVanPlanKind
from marketplace.services.fleet import Manifest
from marketplace.services.rounds import RoundRequestInput
from schema.access import allow, mutation, query
from schema.common import GeoPoint, GeoPointInput, Money, not_found, page_or_error
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


VanPlanKind = strawberry.enum(
    DomainVanPlanKind,
    name="VanPlanKind",
    description="FLEET plans the parcels handed to the fleet; BASELINE plans every parcel of the day by van.",
)


def _per(total: int, count: int) -> int | None:
    """Rounded half up, in integers; None when there is nothing to divide by."""
    return None if count == 0 else (2 * total + count) // (2 * count)


@strawberry.type(description="A parcel's visit on a van round: arrival, then service from `startAt` to `endAt`.")
class VanStop:
    parcel_id: strawberry.ID
    point: GeoPoint
    arrive_at: datetime
    start_at: datetime
    end_at: datetime


@strawberry.type(description="One van's round from the depot and back; COLLECTION from stores, DELIVERY to recipients.")
class VanRoute:
    route_no: int
    leg: str = strawberry.field(description="collection or delivery.")
    van: str
    depart_at: datetime
    return_at: datetime
    distance_m: int
    cost: Money
    co2_g: int
    stops: list[VanStop]


@strawberry.type(description="An area-day's van rounds; every figure is summed from the routes.")
class VanPlan:
    kind: VanPlanKind  # type: ignore[valid-type]
    date: date
    planned_at: datetime
    parcels: int = strawberry.field(description="Parcels planned for, served or not.")
    served: int
    unserved_parcel_ids: list[strawberry.ID] = strawberry.field(
        description="Parcels no van could take within their windows and the depot's hours."
    )
    stops: int = strawberry.field(description="Consecutive parcels at one address count as one stop.")
    distance_m: int
    duration_s: int = strawberry.field(description="Van time from leaving the depot to coming back, all routes.")
    cost: Money
    co2_g: int
    cost_per_stop: Money | None
    cost_per_parcel: Money | None = strawberry.field(description="Per parcel served.")
    co2_g_per_parcel: float | None = strawberry.field(description="Per parcel served.")
    co2_g_per_km: float | None
    routes: list[VanRoute]

    @classmethod
    def from_domain(cls, p: DomainVanPlan) -> VanPlan:
        def money(minor: int | None) -> Money | None:
            return None if minor is None else Money.of(minor, p.currency)

        return cls(
            kind=p.kind,
            date=p.local_date,
            planned_at=p.planned_at,
            parcels=p.parcels,
            served=p.served,
            unserved_parcel_ids=[global_id("Parcel", x) for x in p.unserved],
            stops=p.stops,
            distance_m=p.distance_m,
            duration_s=p.duration_s,
            cost=Money.of(p.cost_minor, p.currency),
            co2_g=p.co2_g,
            cost_per_stop=money(_per(p.cost_minor, p.stops)),
            cost_per_parcel=money(_per(p.cost_minor, p.served)),
            co2_g_per_parcel=None if p.served == 0 else p.co2_g / p.served,
            co2_g_per_km=None if p.distance_m == 0 else p.co2_g * 1000 / p.distance_m,
            routes=[
                VanRoute(
                    route_no=r.route_no,
                    leg=r.leg,
                    van=r.van,
                    depart_at=r.depart_at,
                    return_at=r.return_at,
                    distance_m=r.distance_m,
                    cost=Money.of(r.cost_minor, p.currency),
                    co2_g=r.co2_g,
                    stops=[
                        VanStop(
                            parcel_id=global_id("Parcel", s.parcel_id),
                            point=GeoPoint.from_domain(s.point),
                            arrive_at=s.arrive_at,
                            start_at=s.start_at,
                            end_at=s.end_at,
                        )
                        for s in r.stops
                    ],
                )
                for r in p.routes
            ],
        )


@strawberry.type(description="An area's micro-hub for the professional fleet, and the vans working from it.")
class FleetDepot:
    area_id: strawberry.ID
    name: str
    point: GeoPoint
    opens_s: int = strawberry.field(description="Seconds from the area's local midnight.")
    closes_s: int = strawberry.field(description="Seconds from the area's local midnight; up to 172800.")
    van_count: int
    van_capacity_g: int
    van_fixed_cost_minor: int = strawberry.field(description="Per van and day, in the area's currency.")
    van_cost_per_km_minor: int
    van_cost_per_hour_minor: int
    van_co2_g_per_km: int

    @classmethod
    def from_domain(cls, d: DomainFleetDepot) -> FleetDepot:
        return cls(
            area_id=global_id("ServiceArea", d.area_id),
            name=d.name,
            point=GeoPoint.from_domain(d.point),
            opens_s=d.opens_s,
            closes_s=d.closes_s,
            van_count=d.van_count,
            van_capacity_g=d.van_capacity_g,
            van_fixed_cost_minor=d.van_fixed_cost_minor,
            van_cost_per_km_minor=d.van_cost_per_km_minor,
            van_cost_per_hour_minor=d.van_cost_per_hour_minor,
            van_co2_g_per_km=d.van_co2_g_per_km,
        )


@strawberry.input(description="Creates or replaces the area's depot; setting it again with the same values is a no-op.")
class SetFleetDepotInput:
    area_id: strawberry.ID
    name: str
    point: GeoPointInput
    opens_s: int = strawberry.field(default=6 * 3600, description="Seconds from local midnight; default 06:00.")
    closes_s: int = strawberry.field(default=22 * 3600, description="Seconds from local midnight; default 22:00.")
    van_count: int = 10
    van_capacity_g: int = strawberry.field(default=800_000, description="Default 800 kg (a 3.5 t panel van).")
    van_fixed_cost_minor: int = 6_000
    van_cost_per_km_minor: int = 35
    van_cost_per_hour_minor: int = 3_000
    van_co2_g_per_km: int = strawberry.field(default=250, description="Default 250 g/km (diesel 3.5 t van).")


@strawberry.type
class FleetDepotPayload:
    depot: FleetDepot | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PlanVanRoundsInput:
    area_id: strawberry.ID
    date: date = strawberry.field(description="The area's local date.")
    kind: VanPlanKind = DomainVanPlanKind.BASELINE  # type: ignore[valid-type]


@strawberry.type
class PlanVanRoundsPayload:
    queued: bool = strawberry.field(
        default=False, description="False when a plan of this area-day and kind was already queued."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="An area's parcels for the fleet whose pickup window opens on a local date.")
class FleetManifest:
    area_id: strawberry.ID
    date: date
    time_zone: str
    lines: list[FleetManifestLine]
    total_fallback_cost: Money | None
    van_rounds: VanPlan | None = strawberry.field(
        description="The fleet's van rounds for the day (null until planned); its cost, km and CO2 are the fleet's."
    )

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
            van_rounds=None if m.van_plan is None else VanPlan.from_domain(m.van_plan),
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

    @query(OPERATIONS, description="The area's fleet depot, or null when none is set.")
    async def fleet_depot(self, info: Info, area_id: strawberry.ID) -> FleetDepot | None:
        depot = await info.context.services.fleet.depot(decode_id(area_id, "ServiceArea", field="areaId"))
        return None if depot is None else FleetDepot.from_domain(depot)

    @query(
        OPERATIONS,
        description="What the day's parcels would cost and emit by van alone (null until planned with planVanRounds).",
    )
    async def van_baseline(self, info: Info, area_id: strawberry.ID, date: date) -> VanPlan | None:
        plan = await info.context.services.fleet.van_plan(
            decode_id(area_id, "ServiceArea", field="areaId"), date, DomainVanPlanKind.BASELINE
        )
        return None if plan is None else VanPlan.from_domain(plan)

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

    @mutation(OPERATIONS, description="Sets the area's fleet depot and its vans.")
    async def set_fleet_depot(self, info: Info, input: SetFleetDepotInput) -> FleetDepotPayload:
        try:
            depot = await info.context.services.fleet.set_depot(
                DomainFleetDepot(
                    area_id=decode_id(input.area_id, "ServiceArea", field="areaId"),
                    name=input.name,
                    point=input.point.to_domain(),
                    opens_s=input.opens_s,
                    closes_s=input.closes_s,
                    van_count=input.van_count,
                    van_capacity_g=input.van_capacity_g,
                    van_fixed_cost_minor=input.van_fixed_cost_minor,
                    van_cost_per_km_minor=input.van_cost_per_km_minor,
                    van_cost_per_hour_minor=input.van_cost_per_hour_minor,
                    van_co2_g_per_km=input.van_co2_g_per_km,
                )
            )
        except DomainError as exc:
            return FleetDepotPayload(errors=user_errors(exc))
        return FleetDepotPayload(depot=FleetDepot.from_domain(depot))

    @mutation(OPERATIONS, description="Queues the van planner for an area-day: the fleet's rounds or the baseline.")
    async def plan_van_rounds(self, info: Info, input: PlanVanRoundsInput) -> PlanVanRoundsPayload:
        try:
            queued = await info.context.services.fleet.request_van_plan(
                decode_id(input.area_id, "ServiceArea", field="areaId"), input.date, DomainVanPlanKind(input.kind)
            )
        except DomainError as exc:
            return PlanVanRoundsPayload(errors=user_errors(exc))
        return PlanVanRoundsPayload(queued=queued)


async def load_placement(info: Info, parcel_id: Any) -> Placement | None:
    """For `Parcel.placement`: batched per request; retailers (their own parcels) and operations only."""
    principal = await info.context.principal()
    if principal.role not in (DomainRole.RETAILER, DomainRole.ADMIN):
        return None
    found = await info.context.loaders.placements.load(parcel_id)
    return None if found is None else Placement.from_domain(found)
