"""The local search after the LP dive: a column comes in only when it pays for what it displaces."""

from __future__ import annotations

import numpy as np

from matching.solver import Deadline, _Columns, _exchange, _is_plan, _plan_cost


def test_the_exchange_reaches_the_cheaper_plan_through_displacements_and_never_costs_more() -> None:
    cols = _Columns()
    alone = cols.add(0, (0,), 50)[0]
    cols.add(0, (0, 1), 80)
    cols.add(1, (1, 2), 90)
    cols.add(1, (2,), 40)
    fallback = np.array([100, 100, 100], dtype=np.int64)
    start = {alone}  # 50 + two parcels to the fleet: 250

    plan = _exchange(cols, start, fallback, np.zeros(3), Deadline(60.0), 1.0)

    assert _is_plan(cols, plan)
    # Trip 0 takes parcels 0 and 1 (displacing its single), trip 1 parcel 2: 80 + 40.
    assert _plan_cost(cols, plan, fallback, range(3)) == 120
    assert {(cols.trip[j], cols.parcels[j]) for j in plan} == {(0, (0, 1)), (1, (2,))}


def test_the_exchange_keeps_a_plan_no_move_improves() -> None:
    cols = _Columns()
    best = cols.add(0, (0, 1), 60)[0]
    cols.add(0, (0,), 55)
    cols.add(1, (1,), 70)
    fallback = np.array([100, 100], dtype=np.int64)

    assert _exchange(cols, {best}, fallback, np.zeros(2), Deadline(60.0), 1.0) == {best}


def test_a_displaced_columns_other_parcel_goes_to_a_single_on_a_free_trip_when_that_makes_the_move_pay() -> None:
    cols = _Columns()
    start = cols.add(0, (0, 1), 60)[0]  # 60 + parcel 2 to the fleet: 160
    pair = cols.add(0, (1, 2), 65)[0]  # displaces the start: with parcel 0 to the fleet, +5
    single = cols.add(1, (0,), 30)[0]  # ... but trip 1 is free and carries parcel 0 for 30: -65
    fallback = np.array([100, 100, 100], dtype=np.int64)

    plan = _exchange(cols, {start}, fallback, np.zeros(3), Deadline(60.0), 1.0)

    assert _is_plan(cols, plan)
    assert plan == {pair, single}
    assert _plan_cost(cols, plan, fallback, range(3)) == 95
