"""Which trips could carry which parcels: a latitude-sorted index narrows each trip to a band and
compiled checks settle every survivor. Pairs are not enumerated here (a dense city has tens of
millions): pricing builds the few it needs.

A forbidden (trip, parcel) pair is dropped here, once every rule allows it. Every bundle the
engine builds (pairs, triples from triangles of pairs, greedy insertions, enumerated columns)
comes from these singles, so none can contain it, and the Lagrangian bound, a minimum over the
same candidates, stays a bound over the plans that honour it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba as nb
import numpy as np

from matching.arrays import (
    F64,
    FEASIBLE,
    I64,
    P_PLAT,
    T_DIRECT,
    T_DLAT,
    T_DLON,
    T_MAX_DETOUR,
    T_OLAT,
    T_OLON,
    Arrays,
)
from matching.kernels import EPS, best_order, hav_r, is_forbidden, parcel_radians, static_reason, stop_orders

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180
SCAN_CHUNK_TRIPS = 256  # trips per compiled call between deadline checks


@dataclass(frozen=True)
class Candidates:
    """Feasible singles grouped by trip (CSR: rows of trip t are ptr[t]:ptr[t+1]).

    The only full enumeration the engine makes: pairs and triples are built inside pricing, per
    trip, only where the parcels' duals could make them improve (see `pricing.py`).
    """

    single_ptr: I64
    single_parcel: I64
    single_detour: F64
    complete: bool = True  # False: a deadline stopped the scan; later trips have no candidates

    @property
    def packed(self) -> tuple[I64, I64, F64]:
        """The arrays as one tuple, in the order `pricing._price_trip` unpacks them."""
        return (self.single_ptr, self.single_parcel, self.single_detour)

    @property
    def singles(self) -> int:
        return int(self.single_parcel.shape[0])


@nb.njit(cache=True, nogil=True)
def _singles(pm, tm, order_lat, sorted_lat, rules, forbidden, order1, road_factor, service_s, t_lo, t_hi, rad):
    """Feasible singles of trips t_lo..t_hi-1, as (ptr relative to t_lo, parcels, detours).

    `rad` holds each parcel's pickup and drop-off in radians, their latitudes' cosines and its own
    leg (see `kernels.parcel_radians`): per pair only the distances to the trip's ends are
    computed. The verdict is `single_reason`'s, from the same sums; `best_order` has the last word."""
    n_parcels = pm.shape[0]
    ptr = np.zeros(t_hi - t_lo + 1, dtype=np.int64)
    cap = 1024
    out_p = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    count = 0
    times = np.empty(2)
    idx = np.empty(1, dtype=np.int64)
    for t in range(t_lo, t_hi):
        ptr[t - t_lo] = count
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
        olat, olon = math.radians(tm[t, T_OLAT]), math.radians(tm[t, T_OLON])
        dlat, dlon = math.radians(tm[t, T_DLAT]), math.radians(tm[t, T_DLON])
        ocos, dcos = math.cos(olat), math.cos(dlat)
        for s in range(start, stop):
            p = order_lat[s]
            # The pickup and the drop-off must each lie inside the detour ellipse.
            to_pickup = hav_r(olat, olon, ocos, rad[p, 0], rad[p, 1], rad[p, 2])
            via_pickup = road_factor * (to_pickup + hav_r(rad[p, 0], rad[p, 1], rad[p, 2], dlat, dlon, dcos))
            if via_pickup > limit + 1e-6:
                continue
            from_drop = hav_r(rad[p, 3], rad[p, 4], rad[p, 5], dlat, dlon, dcos)
            via_drop = road_factor * (hav_r(olat, olon, ocos, rad[p, 3], rad[p, 4], rad[p, 5]) + from_drop)
            if via_drop > limit + 1e-6:
                continue
            if road_factor * (to_pickup + rad[p, 6] + from_drop) - tm[t, T_DIRECT] > tm[t, T_MAX_DETOUR] + EPS:
                continue
            if static_reason(pm, tm, t, p, rules) != FEASIBLE:
                continue
            idx[0] = p
            detour, row = best_order(pm, tm, t, idx, order1, road_factor, service_s, times)
            if row < 0:
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
    ptr[t_hi - t_lo] = count
    return ptr, out_p[:count].copy(), out_d[:count].copy()


def find_candidates(arrays: Arrays, deadline: Callable[[], bool] | None = None) -> Candidates:
    """Every feasible single, trips taken in chunks so a deadline can stop the scan between them.

    Each chunk is split between numba's threads (the scan releases the GIL): on a dense city the
    scan is the largest fixed cost under a short limit, and serial it used one core of two.
    Stopped early (`complete` False), the trips not yet scanned carry nothing: a valid but smaller
    instance, so plans stay feasible; the solver then reports no bound.
    """
    pm, tm = arrays.parcels, arrays.trips
    n_trips = tm.shape[0]
    order_lat = np.argsort(pm[:, P_PLAT], kind="stable").astype(np.int64)
    sorted_lat = pm[order_lat, P_PLAT].copy()
    workers = max(1, int(nb.get_num_threads()))
    rad = parcel_radians(pm)
    ptrs = [np.zeros(1, dtype=np.int64)]
    parcels: list[I64] = []
    detours: list[F64] = []
    done, offset = 0, 0

    def scan(bounds: tuple[int, int]) -> tuple[I64, I64, F64]:
        return _singles(  # type: ignore[no-any-return]
            pm, tm, order_lat, sorted_lat, arrays.rules, arrays.forbidden, stop_orders(1), arrays.road_factor,
            arrays.service_s, bounds[0], bounds[1], rad,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=workers) as pool:
        while done < n_trips:
            if deadline is not None and done > 0 and deadline():
                break
            stop = min(n_trips, done + SCAN_CHUNK_TRIPS * workers)
            cuts = np.linspace(done, stop, workers + 1).astype(np.int64)
            slices = [(int(a), int(b)) for a, b in itertools.pairwise(cuts.tolist()) if b > a]
            for ptr, parcel, detour in pool.map(scan, slices):
                ptrs.append(ptr[1:] + offset)
                parcels.append(parcel)
                detours.append(detour)
                offset += parcel.shape[0]
            done = stop
    ptrs.append(np.full(n_trips - done, offset, dtype=np.int64))
    return Candidates(
        np.concatenate(ptrs),
        np.concatenate(parcels) if parcels else np.empty(0, dtype=np.int64),
        np.concatenate(detours) if detours else np.empty(0),
        complete=done == n_trips,
    )
