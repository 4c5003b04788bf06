"""What a warm round may reuse of the previous one, and the check that decides it.

A trip or a parcel is *unchanged* when the previous round had one with the same id and equal
fields (and, for a trip, the same forbidden parcels), under equal rules. Every verdict the engine
reaches about a (trip, parcel) pair reads only those fields, never the clock: times are compared
with each other, and detours are distances. So an unchanged pair keeps its verdict, an unchanged
trip's least reduced cost at unchanged parcel duals is still a lower bound (its bundles are the
same or fewer), and an unchanged unplaced parcel keeps its reasons over unchanged trips.
Everything else (new, changed or gone trips and parcels) is computed afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from matching.arrays import I64, Arrays
from matching.candidates import Candidates, Reuse
from matching.model import Instance


@dataclass(frozen=True)
class RoundMemo:
    """The previous round's instance and what it computed that the next round may reuse."""

    instance: Instance
    arrays: Arrays | None  # None: no explanations to reuse
    candidates: Candidates | None  # None: the scan was cut short, nothing to reuse
    floors_valid: bool  # the trip duals are each trip's least reduced cost at the parcel duals
    reason_parcels: I64  # previous indices of the parcels left to the fleet
    reason_counts: I64  # their reasons (kernels.reasons_for), row per parcel


@dataclass(frozen=True)
class Changes:
    trip_old: I64  # per trip, its index in the previous round, or -1: new or changed
    parcel_old: I64  # per parcel, its index in the previous round, or -1: new or changed
    parcel_new: I64  # per previous parcel, its index now, or -1: gone or changed
    trip_new: I64  # per previous trip, its index now, or -1: gone or changed

    @property
    def fresh_parcels(self) -> I64:
        return np.flatnonzero(self.parcel_old < 0).astype(np.int64)

    @property
    def fresh_trips(self) -> I64:
        return np.flatnonzero(self.trip_old < 0).astype(np.int64)

    def reuse(self, memo: RoundMemo) -> Reuse | None:
        if memo.candidates is None:
            return None
        return Reuse(self.trip_old, self.parcel_new, self.fresh_parcels, memo.candidates)


def _forbidden_by_trip(instance: Instance) -> dict[str, frozenset[str]]:
    by_trip: dict[str, set[str]] = {}
    for pair in instance.forbidden:
        by_trip.setdefault(pair.trip_id, set()).add(pair.parcel_id)
    return {t: frozenset(ps) for t, ps in by_trip.items()}


def changes(instance: Instance, memo: RoundMemo) -> Changes | None:
    """Which trips and parcels are unchanged since the memo's round; None when the rules differ
    (then nothing computed from them is reused)."""
    previous = memo.instance
    if previous.rules != instance.rules:
        return None
    old_parcels = {p.id: (i, p) for i, p in enumerate(previous.parcels)}
    old_trips = {t.id: (i, t) for i, t in enumerate(previous.trips)}
    old_forbidden, new_forbidden = _forbidden_by_trip(previous), _forbidden_by_trip(instance)
    empty: frozenset[str] = frozenset()
    parcel_old = np.full(len(instance.parcels), -1, dtype=np.int64)
    for i, p in enumerate(instance.parcels):
        found = old_parcels.get(p.id)
        if found is not None and found[1] == p:
            parcel_old[i] = found[0]
    trip_old = np.full(len(instance.trips), -1, dtype=np.int64)
    for i, t in enumerate(instance.trips):
        seen = old_trips.get(t.id)
        if seen is not None and seen[1] == t and old_forbidden.get(t.id, empty) == new_forbidden.get(t.id, empty):
            trip_old[i] = seen[0]
    parcel_new = np.full(len(previous.parcels), -1, dtype=np.int64)
    kept = parcel_old >= 0
    parcel_new[parcel_old[kept]] = np.flatnonzero(kept)
    trip_new = np.full(len(previous.trips), -1, dtype=np.int64)
    kept = trip_old >= 0
    trip_new[trip_old[kept]] = np.flatnonzero(kept)
    return Changes(trip_old, parcel_old, parcel_new, trip_new)


def trip_subset(arrays: Arrays, trips: I64) -> Arrays:
    """`arrays` with only the listed trips (in that order), for checks over a few trips."""
    n_parcels = arrays.parcels.shape[0]
    position = np.full(arrays.trips.shape[0], -1, dtype=np.int64)
    position[trips] = np.arange(trips.shape[0])
    keys = arrays.forbidden
    kept = keys[position[keys // max(1, n_parcels)] >= 0] if keys.shape[0] else keys
    forbidden = np.sort(position[kept // max(1, n_parcels)] * n_parcels + kept % max(1, n_parcels))
    return replace(
        arrays,
        trips=arrays.trips[trips],
        trip_insured=arrays.trip_insured[trips],
        trip_currency=arrays.trip_currency[trips],
        trip_insurance_valid=arrays.trip_insurance_valid[trips],
        trip_per_parcel=arrays.trip_per_parcel[trips],
        trip_level=arrays.trip_level[trips],
        trip_paid=arrays.trip_paid[trips],
        trip_co2_g_per_km=arrays.trip_co2_g_per_km[trips],
        forbidden=forbidden.astype(np.int64),
    )


def reasons(
    arrays: Arrays, parcels: I64, count: Callable[[Arrays, I64], I64], memo: RoundMemo | None, diff: Changes | None
) -> I64:
    """Reason counts of the listed parcels (`count` is `kernels.reasons_for` over some arrays).

    An unchanged parcel the previous round explained keeps its counts over the unchanged trips:
    only the gone or changed trips' old verdicts are taken out and the new or changed trips'
    verdicts added, so a few changed trips cost a few trips' checks."""
    if memo is None or diff is None or memo.arrays is None:
        return count(arrays, parcels)
    row_of = np.full(memo.instance.parcels.__len__(), -1, dtype=np.int64)
    row_of[memo.reason_parcels] = np.arange(memo.reason_parcels.shape[0])
    old = np.where(diff.parcel_old[parcels] >= 0, row_of[np.maximum(diff.parcel_old[parcels], 0)], -1)
    reuse = old >= 0
    out = np.empty((parcels.shape[0], memo.reason_counts.shape[1]), dtype=np.int64)
    if (~reuse).any():
        out[~reuse] = count(arrays, parcels[~reuse])
    if reuse.any():
        counts = memo.reason_counts[old[reuse]].copy()
        gone = np.flatnonzero(diff.trip_new < 0).astype(np.int64)
        if gone.shape[0]:
            counts -= count(trip_subset(memo.arrays, gone), memo.reason_parcels[old[reuse]])
        fresh = diff.fresh_trips
        if fresh.shape[0]:
            counts += count(trip_subset(arrays, fresh), parcels[reuse])
        out[reuse] = counts
    return out
