"""The checker rejects a plan breaking each rule; each case bends one field of a valid plan."""

from __future__ import annotations

import dataclasses

import pytest

from tests.vanrounds.conftest import H
from vanrounds import Plan, Problem, Route, check_plan, plan_day


@pytest.fixture
def plan(tiny_day: Problem) -> Plan:
    found = plan_day(tiny_day, max_runtime_s=0.3)
    assert check_plan(tiny_day, found) == []
    return found


def _codes(problem: Problem, plan: Plan) -> set[str]:
    return {v.code for v in check_plan(problem, plan)}


def _with_delivery(plan: Plan, route: Route) -> Plan:
    return dataclasses.replace(plan, delivery=(route,))


def test_route_must_start_and_end_at_the_depot(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    assert "not_at_depot" in _codes(tiny_day, _with_delivery(plan, dataclasses.replace(route, end_site_id="store")))


def test_route_must_keep_the_depots_hours(tiny_day: Problem, plan: Plan) -> None:
    short = dataclasses.replace(tiny_day, depot=dataclasses.replace(tiny_day.depot, closes_s=9 * H + 300))
    assert "depot_hours" in _codes(short, plan)


def test_stop_outside_its_window_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    narrow = tuple(dataclasses.replace(p, deliver_until_s=9 * H + 60) for p in tiny_day.parcels)
    assert "time_window" in _codes(dataclasses.replace(tiny_day, parcels=narrow), plan)


def test_van_leaving_before_release_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    early = dataclasses.replace(route, depart_s=route.depart_s - 60)
    assert "release_time" in _codes(tiny_day, _with_delivery(plan, early))


def test_release_before_collection_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.collection
    before = dict.fromkeys(plan.released_s, route.return_s)  # forgets the depot's handling time
    assert "release_before_collection" in _codes(tiny_day, dataclasses.replace(plan, released_s=before))


def test_parcel_delivered_but_never_collected_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    released = {k: v for k, v in plan.released_s.items() if k != "p1"}
    assert "delivered_uncollected" in _codes(tiny_day, dataclasses.replace(plan, released_s=released))


def test_overloaded_van_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    small = (dataclasses.replace(tiny_day.vans[0], capacity_g=4_000),)
    assert "capacity" in _codes(dataclasses.replace(tiny_day, vans=small), plan)


def test_schedule_faster_than_travel_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    first = route.stops[0]
    rushed = dataclasses.replace(
        first, arrive_s=first.arrive_s - 30, start_s=first.start_s - 30, end_s=first.end_s - 30
    )
    bent = dataclasses.replace(route, stops=(rushed, *route.stops[1:]))
    assert "schedule" in _codes(tiny_day, _with_delivery(plan, bent))


def test_parcel_neither_delivered_nor_unserved_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    assert "missing" in _codes(tiny_day, _with_delivery(plan, dataclasses.replace(route, stops=route.stops[:1])))


def test_parcel_visited_twice_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    assert "visited_twice" in _codes(tiny_day, dataclasses.replace(plan, delivery=(route, route)))


def test_more_routes_than_vans_is_rejected(tiny_day: Problem, plan: Plan) -> None:
    (route,) = plan.delivery
    split = (dataclasses.replace(route, stops=route.stops[:1]), dataclasses.replace(route, stops=route.stops[1:]))
    assert "too_many_vans" in _codes(tiny_day, dataclasses.replace(plan, delivery=split))
