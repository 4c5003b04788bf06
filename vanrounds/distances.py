"""Integer road distances and van travel times between sites.

The formula is the matching engine's (`matching.check.distance_m`: great circle x road factor 1.3),
copied rather than imported so this package stays free of `matching/` and its numba kernels; a test
compares the two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vanrounds.model import Site

EARTH_M = 6_371_008.8


def road_m(a: Site, b: Site, road_factor: float) -> int:
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (a.lat, a.lng, b.lat, b.lng))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return round(road_factor * 2 * EARTH_M * math.asin(math.sqrt(min(1.0, h))))


def travel_s(distance_m: int, speed_mps: float) -> int:
    return math.ceil(distance_m / speed_mps)


def matrices(
    sites: Sequence[Site], road_factor: float, speed_mps: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distance (m) and duration (s) matrices over `sites`, in that order."""
    n = len(sites)
    dist = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            dist[i, j] = dist[j, i] = road_m(sites[i], sites[j], road_factor)
    dur = np.ceil(dist / speed_mps).astype(np.int64)
    return dist, dur
