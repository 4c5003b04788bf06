"""Small, hand-checkable instances for the engine's tests.

The default world lies on the equator with a road factor of 1, so a distance is simply
6,371,008.8 m x the angle in radians: origin (0, 0) to destination (0, 0.1) is 11,119.5 m.
The default parcel sits 0.005 degrees (556 m) north of that line, between 0.02 and 0.06 degrees
east, so carrying it costs a detour of about 103 m; every rule holds with a wide margin.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from matching.model import Instance, Insurance, Parcel, Pay, Point, Rules, Trip, VerificationRule

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

RULES = Rules(
    road_factor=1.0,
    service_s=60,
    max_parcels_per_trip=3,
    verification=(VerificationRule(0, 0), VerificationRule(10_000, 1), VerificationRule(50_000, 2)),
    pay=Pay(per_parcel=250, per_detour_km=45),
)


def at(minutes: float) -> datetime:
    """`minutes` after 08:00 UTC on the day of the default instances."""
    return T0 + timedelta(minutes=minutes)


def insurance(
    *,
    per_parcel: int = 50_000,
    per_trip: int = 100_000,
    currency: str = "EUR",
    valid_from: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    valid_until: datetime = datetime(2027, 1, 1, tzinfo=UTC),
) -> Insurance:
    return Insurance(per_parcel, per_trip, currency, valid_from, valid_until)


def parcel(
    id: str = "p1",
    *,
    pickup: Point = (0.005, 0.02),
    dropoff: Point = (0.005, 0.06),
    pickup_from: datetime | None = None,
    pickup_until: datetime | None = None,
    deliver_from: datetime | None = None,
    deliver_until: datetime | None = None,
    weight_g: int = 1_000,
    volume_cm3: int = 2_000,
    value: int = 20_000,
    currency: str = "EUR",
    fallback_cost: int = 900,
) -> Parcel:
    """A parcel worth 20,000 (it needs verification level 1), open all morning."""
    return Parcel(
        id=id,
        pickup=pickup,
        dropoff=dropoff,
        pickup_from=at(0) if pickup_from is None else pickup_from,
        pickup_until=at(240) if pickup_until is None else pickup_until,
        deliver_from=at(0) if deliver_from is None else deliver_from,
        deliver_until=at(480) if deliver_until is None else deliver_until,
        weight_g=weight_g,
        volume_cm3=volume_cm3,
        value=value,
        currency=currency,
        fallback_cost=fallback_cost,
    )


_DEFAULT_INSURANCE = insurance()


def trip(
    id: str = "t1",
    *,
    courier_id: str = "c1",
    origin: Point = (0.0, 0.0),
    destination: Point = (0.0, 0.1),
    depart_after: datetime | None = None,
    arrive_by: datetime | None = None,
    speed_mps: float = 5.0,
    capacity_g: int = 10_000,
    capacity_cm3: int = 50_000,
    max_detour_m: float = 3_000.0,
    verification_level: int = 1,
    insurance: Insurance | None = _DEFAULT_INSURANCE,
    co2_g_per_km: float = 0.0,
) -> Trip:
    """11.1 km due east at 5 m/s (37 minutes), leaving at 08:00 and due by 10:00."""
    return Trip(
        id=id,
        courier_id=courier_id,
        origin=origin,
        destination=destination,
        depart_after=at(0) if depart_after is None else depart_after,
        arrive_by=at(120) if arrive_by is None else arrive_by,
        speed_mps=speed_mps,
        capacity_g=capacity_g,
        capacity_cm3=capacity_cm3,
        max_detour_m=max_detour_m,
        verification_level=verification_level,
        insurance=insurance,
        co2_g_per_km=co2_g_per_km,
    )


def instance(parcels: list[Parcel], trips: list[Trip], rules: Rules = RULES) -> Instance:
    return Instance(now=T0, rules=rules, parcels=tuple(parcels), trips=tuple(trips))


# The issue's example instance, verbatim.
_ISSUE_EXAMPLE: dict[str, Any] = {
    "now": "2026-11-24T08:00:00Z",
    "rules": {
        "road_factor": 1.3,
        "service_s": 120,
        "max_parcels_per_trip": 3,
        "verification": [
            {"min_value": 0, "level": 0},
            {"min_value": 10000, "level": 1},
            {"min_value": 50000, "level": 2},
        ],
        "pay": {"per_parcel": 250, "per_detour_km": 45},
    },
    "parcels": [
        {
            "id": "p1",
            "pickup": [52.52, 13.40],
            "dropoff": [52.50, 13.45],
            "pickup_from": "2026-11-24T08:00:00Z",
            "pickup_until": "2026-11-24T10:00:00Z",
            "deliver_from": "2026-11-24T08:00:00Z",
            "deliver_until": "2026-11-24T12:00:00Z",
            "weight_g": 1200,
            "volume_cm3": 4000,
            "value": 4999,
            "currency": "EUR",
            "fallback_cost": 890,
        }
    ],
    "trips": [
        {
            "id": "t1",
            "courier_id": "c1",
            "origin": [52.53, 13.38],
            "destination": [52.49, 13.47],
            "depart_after": "2026-11-24T08:30:00Z",
            "arrive_by": "2026-11-24T09:30:00Z",
            "speed_mps": 6.0,
            "capacity_g": 15000,
            "capacity_cm3": 60000,
            "max_detour_m": 3000,
            "verification_level": 1,
            "insurance": {
                "per_parcel": 50000,
                "per_trip": 100000,
                "currency": "EUR",
                "valid_from": "2026-01-01T00:00:00Z",
                "valid_until": "2027-01-01T00:00:00Z",
            },
            "co2_g_per_km": 0,
        }
    ],
}


def trips_with_one_moved(instance: Instance, trip_id: str, by: timedelta) -> tuple[Trip, ...]:
    """The instance's trips, the one named leaving and arriving `by` later (a trip whose times moved)."""
    return tuple(
        dataclasses.replace(t, depart_after=t.depart_after + by, arrive_by=t.arrive_by + by) if t.id == trip_id else t
        for t in instance.trips
    )


def issue_example() -> dict[str, Any]:
    """A fresh copy of the example instance from the issue, safe to modify."""
    return copy.deepcopy(_ISSUE_EXAMPLE)
