"""The instance as flat numpy arrays: what the compiled kernels read.

Times become float seconds after `now`; every rule that depends only on a trip, or only on a
parcel, is evaluated once here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from matching.model import Instance

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Parcel matrix columns.
P_PLAT, P_PLON, P_DLAT, P_DLON, P_PFROM, P_PUNTIL, P_DFROM, P_DUNTIL, P_WEIGHT, P_VOLUME, P_VALUE = range(11)
P_COLS = 11
# Trip matrix columns.
(
    T_OLAT,
    T_OLON,
    T_DLAT,
    T_DLON,
    T_DEPART,
    T_ARRIVE,
    T_SPEED,
    T_CAP_G,
    T_CAP_CM3,
    T_MAX_DETOUR,
    T_DIRECT,
    T_PER_TRIP,
) = range(12)
T_COLS = 12

# Reason codes, in the order the rules are checked. FORBIDDEN comes last: a declined or expired
# offer is named only for a trip that every other rule would allow. A courier who cannot be paid
# (PAYOUTS_DISABLED) is refused before anything else.
(
    PAYOUTS_DISABLED,
    INSURANCE_MISSING,
    CURRENCY,
    INSURANCE_EXPIRED,
    INSURANCE_COVER,
    VERIFICATION_LEVEL,
    CAPACITY,
    DETOUR,
    TIME_WINDOW,
    FORBIDDEN,
) = range(10)
FEASIBLE = 10
REASON_CODES = (
    "payouts_disabled",
    "insurance_missing",
    "currency",
    "insurance_expired",
    "insurance_cover",
    "verification_level",
    "capacity",
    "detour",
    "time_window",
    "forbidden",
    "not_chosen",
)


@dataclass(frozen=True)
class Arrays:
    parcels: F64  # (P, P_COLS)
    trips: F64  # (T, T_COLS); T_PER_TRIP is -1 without valid insurance
    parcel_currency: I64  # index into `currencies`
    parcel_level: I64  # verification level each parcel requires
    fallback: I64
    trip_insured: npt.NDArray[np.bool_]
    trip_currency: I64  # -1 without insurance
    trip_insurance_valid: npt.NDArray[np.bool_]  # valid over the whole trip
    trip_per_parcel: I64
    trip_level: I64
    trip_paid: npt.NDArray[np.bool_]  # the courier can be paid (payouts enabled)
    trip_co2_g_per_km: F64
    road_factor: float
    service_s: float
    max_bundle: int
    per_parcel: int
    per_detour_km: int
    forbidden: I64  # sorted, distinct keys trip * n_parcels + parcel of the pairs never to make

    @property
    def rules(
        self,
    ) -> tuple[I64, I64, npt.NDArray[np.bool_], I64, npt.NDArray[np.bool_], I64, I64, npt.NDArray[np.bool_]]:
        """The per-parcel and per-trip rule arrays, in the order `kernels.static_reason` unpacks them."""
        return (
            self.parcel_currency,
            self.parcel_level,
            self.trip_insured,
            self.trip_currency,
            self.trip_insurance_valid,
            self.trip_per_parcel,
            self.trip_level,
            self.trip_paid,
        )


EARTH_RADIUS_M = 6_371_008.8


def great_circle_m(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))  # type: ignore[no-any-return]


def forbidden_keys(instance: Instance) -> I64:
    """The forbidden pairs as sorted, distinct keys `trip index * n_parcels + parcel index`
    (`kernels.is_forbidden` looks them up); empty, and free, when none are listed."""
    if not instance.forbidden:
        return np.empty(0, dtype=np.int64)
    parcel_index = {p.id: i for i, p in enumerate(instance.parcels)}
    trip_index = {t.id: i for i, t in enumerate(instance.trips)}
    keys = []
    for pair in instance.forbidden:
        if pair.trip_id not in trip_index or pair.parcel_id not in parcel_index:
            raise ValueError(f"forbidden pair ({pair.trip_id!r}, {pair.parcel_id!r}) names an unknown trip or parcel")
        keys.append(trip_index[pair.trip_id] * len(instance.parcels) + parcel_index[pair.parcel_id])
    return np.unique(np.array(keys, dtype=np.int64))


def build_arrays(instance: Instance) -> Arrays:
    now = instance.now

    def rel(t: datetime) -> float:
        return (t - now).total_seconds()

    rules = instance.rules
    currencies: dict[str, int] = {}

    def currency_index(code: str) -> int:
        return currencies.setdefault(code, len(currencies))

    parcels = np.zeros((len(instance.parcels), P_COLS))
    for i, p in enumerate(instance.parcels):
        parcels[i] = (
            p.pickup[0],
            p.pickup[1],
            p.dropoff[0],
            p.dropoff[1],
            rel(p.pickup_from),
            rel(p.pickup_until),
            rel(p.deliver_from),
            rel(p.deliver_until),
            p.weight_g,
            p.volume_cm3,
            p.value,
        )
    parcel_currency = np.array([currency_index(p.currency) for p in instance.parcels], dtype=np.int64)
    parcel_level = np.array([rules.required_level(p.value) for p in instance.parcels], dtype=np.int64)
    fallback = np.array([p.fallback_cost for p in instance.parcels], dtype=np.int64)

    n = len(instance.trips)
    trips = np.zeros((n, T_COLS))
    insured = np.zeros(n, dtype=np.bool_)
    trip_currency = np.full(n, -1, dtype=np.int64)
    valid = np.zeros(n, dtype=np.bool_)
    per_parcel = np.zeros(n, dtype=np.int64)
    for i, t in enumerate(instance.trips):
        ins = t.insurance
        trips[i] = (
            t.origin[0],
            t.origin[1],
            t.destination[0],
            t.destination[1],
            rel(t.depart_after),
            rel(t.arrive_by),
            t.speed_mps,
            t.capacity_g,
            t.capacity_cm3,
            t.max_detour_m,
            0.0,
            -1.0 if ins is None else ins.per_trip,
        )
        if ins is not None:
            insured[i] = True
            # A currency no parcel uses gets a fresh index, so it matches nothing.
            trip_currency[i] = currency_index(ins.currency)
            valid[i] = ins.valid_from <= t.depart_after and t.arrive_by <= ins.valid_until
            per_parcel[i] = ins.per_parcel
    trips[:, T_DIRECT] = rules.road_factor * great_circle_m(
        trips[:, T_OLAT], trips[:, T_OLON], trips[:, T_DLAT], trips[:, T_DLON]
    )
    return Arrays(
        parcels=parcels,
        trips=trips,
        parcel_currency=parcel_currency,
        parcel_level=parcel_level,
        fallback=fallback,
        trip_insured=insured,
        trip_currency=trip_currency,
        trip_insurance_valid=valid,
        trip_per_parcel=per_parcel,
        trip_level=np.array([t.verification_level for t in instance.trips], dtype=np.int64),
        trip_paid=np.array([t.payouts_enabled for t in instance.trips], dtype=np.bool_),
        trip_co2_g_per_km=np.array([t.co2_g_per_km for t in instance.trips], dtype=np.float64),
        road_factor=rules.road_factor,
        service_s=float(rules.service_s),
        max_bundle=rules.max_parcels_per_trip,
        per_parcel=rules.pay.per_parcel,
        per_detour_km=rules.pay.per_detour_km,
        forbidden=forbidden_keys(instance),
    )
