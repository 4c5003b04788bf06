"""A deliberately plain reference implementation of the rules, for brute force and hand checks.

It shares no code with the engine or with `matching.check`: its own great-circle distance, its
own enumeration of stop orders and its own schedule simulation, written straight from issue 5
(and issue 10's forbidden pairs).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from matching.model import Instance, Parcel, Point, Trip

EARTH_RADIUS_M = 6_371_008.8
# Float noise allowances (the engine and the checker use the same order of magnitude).
EPS_S = 1e-6
EPS_M = 1e-6

Event = tuple[int, str]  # (index into the bundle, "pickup" | "dropoff")


def great_circle_m(a: Point, b: Point) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def road_m(instance: Instance, a: Point, b: Point) -> float:
    return instance.rules.road_factor * great_circle_m(a, b)


def required_level(instance: Instance, value: int) -> int:
    level, best = 0, -1
    for rule in instance.rules.verification:
        if best < rule.min_value <= value:
            level, best = rule.level, rule.min_value
    return level


def static_ok(instance: Instance, trip: Trip, parcel: Parcel) -> bool:
    """The rules that need no route: insurance, currency, cover, verification."""
    ins = trip.insurance
    return (
        ins is not None
        and ins.currency == parcel.currency
        and ins.valid_from <= trip.depart_after
        and trip.arrive_by <= ins.valid_until
        and parcel.value <= ins.per_parcel
        and trip.verification_level >= required_level(instance, parcel.value)
    )


@cache
def stop_orders(k: int) -> tuple[tuple[Event, ...], ...]:
    """Every sequence of the 2k stops of k parcels in which each pickup precedes its drop-off."""
    events = [(i, kind) for i in range(k) for kind in ("pickup", "dropoff")]
    return tuple(
        order
        for order in itertools.permutations(events)
        if all(order.index((i, "pickup")) < order.index((i, "dropoff")) for i in range(k))
    )


@dataclass(frozen=True)
class Route:
    order: tuple[Event, ...]
    starts: tuple[float, ...]  # epoch seconds at which service at each stop starts
    detour_m: float


def simulate(instance: Instance, trip: Trip, bundle: Sequence[Parcel], order: Sequence[Event]) -> Route | None:
    """Drives `order`, waiting for windows to open; None when any rule of the route breaks."""
    rules = instance.rules
    ins = trip.insurance
    if ins is None or len(bundle) > rules.max_parcels_per_trip:
        return None
    position = trip.origin
    clock = trip.depart_after.timestamp()
    length = 0.0
    weight = volume = value = 0
    starts: list[float] = []
    for index, kind in order:
        p = bundle[index]
        point = p.pickup if kind == "pickup" else p.dropoff
        leg = road_m(instance, position, point)
        length += leg
        clock += leg / trip.speed_mps
        opens, closes = (p.pickup_from, p.pickup_until) if kind == "pickup" else (p.deliver_from, p.deliver_until)
        clock = max(clock, opens.timestamp())
        if clock > closes.timestamp() + EPS_S:
            return None
        starts.append(clock)
        clock += rules.service_s
        sign = 1 if kind == "pickup" else -1
        weight += sign * p.weight_g
        volume += sign * p.volume_cm3
        value += sign * p.value
        if weight > trip.capacity_g or volume > trip.capacity_cm3 or value > ins.per_trip:
            return None
        position = point
    last = road_m(instance, position, trip.destination)
    length += last
    clock += last / trip.speed_mps
    if clock > trip.arrive_by.timestamp() + EPS_S:
        return None
    detour = length - road_m(instance, trip.origin, trip.destination)
    if detour > trip.max_detour_m + EPS_M:
        return None
    return Route(tuple(order), tuple(starts), max(0.0, detour))


def is_forbidden(instance: Instance, trip: Trip, parcel: Parcel) -> bool:
    """The courier of `trip` declined `parcel`, or let its offer expire: never pair them again."""
    return any(f.trip_id == trip.id and f.parcel_id == parcel.id for f in instance.forbidden)


def reason_alone(instance: Instance, trip: Trip, parcel: Parcel) -> str:
    """The first rule, in the issue's order, that stops `trip` from carrying `parcel` alone."""
    ins = trip.insurance
    if ins is None:
        return "insurance_missing"
    if ins.currency != parcel.currency:
        return "currency"
    if not (ins.valid_from <= trip.depart_after and trip.arrive_by <= ins.valid_until):
        return "insurance_expired"
    if parcel.value > ins.per_parcel or parcel.value > ins.per_trip:
        return "insurance_cover"
    if trip.verification_level < required_level(instance, parcel.value):
        return "verification_level"
    if parcel.weight_g > trip.capacity_g or parcel.volume_cm3 > trip.capacity_cm3:
        return "capacity"
    route = [trip.origin, parcel.pickup, parcel.dropoff, trip.destination]
    length = sum(road_m(instance, a, b) for a, b in itertools.pairwise(route))
    if length - road_m(instance, trip.origin, trip.destination) > trip.max_detour_m + EPS_M:
        return "detour"
    if simulate(instance, trip, [parcel], ((0, "pickup"), (0, "dropoff"))) is None:
        return "time_window"
    if is_forbidden(instance, trip, parcel):
        return "forbidden"
    return "not_chosen"


def reasons(instance: Instance, parcel: Parcel) -> dict[str, int]:
    """Trips per reason code for `parcel` (codes with no trips left out)."""
    counts: dict[str, int] = {}
    for trip in instance.trips:
        code = reason_alone(instance, trip, parcel)
        counts[code] = counts.get(code, 0) + 1
    return counts


def cost_of(instance: Instance, parcels: int, detour_m: float) -> int:
    pay = instance.rules.pay
    return pay.per_parcel * parcels + math.ceil(pay.per_detour_km * detour_m / 1000 - 1e-6)


@dataclass(frozen=True)
class Carried:
    cost: int
    route: Route


def best_route(instance: Instance, trip: Trip, bundle: Sequence[Parcel]) -> Carried | None:
    """The cheapest feasible stop order of `bundle` on `trip` (None when no order is feasible)."""
    if not 0 < len(bundle) <= instance.rules.max_parcels_per_trip:
        return None
    if not all(static_ok(instance, trip, p) and not is_forbidden(instance, trip, p) for p in bundle):
        return None
    best: Route | None = None
    for order in stop_orders(len(bundle)):
        route = simulate(instance, trip, bundle, order)
        if route is not None and (best is None or route.detour_m < best.detour_m):
            best = route
    return None if best is None else Carried(cost_of(instance, len(bundle), best.detour_m), best)


@dataclass(frozen=True)
class Optimum:
    total: int
    plan: dict[str, tuple[str, ...]]  # trip id -> parcel ids carried

    @property
    def largest_bundle(self) -> int:
        return max((len(ps) for ps in self.plan.values()), default=0)


def brute_force(instance: Instance) -> Optimum:
    """Tries every assignment of every parcel to a trip or to the fleet."""
    parcels, trips = instance.parcels, instance.trips
    memo: dict[tuple[int, tuple[int, ...]], Carried | None] = {}

    def bundle_cost(t: int, members: tuple[int, ...]) -> int | None:
        if (t, members) not in memo:
            memo[t, members] = best_route(instance, trips[t], [parcels[i] for i in members])
        carried = memo[t, members]
        return None if carried is None else carried.cost

    def choices() -> Iterator[tuple[int, ...]]:
        # -1 is the fleet; otherwise the index of the trip.
        return itertools.product(range(-1, len(trips)), repeat=len(parcels))

    best_total = math.inf
    best_plan: dict[str, tuple[str, ...]] = {}
    for choice in choices():
        total = 0
        plan: dict[str, tuple[str, ...]] = {}
        for i, where in enumerate(choice):
            if where < 0:
                total += parcels[i].fallback_cost
        for t in range(len(trips)):
            members = tuple(i for i, where in enumerate(choice) if where == t)
            if not members:
                continue
            cost = bundle_cost(t, members)
            if cost is None:
                break
            total += cost
            plan[trips[t].id] = tuple(parcels[i].id for i in members)
        else:
            if total < best_total:
                best_total, best_plan = total, plan
    assert math.isfinite(best_total)
    return Optimum(int(best_total), best_plan)


def _format(epoch: float) -> str:
    return datetime.fromtimestamp(math.ceil(epoch - 1e-6), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_to_solution(instance: Instance, plan: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The plan as a solution JSON in the interchange format (bound left null)."""
    by_id = {p.id: p for p in instance.parcels}
    assignments = []
    crowd = 0
    for trip in instance.trips:
        if trip.id not in plan:
            continue
        bundle = [by_id[i] for i in plan[trip.id]]
        carried = best_route(instance, trip, bundle)
        assert carried is not None
        crowd += carried.cost
        assignments.append(
            {
                "trip_id": trip.id,
                "parcel_ids": list(plan[trip.id]),
                "stops": [
                    {"parcel_id": bundle[i].id, "kind": kind, "at": _format(start)}
                    for (i, kind), start in zip(carried.route.order, carried.route.starts, strict=True)
                ],
                "detour_m": carried.route.detour_m,
                "cost": carried.cost,
                "co2_g": trip.co2_g_per_km * carried.route.detour_m / 1000,
            }
        )
    carried_ids = {pid for ids in plan.values() for pid in ids}
    fallback = sum(p.fallback_cost for p in instance.parcels if p.id not in carried_ids)
    return {
        "assignments": assignments,
        "unassigned": [
            {
                "parcel_id": p.id,
                "fallback_cost": p.fallback_cost,
                "reasons": [{"code": code, "trips": n} for code, n in reasons(instance, p).items()],
            }
            for p in instance.parcels
            if p.id not in carried_ids
        ],
        "cost": {
            "crowd": crowd,
            "fallback": fallback,
            "total": crowd + fallback,
            "fallback_only": sum(p.fallback_cost for p in instance.parcels),
        },
        "bound": {"lower": None, "gap": None},
    }
