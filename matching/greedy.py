"""Greedy baseline: repeatedly make the insertion that saves most against the fleet.

Savings of putting parcel p on trip t = p's fallback cost - (cost of t's bundle with p - cost
without). Savings are re-evaluated lazily: an entry computed against an older bundle of its trip
is recomputed when it reaches the top of the heap.
"""

from __future__ import annotations

import heapq

import numpy as np

from matching.arrays import Arrays
from matching.candidates import Candidates
from matching.kernels import best_order, detour_cost, stop_orders


class BundleCosts:
    """Cost of a bundle on a trip (best stop order), None when infeasible; cached."""

    def __init__(self, arrays: Arrays) -> None:
        self._a = arrays
        self._orders = [stop_orders(k) for k in range(1, arrays.max_bundle + 1)]
        self._times = np.empty(2 * arrays.max_bundle)
        self._cache: dict[tuple[int, tuple[int, ...]], tuple[int, float] | None] = {}

    def evaluate(self, trip: int, parcels: tuple[int, ...]) -> tuple[int, float] | None:
        key = (trip, tuple(sorted(parcels)))
        if key in self._cache:
            return self._cache[key]
        a = self._a
        idx = np.array(key[1], dtype=np.int64)
        detour, row = best_order(
            a.parcels, a.trips, trip, idx, self._orders[len(idx) - 1], a.road_factor, a.service_s, self._times
        )
        result = None if row < 0 else (a.per_parcel * len(idx) + int(detour_cost(a.per_detour_km, detour)), detour)
        self._cache[key] = result
        return result


def greedy(arrays: Arrays, candidates: Candidates, costs: BundleCosts | None = None) -> dict[int, tuple[int, ...]]:
    """Returns trip -> parcels (sorted), for trips that carry something."""
    costs = costs or BundleCosts(arrays)
    fallback = arrays.fallback
    bundles: dict[int, tuple[int, ...]] = {}
    bundle_cost: dict[int, int] = {}
    version: dict[int, int] = {}
    assigned = np.zeros(arrays.parcels.shape[0], dtype=np.bool_)
    heap: list[tuple[int, int, int, int]] = []
    ptr, parcel, detour = candidates.single_ptr, candidates.single_parcel, candidates.single_detour
    for t in range(arrays.trips.shape[0]):
        for s in range(ptr[t], ptr[t + 1]):
            p = int(parcel[s])
            saving = int(fallback[p]) - (arrays.per_parcel + int(detour_cost(arrays.per_detour_km, detour[s])))
            if saving > 0:
                heap.append((-saving, t, p, 0))
    heapq.heapify(heap)
    while heap:
        _, t, p, seen = heapq.heappop(heap)
        if assigned[p]:
            continue
        current = bundles.get(t, ())
        if seen != version.get(t, 0):
            if len(current) >= arrays.max_bundle:
                continue
            evaluated = costs.evaluate(t, (*current, p))
            if evaluated is None:
                continue
            saving = int(fallback[p]) - (evaluated[0] - bundle_cost.get(t, 0))
            if saving > 0:
                heapq.heappush(heap, (-saving, t, p, version.get(t, 0)))
            continue
        if len(current) >= arrays.max_bundle:
            continue
        evaluated = costs.evaluate(t, (*current, p))
        if evaluated is None:
            continue
        bundles[t] = tuple(sorted((*current, p)))
        bundle_cost[t] = evaluated[0]
        version[t] = version.get(t, 0) + 1
        assigned[p] = True
    return bundles
