"""Explanations: for each parcel left to the fleet, the first rule that stops each trip, counted.

Fixtures come from `tests.matching.factory`: trip t1 runs 11,119.5 m due east along the equator
at 5 m/s (08:00 to at most 10:00); parcel p1 lies 556 m north of its line, carrying it alone
costs a detour of 103.1 m (255 in pay), the pickup is reached after 458.5 s (08:07:39 rounded
up), the drop-off after 1,408.0 s and the destination after 2,364.5 s (08:39:25), against
2,223.9 s direct. The parcel is worth 20,000 (level 1 required), weighs 1,000 g and takes
2,000 cm3. Every rule holds with margin until a test breaks one.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest

from matching.check import check
from matching.codec import solution_to_json
from matching.generate import generate
from matching.model import Instance, Parcel, Solution, Trip
from matching.solver import SolveParams, solve
from tests.matching import factory
from tests.matching.factory import at

ORDER = (
    "payouts_disabled",
    "insurance_missing",
    "currency",
    "insurance_expired",
    "insurance_cover",
    "verification_level",
    "capacity",
    "detour",
    "time_window",
)

# A fallback below the 255 that carrying p1 costs, so p1 is always left to the fleet and explained.
CHEAP_FALLBACK = 100


def solved(instance: Instance, solver: str = "cbc") -> Solution:
    solution = solve(instance, SolveParams(time_limit_s=10, solver=solver))
    report = check(instance, solution_to_json(solution))
    assert report.ok, report.violations
    return solution


def reasons_of(solution: Solution, parcel_id: str) -> dict[str, int]:
    (entry,) = [u for u in solution.unassigned if u.parcel_id == parcel_id]
    return {r.code: r.trips for r in entry.reasons}


def _ins(trip: Trip, **changes: object) -> Trip:
    assert trip.insurance is not None
    return dataclasses.replace(trip, insurance=dataclasses.replace(trip.insurance, **changes))  # type: ignore[arg-type]


# Ways to break exactly one rule for (p1, t1), by changing the trip only.
TRIP_BREAKS: dict[str, dict[str, Callable[[Trip], Trip]]] = {
    "payouts_disabled": {"a courier Stripe cannot pay": lambda t: dataclasses.replace(t, payouts_enabled=False)},
    "insurance_missing": {"no policy": lambda t: dataclasses.replace(t, insurance=None)},
    "currency": {"policy in GBP for a parcel in EUR": lambda t: _ins(t, currency="GBP")},
    "insurance_expired": {
        "policy ends before arrive_by": lambda t: _ins(t, valid_until=t.arrive_by - timedelta(seconds=1)),
        "policy starts after depart_after": lambda t: _ins(t, valid_from=t.depart_after + timedelta(seconds=1)),
    },
    "insurance_cover": {
        "per_parcel below the value": lambda t: _ins(t, per_parcel=19_999),
        "per_trip below the value": lambda t: _ins(t, per_trip=19_999),
    },
    "verification_level": {"level 0 for a parcel needing 1": lambda t: dataclasses.replace(t, verification_level=0)},
    "capacity": {
        "one gram too little": lambda t: dataclasses.replace(t, capacity_g=999),
        "one cm3 too little": lambda t: dataclasses.replace(t, capacity_cm3=1_999),
    },
    "detour": {"max_detour_m below 103.1 m": lambda t: dataclasses.replace(t, max_detour_m=100.0)},
    "time_window": {
        # Direct, the trip needs 37:04 and makes it; with the parcel it needs 39:24.
        "arrive_by too early for the parcel's stops": lambda t: dataclasses.replace(t, arrive_by=at(38.5)),
        # Leaving at 11:55 it would reach the pickup at 12:02:38, after pickup_until (12:00).
        "leaves too late for the pickup window": lambda t: dataclasses.replace(
            t, depart_after=at(235), arrive_by=at(300)
        ),
    },
}

TRIP_CASES = [(code, name) for code, variants in TRIP_BREAKS.items() for name in variants]


@pytest.mark.parametrize(("code", "variant"), TRIP_CASES)
def test_one_broken_rule_is_the_reason_and_the_intact_twin_is_not_chosen(code: str, variant: str) -> None:
    """Two identical trips; one of them breaks a single rule. The parcel (cheaper by fleet) names
    that rule for the broken trip and `not_chosen` for its intact twin."""
    p1 = factory.parcel(fallback_cost=CHEAP_FALLBACK)
    broken = TRIP_BREAKS[code][variant](factory.trip("t_bad"))
    instance = factory.instance([p1], [broken, factory.trip("t_ok")])

    solution = solved(instance)

    assert solution.assignments == ()
    assert reasons_of(solution, "p1") == {code: 1, "not_chosen": 1}


# Breaking a rule on the parcel's side: a single trip, and that rule is all it reports.
PARCEL_BREAKS: dict[str, tuple[str, Callable[[Parcel], Parcel]]] = {
    "parcel valued in USD": ("currency", lambda p: dataclasses.replace(p, currency="USD")),
    "value above the 50,000 cover": ("insurance_cover", lambda p: dataclasses.replace(p, value=50_001)),
    "value needing level 2": ("verification_level", lambda p: dataclasses.replace(p, value=50_000)),
    "too heavy": ("capacity", lambda p: dataclasses.replace(p, weight_g=10_001)),
    "too bulky": ("capacity", lambda p: dataclasses.replace(p, volume_cm3=50_001)),
    "drop-off far off the line": ("detour", lambda p: dataclasses.replace(p, dropoff=(0.05, 0.06))),
    "pickup window closes at 08:07": ("time_window", lambda p: dataclasses.replace(p, pickup_until=at(7))),
    "delivery window closes at 08:23": ("time_window", lambda p: dataclasses.replace(p, deliver_until=at(23))),
    # Waiting for the pickup window (opening at 09:40) makes the trip reach its destination at 10:12.
    "pickup window opens too late to arrive in time": (
        "time_window",
        lambda p: dataclasses.replace(p, pickup_from=at(100)),
    ),
}


@pytest.mark.parametrize("variant", list(PARCEL_BREAKS))
def test_parcel_side_rule_is_the_reason(variant: str) -> None:
    code, breaks = PARCEL_BREAKS[variant]
    p1 = breaks(factory.parcel(fallback_cost=10_000))
    instance = factory.instance([p1], [factory.trip("t1")])

    solution = solved(instance)

    assert solution.assignments == ()
    assert reasons_of(solution, "p1") == {code: 1}
    assert solution.cost.total == solution.cost.fallback == 10_000


def test_waiting_for_a_window_is_allowed() -> None:
    """Control for the case above: a pickup window opening at 09:00 only makes the courier wait."""
    p1 = factory.parcel(pickup_from=at(60), fallback_cost=10_000)
    instance = factory.instance([p1], [factory.trip("t1")])

    solution = solved(instance)

    (assignment,) = solution.assignments
    assert assignment.stops[0].at == at(60)
    assert solution.unassigned == ()


def test_not_chosen_when_the_fleet_is_cheaper() -> None:
    """Carrying p1 costs 250 + ceil(45 x 0.103) = 255; a fallback of 254 wins."""
    instance = factory.instance([factory.parcel(fallback_cost=254)], [factory.trip("t1")])

    solution = solved(instance)

    assert solution.assignments == ()
    assert reasons_of(solution, "p1") == {"not_chosen": 1}
    assert solution.cost.total == 254


def test_carried_when_the_crowd_is_cheaper() -> None:
    """Control: with a fallback of 256 the trip carries p1 for 255."""
    instance = factory.instance([factory.parcel(fallback_cost=256)], [factory.trip("t1")])

    solution = solved(instance)

    assert [a.parcel_ids for a in solution.assignments] == [("p1",)]
    assert solution.assignments[0].cost == 255
    assert solution.cost.total == 255


def test_not_chosen_when_the_trip_carries_another_parcel() -> None:
    """One parcel per trip: the trip takes p1 (saves 4,745), and p2 (could go, saves only 645) is
    left to the fleet with the trip counted under not_chosen."""
    rules = dataclasses.replace(factory.RULES, max_parcels_per_trip=1)
    p1 = factory.parcel("p1", fallback_cost=5_000)
    p2 = factory.parcel("p2", fallback_cost=900)
    instance = factory.instance([p1, p2], [factory.trip("t1")], rules)

    solution = solved(instance)

    assert [a.parcel_ids for a in solution.assignments] == [("p1",)]
    assert reasons_of(solution, "p2") == {"not_chosen": 1}


# Breaking several rules on one trip: each changes a different field, so they compose.
COMPOSABLE: dict[str, Callable[[Trip], Trip]] = {
    "payouts_disabled": lambda t: dataclasses.replace(t, payouts_enabled=False),
    "insurance_missing": lambda t: dataclasses.replace(t, insurance=None),
    "currency": lambda t: t if t.insurance is None else _ins(t, currency="GBP"),
    "insurance_expired": lambda t: t if t.insurance is None else _ins(t, valid_from=at(1)),
    "insurance_cover": lambda t: t if t.insurance is None else _ins(t, per_parcel=19_999),
    "verification_level": lambda t: dataclasses.replace(t, verification_level=0),
    "capacity": lambda t: dataclasses.replace(t, capacity_g=999),
    "detour": lambda t: dataclasses.replace(t, max_detour_m=100.0),
    "time_window": lambda t: dataclasses.replace(t, arrive_by=at(38.5)),
}


def _break_all(trip: Trip, codes: tuple[str, ...]) -> Trip:
    # The policy is removed last, so the other insurance rules are applied to the policy first.
    for code in sorted(codes, key=lambda c: c == "insurance_missing"):
        trip = COMPOSABLE[code](trip)
    return trip


@pytest.mark.parametrize("code", ORDER)
def test_each_composable_break_alone_gives_its_code(code: str) -> None:
    """Guards the fixtures of the ordering tests: each break on its own gives its own code."""
    instance = factory.instance([factory.parcel(fallback_cost=10_000)], [_break_all(factory.trip(), (code,))])

    assert reasons_of(solved(instance), "p1") == {code: 1}


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(ORDER, 2)))
def test_the_earlier_rule_wins_when_two_are_broken(first: str, second: str) -> None:
    instance = factory.instance([factory.parcel(fallback_cost=10_000)], [_break_all(factory.trip(), (first, second))])

    assert reasons_of(solved(instance), "p1") == {first: 1}


@pytest.mark.parametrize("start", range(len(ORDER)))
def test_with_every_later_rule_broken_too_the_first_broken_one_counts(start: int) -> None:
    """insurance_missing beats everything; currency beats everything after it; and so on."""
    instance = factory.instance([factory.parcel(fallback_cost=10_000)], [_break_all(factory.trip(), ORDER[start:])])

    assert reasons_of(solved(instance), "p1") == {ORDER[start]: 1}


def test_detour_beats_a_closed_parcel_window() -> None:
    """The issue's own example of the order: detour limit and a time window both broken -> detour."""
    p1 = factory.parcel(pickup_until=at(5), fallback_cost=10_000)
    instance = factory.instance([p1], [factory.trip("t1", max_detour_m=50.0)])

    assert reasons_of(solved(instance), "p1") == {"detour": 1}


def test_insurance_missing_beats_every_parcel_side_break_too() -> None:
    """No policy, and the parcel is in USD, worth 90,000, 20 kg, off the line and out of its window."""
    p1 = factory.parcel(
        currency="USD", value=90_000, weight_g=20_000, dropoff=(0.05, 0.06), pickup_until=at(5), fallback_cost=10_000
    )
    instance = factory.instance([p1], [factory.trip("t1", insurance=None, verification_level=0)])

    assert reasons_of(solved(instance), "p1") == {"insurance_missing": 1}


def test_one_trip_per_reason_counts_each_code_once() -> None:
    """Nine trips: eight each break one rule in turn, the ninth is fine (not chosen: fleet is cheaper)."""
    trips = [_break_all(factory.trip(f"t_{code}"), (code,)) for code in ORDER] + [factory.trip("t_ok")]
    instance = factory.instance([factory.parcel(fallback_cost=CHEAP_FALLBACK)], trips)

    reasons = reasons_of(solved(instance), "p1")

    assert reasons == dict.fromkeys((*ORDER, "not_chosen"), 1)
    assert sum(reasons.values()) == len(trips)


def test_boundaries_are_inclusive() -> None:
    """A policy valid exactly from depart_after to arrive_by, a value equal to both covers, weight and
    volume equal to the capacities and the pickup window closing the second the courier arrives
    (08:07:39, after 458.5 s of travel, rounded up) are all allowed."""
    t1 = factory.trip(
        "t1",
        capacity_g=1_000,
        capacity_cm3=2_000,
        insurance=factory.insurance(per_parcel=20_000, per_trip=20_000, valid_from=at(0), valid_until=at(120)),
    )
    p1 = factory.parcel(pickup_until=at(0) + timedelta(seconds=459), fallback_cost=10_000)
    instance = factory.instance([p1], [t1])

    solution = solved(instance)

    assert [a.parcel_ids for a in solution.assignments] == [("p1",)]


@pytest.mark.parametrize(("parcels", "trips", "seed"), [(30, 12, 3), (25, 10, 11)])
def test_reason_counts_of_every_unassigned_parcel_add_up_to_the_number_of_trips(
    parcels: int, trips: int, seed: int
) -> None:
    instance = generate(parcels, trips, seed)

    solution = solved(instance)

    assert solution.unassigned, "the generated city should leave some parcels to the fleet"
    for entry in solution.unassigned:
        assert sum(r.trips for r in entry.reasons) == trips, entry
        assert all(r.trips > 0 for r in entry.reasons), entry
        assert {r.code for r in entry.reasons} <= {*ORDER, "not_chosen"}


def test_currencies_other_than_eur_match_their_own_policies() -> None:
    """A GBP parcel rides on a GBP policy; against EUR and CHF policies it counts as `currency`
    (no parcel is valued in CHF at all)."""
    p1 = factory.parcel(currency="GBP", fallback_cost=CHEAP_FALLBACK)
    trips = [
        factory.trip("t_gbp", insurance=factory.insurance(currency="GBP")),
        factory.trip("t_eur", insurance=factory.insurance(currency="EUR")),
        factory.trip("t_chf", insurance=factory.insurance(currency="CHF")),
    ]

    assert reasons_of(solved(factory.instance([p1], trips)), "p1") == {"not_chosen": 1, "currency": 2}


@pytest.mark.parametrize(
    ("value", "level", "code"),
    [
        (9_999, 0, "not_chosen"),
        (10_000, 0, "verification_level"),
        (10_000, 1, "not_chosen"),
        (49_999, 1, "not_chosen"),
        (50_000, 1, "verification_level"),
        (50_000, 2, "not_chosen"),
    ],
)
def test_required_level_is_that_of_the_largest_min_value_not_above_the_value_in_any_order(
    value: int, level: int, code: str
) -> None:
    """The verification rules are listed out of order; thresholds are inclusive."""
    rules = dataclasses.replace(factory.RULES, verification=tuple(reversed(factory.RULES.verification)))
    p1 = factory.parcel(value=value, fallback_cost=CHEAP_FALLBACK)
    instance = factory.instance([p1], [factory.trip("t1", verification_level=level)], rules)

    assert reasons_of(solved(instance), "p1") == {code: 1}


def test_trips_of_the_same_courier_are_independent() -> None:
    """Two trips of one courier at the same time each carry a parcel (the service exports only
    trips that can all be driven): 2 x 255 instead of 255 + 900."""
    rules = dataclasses.replace(factory.RULES, max_parcels_per_trip=1)
    instance = factory.instance(
        [factory.parcel("p1"), factory.parcel("p2")],
        [factory.trip("t1", courier_id="c1"), factory.trip("t2", courier_id="c1")],
        rules,
    )

    solution = solved(instance)

    assert sorted(a.trip_id for a in solution.assignments) == ["t1", "t2"]
    assert solution.cost.total == 510
