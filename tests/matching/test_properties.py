"""Property tests on random synthetic cities: the independent checker accepts every solution the
engine returns, the engine is never worse than its greedy baseline nor below its own bound, and
the checker rejects a solution as soon as one rule is broken (one mutation per rule)."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from matching.check import Report, check
from matching.codec import solution_to_json
from matching.generate import generate
from matching.model import Forbidden, Instance, Parcel, Solution, Trip, VerificationRule
from matching.solver import SolveParams, solve, solve_greedy
from tests.matching import reference

Json = dict[str, Any]

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATION = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


@dataclasses.dataclass(frozen=True)
class City:
    parcels: int
    trips: int
    seed: int
    density: float
    solver: str


cities = st.builds(
    City,
    parcels=st.integers(5, 30),
    trips=st.integers(3, 12),
    seed=st.integers(0, 2**32 - 1),
    density=st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0]),
    solver=st.sampled_from(["cbc", "highs"]),
)


@cache
def solved(city: City) -> tuple[Instance, Solution]:
    instance = generate(city.parcels, city.trips, city.seed, city.density)
    return instance, solve(instance, SolveParams(time_limit_s=10, solver=city.solver))


def codes(report: Report) -> set[str]:
    return {v.code for v in report.violations}


# --------------------------------------------------------------------------------------------
# What every engine solution satisfies


@PROPERTY
@given(city=cities)
def test_checker_accepts_every_engine_solution(city: City) -> None:
    instance, solution = solved(city)

    report = check(instance, solution_to_json(solution))

    assert report.ok, report.violations
    assert report.recomputed == dataclasses.asdict(solution.cost)


@PROPERTY
@given(city=cities)
def test_engine_is_no_worse_than_greedy_and_no_better_than_its_bound(city: City) -> None:
    instance, solution = solved(city)
    greedy_total = solution.stats.greedy_total
    assert isinstance(greedy_total, int)

    assert solution.cost.total <= greedy_total <= solution.cost.fallback_only
    assert solution.bound.lower is not None
    assert 0 <= solution.bound.lower <= solution.cost.total
    assert solution.bound.gap is not None
    expected_gap = (solution.cost.total - solution.bound.lower) / solution.cost.total if solution.cost.total else 0.0
    assert abs(solution.bound.gap - expected_gap) < 1e-5
    assert solution.cost.fallback_only == sum(p.fallback_cost for p in instance.parcels)


@PROPERTY
@given(city=cities)
def test_every_parcel_is_placed_once_and_explained_against_every_trip(city: City) -> None:
    instance, solution = solved(city)
    carried = [pid for a in solution.assignments for pid in a.parcel_ids]
    left = [u.parcel_id for u in solution.unassigned]

    assert sorted(carried + left) == sorted(p.id for p in instance.parcels)
    by_id = {p.id: p for p in instance.parcels}
    for entry in solution.unassigned:
        # The reference implementation of the rules, written apart from engine and checker.
        assert {r.code: r.trips for r in entry.reasons} == reference.reasons(instance, by_id[entry.parcel_id])
        assert sum(r.trips for r in entry.reasons) == len(instance.trips)


@PROPERTY
@given(city=cities)
def test_every_assignment_is_a_route_the_reference_can_drive(city: City) -> None:
    """Each plan's stop order is feasible for the reference simulation, with the stated detour and
    cost, and no cheaper order of the same bundle exists."""
    instance, solution = solved(city)
    trips = {t.id: t for t in instance.trips}
    parcels = {p.id: p for p in instance.parcels}
    for a in solution.assignments:
        bundle = [parcels[i] for i in a.parcel_ids]
        position = {pid: n for n, pid in enumerate(a.parcel_ids)}
        order = tuple((position[s.parcel_id], s.kind) for s in a.stops)
        route = reference.simulate(instance, trips[a.trip_id], bundle, order)
        assert route is not None, a
        assert abs(route.detour_m - a.detour_m) < 0.01
        assert a.cost == reference.cost_of(instance, len(bundle), route.detour_m)
        best = reference.best_route(instance, trips[a.trip_id], bundle)
        assert best is not None
        assert a.cost == best.cost


# --------------------------------------------------------------------------------------------
# Forbidden pairs (declined or expired offers)


@st.composite
def forbidding(draw: st.DrawFn) -> tuple[City, Instance, Solution]:
    """A solved city, then the same city with random pairs forbidden: some its plan made (so the
    engine must change the plan) and some drawn from all trips and parcels."""
    city = draw(cities)
    instance, solution = solved(city)
    made = sorted((a.trip_id, pid) for a in solution.assignments for pid in a.parcel_ids)
    pairs = draw(st.lists(st.sampled_from(made), min_size=1, unique=True)) if made else []
    everything = [(t.id, p.id) for t in instance.trips for p in instance.parcels]
    pairs += draw(st.lists(st.sampled_from(everything), max_size=20))
    forbidden = tuple(Forbidden(trip_id=t, parcel_id=p) for t, p in pairs)
    return city, dataclasses.replace(instance, forbidden=forbidden), solution


def forbidden_made(instance: Instance, solution: Solution) -> list[tuple[str, str]]:
    pairs = {(f.trip_id, f.parcel_id) for f in instance.forbidden}
    return [(a.trip_id, pid) for a in solution.assignments for pid in a.parcel_ids if (a.trip_id, pid) in pairs]


@PROPERTY
@given(case=forbidding())
def test_no_solution_makes_a_forbidden_pair(case: tuple[City, Instance, Solution]) -> None:
    """Neither the engine nor the greedy makes a forbidden pair; both plans pass the checker, the
    reasons agree with the reference, and the total is no better than the unrestricted city's bound."""
    city, instance, unrestricted = case

    solution = solve(instance, SolveParams(time_limit_s=10, solver=city.solver))
    greedy = solve_greedy(instance)

    by_id = {p.id: p for p in instance.parcels}
    for plan in (solution, greedy):
        assert forbidden_made(instance, plan) == []
        report = check(instance, solution_to_json(plan))
        assert report.ok, report.violations
        for entry in plan.unassigned:
            assert {r.code: r.trips for r in entry.reasons} == reference.reasons(instance, by_id[entry.parcel_id])
    assert solution.bound.lower is not None
    assert solution.bound.lower <= solution.cost.total
    assert unrestricted.bound.lower is not None
    assert solution.cost.total >= unrestricted.bound.lower


# --------------------------------------------------------------------------------------------
# Mutations: break one rule, and the checker names it


@st.composite
def carrying(draw: st.DrawFn) -> tuple[Instance, Solution]:
    """A solved city whose solution carries at least one parcel."""
    instance, solution = solved(draw(cities))
    assume(solution.assignments)
    return instance, solution


def flagged(report: Report, expected: str, also: frozenset[str] = frozenset({"reasons"})) -> None:
    """`expected` is reported, and nothing else but codes the mutation may knock on to (`also`)."""
    found = codes(report)
    assert expected in found, report.violations
    assert found - {expected} <= also, report.violations


def as_json(solution: Solution) -> Json:
    return copy.deepcopy(solution_to_json(solution))


def with_trip(instance: Instance, trip_id: str, change: Callable[[Trip], Trip]) -> Instance:
    return dataclasses.replace(instance, trips=tuple(change(t) if t.id == trip_id else t for t in instance.trips))


def with_parcel(instance: Instance, parcel_id: str, change: Callable[[Parcel], Parcel]) -> Instance:
    return dataclasses.replace(instance, parcels=tuple(change(p) if p.id == parcel_id else p for p in instance.parcels))


def with_policy(instance: Instance, trip_id: str, **changes: Any) -> Instance:
    def change(t: Trip) -> Trip:
        assert t.insurance is not None
        return dataclasses.replace(t, insurance=dataclasses.replace(t.insurance, **changes))

    return with_trip(instance, trip_id, change)


def peak(instance: Instance, assignment: Json, field: str) -> int:
    """The largest total of `field` on board along the assignment's stops."""
    parcels = {p.id: p for p in instance.parcels}
    load = top = 0
    for stop in assignment["stops"]:
        amount = getattr(parcels[stop["parcel_id"]], field)
        load += amount if stop["kind"] == "pickup" else -amount
        top = max(top, load)
    return top


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at)


def trip_of(instance: Instance, trip_id: str) -> Trip:
    (trip,) = [t for t in instance.trips if t.id == trip_id]
    return trip


def baseline(instance: Instance, data: Json) -> None:
    report = check(instance, data)
    assert report.ok, report.violations


@MUTATION
@given(case=carrying(), field=st.sampled_from(["weight_g", "volume_cm3"]))
def test_capacity_below_the_load_on_board_is_rejected(case: tuple[Instance, Solution], field: str) -> None:
    instance, solution = case
    data = as_json(solution)
    baseline(instance, data)
    a = data["assignments"][0]
    limit = peak(instance, a, field) - 1
    assume(limit >= 0)

    def shrink(t: Trip) -> Trip:
        if field == "weight_g":
            return dataclasses.replace(t, capacity_g=limit)
        return dataclasses.replace(t, capacity_cm3=limit)

    broken = with_trip(instance, a["trip_id"], shrink)

    flagged(check(broken, data), "capacity")


@MUTATION
@given(case=carrying(), kind=st.sampled_from(["pickup", "dropoff"]))
def test_window_closed_before_departure_is_rejected(case: tuple[Instance, Solution], kind: str) -> None:
    """The carried parcel's window is moved to close a minute before the trip even departs."""
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    (stop,) = [s for s in a["stops"] if s["kind"] == kind][:1]
    closes = trip_of(instance, a["trip_id"]).depart_after - timedelta(minutes=1)
    opens = closes - timedelta(hours=1)

    def move(p: Parcel) -> Parcel:
        if kind == "pickup":
            return dataclasses.replace(p, pickup_from=opens, pickup_until=closes)
        return dataclasses.replace(p, deliver_from=opens, deliver_until=closes)

    broken = with_parcel(instance, stop["parcel_id"], move)

    # Where the courier used to wait for the window to open, service could now start earlier.
    flagged(check(broken, data), "time_window", also=frozenset({"stop_time"}))


@MUTATION
@given(case=carrying())
def test_detour_above_the_limit_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    a = max(data["assignments"], key=lambda a: a["detour_m"])
    assume(a["detour_m"] > 2.0)

    broken = with_trip(instance, a["trip_id"], lambda t: dataclasses.replace(t, max_detour_m=a["detour_m"] - 1.0))

    flagged(check(broken, data), "detour")


@MUTATION
@given(case=carrying())
def test_more_parcels_than_allowed_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    largest = max(len(a["parcel_ids"]) for a in data["assignments"])
    assume(largest >= 2)

    broken = dataclasses.replace(instance, rules=dataclasses.replace(instance.rules, max_parcels_per_trip=largest - 1))

    flagged(check(broken, data), "max_parcels", also=frozenset())


@MUTATION
@given(case=carrying())
def test_trip_without_insurance_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)

    broken = with_trip(instance, data["assignments"][0]["trip_id"], lambda t: dataclasses.replace(t, insurance=None))

    flagged(check(broken, data), "insurance_missing")


@MUTATION
@given(case=carrying())
def test_policy_in_another_currency_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    currencies = {p.currency for p in instance.parcels if p.id in a["parcel_ids"]}
    other = "CHF" if "CHF" not in currencies else "JPY"

    flagged(check(with_policy(instance, a["trip_id"], currency=other), data), "currency")


@MUTATION
@given(case=carrying(), end=st.sampled_from(["valid_from", "valid_until"]))
def test_policy_not_valid_over_the_whole_trip_is_rejected(case: tuple[Instance, Solution], end: str) -> None:
    instance, solution = case
    data = as_json(solution)
    trip = trip_of(instance, data["assignments"][0]["trip_id"])
    second = timedelta(seconds=1)
    moved = trip.depart_after + second if end == "valid_from" else trip.arrive_by - second

    flagged(check(with_policy(instance, trip.id, **{end: moved}), data), "insurance_expired")


@MUTATION
@given(case=carrying())
def test_parcel_worth_more_than_the_per_parcel_cover_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    top = max(p.value for p in instance.parcels if p.id in a["parcel_ids"])
    assume(top >= 1)

    flagged(check(with_policy(instance, a["trip_id"], per_parcel=top - 1), data), "insurance_cover")


@MUTATION
@given(case=carrying())
def test_value_on_board_above_the_per_trip_cover_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    top = peak(instance, a, "value")
    assume(top >= 1)

    flagged(check(with_policy(instance, a["trip_id"], per_trip=top - 1), data), "insurance_cover")


@MUTATION
@given(case=carrying())
def test_courier_below_the_required_verification_level_is_rejected(case: tuple[Instance, Solution]) -> None:
    """A new rule makes the most valuable parcel of the trip need one level more than the courier has."""
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    trip = trip_of(instance, a["trip_id"])
    value = max(p.value for p in instance.parcels if p.id in a["parcel_ids"])
    verification = tuple(r for r in instance.rules.verification if r.min_value != value)
    verification += (VerificationRule(min_value=value, level=trip.verification_level + 1),)

    broken = dataclasses.replace(instance, rules=dataclasses.replace(instance.rules, verification=verification))

    flagged(check(broken, data), "verification_level")


@MUTATION
@given(case=carrying())
def test_carrying_a_forbidden_pair_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][-1]

    broken = dataclasses.replace(instance, forbidden=(Forbidden(a["trip_id"], a["parcel_ids"][-1]),))

    flagged(check(broken, data), "forbidden", also=frozenset())


@MUTATION
@given(case=carrying())
def test_drop_off_before_pickup_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    stops = data["assignments"][0]["stops"]
    pid = stops[0]["parcel_id"]
    i, j = (n for n, s in enumerate(stops) if s["parcel_id"] == pid)
    stops[i], stops[j] = stops[j], stops[i]

    # The checker cannot follow the route any more, so the trip's cost drops out of its totals (and
    # the bound may then exceed them).
    flagged(check(instance, data), "pickup_order", also=frozenset({"totals", "bound"}))


@MUTATION
@given(case=carrying())
def test_reaching_the_destination_after_arrive_by_is_rejected(case: tuple[Instance, Solution]) -> None:
    """arrive_by moves to the start of service at the last stop: service and the last leg come after."""
    instance, solution = case
    data = as_json(solution)
    a = data["assignments"][0]
    last = parse(a["stops"][-1]["at"])

    broken = with_trip(instance, a["trip_id"], lambda t: dataclasses.replace(t, arrive_by=last))

    flagged(check(broken, data), "arrive_by")


@MUTATION
@given(case=carrying(), delta=st.sampled_from([-1, 1, 100]))
def test_wrong_assignment_cost_is_rejected(case: tuple[Instance, Solution], delta: int) -> None:
    instance, solution = case
    data = as_json(solution)
    data["assignments"][-1]["cost"] += delta

    flagged(check(instance, data), "cost", also=frozenset())


@MUTATION
@given(case=carrying(), key=st.sampled_from(["crowd", "fallback", "total", "fallback_only"]))
def test_wrong_totals_are_rejected(case: tuple[Instance, Solution], key: str) -> None:
    instance, solution = case
    data = as_json(solution)
    data["cost"][key] += 1

    flagged(check(instance, data), "totals", also=frozenset())


@MUTATION
@given(case=carrying())
def test_parcel_both_carried_and_unassigned_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    pid = data["assignments"][0]["parcel_ids"][0]
    (p,) = [p for p in instance.parcels if p.id == pid]
    data["unassigned"].append(
        {
            "parcel_id": pid,
            "fallback_cost": p.fallback_cost,
            "reasons": [{"code": c, "trips": n} for c, n in reference.reasons(instance, p).items()],
        }
    )

    flagged(check(instance, data), "parcel_twice", also=frozenset({"totals"}))


@MUTATION
@given(case=carrying(), where=st.sampled_from(["assignments", "unassigned"]))
def test_parcel_missing_from_the_solution_is_rejected(case: tuple[Instance, Solution], where: str) -> None:
    instance, solution = case
    data = as_json(solution)
    assume(len(data[where]) > 0)
    data[where].pop(0)

    flagged(check(instance, data), "parcel_missing", also=frozenset({"totals", "bound"}))


@MUTATION
@given(case=carrying())
def test_wrong_reasons_are_rejected(case: tuple[Instance, Solution]) -> None:
    """One trip moves from the first code of a parcel's reasons to another code."""
    instance, solution = case
    data = as_json(solution)
    assume(len(data["unassigned"]) > 0)
    reasons = data["unassigned"][0]["reasons"]
    first = reasons[0]
    other = "detour" if first["code"] != "detour" else "capacity"
    first["trips"] -= 1
    reasons.append({"code": other, "trips": 1})

    flagged(check(instance, data), "reasons", also=frozenset())


@MUTATION
@given(case=carrying(), shift=st.sampled_from([-120, 60, 3600]))
def test_wrong_stop_time_is_rejected(case: tuple[Instance, Solution], shift: int) -> None:
    instance, solution = case
    data = as_json(solution)
    stop = data["assignments"][0]["stops"][-1]
    stop["at"] = (parse(stop["at"]) + timedelta(seconds=shift)).strftime("%Y-%m-%dT%H:%M:%SZ")

    flagged(check(instance, data), "stop_time", also=frozenset())


@MUTATION
@given(case=carrying())
def test_wrong_detour_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    data["assignments"][0]["detour_m"] += 50.0

    # co2_g is judged against the stated detour, so a trip with emissions is flagged for that too.
    flagged(check(instance, data), "detour_m", also=frozenset({"co2"}))


@MUTATION
@given(case=carrying())
def test_bound_above_the_total_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    data["bound"]["lower"] = data["cost"]["total"] + 1

    flagged(check(instance, data), "bound", also=frozenset())


@MUTATION
@given(case=carrying())
def test_unknown_trip_is_rejected(case: tuple[Instance, Solution]) -> None:
    instance, solution = case
    data = as_json(solution)
    data["assignments"][0]["trip_id"] = "no-such-trip"

    flagged(check(instance, data), "unknown_trip", also=frozenset({"parcel_missing", "totals", "bound"}))


# --------------------------------------------------------------------------------------------
# Invariances


@settings(max_examples=10, deadline=None)
@given(city=cities, shift_s=st.integers(-10 * 86_400, 10 * 86_400))
def test_the_plan_does_not_depend_on_now(city: City, shift_s: int) -> None:
    """`now` only anchors the engine's internal clock: moving it by whole seconds changes nothing."""
    instance, solution = solved(city)
    moved = dataclasses.replace(instance, now=instance.now + timedelta(seconds=shift_s))

    again = solve(moved, SolveParams(time_limit_s=10, solver=city.solver))

    for key in ("assignments", "unassigned", "cost"):
        assert solution_to_json(again)[key] == solution_to_json(solution)[key]


@settings(max_examples=10, deadline=None)
@given(city=cities, order=st.randoms(use_true_random=False))
def test_the_optimum_does_not_depend_on_the_order_of_parcels_and_trips(city: City, order: Any) -> None:
    """With gap 0 the engine proves its optimum, so shuffling the input gives the same total."""
    instance = generate(city.parcels, city.trips, city.seed, city.density)
    parcels, trips = list(instance.parcels), list(instance.trips)
    order.shuffle(parcels)
    order.shuffle(trips)
    shuffled = dataclasses.replace(instance, parcels=tuple(parcels), trips=tuple(trips))
    params = SolveParams(time_limit_s=10, gap=0.0, solver=city.solver)

    assert solve(shuffled, params).cost.total == solve(instance, params).cost.total


# --------------------------------------------------------------------------------------------
# Solutions written by hand may be malformed: the checker reports that, it does not crash.

_STOPS = [
    {"parcel_id": "p0", "kind": "pickup", "at": "2026-11-24T09:00:00Z"},
    {"parcel_id": "p0", "kind": "dropoff", "at": "2026-11-24T09:10:00Z"},
]
_ASSIGNMENT = {"trip_id": "t0", "parcel_ids": ["p0"], "stops": _STOPS, "detour_m": 0.0, "cost": 250, "co2_g": 0.0}
_COST = {"crowd": 250, "fallback": 0, "total": 250, "fallback_only": 0}
MALFORMED_SOLUTIONS: dict[str, Json] = {
    "a stop that is not an object": {
        "assignments": [dict(_ASSIGNMENT, stops=[1, 2])],
        "unassigned": [],
        "cost": _COST,
    },
    "detour_m that is not a number": {
        "assignments": [dict(_ASSIGNMENT, detour_m="far")],
        "unassigned": [],
        "cost": _COST,
    },
    "a reason that is not an object": {
        "assignments": [],
        "unassigned": [{"parcel_id": "p0", "fallback_cost": 0, "reasons": ["detour"]}],
        "cost": _COST,
    },
    "cost that is not an object": {"assignments": [], "unassigned": [], "cost": 250},
    "unassigned that is not a list": {"assignments": [], "unassigned": 3, "cost": _COST},
    "a parcel id that is a list": {
        "assignments": [dict(_ASSIGNMENT, parcel_ids=[["p0"]])],
        "unassigned": [],
        "cost": _COST,
    },
}


@pytest.mark.parametrize("case", list(MALFORMED_SOLUTIONS))
def test_malformed_solution_is_reported_not_raised(case: str) -> None:
    instance = generate(1, 1, seed=0)

    report = check(instance, copy.deepcopy(MALFORMED_SOLUTIONS[case]))

    assert not report.ok


# --------------------------------------------------------------------------------------------
# Solve parameters


def test_a_solution_is_returned_within_a_tight_time_limit() -> None:
    """Half a second for 120 parcels: the plan may be worse, but it is valid and no worse than greedy."""
    instance = generate(120, 50, 1, 3.0)

    solution = solve(instance, SolveParams(time_limit_s=0.5))

    assert check(instance, solution_to_json(solution)).ok
    greedy_total = solution.stats.greedy_total
    assert isinstance(greedy_total, int)
    assert solution.cost.total <= greedy_total
    assert solution.bound.lower is None or solution.bound.lower <= solution.cost.total


def test_solve_respects_its_time_limit() -> None:
    solve(generate(5, 3, 0), SolveParams(time_limit_s=1))  # compiled kernels loaded, not timed
    instance = generate(120, 50, 1, 3.0)
    limit_s = 2.0

    started = time.perf_counter()
    solve(instance, SolveParams(time_limit_s=limit_s, solver="cbc"))
    elapsed = time.perf_counter() - started

    assert elapsed <= 2 * limit_s + 1.0
