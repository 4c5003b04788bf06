"""An independent check of a solution against every rule, written apart from the solver.

It shares nothing with the solver's kernels: its own great-circle distance, its own schedule
simulation and its own cost arithmetic, so a plan made by hand, or by a buggy engine, is judged
by a second implementation of the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from matching.model import Instance, Parcel, Trip

EARTH_M = 6_371_008.8
TOLERANCE_S = 1e-6
TOLERANCE_M = 1e-6


@dataclass(frozen=True)
class Violation:
    code: str
    message: str


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    recomputed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, code: str, message: str) -> None:
        self.violations.append(Violation(code, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [{"code": v.code, "message": v.message} for v in self.violations],
            "recomputed": self.recomputed,
        }


def distance_m(a: tuple[float, float], b: tuple[float, float], road_factor: float) -> float:
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return road_factor * 2 * EARTH_M * math.asin(math.sqrt(min(1.0, h)))


def required_level(instance: Instance, value: int) -> int:
    eligible = [r for r in instance.rules.verification if r.min_value <= value]
    return max(eligible, key=lambda r: r.min_value).level if eligible else 0


def _epoch(t: datetime) -> float:
    return t.timestamp()


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _check_parcel_rules(report: Report, instance: Instance, trip: Trip, parcel: Parcel) -> None:
    where = f"trip {trip.id}, parcel {parcel.id}"
    if not trip.payouts_enabled:
        report.add("payouts_disabled", f"{where}: the courier cannot be paid (payouts disabled)")
    ins = trip.insurance
    if ins is None:
        report.add("insurance_missing", f"{where}: the trip has no insurance")
        return
    if ins.currency != parcel.currency:
        report.add("currency", f"{where}: insured in {ins.currency}, parcel valued in {parcel.currency}")
    if not (ins.valid_from <= trip.depart_after and trip.arrive_by <= ins.valid_until):
        report.add("insurance_expired", f"{where}: insurance not valid over the whole trip")
    if parcel.value > ins.per_parcel or parcel.value > ins.per_trip:
        report.add("insurance_cover", f"{where}: value {parcel.value} exceeds the cover")
    if trip.verification_level < required_level(instance, parcel.value):
        report.add("verification_level", f"{where}: level {trip.verification_level} too low for {parcel.value}")


def _check_assignment(
    report: Report, instance: Instance, trip: Trip, parcels: list[Parcel], raw: dict[str, Any]
) -> int | None:
    """Checks one trip's plan; returns the recomputed cost, or None when the route cannot be followed."""
    rules = instance.rules
    where = f"trip {trip.id}"
    stops = raw.get("stops")
    if not isinstance(stops, list):
        report.add("structure", f"{where}: stops must be a list")
        return None
    if len(parcels) > rules.max_parcels_per_trip:
        report.add("max_parcels", f"{where}: {len(parcels)} parcels, at most {rules.max_parcels_per_trip}")
    by_id = {p.id: p for p in parcels}
    seen: dict[str, set[str]] = {p.id: set() for p in parcels}
    for parcel in parcels:
        _check_parcel_rules(report, instance, trip, parcel)
        if parcel.weight_g > trip.capacity_g or parcel.volume_cm3 > trip.capacity_cm3:
            report.add("capacity", f"{where}: parcel {parcel.id} alone exceeds the capacity")

    position = trip.origin
    clock = _epoch(trip.depart_after)
    length = 0.0
    weight = volume = value = 0
    per_trip = trip.insurance.per_trip if trip.insurance else 0
    for n, stop in enumerate(stops):
        if not isinstance(stop, dict):
            report.add("structure", f"{where}: stop {n} is not an object")
            return None
        pid, kind, at = stop.get("parcel_id"), stop.get("kind"), _parse_time(stop.get("at"))
        if pid not in by_id or kind not in ("pickup", "dropoff") or at is None:
            report.add("structure", f"{where}: stop {n} is not a pickup or drop-off of an assigned parcel")
            return None
        if kind in seen[pid]:
            report.add("structure", f"{where}: parcel {pid} has two {kind}s")
            return None
        if kind == "dropoff" and "pickup" not in seen[pid]:
            report.add("pickup_order", f"{where}: parcel {pid} is dropped off before it is picked up")
            return None
        seen[pid].add(kind)
        parcel = by_id[pid]
        point = parcel.pickup if kind == "pickup" else parcel.dropoff
        leg = distance_m(position, point, rules.road_factor)
        length += leg
        clock += leg / trip.speed_mps
        opens, closes = (
            (parcel.pickup_from, parcel.pickup_until)
            if kind == "pickup"
            else (parcel.deliver_from, parcel.deliver_until)
        )
        clock = max(clock, _epoch(opens))
        if clock > _epoch(closes) + TOLERANCE_S:
            report.add("time_window", f"{where}: {kind} of {pid} cannot start before its window closes")
        if abs(_epoch(at) - math.ceil(clock - TOLERANCE_S)) > 0.5:
            report.add("stop_time", f"{where}: {kind} of {pid} at {stop.get('at')}, earliest is {clock:.0f}")
        clock += rules.service_s
        sign = 1 if kind == "pickup" else -1
        weight += sign * parcel.weight_g
        volume += sign * parcel.volume_cm3
        value += sign * parcel.value
        if weight > trip.capacity_g or volume > trip.capacity_cm3:
            report.add("capacity", f"{where}: load after {kind} of {pid} exceeds the capacity")
        if trip.insurance is not None and value > per_trip:
            report.add("insurance_cover", f"{where}: value on board after {kind} of {pid} exceeds per-trip cover")
        position = point
    for pid, kinds in seen.items():
        if kinds != {"pickup", "dropoff"}:
            report.add("structure", f"{where}: parcel {pid} lacks a pickup or a drop-off")
            return None
    last = distance_m(position, trip.destination, rules.road_factor)
    length += last
    clock += last / trip.speed_mps
    if clock > _epoch(trip.arrive_by) + TOLERANCE_S:
        report.add("arrive_by", f"{where}: reaches the destination after arrive_by")
    detour = length - distance_m(trip.origin, trip.destination, rules.road_factor)
    if detour > trip.max_detour_m + TOLERANCE_M:
        report.add("detour", f"{where}: detour {detour:.1f} m exceeds {trip.max_detour_m} m")
    detour = max(0.0, detour)
    cost = rules.pay.per_parcel * len(parcels) + math.ceil(rules.pay.per_detour_km * detour / 1000 - 1e-6)
    if abs(float(raw.get("detour_m", -1.0)) - detour) > 1.0:
        report.add("detour_m", f"{where}: reported detour {raw.get('detour_m')} m, recomputed {detour:.1f} m")
    if raw.get("cost") != cost:
        report.add("cost", f"{where}: reported cost {raw.get('cost')}, recomputed {cost}")
    return cost


def check(instance: Instance, solution: Any, *, reasons_every: int = 1) -> Report:
    """Every rule of the interchange format, on a decoded solution JSON.

    Recomputing reasons costs a pass over every trip per unassigned parcel in plain Python; a
    benchmark on a big city may verify every `reasons_every`-th parcel's reasons only.
    """
    report = Report()
    if not isinstance(solution, dict) or not isinstance(solution.get("assignments"), list):
        report.add("structure", "solution must be an object with a list of assignments")
        return report
    trips = {t.id: t for t in instance.trips}
    parcels = {p.id: p for p in instance.parcels}
    forbidden = forbidden_pairs(instance)
    carried: dict[str, str] = {}
    used_trips: set[str] = set()
    crowd = 0
    for raw in solution["assignments"]:
        trip = trips.get(str(raw.get("trip_id"))) if isinstance(raw, dict) else None
        if trip is None:
            report.add("unknown_trip", f"assignment names an unknown trip: {raw!r:.80}")
            continue
        if trip.id in used_trips:
            report.add("trip_twice", f"trip {trip.id} has two assignments")
        used_trips.add(trip.id)
        ids = raw.get("parcel_ids")
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, str) and i in parcels for i in ids)
            or len(set(ids)) != len(ids)
        ):
            report.add("unknown_parcel", f"trip {trip.id}: parcel_ids must name distinct known parcels")
            continue
        for pid in ids:
            if pid in carried:
                report.add("parcel_twice", f"parcel {pid} is on trips {carried[pid]} and {trip.id}")
            carried[pid] = trip.id
            if (trip.id, pid) in forbidden:
                report.add("forbidden", f"trip {trip.id}, parcel {pid}: a forbidden pair (offer declined or expired)")
        try:
            cost = _check_assignment(report, instance, trip, [parcels[i] for i in ids], raw)
            expected_co2 = trip.co2_g_per_km * float(raw.get("detour_m", 0.0)) / 1000
            if abs(float(raw.get("co2_g", -1.0)) - expected_co2) > 0.5:
                report.add("co2", f"trip {trip.id}: co2_g {raw.get('co2_g')} but detour gives {expected_co2:.1f}")
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            report.add("structure", f"trip {trip.id}: malformed assignment ({exc})")
            cost = None
        crowd += cost or 0

    listed: set[str] = set()
    fallback = 0
    unassigned = solution.get("unassigned", [])
    if not isinstance(unassigned, list):
        report.add("structure", "unassigned must be a list")
        unassigned = []
    for n, raw in enumerate(unassigned):
        pid = raw.get("parcel_id") if isinstance(raw, dict) else None
        if not isinstance(pid, str) or pid not in parcels:
            report.add("unknown_parcel", f"unassigned names an unknown parcel: {raw!r:.80}")
            continue
        if pid in carried or pid in listed:
            report.add("parcel_twice", f"parcel {pid} is both carried and unassigned, or unassigned twice")
        listed.add(pid)
        fallback += parcels[pid].fallback_cost
        if raw.get("fallback_cost") != parcels[pid].fallback_cost:
            report.add("fallback_cost", f"parcel {pid}: fallback_cost differs from the instance")
        raw_reasons = raw.get("reasons", [])
        if not isinstance(raw_reasons, list) or not all(isinstance(r, dict) for r in raw_reasons):
            report.add("structure", f"parcel {pid}: reasons must be a list of objects")
            continue
        reasons = {r.get("code"): r.get("trips") for r in raw_reasons}
        if n % reasons_every:
            if sum(v for v in reasons.values() if isinstance(v, int)) != len(instance.trips):
                report.add("reasons", f"parcel {pid}: reason counts do not add up to the number of trips")
            continue
        expected = explain(instance, parcels[pid], forbidden)
        if reasons != expected:
            report.add("reasons", f"parcel {pid}: reasons {reasons}, recomputed {expected}")
    for pid in parcels:
        if pid not in carried and pid not in listed:
            report.add("parcel_missing", f"parcel {pid} is neither carried nor unassigned")

    totals = {
        "crowd": crowd,
        "fallback": fallback,
        "total": crowd + fallback,
        "fallback_only": sum(p.fallback_cost for p in instance.parcels),
    }
    report.recomputed = totals
    stated = solution.get("cost")
    if not isinstance(stated, dict):
        report.add("structure", "cost must be an object")
        stated = {}
    for key, value in totals.items():
        if stated.get(key) != value:
            report.add("totals", f"cost.{key} is {stated.get(key)}, recomputed {value}")
    bound = solution.get("bound")
    lower = bound.get("lower") if isinstance(bound, dict) else None
    if isinstance(lower, int | float) and lower > totals["total"]:
        report.add("bound", f"bound.lower {lower} exceeds the plan's total {totals['total']}")
    return report


def forbidden_pairs(instance: Instance) -> frozenset[tuple[str, str]]:
    """The (trip id, parcel id) pairs no plan may contain."""
    return frozenset((f.trip_id, f.parcel_id) for f in instance.forbidden)


def _alone(instance: Instance, trip: Trip, parcel: Parcel, forbidden: frozenset[tuple[str, str]]) -> str:
    """The first rule that stops `trip` from carrying `parcel` alone, or "not_chosen"; a forbidden
    pair is named only when every other rule holds."""
    rules = instance.rules
    if not trip.payouts_enabled:
        return "payouts_disabled"
    ins = trip.insurance
    if ins is None:
        return "insurance_missing"
    if ins.currency != parcel.currency:
        return "currency"
    if not (ins.valid_from <= trip.depart_after and trip.arrive_by <= ins.valid_until):
        return "insurance_expired"
    if parcel.value > ins.per_parcel or parcel.value > ins.per_trip:
        return "insurance_cover"
    if trip.verification_level < required_level(instance, parcel.value):
        return "verification_level"
    if parcel.weight_g > trip.capacity_g or parcel.volume_cm3 > trip.capacity_cm3:
        return "capacity"
    legs = [
        distance_m(trip.origin, parcel.pickup, rules.road_factor),
        distance_m(parcel.pickup, parcel.dropoff, rules.road_factor),
        distance_m(parcel.dropoff, trip.destination, rules.road_factor),
    ]
    if sum(legs) - distance_m(trip.origin, trip.destination, rules.road_factor) > trip.max_detour_m + TOLERANCE_M:
        return "detour"
    clock = _epoch(trip.depart_after) + legs[0] / trip.speed_mps
    clock = max(clock, _epoch(parcel.pickup_from))
    if clock > _epoch(parcel.pickup_until) + TOLERANCE_S:
        return "time_window"
    clock = max(clock + rules.service_s + legs[1] / trip.speed_mps, _epoch(parcel.deliver_from))
    if clock > _epoch(parcel.deliver_until) + TOLERANCE_S:
        return "time_window"
    if clock + rules.service_s + legs[2] / trip.speed_mps > _epoch(trip.arrive_by) + TOLERANCE_S:
        return "time_window"
    if (trip.id, parcel.id) in forbidden:
        return "forbidden"
    return "not_chosen"


def explain(instance: Instance, parcel: Parcel, forbidden: frozenset[tuple[str, str]] | None = None) -> dict[str, int]:
    """Trips per reason code for `parcel`; `forbidden` defaults to the instance's own pairs."""
    if forbidden is None:
        forbidden = forbidden_pairs(instance)
    counts: dict[str, int] = {}
    for trip in instance.trips:
        code = _alone(instance, trip, parcel, forbidden)
        counts[code] = counts.get(code, 0) + 1
    return counts
