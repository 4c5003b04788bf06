"""Pricing: for every trip, the bundles of least reduced cost under the master's duals.

Reduced cost of bundle S on trip t is cost(S) - sum of the parcels' duals (the trip's own dual
is handled through `thresholds`). Singles come from the candidate lists; pairs and triples are
built here, per trip, only when a lower bound says they could beat the trip's best so far (or
the threshold, when collecting). That bound uses the fact that a bundle's detour is at least the
detour of any of its sub-bundles (dropping a parcel from a feasible route leaves a feasible
route), so a triple is tried only if its three pairs are feasible. Nothing is enumerated for the
whole city: the work follows the duals, and memory is one trip's pair table per thread.

Each trip may be given a budget of route evaluations. A trip that runs out reports, instead of
its exact minimum, a lower bound on it (its best found, or the smallest parcel slacks if lower),
so the Lagrangian bound stays valid in every round, exact or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import numpy.typing as npt

from matching.kernels import EPS, best_order, detour_cost

NO_PARCEL = -1


@nb.njit(cache=True)
def _offer(best_rc, best_cols, kept, rc, a, b, c, cost):
    """Keeps the len(best_rc) columns of least reduced cost; returns how many are kept."""
    keep = best_rc.shape[0]
    if kept < keep:
        slot = kept
        kept += 1
    else:
        slot = int(np.argmax(best_rc))
        if rc >= best_rc[slot]:
            return kept
    best_rc[slot] = rc
    best_cols[slot, 0] = a
    best_cols[slot, 1] = b
    best_cols[slot, 2] = c
    best_cols[slot, 3] = cost
    best_cols[slot, 4] = rc
    return kept


UNKNOWN = -2  # pair cache: not routed yet
INFEASIBLE = -1  # pair cache: no feasible route


@nb.njit(cache=True, inline="always")
def _tri(n, i, j):
    """Position of the pair (i, j) in a trip's upper-triangular pair table."""
    if i > j:
        i, j = j, i
    return i * n - i * (i + 1) // 2 + (j - i - 1)


@nb.njit(cache=True)
def _pair_cost(pm, tm, t, ids, table, n, i, j, per_detour_km, orders2, road_factor, service_s, idx2, times):
    """The detour cost of the pair (i, j) of the trip's singles (INFEASIBLE if none), routed once
    and kept in the trip's table. Returns (cost, whether it was routed now)."""
    q = _tri(n, i, j)
    if table[q] != UNKNOWN:
        return table[q], False
    idx2[0] = ids[i]
    idx2[1] = ids[j]
    detour, row = best_order(pm, tm, t, idx2, orders2, road_factor, service_s, times)
    value = detour_cost(per_detour_km, detour) if row >= 0 else INFEASIBLE
    table[q] = value
    return value, True


@nb.njit(cache=True)
def _price_trip(
    t,
    pm,
    tm,
    cand,
    cache,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders2,
    orders3,
    road_factor,
    service_s,
    threshold,
    collect_all,
    budget,
    best_rc,
    best_cols,
):
    """Prices one trip; returns (least reduced cost or a lower bound on it, columns kept, exact,
    routes computed now). `cand` is `Candidates.packed`, `cache` a `PairCache.packed`.

    Parcels are visited by increasing slack (per_parcel - dual); a bundle's reduced cost is at
    least its slacks plus the detour cost of its worst sub-bundle, so loops stop as soon as the
    slacks alone cannot beat the best found (or, collecting, the threshold). Triples go first:
    with high duals they are the trip's best, and their value then prunes most pairs. Pairs are
    routed only when a triple or the pair itself needs them, and kept in the trip's table (when
    the memory budget gave it one) for later rounds; only fresh routes count against `budget`.
    """
    single_ptr, single_parcel, single_detour = cand
    pair_off, pair_table = cache
    lo, hi = single_ptr[t], single_ptr[t + 1]
    n = hi - lo
    kept = 0
    trip_min = math.inf
    for s in range(lo, hi):
        p = single_parcel[s]
        cost = per_parcel + detour_cost(per_detour_km, single_detour[s])
        rc = cost - pi[p]
        trip_min = min(trip_min, rc)
        if rc < threshold:
            kept = _offer(best_rc, best_cols, kept, rc, p, NO_PARCEL, NO_PARCEL, cost)
    if max_bundle < 2 or n < 2:
        return trip_min, kept, True, 0
    ids = single_parcel[lo:hi]
    sdc = np.empty(n, dtype=np.int64)
    slack = np.empty(n)
    for x in range(n):
        slack[x] = per_parcel - pi[ids[x]]
        sdc[x] = detour_cost(per_detour_km, single_detour[lo + x])
    order = np.argsort(slack)
    size = n * (n - 1) // 2
    own = pair_off[t] >= 0
    table = pair_table[pair_off[t] : pair_off[t] + size] if own else np.full(size, UNKNOWN, dtype=np.int32)
    seen = np.zeros(size, dtype=np.bool_)  # pairs already offered in this call
    idx2 = np.empty(2, dtype=np.int64)
    idx3 = np.empty(3, dtype=np.int64)
    times = np.empty(6)
    evaluations = 0
    exact = True
    if max_bundle >= 3 and n >= 3:
        # The loops break, not just skip: along each loop the slacks grow, and the detour cost
        # of the parcels fixed by the outer loops is a floor for every bundle that contains them.
        for x in range(n - 2):
            i = order[x]
            stop_at = max(trip_min, threshold) if collect_all else trip_min
            if slack[i] + slack[order[x + 1]] + slack[order[x + 2]] >= stop_at:
                break
            for y in range(x + 1, n - 1):
                j = order[y]
                stop_at = max(trip_min, threshold) if collect_all else trip_min
                if slack[i] + slack[j] + slack[order[y + 1]] + sdc[i] >= stop_at:
                    break
                floor_ij = max(sdc[i], sdc[j])
                for z in range(y + 1, n):
                    k = order[z]
                    stop_at = max(trip_min, threshold) if collect_all else trip_min
                    s3 = slack[i] + slack[j] + slack[k]
                    if s3 + floor_ij >= stop_at:
                        break
                    if s3 + sdc[k] >= stop_at:
                        continue
                    if evaluations + 4 > budget:
                        exact = False
                        break
                    floor = 0
                    feasible = True
                    for u, v in ((i, j), (i, k), (j, k)):
                        c2, fresh = _pair_cost(
                            pm, tm, t, ids, table, n, u, v, per_detour_km, orders2, road_factor, service_s, idx2, times
                        )
                        if fresh:
                            evaluations += 1
                        q = _tri(n, u, v)
                        if c2 != INFEASIBLE and not seen[q]:
                            seen[q] = True
                            cost = 2 * per_parcel + c2
                            rc = cost - pi[ids[u]] - pi[ids[v]]
                            trip_min = min(trip_min, rc)
                            if rc < threshold:
                                a, b = min(ids[u], ids[v]), max(ids[u], ids[v])
                                kept = _offer(best_rc, best_cols, kept, rc, a, b, NO_PARCEL, cost)
                        if c2 == INFEASIBLE:
                            feasible = False
                            break
                        floor = max(floor, c2)
                    if not feasible:
                        continue
                    stop_at = max(trip_min, threshold) if collect_all else trip_min
                    if s3 + floor >= stop_at:
                        continue
                    evaluations += 1
                    idx3[0] = ids[i]
                    idx3[1] = ids[j]
                    idx3[2] = ids[k]
                    detour, row = best_order(pm, tm, t, idx3, orders3, road_factor, service_s, times)
                    if row < 0:
                        continue
                    cost = 3 * per_parcel + detour_cost(per_detour_km, detour)
                    rc = cost - pi[idx3[0]] - pi[idx3[1]] - pi[idx3[2]]
                    trip_min = min(trip_min, rc)
                    if rc < threshold:
                        kept = _offer(best_rc, best_cols, kept, rc, idx3[0], idx3[1], idx3[2], cost)
                if not exact:
                    break
            if not exact:
                break
    if exact:
        for x in range(n - 1):
            i = order[x]
            stop_at = max(trip_min, threshold) if collect_all else trip_min
            if slack[i] + slack[order[x + 1]] >= stop_at:
                break
            for y in range(x + 1, n):
                j = order[y]
                stop_at = max(trip_min, threshold) if collect_all else trip_min
                s2 = slack[i] + slack[j]
                if s2 + sdc[i] >= stop_at:
                    break
                q = _tri(n, i, j)
                if seen[q] or s2 + sdc[j] >= stop_at:
                    continue  # offered with the triples already, or cannot improve
                if table[q] == UNKNOWN and evaluations >= budget:
                    exact = False
                    break
                c2, fresh = _pair_cost(
                    pm, tm, t, ids, table, n, i, j, per_detour_km, orders2, road_factor, service_s, idx2, times
                )
                if fresh:
                    evaluations += 1
                if c2 == INFEASIBLE:
                    continue
                cost = 2 * per_parcel + c2
                rc = cost - pi[ids[i]] - pi[ids[j]]
                trip_min = min(trip_min, rc)
                if rc < threshold:
                    kept = _offer(
                        best_rc, best_cols, kept, rc, min(ids[i], ids[j]), max(ids[i], ids[j]), NO_PARCEL, cost
                    )
            if not exact:
                break
    if not exact:
        # Every bundle costs at least its parcels' slacks: a valid floor for what was not seen.
        trip_min = min(trip_min, slack[order[0]] + slack[order[1]])
        if max_bundle >= 3 and n >= 3:
            trip_min = min(trip_min, slack[order[0]] + slack[order[1]] + slack[order[2]])
    return trip_min, kept, exact, evaluations


@nb.njit(cache=True, parallel=True)
def price_trips(
    pm,
    tm,
    cand,
    cache,
    trips,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders2,
    orders3,
    road_factor,
    service_s,
    keep,
    thresholds,
    budget,
):
    """The listed trips, in parallel. Returns (least reduced cost or a lower bound on it per listed
    trip, columns as rows (trip, p0, p1, p2, cost, reduced cost), whether every minimum is exact,
    route evaluations made).

    Up to `keep` columns per trip with reduced cost below `thresholds[t]` (the trip's own dual,
    so they price out negative in the master) are returned.
    """
    n_trips = trips.shape[0]
    min_rc = np.full(n_trips, math.inf)
    exact = np.ones(n_trips, dtype=np.bool_)
    kept = np.zeros(n_trips, dtype=np.int64)
    evaluations = np.zeros(n_trips, dtype=np.int64)
    cols = np.empty((n_trips, keep, 5))
    for x in nb.prange(n_trips):
        t = trips[x]
        if cand[0][t + 1] == cand[0][t]:
            continue
        best_rc = np.empty(keep)
        trip_min, n_kept, trip_exact, n_eval = _price_trip(
            t,
            pm,
            tm,
            cand,
            cache,
            pi,
            per_parcel,
            per_detour_km,
            max_bundle,
            orders2,
            orders3,
            road_factor,
            service_s,
            thresholds[t],
            False,
            budget,
            best_rc,
            cols[x],
        )
        min_rc[x] = trip_min
        kept[x] = n_kept
        exact[x] = trip_exact
        evaluations[x] = n_eval
    out = np.empty((kept.sum(), 6))
    row = 0
    for x in range(n_trips):
        for c in range(kept[x]):
            out[row, 0] = trips[x]
            out[row, 1:] = cols[x, c]
            row += 1
    return min_rc, out, exact.all(), evaluations.sum()


@nb.njit(cache=True)
def enumerate_columns(
    pm,
    tm,
    cand,
    cache,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders2,
    orders3,
    road_factor,
    service_s,
    thresholds,
    per_trip_limit,
    max_evaluations,
):
    """Every bundle with reduced cost below its trip's threshold, as rows like `price_trips`.

    Returns (rows, finished); not finished when a trip has more than `per_trip_limit` such
    bundles or the route evaluations exceed `max_evaluations` in all.
    """
    cap = 1024
    out = np.empty((cap, 6))
    count = 0
    best_rc = np.empty(per_trip_limit)
    best_cols = np.empty((per_trip_limit, 5))
    budget = max_evaluations
    for t in range(tm.shape[0]):
        if thresholds[t] == -math.inf or cand[0][t + 1] == cand[0][t]:
            continue
        _, kept, exact, evaluations = _price_trip(
            t,
            pm,
            tm,
            cand,
            cache,
            pi,
            per_parcel,
            per_detour_km,
            max_bundle,
            orders2,
            orders3,
            road_factor,
            service_s,
            thresholds[t],
            True,
            budget,
            best_rc,
            best_cols,
        )
        if not exact or kept == per_trip_limit:
            return out[:count].copy(), False
        budget -= evaluations
        for c in range(kept):
            if count == cap:
                cap *= 2
                grown = np.empty((cap, 6))
                grown[:count] = out[:count]
                out = grown
            out[count, 0] = t
            out[count, 1:] = best_cols[c]
            count += 1
    return out[:count].copy(), True


@dataclass(frozen=True)
class PairCache:
    """Pair routes kept between pricing rounds: per trip with a table, one int32 per pair of its
    candidates (the pair's detour cost, INFEASIBLE or UNKNOWN). Trips get tables in order while
    they fit in `budget_bytes`; the others route their pairs afresh in every round."""

    offsets: npt.NDArray[np.int64]  # start of each trip's table, -1: none
    table: npt.NDArray[np.int32]

    @property
    def packed(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        return (self.offsets, self.table)

    @property
    def trips_without(self) -> int:
        return int((self.offsets < 0).sum())

    @classmethod
    def within(cls, single_ptr: npt.NDArray[np.int64], budget_bytes: float) -> PairCache:
        n = np.diff(single_ptr)
        sizes = n * (n - 1) // 2
        fits = np.cumsum(sizes) * 4 <= budget_bytes
        offsets = np.where(fits, np.concatenate([[0], np.cumsum(sizes)[:-1]]), -1).astype(np.int64)
        total = int(sizes[fits].sum())
        return cls(offsets, np.full(total, UNKNOWN, dtype=np.int32))


@nb.njit(cache=True)
def singles_floor(single_ptr, single_parcel, single_dc, slack, max_bundle):
    """Per trip, a lower bound on the least reduced cost of any bundle of its singles, from the
    singles alone (no routing): a bundle costs its parcels' pay plus at least the largest of their
    own detour costs, so its reduced cost is at least its slacks plus that largest detour cost.
    Taking each single in turn as the bundle's costliest, the rest are the up to max_bundle - 1
    most negative slacks among the singles no costlier than it. Never above zero."""
    n_trips = single_ptr.shape[0] - 1
    floor = np.zeros(n_trips)
    best = np.empty(max(1, max_bundle - 1))
    for t in range(n_trips):
        lo, hi = single_ptr[t], single_ptr[t + 1]
        if hi == lo:
            continue
        order = np.argsort(single_dc[lo:hi], kind="mergesort")
        kept = 0
        trip_min = 0.0
        for x in range(hi - lo):
            s = lo + order[x]
            sl = slack[single_parcel[s]]
            value = sl + single_dc[s]
            for y in range(kept):
                value += best[y]
            if value < trip_min:
                trip_min = value
            if max_bundle > 1 and sl < 0.0:
                # keep the max_bundle - 1 most negative slacks seen
                if kept < max_bundle - 1:
                    best[kept] = sl
                    kept += 1
                else:
                    worst = 0
                    for y in range(1, kept):
                        if best[y] > best[worst]:
                            worst = y
                    if sl < best[worst]:
                        best[worst] = sl
        floor[t] = trip_min
    return floor


def lagrangian_bound(pi: np.ndarray, fallback: np.ndarray, min_rc: np.ndarray) -> float:
    """A lower bound on the optimum valid for any duals `pi`: each parcel is either priced at its
    dual or sent to the fleet, and each trip takes its best bundle if that has negative reduced
    cost (`min_rc` may hold lower bounds on the trips' minima; the bound stays valid).
    """
    parcels = float(np.sum(pi + np.minimum(0.0, fallback - pi)))
    trips = float(np.sum(np.minimum(0.0, min_rc[np.isfinite(min_rc)])))
    return parcels + trips - EPS * len(pi)
