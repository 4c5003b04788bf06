"""The planner on hand-computed days: routes, release times, and the totals summed from routes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tests.vanrounds.conftest import DEPOT, FAR, NEAR, STORE, H
from vanrounds import Leg, Parcel, Problem, Site, VanType, check_plan, plan_day
from vanrounds.distances import EARTH_M, matrices, road_m
from vanrounds.solver import Visit, collection_waves, due_back_s, schedule_route


def _meridian_m(a: Site, b: Site) -> int:
    """Same longitude: the great circle is R x the latitude difference in radians."""
    return round(1.3 * EARTH_M * math.radians(abs(a.lat - b.lat)))


def _ceil_s(metres: int) -> int:
    return math.ceil(metres / 7.0)


def test_distance_is_the_matching_engines_formula() -> None:
    from matching.check import distance_m

    a, b = Site("a", 52.5, 13.4), Site("b", 52.53, 13.47)
    assert road_m(a, b, 1.3) == round(distance_m((a.lat, a.lng), (b.lat, b.lng), 1.3))
    assert road_m(DEPOT, FAR, 1.3) == _meridian_m(DEPOT, FAR)


def test_tiny_day_matches_hand_computed_routes(tiny_day: Problem) -> None:
    plan = plan_day(tiny_day, max_runtime_s=0.5)

    # Collection: depot -> store (both parcels, 2 x 120 s) -> depot, arriving at 9:00 sharp.
    store_m = _meridian_m(DEPOT, STORE)
    (collect,) = plan.collection
    assert [s.parcel_id for s in collect.stops] in (["p1", "p2"], ["p2", "p1"])
    assert collect.stops[0].start_s == 9 * H
    collect_s = 2 * _ceil_s(store_m) + 2 * 120
    assert collect.return_s - collect.depart_s == collect_s
    assert plan.released_s == {"p1": 9 * H + _ceil_s(store_m) + 240 + 600, "p2": 9 * H + _ceil_s(store_m) + 240 + 600}

    # Delivery: depot -> near -> far -> depot (or the mirror image: same metres), leaving once released.
    (deliver,) = plan.delivery
    near_m, step_m, far_m = _meridian_m(DEPOT, NEAR), _meridian_m(NEAR, FAR), _meridian_m(DEPOT, FAR)
    deliver_m = near_m + step_m + far_m
    assert deliver.distance_m == deliver_m
    assert deliver.depart_s == plan.released_s["p1"]
    deliver_s = _ceil_s(near_m) + _ceil_s(step_m) + _ceil_s(far_m) + 2 * 120
    assert deliver.return_s - deliver.depart_s == deliver_s

    def cost(metres: int, seconds: int) -> int:
        return 2_000 + math.ceil((metres * 50 * 3600 + seconds * 2_500 * 1000) / 3_600_000)

    totals = plan.totals
    assert totals.routes == 2
    assert totals.stops == 1 + 2  # both parcels at the store are one stop
    assert totals.parcels == 4
    assert totals.distance_m == 2 * store_m + deliver_m
    assert totals.duration_s == collect_s + deliver_s
    assert totals.cost_minor == cost(2 * store_m, collect_s) + cost(deliver_m, deliver_s)
    assert totals.co2_g == math.ceil(2 * store_m * 180 / 1000) + math.ceil(deliver_m * 180 / 1000)
    assert plan.unserved == ()


def test_delivery_waits_for_the_parcel_to_reach_the_depot(tiny_day: Problem) -> None:
    """Recipients open at 6:00, but the van cannot leave before the parcels are back from the store."""
    late_store = [
        dataclasses.replace(p, pickup_from_s=15 * H, pickup_until_s=16 * H, deliver_from_s=6 * H)
        for p in tiny_day.parcels
    ]
    plan = plan_day(dataclasses.replace(tiny_day, parcels=tuple(late_store)), max_runtime_s=0.5)
    (collect,) = plan.collection
    assert collect.return_s > 15 * H
    for route in plan.delivery:
        assert route.depart_s >= collect.return_s + tiny_day.depot_handling_s
        assert all(route.depart_s >= plan.released_s[s.parcel_id] for s in route.stops)
    assert check_plan(dataclasses.replace(tiny_day, parcels=tuple(late_store)), plan) == []


def test_capacity_splits_the_day_between_two_vans(tiny_day: Problem) -> None:
    small = VanType("small", 2, 3_000, 1_000, 40, 2_000, 120)
    plan = plan_day(dataclasses.replace(tiny_day, vans=(small,)), max_runtime_s=0.5)
    assert len(plan.collection) == 2
    assert sorted(len(r.stops) for r in plan.collection) == [1, 1]


def test_parcel_no_van_can_serve_is_unserved_not_infeasible(tiny_day: Problem) -> None:
    """The delivery window closes before the parcel can be back from the store."""
    impossible = Parcel("late", STORE, NEAR, 1_000, 12 * H, 13 * H, 7 * H, 8 * H)
    plan = plan_day(dataclasses.replace(tiny_day, parcels=(*tiny_day.parcels, impossible)), max_runtime_s=0.5)
    assert plan.unserved == ("late",)
    assert "late" not in plan.released_s  # due back before it can be collected: no van drives for it
    assert all(s.parcel_id != "late" for r in plan.delivery for s in r.stops)
    assert {r.leg for r in plan.routes} == {Leg.COLLECTION, Leg.DELIVERY}


def _leg_matrices(problem: Problem, sites: list[Site]) -> tuple[dict[str, int], Any, Any]:
    dist, dur = matrices(sites, problem.road_factor, problem.speed_mps)
    return {s.id: i for i, s in enumerate(sites)}, dist, dur


def test_an_order_no_van_can_drive_in_time_loses_the_late_stop_not_the_route(tiny_day: Problem) -> None:
    """Had PyVRP ended on time warp (far first, then near whose window has closed), the near parcel is
    left off and reported, and the rest of the route keeps its schedule."""
    p1, p2 = tiny_day.parcels
    near = Visit(dataclasses.replace(p1, deliver_until_s=9 * H + 600), NEAR, 9 * H, 9 * H + 600, 9 * H)
    far = Visit(p2, FAR, 9 * H, 18 * H, 9 * H)
    index, dist, dur = _leg_matrices(tiny_day, [DEPOT, NEAR, FAR])
    route, dropped = schedule_route(tiny_day, Leg.DELIVERY, tiny_day.vans[0], 9 * H, [far, near], index, dist, dur)
    assert dropped == ["p1"]
    assert [s.parcel_id for s in route.stops] == ["p2"]
    assert route.stops[0].arrive_s == 9 * H + _ceil_s(_meridian_m(DEPOT, FAR))
    assert route.distance_m == 2 * _meridian_m(DEPOT, FAR)


def test_an_overloaded_order_leaves_off_what_does_not_fit(tiny_day: Problem) -> None:
    small = dataclasses.replace(tiny_day.vans[0], capacity_g=2_500)
    p1, p2 = tiny_day.parcels  # 2 kg and 3 kg
    visits = [Visit(p, p.store, 9 * H, 10 * H, 0) for p in (p1, p2)]
    index, dist, dur = _leg_matrices(tiny_day, [DEPOT, STORE])
    route, dropped = schedule_route(tiny_day, Leg.COLLECTION, small, 8 * H, visits, index, dist, dur)
    assert dropped == ["p2"]
    assert [s.parcel_id for s in route.stops] == ["p1"]


def test_a_route_back_after_the_depot_closes_drops_its_last_stop(tiny_day: Problem) -> None:
    early_close = dataclasses.replace(tiny_day, depot=dataclasses.replace(tiny_day.depot, closes_s=9 * H + 900))
    visits = [Visit(p, p.recipient, 9 * H, 18 * H, 9 * H) for p in tiny_day.parcels]
    index, dist, dur = _leg_matrices(early_close, [DEPOT, NEAR, FAR])
    route, dropped = schedule_route(early_close, Leg.DELIVERY, early_close.vans[0], 9 * H, visits, index, dist, dur)
    assert dropped == ["p2"]
    assert route.return_s <= 9 * H + 900


def test_the_collection_is_back_in_time_for_each_parcels_delivery(tiny_day: Problem) -> None:
    """A van that costs nothing by the hour would collect the morning's and the afternoon's parcels in one
    round (one day rate) and bring the morning's back too late for its window; the collection's waves
    bring each wave back by its parcels' due time, so both are delivered."""
    van = dataclasses.replace(tiny_day.vans[0], count=2, cost_per_hour_minor=0)
    morning = Parcel("am", STORE, NEAR, 1_000, 9 * H, 10 * H, 9 * H, 13 * H)
    afternoon = Parcel("pm", STORE, FAR, 1_000, 15 * H, 16 * H, 15 * H, 20 * H)
    day = dataclasses.replace(tiny_day, parcels=(morning, afternoon), vans=(van,))
    assert [
        [v.parcel.id for v in w] for _, w in collection_waves(day, [Visit(p, p.store, 0, 0, 0) for p in day.parcels])
    ] == [
        ["am"],
        ["pm"],
    ]
    # Due back: 13:00 less service, the straight drive to NEAR, an hour for the rest of the round, sorting.
    assert due_back_s(day, morning) == 13 * H - 120 - _ceil_s(_meridian_m(DEPOT, NEAR)) - 3600 - 600
    plan = plan_day(day, max_runtime_s=0.5)
    assert plan.unserved == ()
    for route in plan.collection:
        assert all(
            route.return_s <= due_back_s(day, p) for p in day.parcels if p.id in {s.parcel_id for s in route.stops}
        )
    assert plan.released_s["am"] <= 13 * H - 120 - _ceil_s(_meridian_m(DEPOT, NEAR))


def test_a_seed_and_an_iteration_limit_replay_the_same_plan(tiny_day: Problem) -> None:
    more = tuple(
        Parcel(
            f"q{i}", STORE, Site(f"r{i}", 52.49 - i * 0.003, 13.40 + (i % 3) * 0.004), 500, 9 * H, 11 * H, 9 * H, 18 * H
        )
        for i in range(12)
    )
    day = dataclasses.replace(tiny_day, parcels=(*tiny_day.parcels, *more))
    first = plan_day(day, max_runtime_s=60, max_iterations=300, seed=7)
    again = plan_day(day, max_runtime_s=60, max_iterations=300, seed=7)
    assert first == again
