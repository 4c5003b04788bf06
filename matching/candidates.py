"""Which trips could carry which parcels: a latitude-sorted index narrows each trip to a band,
compiled checks settle every survivor, and feasible pairs per trip are found once.
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
from matching.kernels import best_order, hav, single_reason, stop_orders

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

    @property
    def singles(self) -> int:
        return int(self.single_parcel.shape[0])

    @property
    def pairs(self) -> int:
        return int(self.pair_a.shape[0])


@nb.njit(cache=True)
def _singles(
    pm,
    tm,
    order_lat,
    sorted_lat,
    parcel_currency,
    parcel_level,
    trip_insured,
    trip_currency,
    trip_valid,
    trip_per_parcel,
    trip_level,
    order1,
    road_factor,
    service_s,
):
    n_trips = tm.shape[0]
    ptr = np.zeros(n_trips + 1, dtype=np.int64)
    cap = 1024
    out_p = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    count = 0
    times = np.empty(2)
    for t in range(n_trips):
        ptr[t] = count
        if not trip_insured[t]:
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
            code, detour = single_reason(
                pm,
                tm,
                t,
                p,
                parcel_currency,
                parcel_level,
                trip_insured,
                trip_currency,
                trip_valid,
                trip_per_parcel,
                trip_level,
                order1,
                road_factor,
                service_s,
                times,
            )
            if code != FEASIBLE:
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


@nb.njit(cache=True)
def _pairs(pm, tm, single_ptr, single_parcel, order2, road_factor, service_s):
    n_trips = tm.shape[0]
    ptr = np.zeros(n_trips + 1, dtype=np.int64)
    cap = 1024
    out_a = np.empty(cap, dtype=np.int64)
    out_b = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    count = 0
    idx = np.empty(2, dtype=np.int64)
    times = np.empty(4)
    for t in range(n_trips):
        ptr[t] = count
        lo, hi = single_ptr[t], single_ptr[t + 1]
        for i in range(lo, hi):
            for j in range(i + 1, hi):
                a, b = single_parcel[i], single_parcel[j]
                if a > b:
                    a, b = b, a
                idx[0] = a
                idx[1] = b
                detour, row = best_order(pm, tm, t, idx, order2, road_factor, service_s, times)
                if row < 0:
                    continue
                if count == cap:
                    cap *= 2
                    ga = np.empty(cap, dtype=np.int64)
                    gb = np.empty(cap, dtype=np.int64)
                    gd = np.empty(cap)
                    ga[:count] = out_a[:count]
                    gb[:count] = out_b[:count]
                    gd[:count] = out_d[:count]
                    out_a, out_b, out_d = ga, gb, gd
                out_a[count] = a
                out_b[count] = b
                out_d[count] = detour
                count += 1
    ptr[n_trips] = count
    return ptr, out_a[:count].copy(), out_b[:count].copy(), out_d[:count].copy()


def find_candidates(arrays: Arrays) -> Candidates:
    pm, tm = arrays.parcels, arrays.trips
    order_lat = np.argsort(pm[:, P_PLAT], kind="stable").astype(np.int64)
    sorted_lat = pm[order_lat, P_PLAT].copy()
    single_ptr, single_parcel, single_detour = _singles(
        pm,
        tm,
        order_lat,
        sorted_lat,
        arrays.parcel_currency,
        arrays.parcel_level,
        arrays.trip_insured,
        arrays.trip_currency,
        arrays.trip_insurance_valid,
        arrays.trip_per_parcel,
        arrays.trip_level,
        stop_orders(1),
        arrays.road_factor,
        arrays.service_s,
    )
    if arrays.max_bundle >= 2:
        pair_ptr, pair_a, pair_b, pair_detour = _pairs(
            pm, tm, single_ptr, single_parcel, stop_orders(2), arrays.road_factor, arrays.service_s
        )
    else:
        pair_ptr = np.zeros(tm.shape[0] + 1, dtype=np.int64)
        pair_a = pair_b = np.empty(0, dtype=np.int64)
        pair_detour = np.empty(0)
    return Candidates(single_ptr, single_parcel, single_detour, pair_ptr, pair_a, pair_b, pair_detour)
