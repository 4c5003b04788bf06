"""A tiny day on one meridian, so every distance is R x delta-latitude x road factor, by hand."""

from __future__ import annotations

import pytest

from vanrounds import Depot, Parcel, Problem, Site, VanType

H = 3600
DEPOT = Site("depot", 52.500, 13.40)
STORE = Site("store", 52.510, 13.40)
NEAR = Site("near", 52.490, 13.40)
FAR = Site("far", 52.480, 13.40)
VAN = VanType(
    "van",
    count=1,
    capacity_g=10_000,
    fixed_cost_minor=2_000,
    cost_per_km_minor=50,
    cost_per_hour_minor=2_500,
    co2_g_per_km=180,
)


@pytest.fixture
def tiny_day() -> Problem:
    """One store, two parcels going south of the depot; both collected 9:00-10:00, delivered by 18:00."""
    return Problem(
        depot=Depot(DEPOT, opens_s=6 * H, closes_s=22 * H),
        parcels=(
            Parcel("p1", STORE, NEAR, 2_000, 9 * H, 10 * H, 9 * H, 18 * H),
            Parcel("p2", STORE, FAR, 3_000, 9 * H, 10 * H, 9 * H, 18 * H),
        ),
        vans=(VAN,),
    )
