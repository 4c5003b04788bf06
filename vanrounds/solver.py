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
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from vanrounds.check import check_plan, plan_totals
from vanrounds.distances import matrices, road_m, travel_s
from vanrounds.model import Leg, Parcel, Plan, Problem, Route, Site, Stop, VanType

MILLI = 1000
# PyVRP caps its penalty per unit of time warp or excess load at 1e5 by default; against costs in
# thousandths of a minor unit that made a few minutes of time warp cheaper than leaving a parcel out,
# and large days ended infeasible. 1e9 x (a day of seconds or a van's grams) stays far inside int64.
SOLVE_PARAMS = pyvrp.SolveParams(penalty=pyvrp.PenaltyParams(max_penalty=1e9))


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
class Visit:
    """A parcel as one leg sees it: where, its window there, and when it can leave the depot."""

    parcel: Parcel
    site: Site
    tw_early: int
    tw_late: int
    release: int


def _solve_leg(
    problem: Problem,
    leg: Leg,
    clients: Sequence[Visit],
    stop: StoppingCriterion,
    seed: int,
    *,
    back_by_s: int | None = None,
    vans: Sequence[int] | None = None,
) -> tuple[list[Route], list[str], list[str]]:
    """The leg's routes, the parcels no route serves, and those PyVRP placed where no van could serve them.

    `back_by_s` (default: the depot's closing) is when every route must be back at the depot; `vans`
    how many of each van type this solve may use (default: all of them).
    """
    back_by = problem.depot.closes_s if back_by_s is None else min(back_by_s, problem.depot.closes_s)
    counts = [v.count for v in problem.vans] if vans is None else list(vans)
    # PyVRP rejects a window that closes before the parcel is released (or before it opens): no van can.
    hopeless = [c.parcel.id for c in clients if c.release > c.tw_late or c.tw_early > c.tw_late]
    clients = [c for c in clients if c.release <= c.tw_late and c.tw_early <= c.tw_late]
    if not clients or back_by <= problem.depot.opens_s or not any(counts):
        return [], hopeless + [c.parcel.id for c in clients], []
    sites: dict[str, Site] = {problem.depot.site.id: problem.depot.site}
    for c in clients:
        sites.setdefault(c.site.id, c.site)
    order = list(sites.values())
    index = {s.id: i for i, s in enumerate(order)}
    dist, dur = matrices(order, problem.road_factor, problem.speed_mps)

    prize = _prize(problem)
    model = pyvrp.Model()
    locations = [model.add_location(x=s.lng, y=s.lat, name=s.id) for s in order]
    depot = model.add_depot(locations[0], tw_early=problem.depot.opens_s, tw_late=back_by, name=problem.depot.site.id)
    for van, count in zip(problem.vans, counts, strict=True):
        model.add_vehicle_type(
            num_available=max(count, 0),
            capacity=van.capacity_g,
            start_depot=depot,
            end_depot=depot,
            fixed_cost=van.fixed_cost_minor * MILLI,
            tw_early=problem.depot.opens_s,
            tw_late=back_by,
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
    result = pyvrp.solve(data, stop=stop, seed=seed, display=False, params=SOLVE_PARAMS)
    routes, repaired = [], []
    for r in result.best.routes():
        visits = [clients[a.idx] for a in r.schedule() if a.is_client()]
        van = problem.vans[r.vehicle_type()]
        route, dropped = schedule_route(
            problem, leg, van, int(r.start_time()), visits, index, dist, dur, back_by_s=back_by
        )
        if route.stops:
            routes.append(route)
        repaired.extend(dropped)
    served = {s.parcel_id for r in routes for s in r.stops}
    return routes, hopeless + [c.parcel.id for c in clients if c.parcel.id not in served], repaired


def schedule_route(
    problem: Problem,
    leg: Leg,
    van: VanType,
    depart_hint: int,
    visits: Sequence[Visit],
    index: dict[str, int],
    dist: npt.NDArray[np.int64],
    dur: npt.NDArray[np.int64],
    *,
    back_by_s: int | None = None,
) -> tuple[Route, list[str]]:
    """PyVRP's visit order and departure, scheduled by us at the earliest; and the parcels left off.

    When PyVRP's best is feasible this reproduces its times exactly. When it is not (on a large day
    the search can end with time warp or excess load), a stop that would be late or overload the van
    is left off the route and its parcel is reported unserved: a plan we store is always one vans can
    drive, and the checker proves it.
    """
    back_by = problem.depot.closes_s if back_by_s is None else back_by_s
    dropped: list[str] = []
    if leg is Leg.DELIVERY:  # the van leaves loaded with all it delivers
        kept, load = [], 0
        for c in visits:
            if load + c.parcel.weight_g > van.capacity_g:
                dropped.append(c.parcel.id)
            else:
                kept.append(c)
                load += c.parcel.weight_g
        visits = kept
    while True:
        depart = max([depart_hint, problem.depot.opens_s, *(c.release for c in visits)])
        stops: list[Stop] = []
        prev_loc, clock, load, total, late = 0, depart, 0, 0, []
        for c in visits:
            loc = index[c.site.id]
            arrive = clock + int(dur[prev_loc, loc])
            start = max(arrive, c.tw_early)
            if start > c.tw_late or (leg is Leg.COLLECTION and load + c.parcel.weight_g > van.capacity_g):
                late.append(c.parcel.id)
                continue
            load += c.parcel.weight_g
            stops.append(Stop(c.parcel.id, c.site.id, arrive, start, start + problem.service_s))
            total += int(dist[prev_loc, loc])
            prev_loc, clock = loc, start + problem.service_s
        back = clock + int(dur[prev_loc, 0])
        dropped.extend(late)
        if back <= back_by or not stops:
            break
        # Back after the depot closes: the last parcel stays off the route, and the rest is scheduled again.
        last = stops[-1].parcel_id
        dropped.append(last)
        visits = [c for c in visits if c.parcel.id != last and c.parcel.id not in late]
    total += int(dist[prev_loc, 0])
    return (
        Route(
            leg=leg,
            van=van.name,
            start_site_id=problem.depot.site.id,
            end_site_id=problem.depot.site.id,
            depart_s=depart,
            return_s=back,
            stops=tuple(stops),
            distance_m=total if stops else 0,
        ),
        dropped,
    )


def _stop(max_runtime_s: float, max_iterations: int | None) -> StoppingCriterion:
    if max_iterations is None:
        return MaxRuntime(max_runtime_s)
    return MultipleCriteria([MaxIterations(max_iterations), MaxRuntime(max_runtime_s)])


def due_back_s(problem: Problem, parcel: Parcel) -> int:
    """The latest a collecting van may be back at the depot with `parcel`: sorted (`depot_handling_s`),
    driven out straight (`delivery_round_s` for the other stops of its delivery round before it) and
    served (`service_s`) before its delivery window closes."""
    direct_s = travel_s(road_m(problem.depot.site, parcel.recipient, problem.road_factor), problem.speed_mps)
    return parcel.deliver_until_s - problem.service_s - direct_s - problem.delivery_round_s - problem.depot_handling_s


def collection_waves(problem: Problem, visits: Sequence[Visit]) -> list[tuple[int, list[Visit]]]:
    """The collection visits in waves by when they are due back (`due_back_s`), `wave_s` wide.

    Each wave is one PyVRP solve whose routes are all back at the depot by the wave's earliest due time.
    Solving the whole day's collection at once let PyVRP, which sees only the collection's own cost,
    chain the morning's stores into one round back at 18:00, past the delivery windows of the parcels
    it had picked up first (the default simulated day: 225 of 514 fleet parcels unserved).
    """
    waves: list[tuple[int, list[Visit]]] = []
    for due, visit in sorted(
        ((due_back_s(problem, v.parcel), v) for v in visits), key=lambda x: (x[0], x[1].parcel.id)
    ):
        if waves and due < waves[-1][0] + problem.wave_s:
            waves[-1][1].append(visit)
        else:
            waves.append((due, [visit]))
    return waves


def plan_day(problem: Problem, *, max_runtime_s: float = 2.0, seed: int = 1, max_iterations: int | None = None) -> Plan:
    """Both legs of the day, checked; raises `PlanInfeasibleError` if PyVRP's routes break a rule.

    The collection is solved in waves (`collection_waves`), sharing the leg's time limit by their
    parcels, each with the vans the waves before it left; the delivery in one solve.
    With `max_iterations` (and a runtime that does not bind first) the same seed gives the same plan on
    any machine, which a replayed simulation needs; a runtime alone depends on the machine's speed.
    """
    collection_clients = [
        Visit(p, p.store, p.pickup_from_s, p.pickup_until_s, 0) for p in sorted(problem.parcels, key=lambda p: p.id)
    ]
    collection: list[Route] = []
    not_collected: list[str] = []
    repaired_c: list[str] = []
    left = [v.count for v in problem.vans]
    for back_by, wave in collection_waves(problem, collection_clients):
        share_s = max_runtime_s * len(wave) / len(collection_clients)
        routes, missed, fixed = _solve_leg(
            problem,
            Leg.COLLECTION,
            wave,
            _stop(share_s, max_iterations),
            seed,
            back_by_s=back_by,
            vans=left,
        )
        for r in routes:
            left[next(i for i, v in enumerate(problem.vans) if v.name == r.van)] -= 1
        collection.extend(routes)
        not_collected.extend(missed)
        repaired_c.extend(fixed)
    released = {s.parcel_id: r.return_s + problem.depot_handling_s for r in collection for s in r.stops}
    delivery_clients = [
        Visit(c.parcel, c.parcel.recipient, c.parcel.deliver_from_s, c.parcel.deliver_until_s, released[c.parcel.id])
        for c in collection_clients
        if c.parcel.id in released
    ]
    delivery, not_delivered, repaired_d = _solve_leg(
        problem, Leg.DELIVERY, delivery_clients, _stop(max_runtime_s, max_iterations), seed
    )
    unserved = tuple(sorted(not_collected + not_delivered))
    plan = Plan(
        collection=tuple(collection),
        delivery=tuple(delivery),
        released_s=released,
        unserved=unserved,
        totals=plan_totals(problem, (*collection, *delivery)),
        repaired=tuple(sorted(repaired_c + repaired_d)),
    )
    violations = check_plan(problem, plan)
    if violations:
        raise PlanInfeasibleError("; ".join(f"{v.code}: {v.message}" for v in violations))
    return plan
