"""Between the service and `vanrounds/`: an area-day's parcels and depot in, a stored van plan out.

Planner times are whole seconds from the area's local midnight of the day; windows that opened before
it start at 0. Stores and recipients are keyed by their point (two parcels to one door
share a stop, and so do parcels from one store).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from uuid import UUID

import vanrounds
from marketplace.domain.geo import Point
from marketplace.domain.vans import DAY_S, FleetDepot, VanPlan, VanPlanKind, VanRoute, VanStop
from marketplace.repositories.vans import DayParcel
from vanrounds.check import route_co2_g, route_cost_minor, route_distance_m

VAN = "van"
HORIZON_S = 2 * DAY_S


def _seconds(t: datetime, origin: datetime) -> int:
    return max(0, min(HORIZON_S, int((t - origin).total_seconds())))


def problem_of(depot: FleetDepot, parcels: Sequence[DayParcel], origin: datetime) -> vanrounds.Problem:
    def recipient(p: Point) -> vanrounds.Site:
        return vanrounds.Site(f"to:{p.lat:.6f},{p.lng:.6f}", p.lat, p.lng)

    return vanrounds.Problem(
        depot=vanrounds.Depot(vanrounds.Site("depot", depot.point.lat, depot.point.lng), depot.opens_s, depot.closes_s),
        parcels=tuple(
            vanrounds.Parcel(
                id=str(p.parcel_id),
                store=vanrounds.Site(f"from:{p.pickup.lat:.6f},{p.pickup.lng:.6f}", p.pickup.lat, p.pickup.lng),
                recipient=recipient(p.dropoff),
                weight_g=p.weight_g,
                pickup_from_s=_seconds(p.pickup_from, origin),
                pickup_until_s=_seconds(p.pickup_until, origin),
                deliver_from_s=_seconds(p.deliver_from, origin),
                deliver_until_s=_seconds(p.deliver_until, origin),
            )
            for p in parcels
        ),
        vans=(
            vanrounds.VanType(
                name=VAN,
                count=depot.van_count,
                capacity_g=depot.van_capacity_g,
                fixed_cost_minor=depot.van_fixed_cost_minor,
                cost_per_km_minor=depot.van_cost_per_km_minor,
                cost_per_hour_minor=depot.van_cost_per_hour_minor,
                co2_g_per_km=depot.van_co2_g_per_km,
            ),
        ),
    )


def stored_plan(
    problem: vanrounds.Problem,
    plan: vanrounds.Plan,
    *,
    area_id: UUID,
    local_date: date,
    kind: VanPlanKind,
    origin: datetime,
    planned_at: datetime,
    currency: str,
) -> VanPlan:
    """The planner's routes as the service stores them; each route's cost and CO2 from `vanrounds.check`."""
    sites = {p.store.id: p.store for p in problem.parcels} | {p.recipient.id: p.recipient for p in problem.parcels}
    van = problem.vans[0]

    def at(s: int) -> datetime:
        return origin + timedelta(seconds=s)

    routes = []
    for no, r in enumerate((r for r in plan.routes if r.stops), start=1):
        distance = route_distance_m(problem, r)
        routes.append(
            VanRoute(
                route_no=no,
                leg=r.leg.value,
                van=r.van,
                depart_at=at(r.depart_s),
                return_at=at(r.return_s),
                distance_m=distance,
                cost_minor=route_cost_minor(van, distance, r.return_s - r.depart_s),
                co2_g=route_co2_g(van, distance),
                stops=tuple(
                    VanStop(
                        parcel_id=UUID(s.parcel_id),
                        point=Point(sites[s.site_id].lat, sites[s.site_id].lng),
                        arrive_at=at(s.arrive_s),
                        start_at=at(s.start_s),
                        end_at=at(s.end_s),
                    )
                    for s in r.stops
                ),
            )
        )
    t = plan.totals
    return VanPlan(
        id=uuid.uuid4(),
        area_id=area_id,
        local_date=local_date,
        kind=kind,
        planned_at=planned_at,
        parcels=len(problem.parcels),
        unserved=tuple(UUID(p) for p in plan.unserved),
        routes=tuple(routes),
        stops=t.stops,
        distance_m=t.distance_m,
        duration_s=t.duration_s,
        cost_minor=t.cost_minor,
        currency=currency,
        co2_g=t.co2_g,
    )


def runtime_s(parcels: int) -> float:
    """PyVRP's time limit per leg: a second for a small day, growing to 30 s for a city's 2,000 parcels."""
    return min(30.0, 1.0 + parcels / 70)


def solve(problem: vanrounds.Problem) -> vanrounds.Plan:
    """Runs in the worker's process pool (or a thread): plain values in and out, picklable."""
    return vanrounds.plan_day(problem, max_runtime_s=runtime_s(len(problem.parcels)), seed=1)
