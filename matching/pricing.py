"""Exact pricing: for every trip, the bundle of least reduced cost under the master's duals.

Reduced cost of bundle S on trip t is cost(S) - sum of the parcels' duals (the trip's own dual
is handled by the caller). Singles and pairs come from the candidate lists; triples are built
from triangles of feasible pairs (a triple is feasible only if all its pairs are: dropping a
parcel from a feasible route leaves a feasible route) and evaluated only when a lower bound
says they could beat the trip's best so far. That bound uses the fact that a bundle's detour is
at least the detour of any of its sub-bundles.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from matching.kernels import EPS, best_order, detour_cost

NO_PARCEL = -1


@nb.njit(cache=True)
def price_trips(
    pm,
    tm,
    single_ptr,
    single_parcel,
    single_detour,
    pair_ptr,
    pair_a,
    pair_b,
    pair_detour,
    pi,
    per_parcel,
    per_detour_km,
    max_bundle,
    orders3,
    road_factor,
    service_s,
    keep,
    thresholds,
    collect_all,
    max_evaluations,
):
    """Returns (min reduced cost per trip, columns as (trip, p0, p1, p2, cost, reduced cost), finished).

    After `max_evaluations` route evaluations of triples it stops early and `finished` is False:
    the minima are then not proven and the columns not complete.

    `min_rc[t]` is the exact minimum over every feasible bundle of trip t (inf with none).
    Up to `keep` columns per trip with reduced cost below `thresholds[t]` (the trip's own dual,
    so these columns price out negative in the master) are returned. Pricing only needs the best
    columns; `collect_all` makes it return every bundle below the threshold (up to `keep`).
    """
    n_trips = tm.shape[0]
    n_parcels = pm.shape[0]
    min_rc = np.full(n_trips, math.inf)
    cap = 1024
    out = np.empty((cap, 6))
    count = 0
    local = np.full(n_parcels, -1, dtype=np.int64)
    idx3 = np.empty(3, dtype=np.int64)
    times = np.empty(6)
    best_rc = np.empty(keep)
    best_cols = np.empty((keep, 5))
    evaluations = 0
    finished = True
    for t in range(n_trips):
        if not finished:
            break
        lo, hi = single_ptr[t], single_ptr[t + 1]
        n = hi - lo
        if n == 0:
            continue
        kept = 0
        worst = 0  # slot of the largest kept reduced cost
        threshold = thresholds[t]
        trip_min = math.inf
        # --- singles
        for s in range(lo, hi):
            p = single_parcel[s]
            cost = per_parcel + detour_cost(per_detour_km, single_detour[s])
            rc = cost - pi[p]
            trip_min = min(trip_min, rc)
            if rc < threshold:
                if kept < keep:
                    best_rc[kept] = rc
                    best_cols[kept, 0] = p
                    best_cols[kept, 1] = NO_PARCEL
                    best_cols[kept, 2] = NO_PARCEL
                    best_cols[kept, 3] = cost
                    best_cols[kept, 4] = rc
                    kept += 1
                elif rc < best_rc[worst]:
                    best_rc[worst] = rc
                    best_cols[worst, 0] = p
                    best_cols[worst, 1] = NO_PARCEL
                    best_cols[worst, 2] = NO_PARCEL
                    best_cols[worst, 3] = cost
                    best_cols[worst, 4] = rc
                if kept == keep:
                    worst = int(np.argmax(best_rc[:kept]))
        if max_bundle >= 2:
            plo, phi = pair_ptr[t], pair_ptr[t + 1]
            # --- pairs
            for q in range(plo, phi):
                a, b = pair_a[q], pair_b[q]
                cost = 2 * per_parcel + detour_cost(per_detour_km, pair_detour[q])
                rc = cost - pi[a] - pi[b]
                trip_min = min(trip_min, rc)
                if rc < threshold:
                    slot = kept if kept < keep else worst
                    if kept < keep or rc < best_rc[worst]:
                        best_rc[slot] = rc
                        best_cols[slot, 0] = a
                        best_cols[slot, 1] = b
                        best_cols[slot, 2] = NO_PARCEL
                        best_cols[slot, 3] = cost
                        best_cols[slot, 4] = rc
                        if kept < keep:
                            kept += 1
                    if kept == keep:
                        worst = int(np.argmax(best_rc[:kept]))
            # --- triples, from triangles of feasible pairs
            if max_bundle >= 3 and phi - plo >= 3:
                for s in range(lo, hi):
                    local[single_parcel[s]] = s - lo
                pair_det = np.full((n, n), math.inf)
                for q in range(plo, phi):
                    i, j = local[pair_a[q]], local[pair_b[q]]
                    pair_det[i, j] = pair_detour[q]
                    pair_det[j, i] = pair_detour[q]
                # Visit parcels by increasing (per_parcel - dual) so the bound can stop loops early.
                slack = np.empty(n)
                for s in range(lo, hi):
                    slack[s - lo] = per_parcel - pi[single_parcel[s]]
                order = np.argsort(slack)
                for x in range(n):
                    # Loops stop once no later triple could beat both the trip's best and the threshold.
                    i = order[x]
                    for y in range(x + 1, n):
                        j = order[y]
                        if pair_det[i, j] == math.inf:
                            continue
                        if slack[i] + slack[j] + slack[j] >= (max(trip_min, threshold) if collect_all else trip_min):
                            break
                        for z in range(y + 1, n):
                            k = order[z]
                            if slack[i] + slack[j] + slack[k] >= (
                                max(trip_min, threshold) if collect_all else trip_min
                            ):
                                break
                            if pair_det[i, k] == math.inf or pair_det[j, k] == math.inf:
                                continue
                            floor = max(pair_det[i, j], pair_det[i, k], pair_det[j, k])
                            bound = slack[i] + slack[j] + slack[k] + detour_cost(per_detour_km, floor)
                            if bound >= trip_min and (bound >= threshold or not collect_all):
                                continue
                            evaluations += 1
                            if evaluations > max_evaluations:
                                finished = False
                                break
                            idx3[0] = single_parcel[lo + i]
                            idx3[1] = single_parcel[lo + j]
                            idx3[2] = single_parcel[lo + k]
                            detour, row = best_order(pm, tm, t, idx3, orders3, road_factor, service_s, times)
                            if row < 0:
                                continue
                            cost = 3 * per_parcel + detour_cost(per_detour_km, detour)
                            rc = cost - pi[idx3[0]] - pi[idx3[1]] - pi[idx3[2]]
                            trip_min = min(trip_min, rc)
                            if rc < threshold and (kept < keep or rc < best_rc[worst]):
                                slot = kept if kept < keep else worst
                                best_rc[slot] = rc
                                best_cols[slot, 0] = idx3[0]
                                best_cols[slot, 1] = idx3[1]
                                best_cols[slot, 2] = idx3[2]
                                best_cols[slot, 3] = cost
                                best_cols[slot, 4] = rc
                                if kept < keep:
                                    kept += 1
                                if kept == keep:
                                    worst = int(np.argmax(best_rc[:kept]))
                        if not finished:
                            break
                    if not finished:
                        break
                for s in range(lo, hi):
                    local[single_parcel[s]] = -1
        min_rc[t] = trip_min
        for c in range(kept):
            if count == cap:
                cap *= 2
                grown = np.empty((cap, 6))
                grown[:count] = out[:count]
                out = grown
            out[count, 0] = t
            out[count, 1:6] = best_cols[c]
            count += 1
    return min_rc, out[:count].copy(), finished


def lagrangian_bound(pi: np.ndarray, fallback: np.ndarray, min_rc: np.ndarray) -> float:
    """A lower bound on the optimum valid for any duals `pi`: each parcel is either priced at its
    dual or sent to the fleet, and each trip takes its best bundle if that has negative reduced cost.
    """
    parcels = float(np.sum(pi + np.minimum(0.0, fallback - pi)))
    trips = float(np.sum(np.minimum(0.0, min_rc[np.isfinite(min_rc)])))
    return parcels + trips - EPS * len(pi)
