"""Plans a day's van rounds with PyVRP: collection from stores to the depot, then delivery from it.

Each leg is a VRP with time windows and capacities (grams) solved on its own. Collection clients pick
up at the stores and unload at the depot; a parcel is ready for delivery `depot_handling_s` after its
van is back. That instant is the parcel's `release_time` in the delivery leg, which PyVRP honours by
not letting a van leave the depot before the latest release time of the parcels it loads. Every
parcel is one client (its own service time); a parcel no van can serve within its windows is left
out with a prize far above any route's cost, so PyVRP serves every parcel it can and the rest are
reported as unserved rather than making the plan infeasible.

Costs are integers in PyVRP, here in thousandths of a minor unit: a metre weighs `cost_per_km_minor`, a
second `cost_per_hour_minor / 3.6` rounded (the objective only steers the search; the cost we report is
summed exactly from the routes by `vanrounds.check`). The prize for serving a parcel is twice the dearest
van's whole day, enough to serve everything serviceable while keeping the numbers close to the costs: a
prize of 1e13 made PyVRP's penalties saturate and return over-capacity routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.stop import MaxRuntime

from vanrounds.check import check_plan, plan_totals
from vanrounds.distances import matrices
from vanrounds.model import Leg, Parcel, Plan, Problem, Route, Site, Stop

MILLI = 1000


def _prize(problem: Problem) -> int:
    day_s = problem.depot.closes_s - problem.depot.opens_s
    day_m = problem.speed_mps * day_s
    dearest = max(
        v.fixed_cost_minor * MILLI + v.cost_per_km_minor * day_m + round(v.cost_per_hour_minor * MILLI / 3600) * day_s
        for v in problem.vans
    )
    return 2 * round(dearest)


class PlanInfeasibleError(RuntimeError):
    """PyVRP returned routes our checker rejects; never expected, always a bug worth a failed job."""


@dataclass(frozen=True, slots=True)
class _Client:
    parcel: Parcel
    site: Site
    tw_early: int
    tw_late: int
    release: int


def _solve_leg(
    problem: Problem, leg: Leg, clients: Sequence[_Client], max_runtime_s: float, seed: int
) -> tuple[list[Route], list[str]]:
    # PyVRP rejects a window that closes before the parcel is released (or before it opens): no van can.
    hopeless = [c.parcel.id for c in clients if c.release > c.tw_late or c.tw_early > c.tw_late]
    clients = [c for c in clients if c.release <= c.tw_late and c.tw_early <= c.tw_late]
    if not clients:
        return [], hopeless
    sites: dict[str, Site] = {problem.depot.site.id: problem.depot.site}
    for c in clients:
        sites.setdefault(c.site.id, c.site)
    order = list(sites.values())
    index = {s.id: i for i, s in enumerate(order)}
    dist, dur = matrices(order, problem.road_factor, problem.speed_mps)

    prize = _prize(problem)
    model = pyvrp.Model()
    locations = [model.add_location(x=s.lng, y=s.lat, name=s.id) for s in order]
    depot = model.add_depot(
        locations[0], tw_early=problem.depot.opens_s, tw_late=problem.depot.closes_s, name=problem.depot.site.id
    )
    for van in problem.vans:
        model.add_vehicle_type(
            num_available=van.count,
            capacity=van.capacity_g,
            start_depot=depot,
            end_depot=depot,
            fixed_cost=van.fixed_cost_minor * MILLI,
            tw_early=problem.depot.opens_s,
            tw_late=problem.depot.closes_s,
            unit_distance_cost=van.cost_per_km_minor,
            unit_duration_cost=round(van.cost_per_hour_minor * MILLI / 3600),
            name=van.name,
        )
    for c in clients:
        amount = c.parcel.weight_g
        model.add_client(
            locations[index[c.site.id]],
            delivery=amount if leg is Leg.DELIVERY else 0,
            pickup=amount if leg is Leg.COLLECTION else 0,
            service_duration=problem.service_s,
            tw_early=c.tw_early,
            tw_late=c.tw_late,
            release_time=c.release,
            prize=prize,
            required=False,
            name=c.parcel.id,
        )
    # Model.data() would fill the matrices from n^2 Python edges; ours are built once, in numpy.
    data = model.data().replace(distance_matrices=[dist], duration_matrices=[dur])  # type: ignore[list-item]
    result = pyvrp.solve(data, stop=MaxRuntime(max_runtime_s), seed=seed, display=False)
    routes = [_route(problem, leg, r, clients, index, dist, dur) for r in result.best.routes()]
    served = {s.parcel_id for r in routes for s in r.stops}
    return routes, hopeless + [c.parcel.id for c in clients if c.parcel.id not in served]


def _route(
    problem: Problem,
    leg: Leg,
    route: pyvrp.Route,
    clients: Sequence[_Client],
    index: dict[str, int],
    dist: npt.NDArray[np.int64],
    dur: npt.NDArray[np.int64],
) -> Route:
    """PyVRP's visit order and start times, with arrivals recomputed from the matrix."""
    depot_idx = 0
    stops: list[Stop] = []
    prev_loc, prev_end = depot_idx, int(route.start_time())
    total = 0
    for activity in route.schedule():
        if not activity.is_client():
            continue
        client = clients[activity.idx]
        loc = index[client.site.id]
        arrive = prev_end + int(dur[prev_loc, loc])
        start = int(activity.start_time)
        stops.append(Stop(client.parcel.id, client.site.id, arrive, start, start + problem.service_s))
        total += int(dist[prev_loc, loc])
        prev_loc, prev_end = loc, start + problem.service_s
    total += int(dist[prev_loc, depot_idx])
    return Route(
        leg=leg,
        van=problem.vans[route.vehicle_type()].name,
        start_site_id=problem.depot.site.id,
        end_site_id=problem.depot.site.id,
        depart_s=int(route.start_time()),
        return_s=prev_end + int(dur[prev_loc, depot_idx]),
        stops=tuple(stops),
        distance_m=total,
    )


def plan_day(problem: Problem, *, max_runtime_s: float = 2.0, seed: int = 1) -> Plan:
    """Both legs of the day, checked; raises `PlanInfeasibleError` if PyVRP's routes break a rule."""
    collection_clients = [
        _Client(p, p.store, p.pickup_from_s, p.pickup_until_s, 0) for p in sorted(problem.parcels, key=lambda p: p.id)
    ]
    collection, not_collected = _solve_leg(problem, Leg.COLLECTION, collection_clients, max_runtime_s, seed)
    released = {s.parcel_id: r.return_s + problem.depot_handling_s for r in collection for s in r.stops}
    delivery_clients = [
        _Client(c.parcel, c.parcel.recipient, c.parcel.deliver_from_s, c.parcel.deliver_until_s, released[c.parcel.id])
        for c in collection_clients
        if c.parcel.id in released
    ]
    delivery, not_delivered = _solve_leg(problem, Leg.DELIVERY, delivery_clients, max_runtime_s, seed)
    unserved = tuple(sorted(not_collected + not_delivered))
    routes = tuple(collection) + tuple(delivery)
    plan = Plan(
        collection=tuple(collection),
        delivery=tuple(delivery),
        released_s=released,
        unserved=unserved,
        totals=plan_totals(problem, routes),
    )
    violations = check_plan(problem, plan)
    if violations:
        raise PlanInfeasibleError("; ".join(f"{v.code}: {v.message}" for v in violations))
    return plan
