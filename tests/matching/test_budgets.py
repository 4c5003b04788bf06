"""Issue 11: budgets, deadlines and warm rounds.

The memory budget caps the columns the engine holds, the deadline cuts every phase, and a warm
round re-checks the previous round's columns; none of them may cost validity: the plan passes the
checker, is no worse than greedy's, and the bound (when there is one) never exceeds the optimum.
Time is injected (a clock that jumps), so the deadline tests are deterministic, not timed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import timedelta

import pytest

from matching.arrays import build_arrays
from matching.candidates import find_candidates
from matching.check import check
from matching.codec import solution_to_json
from matching.generate import generate
from matching.model import Instance, Solution
from matching.solver import SolveParams, _singles_bound, solve, solve_greedy
from tests.matching.factory import trips_with_one_moved
from tests.matching.test_optimality import SEEDS, dense_instance, optimum


def valid(instance: Instance, solution: Solution) -> None:
    report = check(instance, solution_to_json(solution))
    assert report.ok, report.violations


def city() -> Instance:
    """40 parcels x 15 trips, dense (density 2): many pairs and triples, solved in about a second."""
    return generate(40, 15, seed=1, density=2.0)


def stepping_clock(step_s: float) -> Callable[[], float]:
    """A clock that moves `step_s` every time it is read: the solve's progress, not the machine's
    speed, decides when the deadline passes."""
    now = [0.0]

    def read() -> float:
        now[0] += step_s
        return now[0]

    return read


# Memory budget


@pytest.mark.parametrize("seed", SEEDS)
def test_a_budget_too_small_for_the_pairs_still_gives_a_valid_plan_and_bound(seed: int) -> None:
    instance = dense_instance(seed)
    best = optimum(seed)

    solution = solve(instance, SolveParams(time_limit_s=10, gap=0.0, memory_budget_mb=0.001))

    valid(instance, solution)
    assert solution.cost.total >= best.total
    assert solution.bound.lower is None or solution.bound.lower <= best.total
    assert solution.stats.column_cap == solution.stats.columns  # nothing beyond the starting columns


def test_a_small_budget_defers_columns_and_says_so_on_a_dense_city() -> None:
    instance = city()
    roomy = solve(instance, SolveParams(time_limit_s=20, gap=0.0))
    tight = solve(instance, SolveParams(time_limit_s=20, gap=0.0, memory_budget_mb=0.2))

    valid(instance, tight)
    assert roomy.stats.columns_deferred == 0
    assert tight.stats.columns_deferred > 0
    assert tight.stats.columns <= tight.stats.column_cap < roomy.stats.columns
    assert tight.cost.total <= solve_greedy(instance).cost.total
    assert roomy.bound.lower is not None
    # The bound never depends on which columns were held: it stays below the roomy run's optimum.
    assert tight.bound.lower is None or tight.bound.lower <= roomy.cost.total


@pytest.mark.parametrize("seed", SEEDS)
def test_the_bound_from_the_singles_alone_never_exceeds_the_brute_force_optimum(seed: int) -> None:
    instance = dense_instance(seed)
    arrays = build_arrays(instance)
    candidates = find_candidates(arrays)

    bound = _singles_bound(arrays, candidates)

    assert math.isfinite(bound)
    assert bound <= optimum(seed).total


def test_a_deadline_counted_from_an_earlier_start_leaves_the_solve_less_time() -> None:
    """The command line passes its process start: time spent before the solve counts."""
    instance = city()
    clock = stepping_clock(0.01)
    started = clock()
    for _ in range(600):  # six seconds of the limit pass before the solve is called
        clock()

    solution = solve(instance, SolveParams(time_limit_s=5), clock=clock, started=started)

    valid(instance, solution)
    assert solution.stats.rounds == 0
    assert solution.stats.deadline_hit == "column generation"
    assert solution.cost.total == solve_greedy(instance).cost.total


# Deadline


def test_an_expired_deadline_returns_greedys_plan_and_the_bound_that_needs_no_routing() -> None:
    instance = city()
    optimum_total = solve(instance, SolveParams(time_limit_s=30, gap=0.0)).cost.total

    solution = solve(instance, SolveParams(time_limit_s=5), clock=stepping_clock(1_000.0))

    valid(instance, solution)
    assert solution.cost.total == solve_greedy(instance).cost.total
    # No pricing round ran, yet the candidates were all scanned: the singles give a proven bound.
    assert solution.bound.lower is not None
    assert 0 < solution.bound.lower <= optimum_total
    assert solution.stats.rounds == 0
    assert solution.stats.milps == 0
    assert solution.stats.deadline_hit == "column generation"


@pytest.mark.parametrize("step_s", [0.002, 0.01, 0.05])
def test_a_deadline_mid_solve_keeps_the_plan_valid_and_no_worse_than_greedy(step_s: float) -> None:
    instance = city()
    greedy_total = solve_greedy(instance).cost.total
    optimum_total = solve(instance, SolveParams(time_limit_s=30, gap=0.0)).cost.total

    solution = solve(instance, SolveParams(time_limit_s=5, gap=0.0), clock=stepping_clock(step_s))

    valid(instance, solution)
    assert solution.cost.total <= greedy_total
    assert solution.bound.lower is None or solution.bound.lower <= optimum_total
    assert solution.stats.wall_s <= 5 * 1.1


def test_the_threads_parameter_sets_numbas_thread_count() -> None:
    solution = solve(city(), SolveParams(time_limit_s=10, threads=1))

    assert solution.stats.threads == 1


# Warm rounds


def test_warm_columns_that_became_infeasible_are_dropped() -> None:
    instance = city()
    first = solve(instance, SolveParams(time_limit_s=20, gap=0.0))
    assert first.warm is not None
    assert first.warm.columns
    removed = first.assignments[0].parcel_ids[0]
    moved = first.assignments[-1].trip_id
    # The moved trip now leaves after every delivery window has closed: nothing fits on it.
    trips = trips_with_one_moved(instance, moved, timedelta(hours=12))
    parcels = tuple(p for p in instance.parcels if p.id != removed)
    changed = dataclasses.replace(instance, trips=trips, parcels=parcels)

    warm = solve(changed, SolveParams(time_limit_s=20, gap=0.0), warm=first)
    cold = solve(changed, SolveParams(time_limit_s=20, gap=0.0))

    stale = [c for c in first.warm.columns if c[0] == moved or removed in c[1]]
    assert stale
    assert warm.stats.warm_columns_dropped == len(stale)
    assert warm.stats.warm_columns_kept == len(first.warm.columns) - len(stale)
    valid(changed, warm)
    assert all(a.trip_id != moved for a in warm.assignments)
    assert warm.cost.total == cold.cost.total
    assert warm.bound.lower is not None
    assert warm.bound.lower <= cold.cost.total


def test_stats_are_typed_and_serialise_to_json() -> None:
    solution = solve(city(), SolveParams(time_limit_s=10))

    data = json.loads(json.dumps(solution.stats.as_dict()))

    assert data["singles"] == solution.stats.singles > 0
    assert data["greedy_total"] >= solution.cost.total
    assert data["memory_budget_mb"] == 2048.0
    assert data["timings"]["candidates_s"] >= 0
