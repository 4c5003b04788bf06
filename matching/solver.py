"""The matching model: set partitioning over (trip, bundle) columns, priced exactly.

`solve()` runs these steps, each a function below with typed inputs and outputs:

1. `find_candidates`: which trips could carry each parcel alone (never a forbidden pair). The
   only full enumeration: pairs and triples are built inside pricing, where duals ask for them.
2. `greedy`: a first plan, used as starting columns and as the fallback answer.
3. `_starting_columns`: the cheapest singles per parcel, the greedy plan, and a previous round's
   columns that are still feasible (`warm`).
4. `_column_generation` on the LP relaxation (HiGHS), with Wentges dual smoothing: pricing runs
   at a mix of the best duals seen and the master's, which keeps the duals from oscillating on
   dense cities. Every round's Lagrangian bound (parcel duals plus each trip's least reduced
   cost) is a lower bound over *all* bundles, generated or not; the LP's rounded points become
   plans as they appear.
5. `_integer_plans`: per connected component, the integer model in PuLP (CBC or HiGHS) over a
   core of the columns; then, with the reduced-cost argument, over every column that could
   still improve, which makes the model's bound a bound over all bundles.
6. `_assemble`: routes, times and explanations for every parcel left to the fleet.

Every phase checks the deadline (`Deadline`); what it cuts short is named in `stats`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import highspy
import numba as nb
import numpy as np
import pulp

from matching.arrays import FEASIBLE, REASON_CODES, Arrays, build_arrays
from matching.candidates import Candidates, find_candidates
from matching.greedy import BundleCosts, greedy
from matching.kernels import best_order, bundle_costs, find_all, reasons_for, stop_orders, union_all
from matching.model import (
    Assignment,
    Bound,
    Cost,
    Instance,
    Reason,
    Solution,
    SolveStats,
    Stop,
    Unassigned,
    WarmStart,
)
from matching.pricing import (
    NO_PARCEL,
    PairCache,
    enumerate_columns,
    lagrangian_bound,
    price_trips,
    singles_floor,
)
from matching.warm import Changes, RoundMemo, changes, reasons

Progress = Callable[[str], None]
Clock = Callable[[], float]

EXACT = 2**62  # no cap on pricing work
PER_TRIP_COLUMNS = 20_000  # beyond this many improving bundles on one trip, enumeration gives up
# Fresh pair and triple routes one trip may compute in a pricing round. Pricing is exact below it
# (it is on every bench city); above it the trip reports a floor, so the bound stays valid.
ROUTES_PER_TRIP = 20_000
# Machine-tuned, measured on the 2-core bench machine (documented, not measured at start):
EVALUATIONS_PER_S = 300_000  # route evaluations per second in enumeration, measured low
BYTES_PER_COLUMN = 2_500  # a column in the pool, the HiGHS master and the PuLP model (measured on L)
BYTES_PER_SINGLE = 40  # a candidate single (CSR arrays and the component scan)
SINGLES_BOUND_SHARES = (0.0, 0.5, 1.0)  # duals tried without routing: cheapest single + share of the way to the fleet
EXPLAIN_SAMPLE = 64  # parcels whose explanations are timed after greedy, to budget the rest
EXPLAIN_MARGIN = 1.5  # on that measured rate: the machine's load moves between sample and use
IPM_ABOVE_TRIPS_PER_PARCEL = 25  # denser than this, the master LP runs the interior point method
WARM_SLACK = 0.1  # of a parcel's pay: reduced cost under which a column is handed to the next round
PAIR_CACHE_SHARE = 0.25  # of the memory budget, for pair routes kept between pricing rounds
PRICING_CHUNK_TRIPS = 512  # at most, trips per compiled pricing call between deadline checks
EXCHANGE_PASSES = 20  # of the local search over the column pool after the dive
PRICING_FIRST_CHUNK_TRIPS = 16  # the first call of a round, and the least: its pace sizes the next
CANDIDATES_SHARE = 1.0  # past this the scan stops (a plan, no bound): only once the limit is spent
COLUMN_GENERATION_SHARE = 0.55  # of the time limit; the integer models get most of the rest
# Under load (a neighbour on a core) rounds slow down and the share above can end column
# generation before the bound is close (M once stopped 2.3% above it). Up to this many rounds,
# generation goes on past its share, to COLUMN_GENERATION_STRETCH, while a round at the pace so
# far fits (so never on a city whose rounds take seconds, as under a 5 s limit on L-dense).
MIN_ROUNDS = 8
COLUMN_GENERATION_STRETCH = 0.7
FINAL_RESERVE = 0.08  # of the time limit, kept for the explanations and writing the answer


@dataclass(frozen=True)
class SolveParams:
    time_limit_s: float = 60.0
    gap: float = 0.005
    solver: str = "cbc"  # "cbc" | "highs"
    columns_per_trip: int = 10
    max_rounds: int = 200
    max_complete_columns: int = 30_000
    initial_singles: int = 3  # per parcel, in the first master
    memory_budget_mb: float = 2_048.0  # columns and candidates stay inside it; see SolveStats
    threads: int | None = None  # numba threads; None: every core this process may use
    smoothing: float = 0.3  # Wentges: weight of the best duals seen in the pricing duals
    master: str = "auto"  # LP algorithm: "simplex", "ipm", or "auto" (ipm on dense cities)

    def __post_init__(self) -> None:
        if self.solver not in ("cbc", "highs"):
            raise ValueError(f"unknown solver {self.solver!r}; use cbc or highs")
        if self.time_limit_s <= 0 or not 0 <= self.gap < 1:
            raise ValueError("time limit must be positive and gap in [0, 1)")
        if self.memory_budget_mb <= 0 or (self.threads is not None and self.threads < 1):
            raise ValueError("memory budget and threads must be positive")
        if self.master not in ("auto", "simplex", "ipm"):
            raise ValueError(f"unknown master {self.master!r}; use auto, simplex or ipm")
        if not 0 <= self.smoothing < 1:
            raise ValueError("smoothing must be in [0, 1)")


class Deadline:
    """The time limit, on an injectable clock (tests pass one that jumps)."""

    def __init__(self, limit_s: float, clock: Clock = time.perf_counter, started: float | None = None) -> None:
        self.clock = clock
        self.limit_s = limit_s
        self.started = clock() if started is None else started
        self.hit: str | None = None

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self, fraction: float = 1.0) -> float:
        """Seconds until `fraction` of the limit has passed."""
        return self.limit_s * fraction - self.elapsed()

    def passed(self, fraction: float, phase: str) -> bool:
        """Whether `fraction` of the limit has passed; the first phase to see it is recorded."""
        if self.left(fraction) > 0:
            return False
        if self.hit is None:
            self.hit = phase
        return True


@dataclass
class _Columns:
    trip: list[int] = field(default_factory=list)
    parcels: list[tuple[int, ...]] = field(default_factory=list)
    cost: list[int] = field(default_factory=list)
    index: dict[tuple[int, tuple[int, ...]], int] = field(default_factory=dict)  # (trip, parcels) -> column

    def add(self, trip: int, parcels: tuple[int, ...], cost: int) -> tuple[int, bool]:
        """Returns the column's index and whether it is new."""
        key = (trip, parcels)
        if key in self.index:
            return self.index[key], False
        self.index[key] = len(self.trip)
        self.trip.append(trip)
        self.parcels.append(parcels)
        self.cost.append(cost)
        return self.index[key], True

    def __len__(self) -> int:
        return len(self.trip)


def _quiet(_: str) -> None:
    return None


@cache
def _silence_highs_banner() -> None:
    """HiGHS writes its banner once per process, to file descriptor 1, the first time any `Highs` logs
    with output on; `highspy.Highs()` logs in its own constructor (enabling callbacks), before any option
    can be set, and PuLP's `HiGHS` builds one per solve. So the banner is spent once, here, by a bare core
    object with console logging off; every later `Highs` prints only what its own `output_flag` allows.
    (Passing an empty model logs without running anything, so HiGHS's thread scheduler stays unsized.)"""
    primer = highspy._core._Highs()
    primer.setOptionValue("log_to_console", False)
    primer.passModel(highspy.HighsLp())


class _Master:
    """The LP relaxation in HiGHS: parcel rows (= 1), trip rows (<= 1), a fallback column per parcel."""

    def __init__(self, n_parcels: int, n_trips: int, fallback: np.ndarray, interior: bool) -> None:
        inf = highspy.kHighsInf
        self.n_parcels = n_parcels
        self.interior = interior
        _silence_highs_banner()
        self.h = highspy.Highs()  # type: ignore[no-untyped-call]
        self.h.setOptionValue("output_flag", False)
        # No "threads" option: HiGHS sizes its scheduler once per process, and a later solve asking
        # for another count fails. Its simplex and IPX run serially here anyway.
        if interior:
            # Dense cities: simplex stalls on the degenerate master, while the interior point's
            # duals (no crossover) are central, which also steadies the pricing.
            self.h.setOptionValue("solver", "ipm")
            self.h.setOptionValue("run_crossover", "off")
        lower = np.concatenate([np.ones(n_parcels), np.full(n_trips, -inf)])
        upper = np.ones(n_parcels + n_trips)
        empty_i = np.empty(0, dtype=np.int32)
        self.h.addRows(n_parcels + n_trips, lower, upper, 0, empty_i, empty_i, np.empty(0))
        self.h.addCols(
            n_parcels,
            fallback.astype(np.float64),
            np.zeros(n_parcels),
            np.full(n_parcels, inf),
            n_parcels,
            np.arange(n_parcels, dtype=np.int32),
            np.arange(n_parcels, dtype=np.int32),
            np.ones(n_parcels),
        )

    def add(self, trips: list[int], parcels: list[tuple[int, ...]], costs: list[int]) -> None:
        if not trips:
            return
        starts: list[int] = []
        index: list[int] = []
        for t, ps in zip(trips, parcels, strict=True):
            starts.append(len(index))
            index.extend(ps)
            index.append(self.n_parcels + t)
        n = len(trips)
        self.h.addCols(
            n,
            np.array(costs, dtype=np.float64),
            np.zeros(n),
            np.full(n, highspy.kHighsInf),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.ones(len(index)),
        )

    def set_time_limit(self, seconds: float) -> None:
        self.h.setOptionValue("time_limit", max(0.05, seconds))

    def dive(self, cols: _Columns, deadline: Deadline, until: float) -> set[int]:
        """An integer plan from the LP: fix the strongest disjoint fractional columns to 1, re-solve, repeat.

        Fixed columns never share a parcel or a trip, so the LP stays feasible (the fleet covers
        the rest). Ends with every bundle column at 0 or 1, or, out of time, with the columns at
        more than one half (which never share a parcel or a trip either).
        """
        trips, parcels = cols.trip, cols.parcels
        used_parcels: set[int] = set()
        used_trips: set[int] = set()
        self.set_time_limit(deadline.left(until))
        values = self.solve()[3]
        for _ in range(100):
            if deadline.passed(until, "dive"):
                break
            bundles = values[self.n_parcels :]
            fractional = [int(j) for j in np.flatnonzero((bundles > 1e-6) & (bundles < 1 - 1e-6))]
            if not fractional:
                break
            fractional.sort(key=lambda j: -bundles[j])
            newly: list[int] = []
            for j in fractional:
                if trips[j] in used_trips or any(p in used_parcels for p in parcels[j]):
                    continue
                newly.append(j)
                used_trips.add(trips[j])
                used_parcels.update(parcels[j])
            for j in newly:
                self.h.changeColBounds(self.n_parcels + j, 1.0, 1.0)
            self.set_time_limit(deadline.left(until))
            values = self.solve()[3]
            if not self.optimal():
                break
        return _rounded_plan(values, self.n_parcels, cols)

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        self.h.run()
        solution = self.h.getSolution()
        duals = np.array(solution.row_dual)
        values = np.array(solution.col_value)
        return (
            float(self.h.getInfo().objective_function_value),
            duals[: self.n_parcels],
            duals[self.n_parcels :],
            values,
        )

    def optimal(self) -> bool:
        return bool(self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal)


# ---------------------------------------------------------------------------------------------
# Step 3: starting columns


@dataclass(frozen=True)
class _Start:
    cols: _Columns
    greedy_columns: set[int]
    warm_kept: int
    warm_dropped: int
    warm_plan: set[int] | None  # the previous round's plan columns that still hold


def _single_costs(arrays: Arrays, candidates: Candidates) -> np.ndarray:
    return arrays.per_parcel + np.ceil(arrays.per_detour_km * candidates.single_detour / 1000.0 - 1e-6).astype(np.int64)


def _starting_columns(
    instance: Instance,
    arrays: Arrays,
    candidates: Candidates,
    costs: BundleCosts,
    greedy_plan: dict[int, tuple[int, ...]],
    warm: WarmStart | None,
    initial_singles: int,
) -> _Start:
    """Each parcel's cheapest few trips alone, the greedy plan, and the previous round's columns
    that are still feasible. Exact pricing brings in any other column that could help."""
    n_trips = arrays.trips.shape[0]
    cols = _Columns()
    single_trip = np.repeat(np.arange(n_trips), np.diff(candidates.single_ptr))
    single_cost = _single_costs(arrays, candidates)
    by_parcel_cost = np.lexsort((single_cost, candidates.single_parcel))
    rank = np.arange(len(by_parcel_cost)) - np.searchsorted(
        candidates.single_parcel[by_parcel_cost], candidates.single_parcel[by_parcel_cost]
    )
    for s in by_parcel_cost[rank < initial_singles]:
        cols.add(int(single_trip[s]), (int(candidates.single_parcel[s]),), int(single_cost[s]))
    greedy_columns: set[int] = set()
    for t, ps in greedy_plan.items():
        evaluated = costs.evaluate(t, ps)
        assert evaluated is not None
        greedy_columns.add(cols.add(t, ps, evaluated[0])[0])
    kept = dropped = 0
    warm_plan = None
    if warm is not None:
        found = _recheck(instance, arrays, candidates, warm)
        for t, ps, cost in found:
            cols.add(t, ps, cost)
        kept = len(found)
        dropped = len(warm.columns) - kept
        index = _indices(instance)
        planned = [(index.trips.get(t), tuple(sorted(index.parcels.get(p, -1) for p in ps))) for t, ps in warm.plan]
        warm_plan = _disjoint(cols, [cols.index[key] for key in planned if key in cols.index])
    return _Start(cols, greedy_columns, kept, dropped, warm_plan)


def _recheck(
    instance: Instance, arrays: Arrays, candidates: Candidates, warm: WarmStart
) -> list[tuple[int, tuple[int, ...], int]]:
    """The warm columns that still fit, in this instance's indices and costs. A column goes when
    its trip or a parcel is gone, a pair is no longer a candidate (rules, forbidden), or no
    route is feasible now; the routes are checked in one compiled pass."""
    index = _indices(instance)
    listed: list[tuple[int, tuple[int, ...]]] = []
    for trip_id, parcel_ids in warm.columns:
        t = index.trips.get(trip_id)
        ps = tuple(sorted(index.parcels.get(p, -1) for p in parcel_ids))
        if t is None or not ps or ps[0] < 0 or len(set(ps)) != len(ps) or len(ps) > arrays.max_bundle:
            continue
        lo, hi = candidates.single_ptr[t], candidates.single_ptr[t + 1]
        if np.isin(np.array(ps), candidates.single_parcel[lo:hi]).all():
            listed.append((t, ps))
    if not listed:
        return []
    trips = np.array([t for t, _ in listed], dtype=np.int64)
    bundles = np.full((len(listed), 3), -1, dtype=np.int64)
    for i, (_, ps) in enumerate(listed):
        bundles[i, : len(ps)] = ps
    orders = tuple(stop_orders(k) for k in range(1, 4))
    costs = bundle_costs(
        arrays.parcels, arrays.trips, trips, bundles, orders, arrays.per_parcel, arrays.per_detour_km,
        arrays.road_factor, arrays.service_s,
    )  # fmt: skip
    return [(t, ps, int(c)) for (t, ps), c in zip(listed, costs, strict=True) if c >= 0]


@dataclass(frozen=True)
class _Index:
    parcels: dict[str, int]
    trips: dict[str, int]


_INDEX_CACHE: dict[int, tuple[Instance, _Index]] = {}


def _indices(instance: Instance) -> _Index:
    cached = _INDEX_CACHE.get(id(instance))
    if cached is not None and cached[0] is instance:
        return cached[1]
    index = _Index({p.id: i for i, p in enumerate(instance.parcels)}, {t.id: i for i, t in enumerate(instance.trips)})
    _INDEX_CACHE.clear()
    _INDEX_CACHE[id(instance)] = (instance, index)
    return index


# ---------------------------------------------------------------------------------------------
# Step 4: column generation


@dataclass
class _Generation:
    """What column generation leaves for the integer models."""

    best_bound: float  # Lagrangian bound, valid over every bundle (or -inf: none proven)
    best_pi: np.ndarray  # the parcel duals that gave it
    best_min_rc: np.ndarray  # each trip's least reduced cost under them (or a lower bound on it)
    lp_value: float
    rounds: int
    converged: bool
    incumbent: set[int]  # columns of the best plan rounded from an LP point (or a warm round's)
    within_gap: bool  # the incumbent is within the gap of the bound: no dive or integer model needed
    evaluations: int
    deferred: int


def _price(
    arrays: Arrays,
    candidates: Candidates,
    cache: PairCache,
    pi: np.ndarray,
    mu: np.ndarray,
    keep: int,
    budget: int,
    deadline: Deadline,
    until: float,
    only: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bool, int] | None:
    """Pricing over every trip (or the `only` ones: the others' minima stay inf), in chunks between
    deadline checks; None if the deadline cut it."""
    n_trips = arrays.trips.shape[0]
    listed = np.arange(n_trips, dtype=np.int64) if only is None else only
    orders2 = stop_orders(2) if arrays.max_bundle >= 2 else stop_orders(1)
    orders3 = stop_orders(3) if arrays.max_bundle >= 3 else stop_orders(1)
    thresholds = np.minimum(mu, 0.0) - 1e-6
    min_rc = np.full(n_trips, math.inf)
    rows: list[np.ndarray] = []
    exact = True
    evaluations = 0
    lo, size = 0, PRICING_FIRST_CHUNK_TRIPS
    while lo < listed.shape[0]:
        if deadline.passed(until, "pricing"):
            return None
        trips = listed[lo : lo + size]
        tick = deadline.clock()
        chunk_min, chunk_rows, chunk_exact, chunk_evals = price_trips(
            arrays.parcels, arrays.trips, candidates.packed, cache.packed, trips, pi, arrays.per_parcel,
            arrays.per_detour_km, arrays.max_bundle, orders2, orders3, arrays.road_factor, arrays.service_s, keep,
            thresholds, budget,
        )  # fmt: skip
        # The next chunk is sized to end well before the deadline at this chunk's pace: on a
        # dense city one trip's pricing can take tens of milliseconds.
        per_trip = max(1e-9, deadline.clock() - tick) / len(trips)
        lo += len(trips)
        size = int(min(PRICING_CHUNK_TRIPS, max(PRICING_FIRST_CHUNK_TRIPS, 0.5 * deadline.left(until) / per_trip)))
        min_rc[trips] = chunk_min
        rows.append(chunk_rows)
        exact = exact and bool(chunk_exact)
        evaluations += int(chunk_evals)
    return min_rc, np.concatenate(rows) if rows else np.empty((0, 6)), exact, evaluations


def _rounded_plan(values: np.ndarray, n_parcels: int, cols: _Columns) -> set[int]:
    """A plan from an LP point: its columns above one half, strongest first, skipping any that
    shares a parcel or a trip with one taken (none does at an optimal point; a point cut short by
    a time limit may be infeasible)."""
    bundles = values[n_parcels : n_parcels + len(cols)]
    strong = np.flatnonzero(bundles > 0.5)
    return _disjoint(cols, [int(j) for j in strong[np.argsort(-bundles[strong], kind="stable")]])


def _disjoint(cols: _Columns, ordered: list[int]) -> set[int]:
    used_parcels: set[int] = set()
    used_trips: set[int] = set()
    chosen: set[int] = set()
    for j in ordered:
        if cols.trip[j] in used_trips or any(p in used_parcels for p in cols.parcels[j]):
            continue
        chosen.add(j)
        used_trips.add(cols.trip[j])
        used_parcels.update(cols.parcels[j])
    return chosen


def _is_plan(cols: _Columns, chosen: set[int]) -> bool:
    return len(_disjoint(cols, sorted(chosen))) == len(chosen)


def _column_generation(
    arrays: Arrays,
    candidates: Candidates,
    cache: PairCache,
    cols: _Columns,
    master: _Master,
    params: SolveParams,
    deadline: Deadline,
    column_cap: int,
    incumbent: set[int],
    warm_duals: _WarmDuals | None,
    progress: Progress,
    warm_plan: set[int] | None = None,
) -> _Generation:
    n_parcels, n_trips = arrays.parcels.shape[0], arrays.trips.shape[0]
    fallback_f = arrays.fallback.astype(np.float64)
    best_bound = -math.inf
    best_pi = np.zeros(n_parcels)
    best_mu = np.zeros(n_trips)
    best_min_rc = np.full(n_trips, -math.inf)
    incumbent_cost = _plan_cost(cols, incumbent, arrays.fallback, range(n_parcels))
    lp_value = math.inf
    rounds = 0
    evaluations = 0
    deferred = 0
    converged = within_gap = False
    lp_s = pricing_s = 0.0
    if warm_duals is not None:
        # A previous round's duals, priced first (with the quick budget: a trip that runs out
        # reports a lower bound, so the bound holds): a bound close to the optimum at once, the
        # centre the smoothing pulls towards, and the columns those duals like, which go into the
        # first master beside the previous round's. Only the trips the changes touch are priced:
        # the others keep last round's least reduced cost, still a lower bound (`matching.warm`).
        unknown = np.isnan(warm_duals.floors)
        priced = _price(arrays, candidates, cache, warm_duals.pi, warm_duals.mu, params.columns_per_trip,
                        ROUTES_PER_TRIP, deadline, COLUMN_GENERATION_SHARE,
                        np.flatnonzero(unknown).astype(np.int64))  # fmt: skip
        if priced is not None:
            min_rc, new, _, n_eval = priced
            min_rc = np.where(unknown, min_rc, warm_duals.floors)
            evaluations += n_eval
            best_bound = lagrangian_bound(warm_duals.pi, fallback_f, min_rc)
            best_pi, best_mu, best_min_rc = warm_duals.pi, warm_duals.mu, min_rc
            progress(f"warm duals: bound {best_bound:.1f}, {int(unknown.sum())} of {n_trips} trips priced")
            warm_t: list[int] = []
            warm_p: list[tuple[int, ...]] = []
            warm_c: list[int] = []
            for row in new:
                ps = tuple(sorted(int(v) for v in row[1:4] if v != NO_PARCEL))
                t, cost = int(row[0]), int(row[4])
                if (t, ps) in cols.index or len(cols) >= column_cap:
                    continue
                cols.add(t, ps, cost)
                warm_t.append(t)
                warm_p.append(ps)
                warm_c.append(cost)
            master.add(warm_t, warm_p, warm_c)
        if warm_plan is not None:
            # Last round's plan, where it still holds: the incumbent to beat when it is better.
            cost = _plan_cost(cols, warm_plan, arrays.fallback, range(n_parcels))
            if cost < incumbent_cost:
                incumbent, incumbent_cost = set(warm_plan), cost
    budget = ROUTES_PER_TRIP
    alpha = params.smoothing if warm_duals is not None else 0.0
    tolerance = 1e-6
    share = COLUMN_GENERATION_SHARE
    began = deadline.clock()
    while rounds < params.max_rounds:
        if deadline.left(COLUMN_GENERATION_SHARE) <= 0:
            pace = (deadline.clock() - began) / max(1, rounds)
            stretch = 0 < rounds < MIN_ROUNDS and deadline.left(COLUMN_GENERATION_STRETCH) > 1.5 * pace
            share = COLUMN_GENERATION_STRETCH if stretch else COLUMN_GENERATION_SHARE
            if not stretch:
                deadline.passed(COLUMN_GENERATION_SHARE, "column generation")
                break
        rounds += 1
        master.set_time_limit(deadline.left(share))
        tick = deadline.clock()
        value, pi, mu, values = master.solve()
        lp_s += deadline.clock() - tick
        if not master.optimal():
            deadline.passed(0.0, "column generation")
            break
        lp_value = value
        rounded = _rounded_plan(values, n_parcels, cols)
        rounded_cost = _plan_cost(cols, rounded, arrays.fallback, range(n_parcels))
        if rounded_cost < incumbent_cost:
            incumbent, incumbent_cost = rounded, rounded_cost
        target = params.gap * 0.2 * max(1.0, lp_value)
        if lp_value - best_bound <= max(tolerance, target if params.gap > 0 else tolerance):
            converged = True
            break
        if incumbent_cost - best_bound <= params.gap * incumbent_cost:
            progress(f"round {rounds}: plan {incumbent_cost} within the gap of bound {best_bound:.1f}")
            within_gap = True
            break
        # Wentges smoothing: price at a point between the best-bound duals and the master's.
        a = alpha if math.isfinite(best_bound) else 0.0
        price_pi, price_mu = a * best_pi + (1 - a) * pi, a * best_mu + (1 - a) * mu
        tick = deadline.clock()
        priced = _price(arrays, candidates, cache, price_pi, price_mu, params.columns_per_trip, budget, deadline,
                        share)  # fmt: skip
        pricing_s += deadline.clock() - tick
        if priced is None:
            break
        min_rc, new, exact, n_eval = priced
        evaluations += n_eval
        bound = lagrangian_bound(price_pi, fallback_f, min_rc)
        if bound > best_bound:
            best_bound, best_pi, best_mu, best_min_rc = bound, price_pi, price_mu, min_rc
        added_t: list[int] = []
        added_p: list[tuple[int, ...]] = []
        added_c: list[int] = []
        improving = 0
        for row in new:
            ps = tuple(sorted(int(v) for v in row[1:4] if v != NO_PARCEL))
            t, cost = int(row[0]), int(row[4])
            # Does it price out at the master's own duals? (If none does, the smoothing mis-priced.)
            if cost - pi[list(ps)].sum() - min(0.0, mu[t]) < -1e-6:
                improving += 1
            if (t, ps) in cols.index:
                continue
            if len(cols) >= column_cap:
                deferred += 1
                continue
            cols.add(t, ps, cost)
            added_t.append(t)
            added_p.append(ps)
            added_c.append(cost)
        kind = "exact" if exact else "quick"
        progress(
            f"round {rounds} ({kind}, smoothing {a:.2f}): LP {lp_value:.1f}, bound {best_bound:.1f}, "
            f"+{len(added_t)} columns; LP {lp_s:.2f} s, pricing {pricing_s:.2f} s in all"
        )
        if not added_t:
            if exact and a == 0.0:
                # Exact pricing at the master's duals found nothing new: the LP is optimal (unless
                # the memory budget deferred what it found), its value the bound.
                converged = deferred == 0
                break
            alpha, budget = 0.0, EXACT
        elif improving == 0:
            # Smoothed, a mis-price: price the master's own duals next. Unsmoothed, quick pricing
            # found nothing: an exact round either proves the LP optimal or finds more.
            if a > 0.0:
                alpha = 0.0
            else:
                budget = EXACT
        else:
            alpha, budget = params.smoothing, ROUTES_PER_TRIP
        master.add(added_t, added_p, added_c)
    return _Generation(
        best_bound, best_pi, best_min_rc, lp_value, rounds, converged, incumbent, within_gap, evaluations, deferred
    )


def _exchange(
    cols: _Columns, chosen: set[int], fallback: np.ndarray, pi: np.ndarray, deadline: Deadline, until: float
) -> set[int]:
    """Local search over the pool: bring a column in when it pays for the columns it displaces
    (those on its trip or sharing a parcel, whose other parcels go to the cheapest single column
    on a trip left free, or to the fleet) and for the fleet costs it saves. Columns of least
    reduced cost at `pi` are tried first; passes repeat while one improves. Each move lowers the
    total, so the plan only gets better."""
    n_parcels = fallback.shape[0]
    trip_col: dict[int, int] = {cols.trip[j]: j for j in chosen}
    parcel_col = np.full(n_parcels, -1, dtype=np.int64)
    for j in chosen:
        parcel_col[list(cols.parcels[j])] = j
    current = set(chosen)
    rc = [cols.cost[j] - float(pi[list(cols.parcels[j])].sum()) for j in range(len(cols))]
    order = sorted(range(len(cols)), key=rc.__getitem__)
    singles: dict[int, list[int]] = {}
    for j in sorted(range(len(cols)), key=cols.cost.__getitem__):
        if len(cols.parcels[j]) == 1:
            singles.setdefault(cols.parcels[j][0], []).append(j)
    for _ in range(EXCHANGE_PASSES):
        improved = False
        for n, c in enumerate(order):
            if n % 4096 == 0 and deadline.passed(until, "exchange"):
                return current
            if c in current:
                continue
            ps = cols.parcels[c]
            out = {parcel_col[p] for p in ps if parcel_col[p] >= 0}
            on_trip = trip_col.get(cols.trip[c], -1)
            if on_trip >= 0:
                out.add(on_trip)
            delta = float(cols.cost[c]) - sum(float(fallback[p]) for p in ps if parcel_col[p] < 0)
            orphans: list[int] = []
            for j in out:
                delta -= cols.cost[j]
                orphans.extend(q for q in cols.parcels[j] if q not in ps)
            # Each orphan goes back to the cheapest single column on a trip left free (one each),
            # or to the fleet: moves that pay only with that second step are found too.
            freed = {cols.trip[j] for j in out}
            taken = {cols.trip[c]}
            recover: list[int] = []
            for q in orphans:
                pick = -1
                for k in singles.get(q, ()):
                    t = cols.trip[k]
                    if cols.cost[k] >= fallback[q]:
                        break
                    if t not in taken and (t not in trip_col or t in freed):
                        pick = k
                        break
                if pick >= 0:
                    taken.add(cols.trip[pick])
                    recover.append(pick)
                    delta += cols.cost[pick]
                else:
                    delta += float(fallback[q])
            if delta >= -1e-9:
                continue
            for j in out:
                current.discard(j)
                del trip_col[cols.trip[j]]
                parcel_col[list(cols.parcels[j])] = -1
            for k in [c, *recover]:
                current.add(k)
                trip_col[cols.trip[k]] = k
                parcel_col[list(cols.parcels[k])] = k
            improved = True
        if not improved:
            break
    return current


# ---------------------------------------------------------------------------------------------
# Step 5: integer models per component


def _components(n_parcels: int, candidates: Candidates, n_trips: int) -> np.ndarray:
    """Component label per parcel (-1: no trip can carry it) from the parcel-trip graph."""
    parent = np.arange(n_parcels + n_trips)
    trip_of = np.repeat(np.arange(n_trips), np.diff(candidates.single_ptr)) + n_parcels
    union_all(parent, candidates.single_parcel, trip_of)
    has_trip = np.zeros(n_parcels, dtype=np.bool_)
    has_trip[candidates.single_parcel] = True
    roots = find_all(parent, n_parcels)
    labels = np.full(n_parcels, -1, dtype=np.int64)
    _, dense = np.unique(roots[has_trip], return_inverse=True)
    labels[has_trip] = dense
    return labels


@dataclass(frozen=True)
class _MilpResult:
    chosen: set[int]
    status: str
    optimal: bool
    dual_bound: float | None  # HiGHS's proven bound over the columns it was given


def _milp(
    columns: list[int],
    cols: _Columns,
    parcels: list[int],
    fallback: np.ndarray,
    start: set[int],
    params: SolveParams,
    time_limit_s: float,
    gap: float,
) -> _MilpResult:
    """One component's set partitioning in PuLP, warm-started from `start`."""
    prob = pulp.LpProblem("matching", pulp.LpMinimize)
    x = {j: pulp.LpVariable(f"x{j}", cat=pulp.LpBinary) for j in columns}
    y = {p: pulp.LpVariable(f"y{p}", lowBound=0, upBound=1) for p in parcels}
    prob += pulp.lpSum(cols.cost[j] * x[j] for j in columns) + pulp.lpSum(int(fallback[p]) * y[p] for p in parcels)
    covering: dict[int, list[int]] = {p: [] for p in parcels}
    by_trip: dict[int, list[int]] = {}
    for j in columns:
        for p in cols.parcels[j]:
            covering[p].append(j)
        by_trip.setdefault(cols.trip[j], []).append(j)
    for p in parcels:
        prob += pulp.lpSum(x[j] for j in covering[p]) + y[p] == 1, f"parcel{p}"
    for t, js in by_trip.items():
        if len(js) > 1:
            prob += pulp.lpSum(x[j] for j in js) <= 1, f"trip{t}"
    covered = {p for j in start for p in cols.parcels[j]}
    for j in columns:
        x[j].setInitialValue(1 if j in start else 0)
    for p in parcels:
        y[p].setInitialValue(0 if p in covered else 1)
    limit = max(0.2, time_limit_s)
    solver: pulp.LpSolver
    if params.solver == "highs":
        _silence_highs_banner()
        # No warm start: HiGHS 1.16 given a start through setSolution was seen to declare a
        # worse plan optimal (its presolve mapped the start wrongly), so it gets none.
        solver = pulp.HiGHS(msg=False, timeLimit=limit, gapRel=gap)
    else:
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=gap, warmStart=True, threads=params.threads)
    prob.solve(solver)
    chosen = {j for j in columns if (x[j].value() or 0) > 0.5}
    if not _is_plan(cols, chosen):  # a solver stopped mid-way may hand back an infeasible point
        return _MilpResult(set(start), "Not a plan", False, None)
    # PuLP reports "Optimal" after a time limit too; sol_status says whether optimality was proven.
    optimal = prob.sol_status == pulp.LpSolutionOptimal
    dual_bound = None
    if params.solver == "highs":
        info = prob.solverModel.getInfo()
        dual_bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    # A solver's claims count only if the plan it returns costs what it says it costs.
    reported = pulp.value(prob.objective)
    if reported is None or abs(float(reported) - _plan_cost(cols, chosen, fallback, parcels)) > 0.5:
        optimal, dual_bound = False, None
    return _MilpResult(chosen, pulp.LpSolution[prob.sol_status], optimal, dual_bound)


def _complete_columns(
    arrays: Arrays,
    candidates: Candidates,
    cache: PairCache,
    cols: _Columns,
    pi: np.ndarray,
    min_rc: np.ndarray,
    trips: np.ndarray,
    slack: float,
    limit: int,
    seconds: float,
) -> list[int] | None:
    """Adds every column of the given trips that could be in a plan cheaper than the incumbent;
    returns the new ones, or None (adding nothing) when there are more than `limit`.

    For any parcel duals pi, a plan costs at least the Lagrangian bound plus, for each of its
    columns, rc - min(0, trip's least rc): so with `slack` = incumbent - bound, no cheaper plan
    uses a column with rc >= min(0, least rc) + slack. Valid with lower bounds on the least rc.
    """
    floor = np.where(np.isfinite(min_rc), np.minimum(min_rc, 0.0), 0.0)
    thresholds = np.where(trips, floor + slack + 1e-6, -np.inf)
    orders2 = stop_orders(2) if arrays.max_bundle >= 2 else stop_orders(1)
    orders3 = stop_orders(3) if arrays.max_bundle >= 3 else stop_orders(1)
    rows, finished = enumerate_columns(
        arrays.parcels, arrays.trips, candidates.packed, cache.packed, pi, arrays.per_parcel, arrays.per_detour_km,
        arrays.max_bundle, orders2, orders3, arrays.road_factor, arrays.service_s, thresholds,
        min(PER_TRIP_COLUMNS, limit + 1), int(seconds * EVALUATIONS_PER_S),
    )  # fmt: skip
    if not finished or len(rows) > limit:
        return None
    added = []
    for row in rows:
        ps = tuple(sorted(int(v) for v in row[1:4] if v != NO_PARCEL))
        j, new = cols.add(int(row[0]), ps, int(row[4]))
        if new:
            added.append(j)
    return added


def _plan_cost(cols: _Columns, chosen: set[int], fallback: np.ndarray, parcels: range | list[int]) -> int:
    covered = {p for j in chosen for p in cols.parcels[j]}
    return sum(cols.cost[j] for j in chosen) + sum(int(fallback[p]) for p in parcels if p not in covered)


@dataclass(frozen=True)
class _Integer:
    chosen: set[int]
    bound: float  # over every bundle, or -inf
    components: int
    milps: int
    statuses: dict[str, int]
    completion_skipped: int


@dataclass(frozen=True)
class _Component:
    label: int
    parcels: list[int]
    columns: list[int]
    start: set[int]
    start_cost: int
    bound: float


def _split(
    arrays: Arrays, candidates: Candidates, cols: _Columns, gen: _Generation, starts: list[set[int]]
) -> tuple[list[_Component], np.ndarray, float]:
    """Components, each with its columns, its best start among `starts` and its share of the
    Lagrangian bound (each parcel's and each trip's term is its own)."""
    n_parcels, n_trips = arrays.parcels.shape[0], arrays.trips.shape[0]
    labels = _components(n_parcels, candidates, n_trips)
    n_components = int(labels.max()) + 1 if n_parcels else 0
    comp_columns: list[list[int]] = [[] for _ in range(n_components)]
    for j in range(len(cols)):
        comp_columns[int(labels[cols.parcels[j][0]])].append(j)
    comp_parcels: list[list[int]] = [[] for _ in range(n_components)]
    for p in range(n_parcels):
        if labels[p] >= 0:
            comp_parcels[int(labels[p])].append(p)
    fallback_f = arrays.fallback.astype(np.float64)
    parcel_terms = gen.best_pi + np.minimum(0.0, fallback_f - gen.best_pi)
    trip_label = np.full(n_trips, -1, dtype=np.int64)
    has_single = np.diff(candidates.single_ptr) > 0
    trip_label[has_single] = labels[candidates.single_parcel[candidates.single_ptr[:-1][has_single]]]
    comp_bound = np.zeros(n_components)
    np.add.at(comp_bound, labels[labels >= 0], parcel_terms[labels >= 0])
    trip_terms = np.minimum(0.0, gen.best_min_rc)  # a trip with no candidates (inf) adds nothing
    np.add.at(comp_bound, trip_label[trip_label >= 0], trip_terms[trip_label >= 0])
    if not math.isfinite(gen.best_bound):
        comp_bound[:] = -math.inf
    components = []
    for c in range(n_components):
        best: tuple[int, set[int]] | None = None
        for plan in starts:
            mine = {j for j in comp_columns[c] if j in plan}
            cost = _plan_cost(cols, mine, arrays.fallback, comp_parcels[c])
            if best is None or cost < best[0]:
                best = (cost, mine)
        assert best is not None
        components.append(_Component(c, comp_parcels[c], comp_columns[c], best[1], best[0], float(comp_bound[c])))
    outside = float(arrays.fallback[labels < 0].sum())
    return components, trip_label, outside


def _integer_plans(
    arrays: Arrays,
    candidates: Candidates,
    cache: PairCache,
    cols: _Columns,
    gen: _Generation,
    starts: list[set[int]],
    params: SolveParams,
    deadline: Deadline,
    column_cap: int,
    until: float,
) -> _Integer:
    components, trip_label, outside = _split(arrays, candidates, cols, gen, starts)
    pi = gen.best_pi
    floor = np.where(np.isfinite(gen.best_min_rc), np.minimum(gen.best_min_rc, 0.0), 0.0)
    rc_all = np.array([cols.cost[j] - pi[list(cols.parcels[j])].sum() - floor[cols.trip[j]] for j in range(len(cols))])
    core_tau = max(1.0, 0.1 * arrays.per_parcel)
    # Components furthest from their bound get the integer model first, while time remains.
    components.sort(key=lambda comp: -(comp.start_cost - comp.bound))
    total_columns = sum(len(comp.columns) for comp in components) or 1

    def share(size: int, fraction: float) -> float:
        return deadline.left(until) * fraction * min(1.0, 4 * size / total_columns)

    def within_gap(cost: float, bound: float) -> bool:
        return cost - bound <= params.gap * max(1.0, cost) + 1e-9

    chosen: set[int] = set()
    milps = skipped = 0
    statuses: dict[str, int] = {}
    bound_total = outside
    if within_gap(outside + sum(comp.start_cost for comp in components), outside + sum(c.bound for c in components)):
        # The starts together are within the gap of the bound: the components' models would only
        # chase a gap the caller did not ask for (each one alone, its fleet-only parcels aside,
        # may still look outside it).
        for comp in components:
            chosen |= comp.start
            bound_total += comp.bound
        return _Integer(chosen, bound_total, len(components), 0, statuses, 0)
    for comp in components:
        start, start_cost, bound, js = comp.start, comp.start_cost, comp.bound, comp.columns
        if not within_gap(start_cost, bound) and share(len(js), 0.5) > 0.2:
            # A core of the columns the duals like best, solved first: small, fast and usually enough.
            core = sorted({j for j in js if rc_all[j] <= core_tau} | start)
            if len(core) < len(js):
                result = _milp(
                    core, cols, comp.parcels, arrays.fallback, start, params, share(len(js), 0.5), params.gap
                )
                milps += 1
                statuses[result.status] = statuses.get(result.status, 0) + 1
                cost = _plan_cost(cols, result.chosen, arrays.fallback, comp.parcels)
                if cost < start_cost:
                    start, start_cost = result.chosen, cost
        if not within_gap(start_cost, bound) and math.isfinite(bound) and share(len(js), 1.0) > 0.3:
            # With every column that could still improve present, the model's bound holds over all bundles.
            added = _complete_columns(
                arrays, candidates, cache, cols, pi, gen.best_min_rc, trip_label == comp.label, start_cost - bound,
                min(params.max_complete_columns, max(0, column_cap - len(cols))), share(len(js), 1.0) / 3,
            )  # fmt: skip
            if added is None:
                skipped += 1
            else:
                js = js + added
                result = _milp(js, cols, comp.parcels, arrays.fallback, start, params, share(len(js), 1.0), params.gap)
                milps += 1
                statuses[result.status] = statuses.get(result.status, 0) + 1
                cost = _plan_cost(cols, result.chosen, arrays.fallback, comp.parcels)
                if cost < start_cost:
                    start, start_cost = result.chosen, cost
                if result.optimal and params.gap == 0:
                    bound = max(bound, start_cost)
                elif result.dual_bound is not None:
                    bound = max(bound, result.dual_bound)
        deadline.passed(until, "integer models")
        chosen |= start
        bound_total += bound
    return _Integer(chosen, bound_total, len(components), milps, statuses, skipped)


# ---------------------------------------------------------------------------------------------
# The whole solve


def _set_threads(threads: int | None) -> int:
    """numba's thread count: the parameter, capped by the cores this process may use."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    most: int = nb.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    n = max(1, min(threads or available, available, most))
    nb.set_num_threads(n)
    return n


@dataclass(frozen=True)
class _WarmDuals:
    pi: np.ndarray
    mu: np.ndarray
    floors: np.ndarray  # per trip, a lower bound on its least reduced cost at `pi`, or nan: price it


def _warm_duals(
    instance: Instance, arrays: Arrays, candidates: Candidates, warm: WarmStart | None, diff: Changes | None
) -> _WarmDuals | None:
    """The previous round's duals on this instance, and the trips whose floor they still give."""
    if warm is None or not warm.parcel_duals:
        return None
    # The previous duals stay feasible for the columns of unchanged trips and parcels (their costs
    # did not move). A new parcel gets the most its singles allow at the trips' duals: its dearest
    # price that keeps each single's reduced cost at or above its trip's dual (or its fleet cost).
    # Any duals give a valid bound; these lose little of the previous one (on M, a bound 1.7%
    # below the optimum where each new parcel's cheapest single left it 4% below).
    mu = np.array([min(0.0, warm.trip_duals.get(t.id, 0.0)) for t in instance.trips], dtype=np.float64)
    trip_of = np.repeat(np.arange(arrays.trips.shape[0]), np.diff(candidates.single_ptr))
    dearest = arrays.fallback.astype(np.float64).copy()
    np.minimum.at(dearest, candidates.single_parcel, _single_costs(arrays, candidates).astype(np.float64) - mu[trip_of])
    known = np.array([warm.parcel_duals.get(p.id, math.nan) for p in instance.parcels], dtype=np.float64)
    pi = np.minimum(np.where(np.isnan(known), dearest, known), arrays.fallback.astype(np.float64))
    floors = np.full(arrays.trips.shape[0], math.nan)
    memo = warm.memo
    if diff is not None and memo is not None and memo.floors_valid and candidates.complete:
        # An unchanged trip whose parcels all kept their duals (unchanged parcels, same fleet
        # cost) has the same bundles at the same reduced costs, or fewer: its previous least
        # reduced cost, kept as its trip dual, is a floor. Any new or changed parcel among its
        # singles, or the trip itself new or changed, and it is priced.
        fresh = np.zeros(arrays.parcels.shape[0], dtype=np.bool_)
        fresh[diff.parcel_old < 0] = True
        touched = np.zeros(arrays.trips.shape[0], dtype=np.bool_)
        np.logical_or.at(touched, trip_of, fresh[candidates.single_parcel])
        same = (diff.trip_old >= 0) & ~touched
        floors[same] = mu[same]
    return _WarmDuals(pi, mu, floors)


def _memory_cap(params: SolveParams, candidates: Candidates) -> int:
    """How many columns fit in the budget after the candidates and the pair cache's share."""
    budget = (1 - PAIR_CACHE_SHARE) * params.memory_budget_mb * 2**20 - BYTES_PER_SINGLE * candidates.singles
    return max(0, int(budget / BYTES_PER_COLUMN))


def solve(
    instance: Instance,
    params: SolveParams | None = None,
    progress: Progress = _quiet,
    warm: Solution | WarmStart | None = None,
    clock: Clock = time.perf_counter,
    started: float | None = None,
) -> Solution:
    """The steps of README's "The matching engine". `started` is the `clock` reading the time
    limit counts from (the command line passes its process start, so loading the instance and
    the compiled kernels count against the limit too); by default, the call itself."""
    params = params or SolveParams()
    deadline = Deadline(params.time_limit_s, clock, started)
    threads = _set_threads(params.threads)
    warm_start = warm.warm if isinstance(warm, Solution) else warm
    memo = warm_start.memo if warm_start is not None else None
    timings: dict[str, float] = {}

    mark = clock()
    arrays = build_arrays(instance)
    diff = changes(instance, memo) if memo is not None else None
    candidates = find_candidates(
        arrays,
        lambda: deadline.passed(CANDIDATES_SHARE, "candidates"),
        diff.reuse(memo) if diff is not None and memo is not None else None,
    )
    timings["candidates_s"] = clock() - mark
    n_parcels, n_trips = arrays.parcels.shape[0], arrays.trips.shape[0]
    progress(f"candidates: {candidates.singles} singles ({'all' if candidates.complete else 'cut by the deadline'})")

    mark = clock()
    costs = BundleCosts(arrays)
    greedy_plan = greedy(arrays, candidates)
    timings["greedy_s"] = clock() - mark
    explain_s = _explain_s(arrays, greedy_plan, clock)
    singles_bound = _singles_bound(arrays, candidates) if candidates.complete else -math.inf

    mark = clock()
    start = _starting_columns(instance, arrays, candidates, costs, greedy_plan, warm_start, params.initial_singles)
    cols = start.cols
    column_cap = max(_memory_cap(params, candidates), len(cols))
    interior = params.master == "ipm" or (
        params.master == "auto" and candidates.singles > IPM_ABOVE_TRIPS_PER_PARCEL * max(1, n_parcels)
    )
    # Past column generation's share already (a short limit on a dense city), the master and the
    # pair table (a quarter of the memory budget, written through) would be built for nothing.
    generating = deadline.left(COLUMN_GENERATION_SHARE) > 0
    master = _Master(n_parcels, n_trips, arrays.fallback, interior)
    if generating:
        master.add(cols.trip, cols.parcels, cols.cost)
    timings["build_s"] = clock() - mark

    mark = clock()
    cache = PairCache.within(
        candidates.single_ptr, PAIR_CACHE_SHARE * params.memory_budget_mb * 2**20 if generating else 0.0
    )
    gen = _column_generation(
        arrays, candidates, cache, cols, master, params, deadline, column_cap, set(start.greedy_columns),
        _warm_duals(instance, arrays, candidates, warm_start, diff), progress, start.warm_plan,
    )  # fmt: skip
    timings["column_generation_s"] = clock() - mark

    mark = clock()
    until = 1.0 - FINAL_RESERVE - explain_s / params.time_limit_s
    # A plan already within the gap (a warm round's, usually) needs no dive.
    diving = gen.rounds and not gen.within_gap
    dive = master.dive(cols, deadline, until) if diving else set()
    if diving:
        before = _plan_cost(cols, dive, arrays.fallback, range(n_parcels))
        dive = _exchange(cols, dive, arrays.fallback, gen.best_pi, deadline, until)
        progress(f"dive {before}, after the local search {_plan_cost(cols, dive, arrays.fallback, range(n_parcels))}")
    integer = _integer_plans(
        arrays,
        candidates,
        cache,
        cols,
        gen,
        [start.greedy_columns, gen.incumbent, dive, *([start.warm_plan] if start.warm_plan else [])],
        params,
        deadline,
        column_cap,
        until,
    )
    timings["solve_s"] = clock() - mark
    progress(f"integer model: {integer.milps} MILPs over {integer.components} components")

    mark = clock()
    explained: list[tuple[np.ndarray, np.ndarray]] = []

    def explain(parcels: np.ndarray) -> np.ndarray:
        counts = reasons(arrays, parcels, _reasons_for, memo, diff)
        explained.append((parcels, counts))
        return counts

    solution = _assemble(instance, arrays, cols, integer.chosen, candidates, explain)
    timings["explanations_s"] = clock() - mark

    total = solution.cost.total
    best_bound = max(integer.bound, singles_bound) if candidates.complete else -math.inf
    lower = None if not math.isfinite(best_bound) else max(0, math.ceil(best_bound - 1e-6))
    dropped_bound = None
    if lower is not None and lower > total:
        # Impossible for a proven bound: report none rather than a wrong one, and say so.
        progress(f"bound {lower} exceeds the plan's total {total}; dropping it")
        dropped_bound, lower = lower, None
    gap = None if lower is None else (0.0 if total == 0 else (total - lower) / total)
    all_parcels = range(n_parcels)
    pi, mu = _final_duals(master, gen, n_trips)
    next_memo = RoundMemo(
        instance=instance,
        arrays=arrays,
        candidates=candidates if candidates.complete else None,
        floors_valid=math.isfinite(gen.best_bound) and candidates.complete,
        reason_parcels=explained[0][0],
        reason_counts=explained[0][1],
    )
    stats = SolveStats(
        solver="HiGHS" if params.solver == "highs" else "CBC",
        wall_s=round(deadline.elapsed(), 3),
        columns=len(cols),
        components=integer.components,
        milps=integer.milps,
        milp_status=integer.statuses,
        rounds=gen.rounds,
        converged=gen.converged,
        lp=round(gen.lp_value, 3) if math.isfinite(gen.lp_value) else None,
        dive_total=_plan_cost(cols, dive, arrays.fallback, all_parcels),
        greedy_total=_plan_cost(cols, start.greedy_columns, arrays.fallback, all_parcels),
        singles=candidates.singles,
        route_evaluations=gen.evaluations,
        trips_per_parcel=round(candidates.singles / n_parcels, 2) if n_parcels else 0.0,
        threads=threads,
        memory_budget_mb=params.memory_budget_mb,
        column_cap=column_cap,
        columns_deferred=gen.deferred,
        completion_skipped=integer.completion_skipped,
        warm_columns_kept=start.warm_kept,
        warm_columns_dropped=start.warm_dropped,
        deadline_hit=deadline.hit,
        dropped_bound=dropped_bound,
        timings={k: round(v, 3) for k, v in timings.items()},
    )
    return Solution(
        assignments=solution.assignments,
        unassigned=solution.unassigned,
        cost=solution.cost,
        bound=Bound(lower=lower, gap=None if gap is None else round(gap, 6)),
        stats=stats,
        warm=_warm_for_next(instance, arrays, cols, integer.chosen, pi, mu, next_memo),
    )


def _final_duals(master: _Master, gen: _Generation, n_trips: int) -> tuple[np.ndarray, np.ndarray]:
    """The duals to hand the next round: the best-bound parcel duals (a proven bound's duals),
    and the trips' duals from the master's last LP."""
    del master
    # Each trip's least reduced cost at the best-bound duals is the trip dual that makes them a
    # feasible dual solution over every column, not only the master's.
    mu = np.where(np.isfinite(gen.best_min_rc), np.minimum(gen.best_min_rc, 0.0), 0.0)
    return gen.best_pi, mu if mu.shape[0] == n_trips else np.zeros(n_trips)


def _warm_for_next(
    instance: Instance,
    arrays: Arrays,
    cols: _Columns,
    chosen: set[int],
    pi: np.ndarray,
    mu: np.ndarray,
    memo: RoundMemo,
) -> WarmStart:
    """The columns worth re-checking next round (the plan's, and those within a tenth of a
    parcel's pay of pricing out at these duals: the rest rarely return), and the duals."""
    parcels, trips = instance.parcels, instance.trips
    tau = WARM_SLACK * arrays.per_parcel
    useful = [
        j
        for j in range(len(cols))
        if j in chosen or cols.cost[j] - pi[list(cols.parcels[j])].sum() - min(0.0, mu[cols.trip[j]]) <= tau
    ]

    def named(j: int) -> tuple[str, tuple[str, ...]]:
        return trips[cols.trip[j]].id, tuple(parcels[p].id for p in cols.parcels[j])

    return WarmStart(
        columns=tuple(named(j) for j in useful),
        # Every parcel's, zeros too: a parcel missing here is taken for a new one next round.
        parcel_duals={p.id: float(v) for p, v in zip(parcels, pi, strict=True)},
        trip_duals={t.id: float(v) for t, v in zip(trips, mu, strict=True) if v != 0.0},
        plan=tuple(named(j) for j in sorted(chosen)),
        memo=memo,
    )


def _explain_s(arrays: Arrays, greedy_plan: dict[int, tuple[int, ...]], clock: Clock) -> float:
    """Time to set aside for the explanations, measured: the better plan leaves at most greedy's
    parcels unexplained, and a sample of them is explained now (the cost per parcel depends on
    the city's density and the machine's load far more than any constant could say)."""
    carried = np.zeros(arrays.parcels.shape[0], dtype=np.bool_)
    for ps in greedy_plan.values():
        carried[list(ps)] = True
    left = np.flatnonzero(~carried).astype(np.int64)
    if left.shape[0] == 0:
        return 0.0
    sample = left[:: max(1, left.shape[0] // EXPLAIN_SAMPLE)][:EXPLAIN_SAMPLE]

    def explain(parcels: np.ndarray) -> None:
        reasons_for(
            arrays.parcels, arrays.trips, parcels, arrays.rules, arrays.forbidden, stop_orders(1),
            arrays.road_factor, arrays.service_s,
        )  # fmt: skip

    explain(sample[:1])  # untimed: the first call loads the compiled kernel, which the rest never pays
    tick = clock()
    explain(sample)
    return float(EXPLAIN_MARGIN * (clock() - tick) * left.shape[0] / sample.shape[0])


def _singles_bound(arrays: Arrays, candidates: Candidates) -> float:
    """A Lagrangian bound that needs no routing, for when the deadline leaves no pricing round:
    at any parcel duals each trip's least reduced cost is at least `pricing.singles_floor`. Tried
    at a few duals between each parcel's cheapest single and its fleet cost (on L-dense the fleet
    cost is best: 4.9 M against the LP's 5.8 M, where the cheapest single gives 2.8 M); the best
    holds. About 35 ms a try on L-dense."""
    fallback = arrays.fallback.astype(np.float64)
    dc = (_single_costs(arrays, candidates) - arrays.per_parcel).astype(np.float64)
    cheapest = fallback.copy()
    np.minimum.at(cheapest, candidates.single_parcel, arrays.per_parcel + dc)
    best = -math.inf
    for share in SINGLES_BOUND_SHARES:
        pi = cheapest + share * (fallback - cheapest)
        floor = singles_floor(
            candidates.single_ptr, candidates.single_parcel, dc, arrays.per_parcel - pi, arrays.max_bundle
        )
        best = max(best, lagrangian_bound(pi, fallback, floor))
    return best


def solve_greedy(instance: Instance) -> Solution:
    """The greedy plan alone, with explanations: the baseline, and the answer when time is short."""
    started = time.perf_counter()
    mark = time.perf_counter()
    arrays = build_arrays(instance)
    candidates = find_candidates(arrays)
    timings = {"candidates_s": time.perf_counter() - mark}
    mark = time.perf_counter()
    costs = BundleCosts(arrays)
    plan = greedy(arrays, candidates)
    cols = _Columns()
    chosen = set()
    for t, ps in plan.items():
        evaluated = costs.evaluate(t, ps)
        assert evaluated is not None
        chosen.add(cols.add(t, ps, evaluated[0])[0])
    timings["solve_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    solution = _assemble(instance, arrays, cols, chosen, candidates)
    timings["explanations_s"] = time.perf_counter() - mark
    n_parcels = arrays.parcels.shape[0]
    stats = SolveStats(
        solver="greedy",
        wall_s=round(time.perf_counter() - started, 3),
        columns=len(cols),
        greedy_total=solution.cost.total,
        singles=candidates.singles,
        trips_per_parcel=round(candidates.singles / n_parcels, 2) if n_parcels else 0.0,
        threads=nb.get_num_threads(),
        timings={k: round(v, 3) for k, v in timings.items()},
    )
    return Solution(solution.assignments, solution.unassigned, solution.cost, Bound(None, None), stats)


def _whole_second_at_or_after(now: datetime, offset_s: float) -> datetime:
    """The earliest start, rounded up to a whole second of the clock (not of the offset)."""
    return datetime.fromtimestamp(math.ceil(now.timestamp() + offset_s - 1e-6), tz=UTC)


def _reasons_for(arrays: Arrays, parcels: np.ndarray) -> np.ndarray:
    return reasons_for(  # type: ignore[no-any-return]
        arrays.parcels, arrays.trips, parcels, arrays.rules, arrays.forbidden, stop_orders(1), arrays.road_factor,
        arrays.service_s,
    )  # fmt: skip


def _assemble(
    instance: Instance,
    arrays: Arrays,
    cols: _Columns,
    chosen: set[int],
    candidates: Candidates,
    explain: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Solution:
    assignments: list[Assignment] = []
    carried = np.zeros(arrays.parcels.shape[0], dtype=np.bool_)
    crowd = 0
    for j in sorted(chosen, key=lambda j: instance.trips[cols.trip[j]].id):
        t, ps = cols.trip[j], cols.parcels[j]
        times = np.empty(2 * len(ps))
        idx = np.array(ps, dtype=np.int64)
        detour, row = best_order(
            arrays.parcels, arrays.trips, t, idx, stop_orders(len(ps)), arrays.road_factor, arrays.service_s, times
        )
        assert row >= 0, "a chosen column must be feasible"
        order = stop_orders(len(ps))[row]
        stops = tuple(
            Stop(
                parcel_id=instance.parcels[ps[e // 2]].id,
                kind="pickup" if e % 2 == 0 else "dropoff",
                at=_whole_second_at_or_after(instance.now, float(times[s])),
            )
            for s, e in enumerate(order)
        )
        carried[list(ps)] = True
        crowd += cols.cost[j]
        assignments.append(
            Assignment(
                trip_id=instance.trips[t].id,
                parcel_ids=tuple(instance.parcels[p].id for p in ps),
                stops=stops,
                detour_m=float(detour),
                cost=cols.cost[j],
                co2_g=float(arrays.trip_co2_g_per_km[t] * detour / 1000.0),
            )
        )
    left = np.flatnonzero(~carried).astype(np.int64)
    counts = explain(left) if explain is not None else _reasons_for(arrays, left)
    unassigned = tuple(
        Unassigned(
            parcel_id=instance.parcels[p].id,
            fallback_cost=int(arrays.fallback[p]),
            reasons=tuple(
                Reason(code=REASON_CODES[code], trips=int(counts[i, code]))
                for code in range(FEASIBLE + 1)
                if counts[i, code] > 0
            ),
        )
        for i, p in enumerate(left)
    )
    fallback = int(arrays.fallback[left].sum())
    return Solution(
        assignments=tuple(assignments),
        unassigned=unassigned,
        cost=Cost(crowd=crowd, fallback=fallback, total=crowd + fallback, fallback_only=int(arrays.fallback.sum())),
        bound=Bound(None, None),
    )
