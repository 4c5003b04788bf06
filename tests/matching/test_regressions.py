"""Cases found in review, kept so they stay fixed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from matching import SolveParams, check, parse_instance, solution_to_json, solve
from tests.matching.reference import brute_force

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_a_warm_start_cannot_make_a_worse_plan_look_optimal(solver: str) -> None:
    """HiGHS 1.16, handed a start, declared a 950 plan optimal when three parcels on t4 cost 926."""
    instance = parse_instance(json.loads((DATA / "highs_warm_start_trap.json").read_text()))
    optimum = brute_force(instance).total
    solution = solve(instance, SolveParams(time_limit_s=20, gap=0.0, solver=solver))
    assert solution.cost.total == optimum
    assert solution.bound.lower is not None
    assert solution.bound.lower <= optimum


def test_stop_times_round_up_on_the_clock_even_when_now_has_a_fraction() -> None:
    instance = parse_instance(json.loads((DATA / "highs_warm_start_trap.json").read_text()))
    shifted = replace(instance, now=instance.now + timedelta(milliseconds=500))
    solution = solve(shifted, SolveParams(time_limit_s=20, gap=0.0))
    assert solution.assignments
    report = check(shifted, solution_to_json(solution))
    assert report.ok, report.violations
