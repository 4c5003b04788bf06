"""Greedy baseline: repeatedly make the insertion that saves most against the fleet.

Savings of putting parcel p on trip t = p's fallback cost - (cost of t's bundle with p - cost
without). Savings are re-evaluated lazily: an entry computed against an older bundle of its trip
is recomputed when it reaches the top of the heap.
"""

from __future__ import annotations

import numpy as np

from matching.arrays import Arrays
from matching.candidates import Candidates
from matching.kernels import best_order, detour_cost, greedy_loop, stop_orders


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


def greedy(arrays: Arrays, candidates: Candidates) -> dict[int, tuple[int, ...]]:
    """Returns trip -> parcels (sorted), for trips that carry something. Compiled: on a dense
    city the heap holds millions of insertions."""
    orders = tuple(stop_orders(k) for k in range(1, arrays.max_bundle + 1))
    bundles, sizes = greedy_loop(
        arrays.parcels, arrays.trips, candidates.single_ptr, candidates.single_parcel, candidates.single_detour,
        arrays.fallback, arrays.per_parcel, arrays.per_detour_km, arrays.max_bundle, orders, arrays.road_factor,
        arrays.service_s,
    )  # fmt: skip
    return {int(t): tuple(int(p) for p in bundles[t, : sizes[t]]) for t in np.flatnonzero(sizes)}
