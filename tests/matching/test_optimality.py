"""On instances small enough to enumerate, the engine's total equals the brute-force optimum.

The brute force (tests/matching/reference.py) tries every assignment of parcels to trips or the
fleet and, for every trip's bundle, every stop order with each pickup before its drop-off; it
shares no code with the engine or with matching.check.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.check import check
from matching.codec import solution_to_json
from matching.model import Forbidden, Instance, Insurance, Parcel, Pay, Point, Rules, Solution, Trip, VerificationRule
from matching.solver import SolveParams, solve
from tests.matching import factory
from tests.matching.factory import T0, at
from tests.matching.reference import Optimum, brute_force, plan_to_solution

SOLVERS = ("cbc", "highs")
SEEDS = range(16)
METRES_PER_DEGREE = 111_195.0
BASE: Point = (52.52, 13.35)


def _offset(p: Point, north_m: float, east_m: float) -> Point:
    return (
        round(p[0] + north_m / METRES_PER_DEGREE, 6),
        round(p[1] + east_m / (METRES_PER_DEGREE * math.cos(math.radians(p[0]))), 6),
    )


def dense_instance(seed: int) -> Instance:
    """4-5 parcels and 1-3 trips heading east for about 6 km, all parcels within 500 m of their
    line, fallbacks above the crowd's pay: bundles of two and three are feasible and worth it,
    while capacities, per-trip cover, windows, verification and missing policies still bite."""
    rng = random.Random(seed)
    rules = Rules(
        road_factor=1.3,
        service_s=rng.choice([60, 120]),
        max_parcels_per_trip=rng.choice([2, 3, 3]),
        verification=(VerificationRule(0, 0), VerificationRule(10_000, 1), VerificationRule(50_000, 2)),
        pay=Pay(per_parcel=rng.randint(150, 300), per_detour_km=rng.randint(30, 90)),
    )
    trips = []
    for j in range(rng.randint(1, 3)):
        speed = rng.uniform(4, 9)
        depart = rng.uniform(0, 30)
        insured = rng.random() < 0.9
        trips.append(
            Trip(
                id=f"t{j}",
                courier_id=f"c{j}",
                origin=_offset(BASE, rng.uniform(-400, 400), rng.uniform(-300, 300)),
                destination=_offset(BASE, rng.uniform(-600, 600), rng.uniform(5000, 7000)),
                depart_after=at(round(depart)),
                arrive_by=at(round(depart + 7_800 / speed / 60 + rng.uniform(15, 60))),
                speed_mps=round(speed, 2),
                capacity_g=rng.choice([4_000, 8_000, 20_000]),
                capacity_cm3=rng.choice([20_000, 60_000]),
                max_detour_m=float(rng.randint(1_500, 5_000)),
                verification_level=rng.choice([1, 2, 2]),
                insurance=Insurance(
                    per_parcel=50_000,
                    per_trip=rng.choice([20_000, 40_000, 70_000, 100_000]),
                    currency="EUR",
                    valid_from=at(-1440),
                    valid_until=at(1440),
                )
                if insured
                else None,
                co2_g_per_km=rng.choice([0.0, 120.0]),
            )
        )
    parcels = []
    for i in range(rng.randint(4, 5)):
        start = rng.uniform(300, 3_500)
        end = rng.uniform(start + 500, 6_500)
        opens = rng.uniform(0, 40)
        parcels.append(
            Parcel(
                id=f"p{i}",
                pickup=_offset(BASE, rng.uniform(-500, 500), start),
                dropoff=_offset(BASE, rng.uniform(-500, 500), end),
                pickup_from=at(round(opens)),
                pickup_until=at(round(opens + rng.uniform(5, 120))),
                deliver_from=at(round(opens)),
                deliver_until=at(round(opens + rng.uniform(40, 200))),
                weight_g=rng.randint(500, 4_000),
                volume_cm3=rng.randint(1_000, 20_000),
                value=rng.choice([3_000, 8_000, 15_000, 30_000, 60_000]),
                currency="EUR",
                fallback_cost=rng.randint(600, 2_500),
            )
        )
    return Instance(now=T0, rules=rules, parcels=tuple(parcels), trips=tuple(trips))


@cache
def optimum(seed: int) -> Optimum:
    return brute_force(dense_instance(seed))


def engine(instance: Instance, solver: str) -> Solution:
    solution = solve(instance, SolveParams(time_limit_s=10, gap=0.0, solver=solver))
    report = check(instance, solution_to_json(solution))
    assert report.ok, report.violations
    return solution


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_engine_total_equals_the_brute_force_optimum(seed: int, solver: str) -> None:
    instance = dense_instance(seed)
    best = optimum(seed)

    solution = engine(instance, solver)

    assert solution.cost.total == best.total, (best.plan, [(a.trip_id, a.parcel_ids) for a in solution.assignments])
    assert solution.bound.lower is not None
    assert solution.bound.lower <= best.total


def test_brute_force_optima_use_multi_parcel_bundles() -> None:
    """The seeds are not trivial: most optima bundle parcels, and some carry three on one trip."""
    largest = [optimum(seed).largest_bundle for seed in SEEDS]

    assert sum(size >= 2 for size in largest) >= len(SEEDS) // 2, largest
    assert any(size == 3 for size in largest), largest


@pytest.mark.parametrize("seed", SEEDS)
def test_brute_force_plan_passes_the_checker(seed: int) -> None:
    """The reference and matching.check agree: the optimum's plan, written out, is a valid solution."""
    instance = dense_instance(seed)
    best = optimum(seed)

    report = check(instance, plan_to_solution(instance, best.plan))

    assert report.ok, report.violations
    assert report.recomputed["total"] == best.total


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", SEEDS)
def test_engine_total_equals_the_brute_force_optimum_with_its_pairs_forbidden(seed: int, solver: str) -> None:
    """Every pair of the unrestricted optimum is forbidden (as if each courier had declined), so the
    engine must find the best plan without them, and its bound must still hold."""
    instance = dense_instance(seed)
    pairs = [Forbidden(trip, parcel) for trip, parcels in optimum(seed).plan.items() for parcel in parcels]
    restricted = dataclasses.replace(instance, forbidden=tuple(pairs))
    best = brute_force(restricted)

    solution = engine(restricted, solver)

    assert solution.cost.total == best.total, (best.plan, [(a.trip_id, a.parcel_ids) for a in solution.assignments])
    assert solution.bound.lower is not None
    assert solution.bound.lower <= best.total
    assert not {(a.trip_id, pid) for a in solution.assignments for pid in a.parcel_ids} & {
        (f.trip_id, f.parcel_id) for f in pairs
    }


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(1_000, 2**31), solver=st.sampled_from(SOLVERS))
def test_engine_matches_brute_force_on_random_seeds(seed: int, solver: str) -> None:
    instance = dense_instance(seed)
    best = brute_force(instance)

    solution = engine(instance, solver)

    assert solution.cost.total == best.total
    assert solution.bound.lower is not None
    assert solution.bound.lower <= best.total


# Hand-checked optima on the equator (road factor 1, so 0.01 degrees of longitude = 1,111.95 m).
# Trip t1 runs (0, 0) -> (0, 0.1). Parcel A goes (0, 0.02) -> (0, 0.08) and B (0, 0.04) -> (0, 0.06),
# both on the line: carrying both nested (pick A, pick B, drop B, drop A) costs no detour at all.


def _line_instance(*, capacity_g: int, max_detour_m: float, fallback: int, max_parcels: int = 3) -> Instance:
    a = factory.parcel("A", pickup=(0.0, 0.02), dropoff=(0.0, 0.08), fallback_cost=fallback)
    b = factory.parcel("B", pickup=(0.0, 0.04), dropoff=(0.0, 0.06), fallback_cost=fallback)
    t1 = factory.trip("t1", capacity_g=capacity_g, max_detour_m=max_detour_m)
    rules = dataclasses.replace(factory.RULES, max_parcels_per_trip=max_parcels)
    return factory.instance([a, b], [t1], rules)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    ("capacity_g", "max_detour_m", "fallback", "max_parcels", "total", "carried"),
    [
        # Nested, no detour: 2 x 250.
        (10_000, 3_000.0, 600, 3, 500, ("A", "B")),
        # At most one parcel per trip: 250 + the other's 600.
        (10_000, 3_000.0, 600, 1, 850, None),
        # 1,500 g cannot hold both at once; one after the other means driving back 0.04 degrees twice
        # (8,895.6 m), beyond the 3,000 m limit: 250 + 600.
        (1_500, 3_000.0, 600, 3, 850, None),
        # With room for that detour it costs 500 + ceil(45 x 8.8956) = 901, more than 850.
        (1_500, 10_000.0, 600, 3, 850, None),
        # ... but less than 250 + 2,000 once the fleet is dear.
        (1_500, 10_000.0, 2_000, 3, 901, ("A", "B")),
    ],
)
def test_hand_checked_optimum(
    capacity_g: int,
    max_detour_m: float,
    fallback: int,
    max_parcels: int,
    total: int,
    carried: tuple[str, ...] | None,
    solver: str,
) -> None:
    instance = _line_instance(
        capacity_g=capacity_g, max_detour_m=max_detour_m, fallback=fallback, max_parcels=max_parcels
    )

    solution = engine(instance, solver)

    assert solution.cost.total == total
    assert brute_force(instance).total == total
    if carried is not None:
        assert [a.parcel_ids for a in solution.assignments] == [carried]
    else:
        assert [len(a.parcel_ids) for a in solution.assignments] == [1]


def test_detoured_sequential_order_is_reported_with_its_stops() -> None:
    """Case (1,500 g, 10 km, fleet 2,000): both parcels, one after the other, detour 8,895.6 m;
    at 150 g of CO2 per km that is 1,334.3 g."""
    instance = _line_instance(capacity_g=1_500, max_detour_m=10_000.0, fallback=2_000)
    instance = dataclasses.replace(instance, trips=(dataclasses.replace(instance.trips[0], co2_g_per_km=150.0),))

    (a,) = engine(instance, "cbc").assignments

    detour = 0.08 * math.pi / 180 * 6_371_008.8
    assert abs(a.detour_m - detour) < 0.1
    assert abs(a.co2_g - 150.0 * detour / 1000) < 0.1
    assert a.cost == 500 + math.ceil(45 * detour / 1000)
    kinds = [(s.parcel_id, s.kind) for s in a.stops]
    assert kinds in (
        [("A", "pickup"), ("A", "dropoff"), ("B", "pickup"), ("B", "dropoff")],
        [("B", "pickup"), ("B", "dropoff"), ("A", "pickup"), ("A", "dropoff")],
    )


def test_stop_times_are_the_earliest_service_starts_rounded_up_to_whole_seconds() -> None:
    """Default parcel on the default trip (5 m/s, 60 s per stop): the pickup lies 2,292.4 m away
    (458.47 s) and the drop-off 4,447.8 m further (889.56 s, plus 60 s of service at the pickup),
    so service starts at 458.47 s and 1,408.03 s: 08:07:39 and 08:23:29. With the delivery window
    opening at 08:30 the courier waits, and the drop-off starts exactly at 08:30:00."""
    instance = factory.instance([factory.parcel(fallback_cost=5_000)], [factory.trip()])
    waiting = factory.instance([factory.parcel(deliver_from=at(30), fallback_cost=5_000)], [factory.trip()])

    (a,) = engine(instance, "cbc").assignments
    (w,) = engine(waiting, "cbc").assignments

    assert [(s.kind, s.at) for s in a.stops] == [
        ("pickup", T0 + timedelta(seconds=459)),
        ("dropoff", T0 + timedelta(seconds=1409)),
    ]
    assert [(s.kind, s.at) for s in w.stops] == [("pickup", T0 + timedelta(seconds=459)), ("dropoff", at(30))]
    assert a.cost == w.cost == 255
