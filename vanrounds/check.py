"""Our own check of a van plan, and the figures summed from its routes.

PyVRP is trusted for nothing: every route is walked again with our distances and the problem's
windows, so a plan that passes here respects depot start and end, opening hours, time windows,
release times, capacity, the number of vans, and collection before delivery for every parcel.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from vanrounds.distances import road_m, travel_s
from vanrounds.model import Leg, Parcel, Plan, Problem, Route, Site, Totals, VanType


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str


def _sites(problem: Problem) -> dict[str, Site]:
    sites = {problem.depot.site.id: problem.depot.site}
    for p in problem.parcels:
        sites.setdefault(p.store.id, p.store)
        sites.setdefault(p.recipient.id, p.recipient)
    return sites


def route_distance_m(problem: Problem, route: Route) -> int:
    sites = _sites(problem)
    path = [route.start_site_id, *(s.site_id for s in route.stops), route.end_site_id]
    return sum(road_m(sites[a], sites[b], problem.road_factor) for a, b in itertools.pairwise(path))


def _van(problem: Problem, name: str) -> VanType:
    return next(v for v in problem.vans if v.name == name)


def route_cost_minor(van: VanType, distance_m: int, duration_s: int) -> int:
    """Fixed day rate plus per km and per hour, rounded up to the minor unit once per route."""
    variable = distance_m * van.cost_per_km_minor * 3600 + duration_s * van.cost_per_hour_minor * 1000
    return van.fixed_cost_minor + math.ceil(variable / 3_600_000)


def route_co2_g(van: VanType, distance_m: int) -> int:
    return math.ceil(distance_m * van.co2_g_per_km / 1000)


def _stops(route: Route) -> int:
    """Consecutive parcels at one address are one stop."""
    return sum(1 for i, s in enumerate(route.stops) if i == 0 or route.stops[i - 1].site_id != s.site_id)


def plan_totals(problem: Problem, routes: Iterable[Route]) -> Totals:
    routes = [r for r in routes if r.stops]
    per_route = []
    for r in routes:
        van = _van(problem, r.van)
        distance = route_distance_m(problem, r)
        duration = r.return_s - r.depart_s
        per_route.append((distance, duration, route_cost_minor(van, distance, duration), route_co2_g(van, distance)))
    return Totals(
        routes=len(routes),
        stops=sum(_stops(r) for r in routes),
        parcels=sum(len(r.stops) for r in routes),
        distance_m=sum(x[0] for x in per_route),
        duration_s=sum(x[1] for x in per_route),
        cost_minor=sum(x[2] for x in per_route),
        co2_g=sum(x[3] for x in per_route),
    )


def check_route(
    problem: Problem, route: Route, parcels: dict[str, Parcel], released_s: dict[str, int]
) -> list[Violation]:
    out: list[Violation] = []
    depot = problem.depot
    sites = _sites(problem)
    names = {v.name for v in problem.vans}
    where = f"{route.leg.value} route of {route.van} leaving at {route.depart_s}"
    if route.van not in names:
        return [Violation("unknown_van", f"{where}: no van type {route.van!r}")]
    van = _van(problem, route.van)
    unknown = {route.start_site_id, route.end_site_id, *(s.site_id for s in route.stops)} - set(sites)
    if unknown:
        return [Violation("unknown_site", f"{where}: no sites {sorted(unknown)}")]
    if route.start_site_id != depot.site.id or route.end_site_id != depot.site.id:
        out.append(Violation("not_at_depot", f"{where}: starts at {route.start_site_id}, ends at {route.end_site_id}"))
    if route.depart_s < depot.opens_s or route.return_s > depot.closes_s:
        out.append(
            Violation(
                "depot_hours",
                f"{where}: out {route.depart_s}..{route.return_s}, depot open {depot.opens_s}..{depot.closes_s}",
            )
        )
    load = (
        0
        if route.leg is Leg.COLLECTION
        else sum(parcels[s.parcel_id].weight_g for s in route.stops if s.parcel_id in parcels)
    )
    peak = load
    here, clock = route.start_site_id, route.depart_s
    for stop in route.stops:
        parcel = parcels.get(stop.parcel_id)
        if parcel is None:
            out.append(Violation("unknown_parcel", f"{where}: parcel {stop.parcel_id} is not in the problem"))
            continue
        if route.leg is Leg.COLLECTION:
            expected_site, early, late = parcel.store.id, parcel.pickup_from_s, parcel.pickup_until_s
            load += parcel.weight_g
        else:
            expected_site, early, late = parcel.recipient.id, parcel.deliver_from_s, parcel.deliver_until_s
            load -= parcel.weight_g
            release = released_s.get(parcel.id)
            if release is None:
                out.append(Violation("delivered_uncollected", f"{where}: {parcel.id} delivered but never collected"))
            elif route.depart_s < release:
                out.append(Violation("release_time", f"{where}: {parcel.id} is at the depot only from {release}"))
        peak = max(peak, load)
        if stop.site_id != expected_site:
            out.append(Violation("wrong_site", f"{where}: {parcel.id} visited at {stop.site_id}, not {expected_site}"))
        arrive = clock + travel_s(road_m(sites[here], sites[stop.site_id], problem.road_factor), problem.speed_mps)
        if stop.arrive_s != arrive or stop.start_s < arrive or stop.end_s != stop.start_s + problem.service_s:
            out.append(
                Violation(
                    "schedule",
                    f"{where}: {parcel.id} arrives {stop.arrive_s} (travel says {arrive}), "
                    f"starts {stop.start_s}, ends {stop.end_s}",
                )
            )
        if not early <= stop.start_s <= late:
            out.append(
                Violation("time_window", f"{where}: {parcel.id} served at {stop.start_s}, window {early}..{late}")
            )
        here, clock = stop.site_id, stop.end_s
    back = clock + travel_s(road_m(sites[here], sites[route.end_site_id], problem.road_factor), problem.speed_mps)
    if route.return_s < back:
        out.append(Violation("schedule", f"{where}: back at {route.return_s}, travel says {back}"))
    if peak > van.capacity_g:
        out.append(Violation("capacity", f"{where}: carries {peak} g, capacity {van.capacity_g} g"))
    if route.distance_m != route_distance_m(problem, route):
        out.append(Violation("distance", f"{where}: says {route.distance_m} m"))
    return out


def check_plan(problem: Problem, plan: Plan) -> list[Violation]:
    parcels = {p.id: p for p in problem.parcels}
    out: list[Violation] = []
    for route in plan.routes:
        out.extend(check_route(problem, route, parcels, plan.released_s))
    collected = [s.parcel_id for r in plan.collection for s in r.stops]
    delivered = [s.parcel_id for r in plan.delivery for s in r.stops]
    for leg, seen in (("collected", collected), ("delivered", delivered)):
        for pid in sorted(p for p, n in Counter(seen).items() if n > 1):
            out.append(Violation("visited_twice", f"{pid} {leg} more than once"))
    # Collected before delivered: a parcel is released no earlier than its collecting van's return.
    back = {s.parcel_id: r.return_s + problem.depot_handling_s for r in plan.collection for s in r.stops}
    for pid, release in plan.released_s.items():
        if pid not in back or release < back[pid]:
            out.append(
                Violation("release_before_collection", f"{pid} released at {release} before it reached the depot")
            )
    for pid in sorted(set(parcels) - set(delivered) - set(plan.unserved)):
        out.append(Violation("missing", f"{pid} is neither delivered nor reported unserved"))
    for pid in sorted(set(plan.unserved) & set(delivered)):
        out.append(Violation("missing", f"{pid} is delivered and reported unserved"))
    for van in problem.vans:
        for routes in (plan.collection, plan.delivery):
            used = sum(1 for r in routes if r.van == van.name and r.stops)
            if used > van.count:
                out.append(Violation("too_many_vans", f"{used} routes of {van.name}, {van.count} available"))
    return out
