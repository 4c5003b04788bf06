"""The matching model: set partitioning over (trip, bundle) columns, priced exactly.

1. Candidates: which trips could carry each parcel alone (never a forbidden pair), and which
   pairs fit together.
2. Greedy: a first plan, used as starting columns and as the fallback answer.
3. Column generation on the LP relaxation (HiGHS): every feasible single starts in the master;
   exact pricing over all bundles adds the ones with negative reduced cost. At every round the
   Lagrangian bound (parcel duals plus each trip's least reduced cost) is a lower bound over
   *all* bundles, generated or not; at convergence it equals the LP optimum.
4. The integer model in PuLP (CBC or HiGHS) over the generated columns, one per connected
   component of parcels and trips; components whose LP optimum is already integral skip it.
5. Explanations for every parcel left to the fleet.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import highspy
import numpy as np
import pulp

from matching.arrays import FEASIBLE, REASON_CODES, Arrays, build_arrays
from matching.candidates import Candidates, find_candidates
from matching.greedy import BundleCosts, greedy
from matching.kernels import best_order, reasons_for, stop_orders
from matching.model import Assignment, Bound, Cost, Instance, Reason, Solution, Stop, Unassigned
from matching.pricing import NO_PARCEL, enumerate_columns, lagrangian_bound, price_trips

Progress = Callable[[str], None]

EXACT = 2**62  # no cap on pricing work
PER_TRIP_COLUMNS = 20_000  # beyond this many improving bundles on one trip, enumeration gives up
QUICK_TRIPLES = 64  # triple evaluations per trip in a quick pricing round
EVALUATIONS_PER_S = 300_000  # triple route evaluations per second, measured low, for time budgets


@dataclass(frozen=True)
class SolveParams:
    time_limit_s: float = 60.0
    gap: float = 0.005
    solver: str = "cbc"  # "cbc" | "highs"
    columns_per_trip: int = 5
    max_rounds: int = 200
    max_complete_columns: int = 30_000
    initial_singles: int = 3  # per parcel, in the first master

    def __post_init__(self) -> None:
        if self.solver not in ("cbc", "highs"):
            raise ValueError(f"unknown solver {self.solver!r}; use cbc or highs")
        if self.time_limit_s <= 0 or not 0 <= self.gap < 1:
            raise ValueError("time limit must be positive and gap in [0, 1)")


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


class _Master:
    """The LP relaxation in HiGHS: parcel rows (= 1), trip rows (<= 1), a fallback column per parcel."""

    def __init__(self, n_parcels: int, n_trips: int, fallback: np.ndarray) -> None:
        inf = highspy.kHighsInf
        self.n_parcels = n_parcels
        self.h = highspy.Highs()  # type: ignore[no-untyped-call]
        self.h.setOptionValue("output_flag", False)
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

    def dive(self, trips: list[int], parcels: list[tuple[int, ...]], max_rounds: int = 100) -> set[int]:
        """An integer plan from the LP: fix the strongest disjoint fractional columns to 1, re-solve, repeat.

        Fixed columns never share a parcel or a trip, so the LP stays feasible (the fleet covers
        the rest). Ends with every bundle column at 0 or 1.
        """
        fixed: set[int] = set()
        used_parcels: set[int] = set()
        used_trips: set[int] = set()
        for _ in range(max_rounds):
            _, _, _, values = self.solve()
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
            fixed.update(newly)
        _, _, _, values = self.solve()
        bundles = values[self.n_parcels :]
        return {int(j) for j in np.flatnonzero(bundles > 0.5)}

    def solve(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        self.h.run()
        solution = self.h.getSolution()
        duals = np.array(solution.row_dual)
        values = np.array(solution.col_value)
        self.duals = (duals[: self.n_parcels], duals[self.n_parcels :])
        return (
            float(self.h.getInfo().objective_function_value),
            duals[: self.n_parcels],
            duals[self.n_parcels :],
            values,
        )


def _components(n_parcels: int, candidates: Candidates, n_trips: int) -> np.ndarray:
    """Component label per parcel (-1: no trip can carry it) from the parcel-trip graph."""
    parent = list(range(n_parcels + n_trips))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ptr, parcel = candidates.single_ptr, candidates.single_parcel
    for t in range(n_trips):
        for s in range(ptr[t], ptr[t + 1]):
            a, b = find(int(parcel[s])), find(n_parcels + t)
            if a != b:
                parent[a] = b
    has_trip = np.zeros(n_parcels, dtype=np.bool_)
    has_trip[parcel] = True
    labels = np.full(n_parcels, -1, dtype=np.int64)
    roots: dict[int, int] = {}
    for p in range(n_parcels):
        if has_trip[p]:
            labels[p] = roots.setdefault(find(p), len(roots))
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
    limit = max(0.5, time_limit_s)
    solver: pulp.LpSolver
    if params.solver == "highs":
        # No warm start: HiGHS 1.16 given a start through setSolution was seen to declare a
        # worse plan optimal (its presolve mapped the start wrongly), so it gets none.
        solver = pulp.HiGHS(msg=False, timeLimit=limit, gapRel=gap)
    else:
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=gap, warmStart=True)
    prob.solve(solver)
    chosen = {j for j in columns if (x[j].value() or 0) > 0.5}
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


def _share(deadline: float, fraction: float, size: int, plans: list[list[Any]], comp_columns: list[list[int]]) -> float:
    """This component's slice of the time left, in proportion to its columns."""
    total = sum(len(comp_columns[plan[0]]) for plan in plans) or 1
    return max(0.5, (deadline - time.perf_counter()) * fraction * min(1.0, 4 * size / total))


def _complete_columns(
    arrays: Arrays,
    candidates: Candidates,
    cols: _Columns,
    pi: np.ndarray,
    mu: np.ndarray,
    trips: np.ndarray,
    slack: float,
    limit: int,
    seconds: float,
) -> list[int] | None:
    """Adds every column of the given trips whose reduced cost is at most `slack`; returns the new ones,
    or None (adding nothing) when there are more than `limit`."""
    thresholds = np.where(trips, np.minimum(mu, 0.0) + slack + 1e-6, -np.inf)
    orders3 = stop_orders(3) if arrays.max_bundle >= 3 else stop_orders(1)
    rows, finished = enumerate_columns(
        arrays.parcels, arrays.trips, candidates.packed, pi, arrays.per_parcel, arrays.per_detour_km,
        arrays.max_bundle, orders3, arrays.road_factor, arrays.service_s, thresholds, PER_TRIP_COLUMNS,
        int(seconds * EVALUATIONS_PER_S),
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


def _plan_cost(cols: _Columns, chosen: set[int], fallback: np.ndarray, parcels: list[int]) -> int:
    covered = {p for j in chosen for p in cols.parcels[j]}
    return sum(cols.cost[j] for j in chosen) + sum(int(fallback[p]) for p in parcels if p not in covered)


def solve(instance: Instance, params: SolveParams | None = None, progress: Progress = _quiet) -> Solution:
    params = params or SolveParams()
    started = time.perf_counter()
    deadline = started + params.time_limit_s
    timings: dict[str, float] = {}

    mark = time.perf_counter()
    arrays = build_arrays(instance)
    candidates = find_candidates(arrays)
    timings["candidates_s"] = time.perf_counter() - mark
    n_parcels, n_trips = arrays.parcels.shape[0], arrays.trips.shape[0]
    progress(f"candidates: {candidates.singles} singles, {candidates.pairs} pairs")

    mark = time.perf_counter()
    costs = BundleCosts(arrays)
    greedy_plan = greedy(arrays, candidates, costs)
    timings["greedy_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    cols = _Columns()
    # The master starts small: each parcel's cheapest few trips alone, and the greedy plan.
    # Exact pricing brings in any other single that could help, so nothing is lost.
    single_trip = np.repeat(np.arange(n_trips), np.diff(candidates.single_ptr))
    single_cost = arrays.per_parcel + np.ceil(arrays.per_detour_km * candidates.single_detour / 1000.0 - 1e-6).astype(
        np.int64
    )
    by_parcel_cost = np.lexsort((single_cost, candidates.single_parcel))
    rank = np.arange(len(by_parcel_cost)) - np.searchsorted(
        candidates.single_parcel[by_parcel_cost], candidates.single_parcel[by_parcel_cost]
    )
    for s in by_parcel_cost[rank < params.initial_singles]:
        cols.add(int(single_trip[s]), (int(candidates.single_parcel[s]),), int(single_cost[s]))
    greedy_columns: set[int] = set()
    for t, ps in greedy_plan.items():
        evaluated = costs.evaluate(t, ps)
        assert evaluated is not None
        greedy_columns.add(cols.add(t, ps, evaluated[0])[0])
    master = _Master(n_parcels, n_trips, arrays.fallback)
    master.add(cols.trip, cols.parcels, cols.cost)
    timings["build_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    best_bound = -math.inf
    best_pi = np.zeros(n_parcels)
    best_min_rc = np.full(n_trips, math.inf)
    fallback_f = arrays.fallback.astype(np.float64)
    lp_value = math.inf
    rounds = 0
    orders3 = stop_orders(3) if arrays.max_bundle >= 3 else stop_orders(1)
    cg_deadline = started + params.time_limit_s * 0.6
    converged = False
    # Quick rounds cap the triples priced per trip; once they find nothing, an exact round either
    # proves the LP optimal or finds more. Every round's bound is valid (see pricing.py).
    budget = QUICK_TRIPLES
    while rounds < params.max_rounds:
        rounds += 1
        lp_value, pi, mu, _ = master.solve()
        min_rc, new, exact = price_trips(
            arrays.parcels, arrays.trips, candidates.packed, pi, arrays.per_parcel, arrays.per_detour_km,
            arrays.max_bundle, orders3, arrays.road_factor, arrays.service_s, params.columns_per_trip,
            np.minimum(mu, 0.0) - 1e-6, budget,
        )  # fmt: skip
        bound = lagrangian_bound(pi, fallback_f, min_rc)
        if bound > best_bound:
            best_bound, best_pi, best_min_rc = bound, pi, min_rc
        added_t: list[int] = []
        added_p: list[tuple[int, ...]] = []
        added_c: list[int] = []
        for row in new:
            ps = tuple(sorted(int(v) for v in row[1:4] if v != NO_PARCEL))
            if cols.add(int(row[0]), ps, int(row[4]))[1]:
                added_t.append(int(row[0]))
                added_p.append(ps)
                added_c.append(int(row[4]))
        kind = "exact" if exact else "quick"
        progress(f"round {rounds} ({kind}): LP {lp_value:.1f}, bound {best_bound:.1f}, +{len(added_t)} columns")
        if not added_t:
            if exact:
                # Optimal duals: the bound below and the reduced costs used later must come from them.
                converged = True
                best_bound, best_pi, best_min_rc = max(best_bound, bound), pi, min_rc
                break
            budget = EXACT
        else:
            budget = QUICK_TRIPLES
            master.add(added_t, added_p, added_c)
        if time.perf_counter() > cg_deadline:
            break
    timings["column_generation_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    final_pi, final_mu = master.duals
    incumbent = master.dive(cols.trip, cols.parcels)
    labels = _components(n_parcels, candidates, n_trips)
    n_components = int(labels.max()) + 1 if n_parcels else 0
    comp_columns: list[list[int]] = [[] for _ in range(n_components)]
    for j in range(len(cols)):
        comp_columns[int(labels[cols.parcels[j][0]])].append(j)
    comp_parcels: list[list[int]] = [[] for _ in range(n_components)]
    for p in range(n_parcels):
        if labels[p] >= 0:
            comp_parcels[int(labels[p])].append(p)
    # The Lagrangian bound splits over components: each parcel's and each trip's term is its own.
    parcel_terms = best_pi + np.minimum(0.0, fallback_f - best_pi)
    # A trip's component is that of any parcel it could carry alone, column or not.
    trip_label = np.full(n_trips, -1, dtype=np.int64)
    has_single = np.diff(candidates.single_ptr) > 0
    trip_label[has_single] = labels[candidates.single_parcel[candidates.single_ptr[:-1][has_single]]]
    comp_bound = np.zeros(n_components)
    np.add.at(comp_bound, labels[labels >= 0], parcel_terms[labels >= 0])
    finite = (trip_label >= 0) & np.isfinite(best_min_rc)
    np.add.at(comp_bound, trip_label[finite], np.minimum(0.0, best_min_rc[finite]))

    rc_all = np.array(
        [
            cols.cost[j] - final_pi[list(cols.parcels[j])].sum() - min(0.0, final_mu[cols.trip[j]])
            for j in range(len(cols))
        ]
    )
    chosen: set[int] = set()
    milps = 0
    statuses: dict[str, int] = {}
    core_tau = max(1.0, 0.1 * arrays.per_parcel)
    plans: list[list[Any]] = []  # [component, start columns, start cost]
    for c in range(n_components):
        js = comp_columns[c]
        start = {j for j in js if j in incumbent}
        start_cost = _plan_cost(cols, start, arrays.fallback, comp_parcels[c])
        greedy_start = {j for j in js if j in greedy_columns}
        greedy_cost = _plan_cost(cols, greedy_start, arrays.fallback, comp_parcels[c])
        if greedy_cost < start_cost:
            start, start_cost = greedy_start, greedy_cost
        plans.append([c, start, start_cost])
    # Components furthest from their bound get the integer model first, while time remains.
    plans.sort(key=lambda plan: -(plan[2] - comp_bound[plan[0]]))

    def within_gap(cost: float, bound: float) -> bool:
        return cost - bound <= params.gap * max(1.0, cost) + 1e-9

    for c, start, start_cost in plans:
        js = comp_columns[c]
        parcels_c = comp_parcels[c]
        if not within_gap(start_cost, comp_bound[c]) and deadline - time.perf_counter() > 0.2:
            # A core of the columns the LP likes best, solved first: small, fast and usually enough.
            core = sorted({j for j in js if rc_all[j] <= core_tau} | start)
            if len(core) < len(js):
                result = _milp(core, cols, parcels_c, arrays.fallback, start, params,
                               _share(deadline, 0.5, len(js), plans, comp_columns), params.gap)  # fmt: skip
                milps += 1
                statuses[result.status] = statuses.get(result.status, 0) + 1
                cost = _plan_cost(cols, result.chosen, arrays.fallback, parcels_c)
                if cost < start_cost:
                    start, start_cost = result.chosen, cost
        if not within_gap(start_cost, comp_bound[c]) and converged and deadline - time.perf_counter() > 0.2:
            # Reduced-cost argument: with the LP's optimal duals, no plan cheaper than the incumbent
            # can use a column whose reduced cost exceeds (incumbent - LP). With all of those
            # columns present, the integer model's bound holds over every bundle.
            slack = start_cost - comp_bound[c]
            added = _complete_columns(
                arrays, candidates, cols, final_pi, final_mu, trip_label == c, slack, params.max_complete_columns,
                (deadline - time.perf_counter()) / 3,
            )  # fmt: skip
            if added is not None:
                js = comp_columns[c] = js + added
                result = _milp(js, cols, parcels_c, arrays.fallback, start, params,
                               _share(deadline, 1.0, len(js), plans, comp_columns), params.gap)  # fmt: skip
                milps += 1
                statuses[result.status] = statuses.get(result.status, 0) + 1
                cost = _plan_cost(cols, result.chosen, arrays.fallback, parcels_c)
                if cost < start_cost:
                    start, start_cost = result.chosen, cost
                if result.optimal and params.gap == 0:
                    comp_bound[c] = max(comp_bound[c], start_cost)
                elif result.dual_bound is not None:
                    comp_bound[c] = max(comp_bound[c], result.dual_bound)
        chosen |= start
    timings["solve_s"] = time.perf_counter() - mark
    progress(f"integer model: {milps} MILPs over {n_components} components")
    best_bound = float(comp_bound.sum() + arrays.fallback[labels < 0].sum())

    mark = time.perf_counter()
    solution = _assemble(instance, arrays, cols, chosen, candidates)
    timings["explanations_s"] = time.perf_counter() - mark

    total = solution.cost.total
    lower = None if not math.isfinite(best_bound) else max(0, math.ceil(best_bound - 1e-6))
    if lower is not None and lower > total:
        # Impossible for a proven bound: report none rather than a wrong one, and say so.
        progress(f"bound {lower} exceeds the plan's total {total}; dropping it")
        dropped_bound: int | None = lower
        lower = None
    else:
        dropped_bound = None
    gap = None if lower is None else (0.0 if total == 0 else (total - lower) / total)
    greedy_total = _plan_cost(cols, greedy_columns, arrays.fallback, list(range(n_parcels)))
    stats: dict[str, object] = {
        "solver": "HiGHS" if params.solver == "highs" else "CBC",
        "wall_s": round(time.perf_counter() - started, 3),
        "columns": len(cols),
        "components": n_components,
        "milps": milps,
        "milp_status": statuses,
        "rounds": rounds,
        "converged": converged,
        "lp": round(lp_value, 3),
        "dive_total": _plan_cost(cols, incumbent, arrays.fallback, list(range(n_parcels))),
        "greedy_total": greedy_total,
        "singles": candidates.singles,
        "pairs": candidates.pairs,
        "trips_per_parcel": round(candidates.singles / n_parcels, 2) if n_parcels else 0.0,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    if dropped_bound is not None:
        stats["dropped_bound"] = dropped_bound
    return Solution(
        assignments=solution.assignments,
        unassigned=solution.unassigned,
        cost=solution.cost,
        bound=Bound(lower=lower, gap=None if gap is None else round(gap, 6)),
        stats=stats,
    )


def solve_greedy(instance: Instance) -> Solution:
    """The greedy plan alone, with explanations: the baseline, and the answer when time is short."""
    started = time.perf_counter()
    mark = time.perf_counter()
    arrays = build_arrays(instance)
    candidates = find_candidates(arrays, pairs=False)
    timings = {"candidates_s": time.perf_counter() - mark}
    mark = time.perf_counter()
    costs = BundleCosts(arrays)
    plan = greedy(arrays, candidates, costs)
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
    stats: dict[str, object] = {
        "solver": "greedy",
        "wall_s": round(time.perf_counter() - started, 3),
        "columns": len(cols),
        "singles": candidates.singles,
        "pairs": candidates.pairs,
        "trips_per_parcel": round(candidates.singles / n_parcels, 2) if n_parcels else 0.0,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    return Solution(solution.assignments, solution.unassigned, solution.cost, Bound(None, None), stats)


def _whole_second_at_or_after(now: datetime, offset_s: float) -> datetime:
    """The earliest start, rounded up to a whole second of the clock (not of the offset)."""
    return datetime.fromtimestamp(math.ceil(now.timestamp() + offset_s - 1e-6), tz=UTC)


def _assemble(instance: Instance, arrays: Arrays, cols: _Columns, chosen: set[int], candidates: Candidates) -> Solution:
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
    counts = reasons_for(
        arrays.parcels, arrays.trips, left, arrays.rules, arrays.forbidden, stop_orders(1), arrays.road_factor,
        arrays.service_s,
    )  # fmt: skip
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
