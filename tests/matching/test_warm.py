"""Issue 11: what a warm round reuses of the previous one, and that none of it is stale.

A warm round keeps the previous round's singles, explanations and trip floors for the trips and
parcels that did not change (`matching.warm`). Each test changes a city the ways rounds do (parcels
come and go, a trip moves, a parcel is edited, an offer is declined, the clock moves on) and checks
that what was reused equals what a cold round computes from scratch.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest

from matching.arrays import build_arrays
from matching.candidates import Candidates, find_candidates
from matching.generate import generate
from matching.kernels import reasons_for, stop_orders
from matching.model import Forbidden, Instance, Solution
from matching.solver import SolveParams, solve
from matching.warm import changes, reasons
from tests.matching.factory import trips_with_one_moved
from tests.matching.reference import brute_force
from tests.matching.test_budgets import city, valid
from tests.matching.test_optimality import SEEDS, dense_instance


def changed_city(instance: Instance, first: Solution) -> tuple[Instance, str, str]:
    """`instance` a round later: one parcel delivered, one new, one re-weighed, one trip moved
    twelve hours on, one offer declined on a trip that did not change, the clock five minutes on.
    Returns it with the moved trip's id and the re-weighed parcel's id."""
    other = generate_other()
    moved = first.assignments[-1].trip_id
    trips = trips_with_one_moved(instance, moved, timedelta(hours=12))
    gone = first.assignments[0].parcel_ids[0]
    edited = next(p.id for p in instance.parcels if p.id != gone)
    parcels = (
        *tuple(
            dataclasses.replace(p, weight_g=p.weight_g + 1) if p.id == edited else p
            for p in instance.parcels
            if p.id != gone
        ),
        dataclasses.replace(other.parcels[0], id="arrived"),
    )
    declined = next(a for a in first.assignments if a.trip_id != moved)
    forbidden = (Forbidden(declined.trip_id, declined.parcel_ids[-1]),)
    later_city = dataclasses.replace(
        instance, now=instance.now + timedelta(minutes=5), trips=trips, parcels=parcels, forbidden=forbidden
    )
    return later_city, moved, edited


def generate_other() -> Instance:
    return generate(40, 15, seed=2, density=2.0)


def singles_by_trip(candidates: Candidates) -> list[dict[int, float]]:
    return [
        {
            int(p): float(d)
            for p, d in zip(
                candidates.single_parcel[candidates.single_ptr[t] : candidates.single_ptr[t + 1]],
                candidates.single_detour[candidates.single_ptr[t] : candidates.single_ptr[t + 1]],
                strict=True,
            )
        }
        for t in range(candidates.single_ptr.shape[0] - 1)
    ]


@pytest.fixture(scope="module")
def rounds() -> tuple[Instance, Solution, Instance, str, str]:
    instance = city()
    first = solve(instance, SolveParams(time_limit_s=20, gap=0.0))
    later, moved, edited = changed_city(instance, first)
    return instance, first, later, moved, edited


def test_reused_singles_equal_a_cold_scan(rounds: tuple[Instance, Solution, Instance, str, str]) -> None:
    _, first, later, _, _ = rounds
    assert first.warm is not None
    assert first.warm.memo is not None
    diff = changes(later, first.warm.memo)
    assert diff is not None
    reuse = diff.reuse(first.warm.memo)
    assert reuse is not None
    arrays = build_arrays(later)

    warm = singles_by_trip(find_candidates(arrays, reuse=reuse))
    cold = singles_by_trip(find_candidates(arrays))

    assert [sorted(w) for w in warm] == [sorted(c) for c in cold]
    for w, c in zip(warm, cold, strict=True):
        assert w == pytest.approx(c)
    # Most of it was reused, not scanned again: the unchanged trips kept their singles.
    assert (diff.trip_old >= 0).sum() >= len(later.trips) - 2


def test_a_changed_trips_stale_singles_are_never_reused(
    rounds: tuple[Instance, Solution, Instance, str, str],
) -> None:
    instance, first, later, moved, edited = rounds
    assert first.warm is not None
    assert first.warm.memo is not None
    diff = changes(later, first.warm.memo)
    assert diff is not None
    moved_now = next(i for i, t in enumerate(later.trips) if t.id == moved)
    edited_now = next(i for i, p in enumerate(later.parcels) if p.id == edited)
    declined_trip = next(i for i, t in enumerate(later.trips) if t.id == later.forbidden[0].trip_id)
    arrays = build_arrays(later)
    reuse = diff.reuse(first.warm.memo)
    assert reuse is not None

    warm = find_candidates(arrays, reuse=reuse)

    # The moved trip, the re-weighed parcel and the trip with a declined offer count as changed.
    assert diff.trip_old[moved_now] == -1
    assert diff.parcel_old[edited_now] == -1
    assert diff.trip_old[declined_trip] == -1
    previous = first.warm.memo.candidates
    assert previous is not None
    moved_before = next(i for i, t in enumerate(instance.trips) if t.id == moved)
    assert previous.single_ptr[moved_before + 1] > previous.single_ptr[moved_before]  # it had singles
    assert warm.single_ptr[moved_now + 1] == warm.single_ptr[moved_now]  # and has none now
    declined_parcel = next(i for i, p in enumerate(later.parcels) if p.id == later.forbidden[0].parcel_id)
    row = slice(warm.single_ptr[declined_trip], warm.single_ptr[declined_trip + 1])
    assert declined_parcel not in warm.single_parcel[row]


def test_reused_explanations_equal_fresh_ones(rounds: tuple[Instance, Solution, Instance, str, str]) -> None:
    _, first, later, _, _ = rounds
    assert first.warm is not None
    assert first.warm.memo is not None
    memo = first.warm.memo
    assert memo.reason_parcels.shape[0] > 0  # the first round left parcels to the fleet
    diff = changes(later, memo)
    arrays = build_arrays(later)
    every = np.arange(len(later.parcels), dtype=np.int64)

    def count(a: object, parcels: np.ndarray) -> np.ndarray:
        assert isinstance(a, type(arrays))
        return reasons_for(  # type: ignore[no-any-return]
            a.parcels, a.trips, parcels, a.rules, a.forbidden, stop_orders(1), a.road_factor, a.service_s
        )

    warm = reasons(arrays, every, count, memo, diff)

    np.testing.assert_array_equal(warm, count(arrays, every))


def test_a_warm_round_on_a_changed_city_is_valid_and_as_good_as_a_cold_one(
    rounds: tuple[Instance, Solution, Instance, str, str],
) -> None:
    _, first, later, moved, _ = rounds

    warm = solve(later, SolveParams(time_limit_s=20, gap=0.0), warm=first)
    cold = solve(later, SolveParams(time_limit_s=20, gap=0.0))

    valid(later, warm)
    assert all(a.trip_id != moved for a in warm.assignments)
    assert warm.cost.total == cold.cost.total
    assert warm.bound.lower is not None
    assert warm.bound.lower <= cold.cost.total
    assert {u.parcel_id: u.reasons for u in warm.unassigned} == {u.parcel_id: u.reasons for u in cold.unassigned}


@pytest.mark.parametrize("seed", SEEDS)
def test_a_warm_bound_never_exceeds_the_optimum_of_the_changed_city(seed: int) -> None:
    """The reused trip floors and the previous duals give a bound for the new city, not the old."""
    instance = dense_instance(seed)
    first = solve(instance, SolveParams(time_limit_s=10, gap=0.0))
    newcomer = dense_instance(seed + 100).parcels[0]
    later = dataclasses.replace(
        instance,
        parcels=(*instance.parcels[1:], dataclasses.replace(newcomer, id="newcomer")),
    )

    warm = solve(later, SolveParams(time_limit_s=10, gap=0.0), warm=first)
    best = brute_force(later)

    valid(later, warm)
    assert warm.cost.total == best.total
    assert warm.bound.lower is None or warm.bound.lower <= best.total
