"""Forbidden pairs (issue 10): once a courier declines an offer or lets it expire, the engine never
pairs that parcel with that trip again, in any bundle, and says so when it explains the parcel.

Fixtures come from `tests.matching.factory` (see test_reasons.py for the numbers): carrying the
default parcel p1 on the default trip t1 costs 250 + ceil(45 x 0.1031) = 255. Trip `t_far` runs
parallel to t1 but 0.01 degrees (1,112 m) south of p1 instead of 556 m, so p1 costs it a detour of
399.4 m: 250 + ceil(45 x 0.3994) = 268.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from matching.arrays import REASON_CODES
from matching.check import check
from matching.codec import solution_to_json
from matching.model import Forbidden, Instance, Solution, Trip
from matching.solver import SolveParams, solve, solve_greedy
from tests.matching import factory
from tests.matching.reference import brute_force
from tests.matching.test_reasons import CHEAP_FALLBACK, ORDER, _break_all, reasons_of

Solver = Callable[[Instance], Solution]


def _milp(solver: str) -> Solver:
    return lambda instance: solve(instance, SolveParams(time_limit_s=10, gap=0.0, solver=solver))


SOLVERS: dict[str, Solver] = {"cbc": _milp("cbc"), "highs": _milp("highs"), "greedy": solve_greedy}


def forbid(instance: Instance, *pairs: tuple[str, str]) -> Instance:
    """`instance` with the (trip id, parcel id) pairs forbidden."""
    return dataclasses.replace(instance, forbidden=tuple(Forbidden(trip_id=t, parcel_id=p) for t, p in pairs))


def solved(instance: Instance, solver: str = "cbc") -> Solution:
    """Solved, and accepted by the independent checker (which also recomputes the explanations)."""
    solution = SOLVERS[solver](instance)
    report = check(instance, solution_to_json(solution))
    assert report.ok, report.violations
    return solution


def plan(solution: Solution) -> dict[str, tuple[str, ...]]:
    return {a.trip_id: a.parcel_ids for a in solution.assignments}


def t_far() -> Trip:
    return factory.trip("t_far", origin=(-0.005, 0.0), destination=(-0.005, 0.1))


# --------------------------------------------------------------------------------------------
# The solvers never make a forbidden pair


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_parcel_whose_only_trip_is_forbidden_goes_to_the_fleet_with_reason_forbidden(solver: str) -> None:
    """Carrying p1 on t1 would save 5,000 - 255; the pair is forbidden, so the fleet takes it."""
    instance = forbid(factory.instance([factory.parcel("p1", fallback_cost=5_000)], [factory.trip("t1")]), ("t1", "p1"))

    solution = solved(instance, solver)

    assert solution.assignments == ()
    assert reasons_of(solution, "p1") == {"forbidden": 1}
    assert solution.cost.total == 5_000


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_parcel_forbidden_on_its_cheapest_trip_rides_on_the_next_cheapest(solver: str) -> None:
    """t1 would carry p1 for 255 and t_far for 268; with (t1, p1) forbidden t_far carries it."""
    p1 = factory.parcel("p1", fallback_cost=5_000)
    free = factory.instance([p1], [factory.trip("t1"), t_far()])

    assert plan(solved(free, solver)) == {"t1": ("p1",)}
    solution = solved(forbid(free, ("t1", "p1")), solver)

    assert plan(solution) == {"t_far": ("p1",)}
    assert solution.cost.total == 268


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_forbidden_parcel_is_never_bundled_onto_that_trip(solver: str) -> None:
    """A and B lie on t1's line, B inside A: together they cost t1 no detour (2 x 250 = 500 against
    a fleet at 600 each). With (t1, B) forbidden, t1 carries A alone and B goes to the fleet."""
    a = factory.parcel("A", pickup=(0.0, 0.02), dropoff=(0.0, 0.08), fallback_cost=600)
    b = factory.parcel("B", pickup=(0.0, 0.04), dropoff=(0.0, 0.06), fallback_cost=600)
    free = factory.instance([a, b], [factory.trip("t1")])

    assert plan(solved(free, solver)) == {"t1": ("A", "B")}
    solution = solved(forbid(free, ("t1", "B")), solver)

    assert plan(solution) == {"t1": ("A",)}
    assert reasons_of(solution, "B") == {"forbidden": 1}
    assert solution.cost.total == 850


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_forbidden_parcel_is_left_out_of_a_triple_and_rides_on_another_trip(solver: str) -> None:
    """Three nested parcels on t1's line fill it at no detour (3 x 250). With (t1, C) forbidden, t1
    carries A and B, and C rides on t_far, 556 m off its line: a detour of 69.2 m, so 250 + 4."""
    parcels = [
        factory.parcel("A", pickup=(0.0, 0.02), dropoff=(0.0, 0.08), fallback_cost=600),
        factory.parcel("B", pickup=(0.0, 0.03), dropoff=(0.0, 0.07), fallback_cost=600),
        factory.parcel("C", pickup=(0.0, 0.04), dropoff=(0.0, 0.06), fallback_cost=600),
    ]
    free = factory.instance(parcels, [factory.trip("t1"), t_far()])

    assert plan(solved(free, solver)) == {"t1": ("A", "B", "C")}
    solution = solved(forbid(free, ("t1", "C")), solver)

    assert plan(solution) == {"t1": ("A", "B"), "t_far": ("C",)}
    assert solution.cost.total == 500 + 254


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_engine_matches_the_brute_force_with_a_forbidden_pair(solver: str) -> None:
    instance = forbid(
        factory.instance(
            [factory.parcel("p1", fallback_cost=5_000), factory.parcel("p2", fallback_cost=5_000)],
            [factory.trip("t1"), t_far()],
            dataclasses.replace(factory.RULES, max_parcels_per_trip=1),
        ),
        ("t1", "p1"),
    )

    solution = solved(instance, solver)

    assert plan(solution) == {"t1": ("p2",), "t_far": ("p1",)}
    assert solution.cost.total == brute_force(instance).total == 255 + 268
    assert solution.bound.lower is not None
    assert solution.bound.lower <= solution.cost.total


def test_a_pair_listed_twice_is_forbidden_once() -> None:
    instance = forbid(
        factory.instance([factory.parcel("p1", fallback_cost=5_000)], [factory.trip("t1")]), *[("t1", "p1")] * 2
    )

    assert reasons_of(solved(instance), "p1") == {"forbidden": 1}


def test_hand_built_pair_naming_an_unknown_trip_is_refused() -> None:
    """The codec reports unknown ids as bad fields; an Instance built in Python gets a ValueError."""
    instance = forbid(factory.instance([factory.parcel("p1")], [factory.trip("t1")]), ("t9", "p1"))

    with pytest.raises(ValueError, match="'t9'"):
        solve(instance, SolveParams(time_limit_s=5))


# --------------------------------------------------------------------------------------------
# Explanations: forbidden comes after every rule, before not_chosen


def test_reason_codes_list_forbidden_after_time_window_and_before_not_chosen() -> None:
    assert (*ORDER, "forbidden", "not_chosen") == REASON_CODES


@pytest.mark.parametrize("code", ORDER)
def test_every_other_broken_rule_wins_over_forbidden(code: str) -> None:
    """A forbidden pair whose trip also breaks a rule is explained by that rule."""
    trip = _break_all(factory.trip("t1"), (code,))
    instance = forbid(factory.instance([factory.parcel("p1", fallback_cost=10_000)], [trip]), ("t1", "p1"))

    assert reasons_of(solved(instance), "p1") == {code: 1}


def test_one_trip_per_reason_counts_forbidden_once_too() -> None:
    """Ten trips: eight each break one rule, one may not carry p1, one is fine but dearer than the fleet."""
    trips = [_break_all(factory.trip(f"t_{code}"), (code,)) for code in ORDER]
    trips += [factory.trip("t_forbidden"), factory.trip("t_ok")]
    instance = forbid(factory.instance([factory.parcel(fallback_cost=CHEAP_FALLBACK)], trips), ("t_forbidden", "p1"))

    reasons = reasons_of(solved(instance), "p1")

    assert reasons == dict.fromkeys(REASON_CODES, 1)
    assert list(reasons) == list(REASON_CODES)


def test_forbidding_one_pair_leaves_the_trip_and_the_parcel_free_for_others() -> None:
    """(t1, p1) is forbidden: t1 still explains p2 as not_chosen, and t2 still counts for p1."""
    p1, p2 = factory.parcel("p1", fallback_cost=CHEAP_FALLBACK), factory.parcel("p2", fallback_cost=CHEAP_FALLBACK)
    instance = forbid(factory.instance([p1, p2], [factory.trip("t1"), factory.trip("t2")]), ("t1", "p1"))

    solution = solved(instance)

    assert reasons_of(solution, "p1") == {"forbidden": 1, "not_chosen": 1}
    assert reasons_of(solution, "p2") == {"not_chosen": 2}


# --------------------------------------------------------------------------------------------
# check judges forbidden pairs on its own


def test_check_rejects_a_plan_that_carries_a_forbidden_pair() -> None:
    """The plan made before the courier declined is no longer valid once the pair is forbidden."""
    free = factory.instance([factory.parcel("p1", fallback_cost=5_000)], [factory.trip("t1")])
    data = solution_to_json(solved(free))

    report = check(forbid(free, ("t1", "p1")), data)

    assert [v.code for v in report.violations] == ["forbidden"]
    assert "t1" in report.violations[0].message
    assert "p1" in report.violations[0].message


def test_check_rejects_not_chosen_for_a_forbidden_pair() -> None:
    """Explanations written without the forbidden pair say not_chosen; check recomputes forbidden."""
    free = factory.instance([factory.parcel("p1", fallback_cost=CHEAP_FALLBACK)], [factory.trip("t1")])
    data = solution_to_json(solved(free))

    report = check(forbid(free, ("t1", "p1")), data)

    assert [v.code for v in report.violations] == ["reasons"]
    assert "forbidden" in report.violations[0].message
