"""A synthetic city: parcels clustered at stores, commuter trips with mixed vehicles and speeds,
declared values and insurance policies that exercise the verification and insurance rules.

The city grows with the number of parcels (its radius with the square root), so every size has
about the same density; `density` widens windows and detours on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from matching.model import Instance, Insurance, Parcel, Pay, Rules, Trip, VerificationRule

CENTRE = (52.52, 13.405)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
METRES_PER_DEGREE_LAT = 111_195.0
# Detour scale at 500, 2,000 and 10,000 parcels, calibrated on the bench sizes so each averages
# 10-12 trips that could carry a parcel alone (small towns lose trips that leave the town).
REACH = (1.2, 0.87, 0.78)


@dataclass(frozen=True)
class Vehicle:
    kind: str
    share: float
    speed_mps: tuple[float, float]
    capacity_g: int
    capacity_cm3: int
    detour_m: tuple[float, float]
    co2_g_per_km: float


VEHICLES = (
    Vehicle("foot", 0.08, (1.2, 1.6), 5_000, 20_000, (600, 1_500), 0.0),
    Vehicle("bicycle", 0.30, (3.8, 5.5), 12_000, 45_000, (1_500, 4_000), 0.0),
    Vehicle("cargo_bike", 0.10, (3.5, 4.5), 60_000, 200_000, (2_000, 5_000), 0.0),
    Vehicle("e_scooter", 0.10, (5.0, 6.5), 8_000, 30_000, (1_000, 3_500), 8.0),
    Vehicle("car", 0.30, (7.0, 11.0), 50_000, 300_000, (3_000, 8_000), 160.0),
    Vehicle("public_transport", 0.12, (6.0, 8.0), 8_000, 30_000, (800, 2_500), 35.0),
)

RULES = Rules(
    road_factor=1.3,
    service_s=120,
    max_parcels_per_trip=3,
    verification=(VerificationRule(0, 0), VerificationRule(10_000, 1), VerificationRule(50_000, 2)),
    pay=Pay(per_parcel=250, per_detour_km=45),
)


def _offset(rng: np.random.Generator, centre: tuple[float, float], sigma_m: float) -> tuple[float, float]:
    dy, dx = rng.normal(0.0, sigma_m, 2)
    lat = centre[0] + dy / METRES_PER_DEGREE_LAT
    lon = centre[1] + dx / (METRES_PER_DEGREE_LAT * math.cos(math.radians(centre[0])))
    return round(lat, 6), round(lon, 6)


def _toward(rng: np.random.Generator, start: tuple[float, float], distance_m: float) -> tuple[float, float]:
    angle = float(rng.uniform(0, 2 * math.pi))
    lat = start[0] + distance_m * math.sin(angle) / METRES_PER_DEGREE_LAT
    lon = start[1] + distance_m * math.cos(angle) / (METRES_PER_DEGREE_LAT * math.cos(math.radians(start[0])))
    return round(lat, 6), round(lon, 6)


def _at(minutes: float) -> datetime:
    return NOW + timedelta(seconds=round(minutes * 60))


def generate(parcels: int, trips: int, seed: int, density: float = 1.0) -> Instance:
    rng = np.random.default_rng(seed)
    radius_m = 2_500 * math.sqrt(max(parcels, 1) / 500)
    # Larger cities see more trips cross every neighbourhood; shorter detours keep each size at a
    # similar density (about 10-13 trips that could carry a parcel alone).
    reach = float(np.interp(math.log(max(parcels, 1)), [math.log(500), math.log(2_000), math.log(10_000)], REACH))
    stores = [_offset(rng, CENTRE, radius_m * 0.5) for _ in range(max(3, parcels // 40))]

    out_parcels: list[Parcel] = []
    for i in range(parcels):
        store = stores[int(rng.integers(len(stores)))]
        pickup = _offset(rng, store, 40)
        # Local deliveries: homes a few kilometres from the shop, whatever the size of the city.
        dropoff = _toward(rng, pickup, float(rng.lognormal(math.log(min(2_500, 0.6 * radius_m)), 0.5)))
        pickup_from = float(rng.uniform(0, 240))
        pickup_until = pickup_from + float(rng.uniform(60, 240)) * density
        deliver_until = pickup_until + float(rng.uniform(60, 300)) * density
        roll = rng.random()
        value = int(
            rng.integers(500, 10_000)
            if roll < 0.7
            else rng.integers(10_000, 50_000)
            if roll < 0.92
            else rng.integers(50_000, 150_000)
        )
        km = math.dist(pickup, dropoff) * METRES_PER_DEGREE_LAT / 1000
        out_parcels.append(
            Parcel(
                id=f"p{i}",
                pickup=pickup,
                dropoff=dropoff,
                pickup_from=_at(pickup_from),
                pickup_until=_at(pickup_until),
                deliver_from=_at(pickup_from),
                deliver_until=_at(deliver_until),
                weight_g=int(min(25_000, rng.lognormal(7.3, 0.8))),
                volume_cm3=int(min(120_000, rng.lognormal(8.6, 0.8))),
                value=value,
                currency="EUR",
                fallback_cost=int(650 + 60 * km + rng.integers(0, 150)),
            )
        )

    shares = np.array([v.share for v in VEHICLES])
    out_trips: list[Trip] = []
    for j in range(trips):
        vehicle = VEHICLES[int(rng.choice(len(VEHICLES), p=shares / shares.sum()))]
        # Commuters ride a few kilometres (more by car), from homes anywhere in the city, or back.
        home = _offset(rng, CENTRE, radius_m * 0.8)
        typical_m = min(4_000, 0.9 * radius_m) * (1.6 if vehicle.kind == "car" else 1.0)
        length_m = float(rng.lognormal(math.log(typical_m), 0.4))
        work = _toward(rng, home, length_m)
        origin, destination = (home, work) if rng.random() < 0.6 else (work, home)
        speed = float(rng.uniform(*vehicle.speed_mps))
        direct_m = 1.3 * math.dist(origin, destination) * METRES_PER_DEGREE_LAT
        depart = float(rng.uniform(0, 360))
        slack_min = float(rng.uniform(25, 90)) * density
        arrive = depart + direct_m / speed / 60 + slack_min
        level = int(rng.choice(3, p=[0.3, 0.5, 0.2]))
        roll = rng.random()
        insurance: Insurance | None
        if roll < 0.08:
            insurance = None
        else:
            cover = int(rng.choice([20_000, 50_000, 100_000, 200_000], p=[0.3, 0.35, 0.25, 0.1]))
            valid_until = _at(arrive + 1440) if roll >= 0.13 else _at(depart - 60)
            insurance = Insurance(
                per_parcel=cover,
                per_trip=cover * int(rng.integers(1, 4)),
                currency="GBP" if roll >= 0.98 else "EUR",
                valid_from=NOW - timedelta(days=90),
                valid_until=valid_until,
            )
        out_trips.append(
            Trip(
                id=f"t{j}",
                courier_id=f"c{j if rng.random() < 0.8 else int(rng.integers(j + 1))}",
                origin=origin,
                destination=destination,
                depart_after=_at(depart),
                arrive_by=_at(arrive),
                speed_mps=round(speed, 2),
                capacity_g=vehicle.capacity_g,
                capacity_cm3=vehicle.capacity_cm3,
                max_detour_m=round(float(rng.uniform(*vehicle.detour_m)) * density * reach),
                verification_level=level,
                insurance=insurance,
                co2_g_per_km=vehicle.co2_g_per_km,
            )
        )
    return Instance(now=NOW, rules=RULES, parcels=tuple(out_parcels), trips=tuple(out_trips))
