"""Compiled inner loops (numba): route evaluation of a bundle, single candidates, pricing, reasons.

Everything here works on the flat arrays of `matching.arrays`. Distances are great-circle metres
times the road factor; a bundle's route leaves the origin at `depart_after`, visits pickups and
drop-offs in the best feasible order (least detour), may wait for a window to open, spends
`service_s` at every stop and must reach the destination by `arrive_by`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from functools import cache

import numba as nb
import numpy as np

from matching.arrays import (
    CAPACITY,
    CURRENCY,
    DETOUR,
    EARTH_RADIUS_M,
    FEASIBLE,
    FORBIDDEN,
    I64,
    INSURANCE_COVER,
    INSURANCE_EXPIRED,
    INSURANCE_MISSING,
    P_DFROM,
    P_DLAT,
    P_DLON,
    P_DUNTIL,
    P_PFROM,
    P_PLAT,
    P_PLON,
    P_PUNTIL,
    P_VALUE,
    P_VOLUME,
    P_WEIGHT,
    PAYOUTS_DISABLED,
    T_ARRIVE,
    T_CAP_CM3,
    T_CAP_G,
    T_DEPART,
    T_DIRECT,
    T_DLAT,
    T_DLON,
    T_MAX_DETOUR,
    T_OLAT,
    T_OLON,
    T_PER_TRIP,
    T_SPEED,
    TIME_WINDOW,
    VERIFICATION_LEVEL,
)

EPS = 1e-6
INF = math.inf
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@cache
def stop_orders(k: int) -> I64:
    """Every order of 2k events (2i = pickup of parcel i, 2i+1 its drop-off), pickups first."""
    rows = [
        order
        for order in itertools.permutations(range(2 * k))
        if all(order.index(2 * i) < order.index(2 * i + 1) for i in range(k))
    ]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 2 * k)


def all_stop_orders(max_k: int) -> tuple[I64, ...]:
    return tuple(stop_orders(k) for k in range(1, max_k + 1))


@nb.njit(cache=True, inline="always")
def hav(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2) - math.radians(lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


@nb.njit(cache=True, inline="always")
def hav_r(p1: float, l1: float, c1: float, p2: float, l2: float, c2: float) -> float:
    """`hav` on latitudes and longitudes already in radians with the latitudes' cosines: the same
    operations on the same values, so the same result, without redoing per pair what is per point."""
    a = math.sin((p2 - p1) / 2) ** 2 + c1 * c2 * math.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


@nb.njit(cache=True)
def parcel_radians(pm):
    """Per parcel: pickup latitude, longitude (radians) and latitude cosine, the same for the
    drop-off, and the parcel's own leg, each computed as `hav` computes it (compiled, so the
    values are bit for bit those `hav` would use)."""
    rad = np.empty((pm.shape[0], 7))
    for p in range(pm.shape[0]):
        rad[p, 0], rad[p, 1] = math.radians(pm[p, P_PLAT]), math.radians(pm[p, P_PLON])
        rad[p, 3], rad[p, 4] = math.radians(pm[p, P_DLAT]), math.radians(pm[p, P_DLON])
        rad[p, 2], rad[p, 5] = math.cos(rad[p, 0]), math.cos(rad[p, 3])
        rad[p, 6] = hav(pm[p, P_PLAT], pm[p, P_PLON], pm[p, P_DLAT], pm[p, P_DLON])
    return rad


@nb.njit(cache=True)
def trip_radians(tm):
    """Per trip: origin latitude, longitude (radians) and latitude cosine, the same for the
    destination, as `hav` computes them."""
    rad = np.empty((tm.shape[0], 6))
    for t in range(tm.shape[0]):
        rad[t, 0], rad[t, 1] = math.radians(tm[t, T_OLAT]), math.radians(tm[t, T_OLON])
        rad[t, 3], rad[t, 4] = math.radians(tm[t, T_DLAT]), math.radians(tm[t, T_DLON])
        rad[t, 2], rad[t, 5] = math.cos(rad[t, 0]), math.cos(rad[t, 3])
    return rad


@nb.njit(cache=True)
def detour_cost(per_detour_km: int, detour_m: float) -> int:
    return math.ceil(per_detour_km * detour_m / 1000.0 - EPS)


@nb.njit(cache=True)
def fill_distances(pm, tm, t, idx, road_factor, dist):
    """dist[a, b] between the route's nodes: 0 origin, 1 + 2i pickup i, 2 + 2i drop-off i, last destination."""
    k = idx.shape[0]
    n = 2 * k + 2
    lat = np.empty(n)
    lon = np.empty(n)
    lat[0] = tm[t, T_OLAT]
    lon[0] = tm[t, T_OLON]
    lat[n - 1] = tm[t, T_DLAT]
    lon[n - 1] = tm[t, T_DLON]
    for i in range(k):
        p = idx[i]
        lat[1 + 2 * i] = pm[p, P_PLAT]
        lon[1 + 2 * i] = pm[p, P_PLON]
        lat[2 + 2 * i] = pm[p, P_DLAT]
        lon[2 + 2 * i] = pm[p, P_DLON]
    for a in range(n):
        dist[a, a] = 0.0
        for b in range(a + 1, n):
            d = road_factor * hav(lat[a], lon[a], lat[b], lon[b])
            dist[a, b] = d
            dist[b, a] = d


@nb.njit(cache=True)
def best_order(pm, tm, t, idx, orders, road_factor, service_s, times):
    """Least detour over all feasible stop orders of bundle `idx` on trip `t`.

    Returns (detour_m, order row) or (inf, -1); `times` receives the service start of each event
    of the best order.
    """
    k = idx.shape[0]
    dist = np.empty((2 * k + 2, 2 * k + 2))
    fill_distances(pm, tm, t, idx, road_factor, dist)
    return best_order_given(pm, tm, t, idx, orders, dist, service_s, times)


@nb.njit(cache=True)
def best_order_given(pm, tm, t, idx, orders, dist, service_s, times):
    """`best_order` over distances the caller already filled (see `fill_distances` for the layout)."""
    k = idx.shape[0]
    n = 2 * k + 2
    speed = tm[t, T_SPEED]
    cap_g = tm[t, T_CAP_G]
    cap_cm3 = tm[t, T_CAP_CM3]
    per_trip = tm[t, T_PER_TRIP]
    limit = tm[t, T_DIRECT] + tm[t, T_MAX_DETOUR] + EPS
    best = INF
    best_row = -1
    cur = np.empty(2 * k)
    for row in range(orders.shape[0]):
        pos = 0
        length = 0.0
        time = tm[t, T_DEPART]
        w = 0.0
        v = 0.0
        value = 0.0
        ok = True
        for s in range(2 * k):
            e = orders[row, s]
            node = 1 + e
            length += dist[pos, node]
            if length + dist[node, n - 1] > limit or length + dist[node, n - 1] >= best + tm[t, T_DIRECT]:
                ok = False
                break
            time += dist[pos, node] / speed
            p = idx[e // 2]
            if e % 2 == 0:
                lo = pm[p, P_PFROM]
                hi = pm[p, P_PUNTIL]
            else:
                lo = pm[p, P_DFROM]
                hi = pm[p, P_DUNTIL]
            if time < lo:
                time = lo
            if time > hi + EPS:
                ok = False
                break
            cur[s] = time
            time += service_s
            if e % 2 == 0:
                w += pm[p, P_WEIGHT]
                v += pm[p, P_VOLUME]
                value += pm[p, P_VALUE]
                if w > cap_g or v > cap_cm3 or value > per_trip:
                    ok = False
                    break
            else:
                w -= pm[p, P_WEIGHT]
                v -= pm[p, P_VOLUME]
                value -= pm[p, P_VALUE]
            pos = node
        if not ok:
            continue
        length += dist[pos, n - 1]
        time += dist[pos, n - 1] / speed
        if time > tm[t, T_ARRIVE] + EPS:
            continue
        detour = length - tm[t, T_DIRECT]
        if detour < best:
            best = detour
            best_row = row
            times[: 2 * k] = cur
    if best_row < 0:
        return INF, -1
    return max(best, 0.0), best_row


@nb.njit(cache=True)
def static_reason(pm, tm, t, p, rules):
    """The first rule that stops trip t from carrying parcel p alone, before any routing.

    `rules` is `Arrays.rules`: one tuple, so the rule arrays travel together through the kernels.
    """
    parcel_currency, parcel_level, trip_insured, trip_currency, trip_valid, trip_per_parcel, trip_level, paid = rules
    if not paid[t]:
        return PAYOUTS_DISABLED
    if not trip_insured[t]:
        return INSURANCE_MISSING
    if trip_currency[t] != parcel_currency[p]:
        return CURRENCY
    if not trip_valid[t]:
        return INSURANCE_EXPIRED
    if pm[p, P_VALUE] > trip_per_parcel[t] or pm[p, P_VALUE] > tm[t, T_PER_TRIP]:
        return INSURANCE_COVER
    if trip_level[t] < parcel_level[p]:
        return VERIFICATION_LEVEL
    if pm[p, P_WEIGHT] > tm[t, T_CAP_G] or pm[p, P_VOLUME] > tm[t, T_CAP_CM3]:
        return CAPACITY
    return FEASIBLE


@nb.njit(cache=True)
def single_reason(pm, tm, t, p, rules, order1, road_factor, service_s, times):
    """Like static_reason, then detour (the one possible route), then time windows."""
    code = static_reason(pm, tm, t, p, rules)
    if code != FEASIBLE:
        return code, INF
    ol, oo, dl, do = tm[t, T_OLAT], tm[t, T_OLON], tm[t, T_DLAT], tm[t, T_DLON]
    length = road_factor * (
        hav(ol, oo, pm[p, P_PLAT], pm[p, P_PLON])
        + hav(pm[p, P_PLAT], pm[p, P_PLON], pm[p, P_DLAT], pm[p, P_DLON])
        + hav(pm[p, P_DLAT], pm[p, P_DLON], dl, do)
    )
    if length - tm[t, T_DIRECT] > tm[t, T_MAX_DETOUR] + EPS:
        return DETOUR, INF
    idx = np.empty(1, dtype=np.int64)
    idx[0] = p
    detour, row = best_order(pm, tm, t, idx, order1, road_factor, service_s, times)
    if row < 0:
        return TIME_WINDOW, INF
    return FEASIBLE, detour


@nb.njit(cache=True, inline="always")
def is_forbidden(forbidden, n_parcels, t, p):
    """Whether (trip t, parcel p) is among `Arrays.forbidden` (sorted keys t * n_parcels + p)."""
    if forbidden.shape[0] == 0:
        return False
    key = t * n_parcels + p
    i = np.searchsorted(forbidden, key)
    return i < forbidden.shape[0] and forbidden[i] == key


@nb.njit(cache=True, parallel=True)
def reasons_for(pm, tm, parcels, rules, forbidden, order1, road_factor, service_s):
    """Counts, for each listed parcel, the trips stopped by each rule (column FEASIBLE: none).

    A forbidden pair counts as FORBIDDEN only when every other rule would allow it."""
    counts = np.zeros((parcels.shape[0], FEASIBLE + 1), dtype=np.int64)
    n_parcels = pm.shape[0]
    # Each trip's latitude band, as in the candidate scan, widened by a metre: a pickup outside it
    # is further than the detour allows from one end of the trip, so no trigonometry is needed.
    n_trips = tm.shape[0]
    band_lo = np.empty(n_trips)
    band_hi = np.empty(n_trips)
    for t in range(n_trips):
        reach_deg = ((tm[t, T_DIRECT] + tm[t, T_MAX_DETOUR]) / road_factor + 1.0) / METRES_PER_DEGREE
        band_lo[t] = max(tm[t, T_OLAT], tm[t, T_DLAT]) - reach_deg
        band_hi[t] = min(tm[t, T_OLAT], tm[t, T_DLAT]) + reach_deg
    prad = parcel_radians(pm)
    trad = trip_radians(tm)
    for i in nb.prange(parcels.shape[0]):
        p = parcels[i]
        times = np.empty(2)
        idx = np.empty(1, dtype=np.int64)
        idx[0] = p
        # `single_reason` inlined, with each point's radians, cosine and the parcel's own leg
        # computed once (the same operations on the same values, so the same verdicts): on a
        # dense city these loops are most of a short limit's fixed cost.
        lat = pm[p, P_PLAT]
        for t in range(n_trips):
            code = static_reason(pm, tm, t, p, rules)
            if code != FEASIBLE:
                pass
            elif lat < band_lo[t] or lat > band_hi[t]:
                code = DETOUR
            else:
                length = road_factor * (
                    hav_r(trad[t, 0], trad[t, 1], trad[t, 2], prad[p, 0], prad[p, 1], prad[p, 2])
                    + prad[p, 6]
                    + hav_r(prad[p, 3], prad[p, 4], prad[p, 5], trad[t, 3], trad[t, 4], trad[t, 5])
                )
                if length - tm[t, T_DIRECT] > tm[t, T_MAX_DETOUR] + EPS:
                    code = DETOUR
                else:
                    _, row = best_order(pm, tm, t, idx, order1, road_factor, service_s, times)
                    code = TIME_WINDOW if row < 0 else FEASIBLE
            if code == FEASIBLE and is_forbidden(forbidden, n_parcels, t, p):
                code = FORBIDDEN
            counts[i, code] += 1
    return counts


@nb.njit(cache=True)
def greedy_loop(pm, tm, single_ptr, single_parcel, single_detour, fallback, per_parcel, per_detour_km, max_bundle,
            orders, road_factor, service_s):  # fmt: skip
    """`greedy.greedy`'s loop, compiled: returns (bundles (trips x max_bundle, -1 padded), sizes)."""
    n_trips = tm.shape[0]
    bundles = np.full((n_trips, max_bundle), -1, dtype=np.int64)
    sizes = np.zeros(n_trips, dtype=np.int64)
    bundle_cost = np.zeros(n_trips, dtype=np.int64)
    version = np.zeros(n_trips, dtype=np.int64)
    assigned = np.zeros(pm.shape[0], dtype=np.bool_)
    heap = [(np.int64(0), np.int64(0), np.int64(0), np.int64(0)) for _ in range(0)]
    for t in range(n_trips):
        for s in range(single_ptr[t], single_ptr[t + 1]):
            p = single_parcel[s]
            saving = fallback[p] - (per_parcel + detour_cost(per_detour_km, single_detour[s]))
            if saving > 0:
                heap.append((np.int64(-saving), np.int64(t), np.int64(p), np.int64(0)))
    heapq.heapify(heap)
    times = np.empty(2 * max_bundle)
    while len(heap) > 0:
        entry = heapq.heappop(heap)
        tt, pp, seen = entry[1], entry[2], entry[3]
        if assigned[pp]:
            continue
        k = sizes[tt]
        if k >= max_bundle:
            continue
        idx = np.empty(k + 1, dtype=np.int64)
        idx[:k] = bundles[tt, :k]
        idx[k] = pp
        idx.sort()
        detour, row = best_order(pm, tm, tt, idx, orders[k], road_factor, service_s, times)
        if row < 0:
            continue
        cost = per_parcel * (k + 1) + detour_cost(per_detour_km, detour)
        if seen != version[tt]:
            saving = fallback[pp] - (cost - bundle_cost[tt])
            if saving > 0:
                heapq.heappush(heap, (np.int64(-saving), np.int64(tt), np.int64(pp), version[tt]))
            continue
        bundles[tt, : k + 1] = idx
        sizes[tt] = k + 1
        bundle_cost[tt] = cost
        version[tt] += 1
        assigned[pp] = True
    return bundles, sizes


@nb.njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@nb.njit(cache=True)
def union_all(parent, a, b):
    """Union-find over the parcel-trip graph: joins a[i] and b[i] for every i."""
    for i in range(a.shape[0]):
        ra, rb = _find(parent, a[i]), _find(parent, b[i])
        if ra != rb:
            parent[ra] = rb


@nb.njit(cache=True)
def find_all(parent, n):
    """The root of each of the first n nodes."""
    roots = np.empty(n, dtype=np.int64)
    for x in range(n):
        roots[x] = _find(parent, x)
    return roots


@nb.njit(cache=True, parallel=True)
def bundle_costs(pm, tm, trips, bundles, orders, per_parcel, per_detour_km, road_factor, service_s):
    """The cost of each (trip, bundle) row (parcels -1 padded), or -1 when no route is feasible."""
    out = np.full(trips.shape[0], -1, dtype=np.int64)
    for i in nb.prange(trips.shape[0]):
        k = 0
        while k < bundles.shape[1] and bundles[i, k] >= 0:
            k += 1
        times = np.empty(2 * k)
        detour, row = best_order(pm, tm, trips[i], bundles[i, :k].copy(), orders[k - 1], road_factor, service_s, times)
        if row >= 0:
            out[i] = per_parcel * k + detour_cost(per_detour_km, detour)
    return out
