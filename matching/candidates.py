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
from typing import Any

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
def _singles(pm, tm, order_lat, sorted_lat, rules, forbidden, order1, road_factor, service_s, trips, rad):
    """Feasible singles of the listed trips over the parcels of `order_lat` (sorted by pickup
    latitude, `sorted_lat`), as (ptr per listed trip, parcels, detours).

    `rad` holds each parcel's pickup and drop-off in radians, their latitudes' cosines and its own
    leg (see `kernels.parcel_radians`): per pair only the distances to the trip's ends are
    computed. The verdict is `single_reason`'s, from the same sums; `best_order` has the last word."""
    n_parcels = pm.shape[0]
    ptr = np.zeros(trips.shape[0] + 1, dtype=np.int64)
    cap = 1024
    out_p = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap)
    count = 0
    times = np.empty(2)
    idx = np.empty(1, dtype=np.int64)
    for x in range(trips.shape[0]):
        t = trips[x]
        ptr[x] = count
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
    ptr[trips.shape[0]] = count
    return ptr, out_p[:count].copy(), out_d[:count].copy()


@nb.njit(cache=True, parallel=True)
def _reroute(pm, tm, trips, parcels, order1, road_factor, service_s):
    """Each (trip, parcel) single's detour now, or inf when no route is feasible any more."""
    out = np.empty(trips.shape[0])
    for i in nb.prange(trips.shape[0]):
        times = np.empty(2)
        idx = np.empty(1, dtype=np.int64)
        idx[0] = parcels[i]
        detour, row = best_order(pm, tm, trips[i], idx, order1, road_factor, service_s, times)
        out[i] = detour if row >= 0 else math.inf
    return out


@dataclass(frozen=True)
class Reuse:
    """What a warm round keeps of the previous round's singles (see `matching.warm`).

    A trip and a parcel whose data did not change (same id, equal fields, same forbidden pairs,
    same rules) keep their verdict: the checks read only their fields. So an unchanged trip keeps
    its previous singles over unchanged parcels and is scanned only against the new or changed
    parcels; new or changed trips are scanned in full.
    """

    trip_old: I64  # per trip, its index in the previous round, or -1: new or changed
    parcel_new: I64  # per parcel of the previous round, its index now, or -1: gone or changed
    fresh_parcels: I64  # this round's new or changed parcels
    previous: Candidates


def _scan(arrays: Arrays, trips: I64, parcels: I64, deadline: Callable[[], bool] | None) -> tuple[I64, I64, F64, int]:
    """Singles of the listed trips over the listed parcels, in chunks between deadline checks,
    each chunk split between numba's threads (the scan releases the GIL). Returns flat (trip,
    parcel, detour) rows and how many listed trips were scanned."""
    pm, tm = arrays.parcels, arrays.trips
    order_lat = parcels[np.argsort(pm[parcels, P_PLAT], kind="stable")].astype(np.int64)
    sorted_lat = pm[order_lat, P_PLAT].copy()
    workers = max(1, int(nb.get_num_threads()))
    rad = parcel_radians(pm)
    out_t: list[I64] = []
    out_p: list[I64] = []
    out_d: list[F64] = []
    done = 0

    def scan(part: I64) -> tuple[I64, I64, F64]:
        return _singles(  # type: ignore[no-any-return]
            pm, tm, order_lat, sorted_lat, arrays.rules, arrays.forbidden, stop_orders(1), arrays.road_factor,
            arrays.service_s, part, rad,
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=workers) as pool:
        while done < trips.shape[0]:
            if deadline is not None and done > 0 and deadline():
                break
            stop = min(trips.shape[0], done + SCAN_CHUNK_TRIPS * workers)
            cuts = np.linspace(done, stop, workers + 1).astype(np.int64)
            parts = [trips[a:b] for a, b in itertools.pairwise(cuts.tolist()) if b > a]
            for part, (ptr, parcel, detour) in zip(parts, pool.map(scan, parts), strict=True):
                out_t.append(np.repeat(part, np.diff(ptr)))
                out_p.append(parcel)
                out_d.append(detour)
            done = stop
    return _flat(out_t, np.int64), _flat(out_p, np.int64), _flat(out_d, np.float64), done


def _flat(parts: list[Any], dtype: type) -> Any:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def find_candidates(
    arrays: Arrays, deadline: Callable[[], bool] | None = None, reuse: Reuse | None = None
) -> Candidates:
    """Every feasible single, trips taken in chunks so a deadline can stop the scan between them.

    On a dense city the scan is the largest fixed cost under a short limit, hence the threads.
    Stopped early (`complete` False), the trips not yet scanned carry nothing: a valid but smaller
    instance, so plans stay feasible; the solver then reports no bound. With `reuse`, a warm
    round scans only what changed, and re-routes each single it keeps (one compiled pass), so a
    kept single is feasible in this instance and priced at its detour here.
    """
    n_trips, n_parcels = arrays.trips.shape[0], arrays.parcels.shape[0]
    every_parcel = np.arange(n_parcels, dtype=np.int64)
    if reuse is None:
        t, p, d, done = _scan(arrays, np.arange(n_trips, dtype=np.int64), every_parcel, deadline)
        complete = done == n_trips
    else:
        old = reuse.previous
        kept_trips = np.flatnonzero(reuse.trip_old >= 0).astype(np.int64)
        full = np.flatnonzero(reuse.trip_old < 0).astype(np.int64)
        # The previous singles of unchanged trips over unchanged parcels, re-routed here.
        counts = np.diff(old.single_ptr)[reuse.trip_old[kept_trips]]
        rows = np.repeat(old.single_ptr[reuse.trip_old[kept_trips]], counts) + (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        )
        kept_t = np.repeat(kept_trips, counts)
        kept_p = reuse.parcel_new[old.single_parcel[rows]]
        live = kept_p >= 0
        kept_t, kept_p = kept_t[live], kept_p[live]
        kept_d = _reroute(
            arrays.parcels, arrays.trips, kept_t, kept_p, stop_orders(1), arrays.road_factor, arrays.service_s
        )
        feasible = np.isfinite(kept_d)
        t1, p1, d1, done1 = _scan(arrays, full, every_parcel, deadline)
        t2, p2, d2, done2 = _scan(arrays, kept_trips, reuse.fresh_parcels, deadline)
        complete = done1 == full.shape[0] and done2 == kept_trips.shape[0]
        if not complete:
            # Cut short: the trips the deadline left out carry nothing, as in a cold scan.
            scanned = np.zeros(n_trips, dtype=np.bool_)
            scanned[full[:done1]] = True
            scanned[kept_trips[:done2]] = True
            feasible &= scanned[kept_t]
        t = np.concatenate([kept_t[feasible], t1, t2])
        p = np.concatenate([kept_p[feasible], p1, p2])
        d = np.concatenate([kept_d[feasible], d1, d2])
        order = np.argsort(t, kind="stable")
        t, p, d = t[order], p[order], d[order]
    ptr = np.zeros(n_trips + 1, dtype=np.int64)
    np.cumsum(np.bincount(t, minlength=n_trips), out=ptr[1:])
    return Candidates(ptr, p.astype(np.int64), d.astype(np.float64), complete=complete)
