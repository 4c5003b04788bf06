"""Which trips could carry which parcels: a latitude-sorted index narrows each trip to a band,
compiled checks settle every survivor, and feasible pairs per trip are found once.

A forbidden (trip, parcel) pair is dropped here, once every rule allows it. Every bundle the
engine builds (pairs, triples from triangles of pairs, greedy insertions, enumerated columns)
comes from these singles, so none can contain it, and the Lagrangian bound, a minimum over the
same candidates, stays a bound over the plans that honour it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from matching.arrays import (
    F64,
    FEASIBLE,
    I64,
    P_DLAT,
    P_DLON,
    P_PLAT,
    P_PLON,
    T_DIRECT,
    T_DLAT,
    T_DLON,
    T_MAX_DETOUR,
    T_OLAT,
    T_OLON,
    Arrays,
)
from matching.kernels import best_order_given, hav, is_forbidden, single_reason, stop_orders

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


@dataclass(frozen=True)
class Candidates:
    """Feasible singles and pairs, grouped by trip (CSR: rows of trip t are ptr[t]:ptr[t+1])."""

    single_ptr: I64
    single_parcel: I64
    single_detour: F64
    pair_ptr: I64
    pair_a: I64  # parcel indices, a < b
    pair_b: I64
    pair_detour: F64
    pair_local_a: I64  # positions of a and b among the trip's singles
    pair_local_b: I64

    @property
    def packed(self) -> tuple[I64, I64, F64, I64, I64, I64, F64, I64, I64]:
        """The arrays as one tuple, in the order `pricing._price_trip` unpacks them."""
        return (
            self.single_ptr,
            self.single_parcel,
            self.single_detour,
            self.pair_ptr,
            self.pair_a,
            self.pair_b,
            self.pair_detour,
            self.pair_local_a,
            self.pair_local_b,
        )

    @property
    def singles(self) -> int:
        return int(self.single_parcel.shape[0])

    @property
    def pairs(self) -> int:
        return int(self.pair_a.shape[0])


@nb.njit(cache=True)
def _singles(pm, tm, order_lat, sorted_lat, rules, forbidden, order1, road_factor, service_s):
    n_trips = tm.shape[0]
    n_parcels = pm.shape[0]
    ptr = np.zeros(n_trips + 1, dtype=np.int64)
    cap = 1024
    out_p = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    count = 0
    times = np.empty(2)
    for t in range(n_trips):
        ptr[t] = count
        if not rules[2][t] or not rules[7][t]:  # uninsured trips, and couriers who cannot be paid, carry nothing
            continue
        reach_m = (tm[t, T_DIRECT] + tm[t, T_MAX_DETOUR]) / road_factor
        reach_deg = reach_m / METRES_PER_DEGREE
        lo_lat = max(tm[t, T_OLAT], tm[t, T_DLAT]) - reach_deg
        hi_lat = min(tm[t, T_OLAT], tm[t, T_DLAT]) + reach_deg
        if lo_lat > hi_lat:
            continue
        start = np.searchsorted(sorted_lat, lo_lat, side="left")
        stop = np.searchsorted(sorted_lat, hi_lat, side="right")
        limit = tm[t, T_DIRECT] + tm[t, T_MAX_DETOUR]
        for s in range(start, stop):
            p = order_lat[s]
            # The pickup and the drop-off must each lie inside the detour ellipse.
            via_pickup = road_factor * (
                hav(tm[t, T_OLAT], tm[t, T_OLON], pm[p, P_PLAT], pm[p, P_PLON])
                + hav(pm[p, P_PLAT], pm[p, P_PLON], tm[t, T_DLAT], tm[t, T_DLON])
            )
            if via_pickup > limit + 1e-6:
                continue
            via_drop = road_factor * (
                hav(tm[t, T_OLAT], tm[t, T_OLON], pm[p, P_DLAT], pm[p, P_DLON])
                + hav(pm[p, P_DLAT], pm[p, P_DLON], tm[t, T_DLAT], tm[t, T_DLON])
            )
            if via_drop > limit + 1e-6:
                continue
            code, detour = single_reason(pm, tm, t, p, rules, order1, road_factor, service_s, times)
            if code != FEASIBLE:
                continue
            # A declined or expired offer is never made again: the pair is no candidate, so no
            # column, pair, triple or greedy insertion can contain it. Looked up last, for the
            # few pairs every rule allows.
            if is_forbidden(forbidden, n_parcels, t, p):
                continue
            if count == cap:
                cap *= 2
                grown_p = np.empty(cap, dtype=np.int64)
                grown_d = np.empty(cap)
                grown_p[:count] = out_p[:count]
                grown_d[:count] = out_d[:count]
                out_p, out_d = grown_p, grown_d
            out_p[count] = p
            out_d[count] = detour
            count += 1
    ptr[n_trips] = count
    return ptr, out_p[:count].copy(), out_d[:count].copy()


@nb.njit(cache=True, parallel=True)
def _pairs(pm, tm, single_ptr, single_parcel, order2, road_factor, service_s):
    """Every feasible pair per trip, trips spread over the cores.

    Each trip writes its own slice of an over-allocated buffer (one slot per candidate pair),
    so threads never share an index; infeasible slots are dropped afterwards. Legs between a
    trip's ends and its candidates are computed once per candidate, not once per pair.
    """
    n_trips = tm.shape[0]
    offsets = np.zeros(n_trips + 1, dtype=np.int64)
    for t in range(n_trips):
        n = single_ptr[t + 1] - single_ptr[t]
        offsets[t + 1] = offsets[t] + n * (n - 1) // 2
    total = offsets[n_trips]
    out_a = np.empty(total, dtype=np.int64)
    out_b = np.empty(total, dtype=np.int64)
    out_d = np.full(total, np.inf)
    out_la = np.empty(total, dtype=np.int64)
    out_lb = np.empty(total, dtype=np.int64)
    for t in nb.prange(n_trips):
        lo = single_ptr[t]
        n = single_ptr[t + 1] - lo
        if n < 2:
            continue
        legs = np.empty((n, 5))  # origin-pickup, origin-drop, pickup-destination, drop-destination, pickup-drop
        for i in range(n):
            p = single_parcel[lo + i]
            legs[i, 0] = road_factor * hav(tm[t, T_OLAT], tm[t, T_OLON], pm[p, P_PLAT], pm[p, P_PLON])
            legs[i, 1] = road_factor * hav(tm[t, T_OLAT], tm[t, T_OLON], pm[p, P_DLAT], pm[p, P_DLON])
            legs[i, 2] = road_factor * hav(pm[p, P_PLAT], pm[p, P_PLON], tm[t, T_DLAT], tm[t, T_DLON])
            legs[i, 3] = road_factor * hav(pm[p, P_DLAT], pm[p, P_DLON], tm[t, T_DLAT], tm[t, T_DLON])
            legs[i, 4] = road_factor * hav(pm[p, P_PLAT], pm[p, P_PLON], pm[p, P_DLAT], pm[p, P_DLON])
        direct = tm[t, T_DIRECT]
        dist = np.zeros((6, 6))
        idx = np.empty(2, dtype=np.int64)
        times = np.empty(4)
        slot = offsets[t]
        for i in range(n):
            for j in range(i + 1, n):
                a, b = i, j
                if single_parcel[lo + a] > single_parcel[lo + b]:
                    a, b = b, a
                pa, pb = single_parcel[lo + a], single_parcel[lo + b]
                out_a[slot] = pa
                out_b[slot] = pb
                out_la[slot] = a
                out_lb[slot] = b
                idx[0] = pa
                idx[1] = pb
                # nodes: 0 origin, 1 pickup a, 2 drop a, 3 pickup b, 4 drop b, 5 destination
                dist[0, 1] = dist[1, 0] = legs[a, 0]
                dist[0, 2] = dist[2, 0] = legs[a, 1]
                dist[0, 3] = dist[3, 0] = legs[b, 0]
                dist[0, 4] = dist[4, 0] = legs[b, 1]
                dist[1, 5] = dist[5, 1] = legs[a, 2]
                dist[2, 5] = dist[5, 2] = legs[a, 3]
                dist[3, 5] = dist[5, 3] = legs[b, 2]
                dist[4, 5] = dist[5, 4] = legs[b, 3]
                dist[1, 2] = dist[2, 1] = legs[a, 4]
                dist[3, 4] = dist[4, 3] = legs[b, 4]
                dist[0, 5] = dist[5, 0] = direct
                dist[1, 3] = dist[3, 1] = road_factor * hav(
                    pm[pa, P_PLAT], pm[pa, P_PLON], pm[pb, P_PLAT], pm[pb, P_PLON]
                )
                dist[1, 4] = dist[4, 1] = road_factor * hav(
                    pm[pa, P_PLAT], pm[pa, P_PLON], pm[pb, P_DLAT], pm[pb, P_DLON]
                )
                dist[2, 3] = dist[3, 2] = road_factor * hav(
                    pm[pa, P_DLAT], pm[pa, P_DLON], pm[pb, P_PLAT], pm[pb, P_PLON]
                )
                dist[2, 4] = dist[4, 2] = road_factor * hav(
                    pm[pa, P_DLAT], pm[pa, P_DLON], pm[pb, P_DLAT], pm[pb, P_DLON]
                )
                detour, row = best_order_given(pm, tm, t, idx, order2, dist, service_s, times)
                if row >= 0:
                    out_d[slot] = detour
                slot += 1
    return offsets, out_a, out_b, out_d, out_la, out_lb


def _feasible_pairs(
    pm: F64, tm: F64, single_ptr: I64, single_parcel: I64, order2: I64, road_factor: float, service_s: float
) -> tuple[I64, I64, I64, F64, I64, I64]:
    offsets, out_a, out_b, out_d, out_la, out_lb = _pairs(
        pm, tm, single_ptr, single_parcel, order2, road_factor, service_s
    )
    keep = np.isfinite(out_d)
    trip_of_slot = np.repeat(np.arange(tm.shape[0]), np.diff(offsets))
    counts = np.bincount(trip_of_slot[keep], minlength=tm.shape[0])
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ptr, out_a[keep], out_b[keep], out_d[keep], out_la[keep], out_lb[keep]


def find_candidates(arrays: Arrays, *, pairs: bool = True) -> Candidates:
    """Singles always; pairs (the costly part) only when bundles are to be priced."""
    pm, tm = arrays.parcels, arrays.trips
    order_lat = np.argsort(pm[:, P_PLAT], kind="stable").astype(np.int64)
    sorted_lat = pm[order_lat, P_PLAT].copy()
    single_ptr, single_parcel, single_detour = _singles(
        pm, tm, order_lat, sorted_lat, arrays.rules, arrays.forbidden, stop_orders(1), arrays.road_factor,
        arrays.service_s,
    )  # fmt: skip
    if pairs and arrays.max_bundle >= 2:
        pair_ptr, pair_a, pair_b, pair_detour, pair_la, pair_lb = _feasible_pairs(
            pm, tm, single_ptr, single_parcel, stop_orders(2), arrays.road_factor, arrays.service_s
        )
    else:
        pair_ptr = np.zeros(tm.shape[0] + 1, dtype=np.int64)
        pair_a = pair_b = pair_la = pair_lb = np.empty(0, dtype=np.int64)
        pair_detour = np.empty(0)
    return Candidates(single_ptr, single_parcel, single_detour, pair_ptr, pair_a, pair_b, pair_detour, pair_la, pair_lb)
