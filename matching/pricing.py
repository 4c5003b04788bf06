"""Pricing: for every trip, the bundles of least reduced cost under the master's duals.

Reduced cost of bundle S on trip t is cost(S) - sum of the parcels' duals (the trip's own dual
is handled through `thresholds`). Singles and pairs come from the candidate lists; triples are
built from triangles of feasible pairs (a triple is feasible only if all its pairs are: dropping
a parcel from a feasible route leaves a feasible route) and evaluated only when a lower bound
says they could beat the trip's best so far. That bound uses the fact that a bundle's detour is
at least the detour of any of its sub-bundles.

Each trip may be given a budget of triple evaluations. A trip that runs out reports, instead of
its exact minimum, a lower bound on it (its best found, or the three smallest parcel slacks if
lower), so the Lagrangian bound stays valid in every round, exact or not.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

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


@nb.njit(cache=True)
def _price_trip(
    t,
    pm,
    tm,
    cand,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders3,
    road_factor,
    service_s,
    threshold,
    collect_all,
    triple_budget,
    best_rc,
    best_cols,
):
    """Prices one trip; returns (least reduced cost or a lower bound on it, columns kept, exact,
    triple evaluations made). `cand` is `Candidates.packed`."""
    single_ptr, single_parcel, single_detour, pair_ptr, pair_a, pair_b, pair_detour, pair_la, pair_lb = cand
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
    if max_bundle < 2:
        return trip_min, kept, True, 0
    plo, phi = pair_ptr[t], pair_ptr[t + 1]
    for q in range(plo, phi):
        a, b = pair_a[q], pair_b[q]
        cost = 2 * per_parcel + detour_cost(per_detour_km, pair_detour[q])
        rc = cost - pi[a] - pi[b]
        trip_min = min(trip_min, rc)
        if rc < threshold:
            kept = _offer(best_rc, best_cols, kept, rc, a, b, NO_PARCEL, cost)
    if max_bundle < 3 or phi - plo < 3:
        return trip_min, kept, True, 0

    # The pair detours between the trip's candidates, by their positions among its singles.
    ids = single_parcel[lo:hi]
    pair_det = np.full((n, n), math.inf)
    for q in range(plo, phi):
        i, j = pair_la[q], pair_lb[q]
        pair_det[i, j] = pair_detour[q]
        pair_det[j, i] = pair_detour[q]
    # Visit parcels by increasing slack (per_parcel - dual) so the bound can stop loops early.
    slack = np.empty(n)
    for x in range(n):
        slack[x] = per_parcel - pi[ids[x]]
    order = np.argsort(slack)
    idx3 = np.empty(3, dtype=np.int64)
    times = np.empty(6)
    evaluations = 0
    exact = True
    for x in range(n):
        i = order[x]
        for y in range(x + 1, n):
            j = order[y]
            stop_at = max(trip_min, threshold) if collect_all else trip_min
            if slack[i] + 2 * slack[j] >= stop_at:
                break
            if pair_det[i, j] == math.inf:
                continue
            for z in range(y + 1, n):
                k = order[z]
                stop_at = max(trip_min, threshold) if collect_all else trip_min
                if slack[i] + slack[j] + slack[k] >= stop_at:
                    break
                if pair_det[i, k] == math.inf or pair_det[j, k] == math.inf:
                    continue
                floor = max(pair_det[i, j], pair_det[i, k], pair_det[j, k])
                bound = slack[i] + slack[j] + slack[k] + detour_cost(per_detour_km, floor)
                if bound >= trip_min and (bound >= threshold or not collect_all):
                    continue
                if evaluations >= triple_budget:
                    exact = False
                    break
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
    if not exact:
        # Every triple costs at least its parcels' slacks: a valid floor for what was not seen.
        trip_min = min(trip_min, slack[order[0]] + slack[order[1]] + slack[order[2]])
    return trip_min, kept, exact, evaluations


@nb.njit(cache=True, parallel=True)
def price_trips(
    pm,
    tm,
    cand,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders3,
    road_factor,
    service_s,
    keep,
    thresholds,
    triple_budget,
):
    """All trips, in parallel. Returns (least reduced cost or a lower bound on it per trip,
    columns as rows (trip, p0, p1, p2, cost, reduced cost), whether every minimum is exact).

    Up to `keep` columns per trip with reduced cost below `thresholds[t]` (the trip's own dual,
    so they price out negative in the master) are returned.
    """
    n_trips = tm.shape[0]
    min_rc = np.full(n_trips, math.inf)
    exact = np.ones(n_trips, dtype=np.bool_)
    kept = np.zeros(n_trips, dtype=np.int64)
    cols = np.empty((n_trips, keep, 5))
    for t in nb.prange(n_trips):
        if cand[0][t + 1] == cand[0][t]:
            continue
        best_rc = np.empty(keep)
        trip_min, n_kept, trip_exact, _ = _price_trip(
            t,
            pm,
            tm,
            cand,
            pi,
            per_parcel,
            per_detour_km,
            max_bundle,
            orders3,
            road_factor,
            service_s,
            thresholds[t],
            False,
            triple_budget,
            best_rc,
            cols[t],
        )
        min_rc[t] = trip_min
        kept[t] = n_kept
        exact[t] = trip_exact
    out = np.empty((kept.sum(), 6))
    row = 0
    for t in range(n_trips):
        for c in range(kept[t]):
            out[row, 0] = t
            out[row, 1:] = cols[t, c]
            row += 1
    return min_rc, out, exact.all()


@nb.njit(cache=True)
def enumerate_columns(
    pm,
    tm,
    cand,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders3,
    road_factor,
    service_s,
    thresholds,
    per_trip_limit,
    max_evaluations,
):
    """Every bundle with reduced cost below its trip's threshold, as rows like `price_trips`.

    Returns (rows, finished); not finished when a trip has more than `per_trip_limit` such
    bundles or the triple evaluations exceed `max_evaluations` in all.
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
            pi,
            per_parcel,
            per_detour_km,
            max_bundle,
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


def lagrangian_bound(pi: np.ndarray, fallback: np.ndarray, min_rc: np.ndarray) -> float:
    """A lower bound on the optimum valid for any duals `pi`: each parcel is either priced at its
    dual or sent to the fleet, and each trip takes its best bundle if that has negative reduced
    cost (`min_rc` may hold lower bounds on the trips' minima; the bound stays valid).
    """
    parcels = float(np.sum(pi + np.minimum(0.0, fallback - pi)))
    trips = float(np.sum(np.minimum(0.0, min_rc[np.isfinite(min_rc)])))
    return parcels + trips - EPS * len(pi)
