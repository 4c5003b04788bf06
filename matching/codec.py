"""JSON <-> dataclasses, in the fixed interchange format. Parsing reports every bad field at once."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from matching.currencies import ISO_4217
from matching.model import (
    Assignment,
    Forbidden,
    Instance,
    Insurance,
    Parcel,
    Pay,
    Point,
    Rules,
    Solution,
    Trip,
    VerificationRule,
)

MAX_BUNDLE = 3  # stop orders grow as (2k)!/2^k: 90 for three parcels, 2520 for four

T = TypeVar("T")


class InstanceError(ValueError):
    """Every problem found in an instance, one line each, naming the field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def get(self, obj: Mapping[str, Any], key: str, path: str, read: Callable[[Any, str], T | None]) -> T | None:
        if key not in obj:
            self.bad(f"{path}.{key}" if path else key, "missing")
            return None
        return read(obj[key], f"{path}.{key}" if path else key)

    def obj(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            self.bad(path, "must be an object")
            return None
        return value

    def integer(self, value: Any, path: str, minimum: int | None = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                self.bad(path, f"must be an integer, got {value!r}")
                return None
        if minimum is not None and value < minimum:
            self.bad(path, f"must be >= {minimum}, got {value}")
            return None
        return int(value)

    def number(self, value: Any, path: str, *, positive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.bad(path, f"must be a number, got {value!r}")
            return None
        if value < 0 or (positive and value == 0):
            self.bad(path, f"must be {'> 0' if positive else '>= 0'}, got {value}")
            return None
        return float(value)

    def text(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value:
            self.bad(path, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def time(self, value: Any, path: str) -> datetime | None:
        if not isinstance(value, str):
            self.bad(path, f"must be an ISO-8601 time, got {value!r}")
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.bad(path, f"cannot parse time {value!r}")
            return None
        if parsed.tzinfo is None:
            self.bad(path, f"time {value!r} has no timezone")
            return None
        return parsed.astimezone(UTC)

    def point(self, value: Any, path: str) -> Point | None:
        if not isinstance(value, list | tuple) or len(value) != 2:
            self.bad(path, f"must be [latitude, longitude], got {value!r}")
            return None
        lat, lon = value
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in (lat, lon))
        if not numeric or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.bad(path, f"must be [latitude, longitude] in range, got {value!r}")
            return None
        return float(lat), float(lon)

    def currency(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or value not in ISO_4217:
            self.bad(path, f"unknown currency code {value!r}")
            return None
        return value

    def window(self, start: datetime | None, end: datetime | None, path: str, names: tuple[str, str]) -> None:
        if start is not None and end is not None and start > end:
            self.bad(path, f"{names[0]} is after {names[1]}")


def _rules(r: _Reader, value: Any) -> Rules | None:
    o = r.obj(value, "rules")
    if o is None:
        return None
    road_factor = r.get(o, "road_factor", "rules", lambda v, p: r.number(v, p, positive=True))
    service_s = r.get(o, "service_s", "rules", r.integer)
    max_parcels = r.get(o, "max_parcels_per_trip", "rules", lambda v, p: r.integer(v, p, 1))
    if max_parcels is not None and max_parcels > MAX_BUNDLE:
        r.bad("rules.max_parcels_per_trip", f"at most {MAX_BUNDLE} is supported, got {max_parcels}")
        max_parcels = None
    levels: list[VerificationRule] = []
    raw_levels = o.get("verification")
    if not isinstance(raw_levels, list):
        r.bad("rules.verification", "must be a list")
    else:
        for i, item in enumerate(raw_levels):
            path = f"rules.verification[{i}]"
            rule = r.obj(item, path)
            if rule is None:
                continue
            min_value = r.get(rule, "min_value", path, r.integer)
            level = r.get(rule, "level", path, r.integer)
            if min_value is not None and level is not None:
                levels.append(VerificationRule(min_value, level))
    pay_obj = r.get(o, "pay", "rules", r.obj)
    pay = None
    if pay_obj is not None:
        per_parcel = r.get(pay_obj, "per_parcel", "rules.pay", r.integer)
        per_km = r.get(pay_obj, "per_detour_km", "rules.pay", r.integer)
        if per_parcel is not None and per_km is not None:
            pay = Pay(per_parcel, per_km)
    if None in (road_factor, service_s, max_parcels, pay):
        return None
    assert road_factor is not None
    assert service_s is not None
    assert max_parcels is not None
    assert pay is not None
    return Rules(road_factor, service_s, max_parcels, tuple(levels), pay)


def _parcel(r: _Reader, value: Any, path: str) -> Parcel | None:
    o = r.obj(value, path)
    if o is None:
        return None
    fields = {
        "id": r.get(o, "id", path, r.text),
        "pickup": r.get(o, "pickup", path, r.point),
        "dropoff": r.get(o, "dropoff", path, r.point),
        "pickup_from": r.get(o, "pickup_from", path, r.time),
        "pickup_until": r.get(o, "pickup_until", path, r.time),
        "deliver_from": r.get(o, "deliver_from", path, r.time),
        "deliver_until": r.get(o, "deliver_until", path, r.time),
        "weight_g": r.get(o, "weight_g", path, r.integer),
        "volume_cm3": r.get(o, "volume_cm3", path, r.integer),
        "value": r.get(o, "value", path, r.integer),
        "currency": r.get(o, "currency", path, r.currency),
        "fallback_cost": r.get(o, "fallback_cost", path, r.integer),
    }
    r.window(fields["pickup_from"], fields["pickup_until"], path, ("pickup_from", "pickup_until"))  # type: ignore[arg-type]
    r.window(fields["deliver_from"], fields["deliver_until"], path, ("deliver_from", "deliver_until"))  # type: ignore[arg-type]
    if any(v is None for v in fields.values()):
        return None
    return Parcel(**fields)  # type: ignore[arg-type]


def _insurance(r: _Reader, value: Any, path: str) -> Insurance | None:
    o = r.obj(value, path)
    if o is None:
        return None
    fields = {
        "per_parcel": r.get(o, "per_parcel", path, r.integer),
        "per_trip": r.get(o, "per_trip", path, r.integer),
        "currency": r.get(o, "currency", path, r.currency),
        "valid_from": r.get(o, "valid_from", path, r.time),
        "valid_until": r.get(o, "valid_until", path, r.time),
    }
    r.window(fields["valid_from"], fields["valid_until"], path, ("valid_from", "valid_until"))  # type: ignore[arg-type]
    if any(v is None for v in fields.values()):
        return None
    return Insurance(**fields)  # type: ignore[arg-type]


def _trip(r: _Reader, value: Any, path: str) -> Trip | None:
    o = r.obj(value, path)
    if o is None:
        return None
    insurance: Insurance | None = None
    insurance_ok = True
    if "insurance" not in o:
        r.bad(f"{path}.insurance", "missing (use null for none)")
        insurance_ok = False
    elif o["insurance"] is not None:
        insurance = _insurance(r, o["insurance"], f"{path}.insurance")
        insurance_ok = insurance is not None
    fields = {
        "id": r.get(o, "id", path, r.text),
        "courier_id": r.get(o, "courier_id", path, r.text),
        "origin": r.get(o, "origin", path, r.point),
        "destination": r.get(o, "destination", path, r.point),
        "depart_after": r.get(o, "depart_after", path, r.time),
        "arrive_by": r.get(o, "arrive_by", path, r.time),
        "speed_mps": r.get(o, "speed_mps", path, lambda v, p: r.number(v, p, positive=True)),
        "capacity_g": r.get(o, "capacity_g", path, r.integer),
        "capacity_cm3": r.get(o, "capacity_cm3", path, r.integer),
        "max_detour_m": r.get(o, "max_detour_m", path, r.number),
        "verification_level": r.get(o, "verification_level", path, r.integer),
        "co2_g_per_km": r.get(o, "co2_g_per_km", path, r.number),
    }
    r.window(fields["depart_after"], fields["arrive_by"], path, ("depart_after", "arrive_by"))  # type: ignore[arg-type]
    paid = o.get("payouts_enabled", True)
    if not isinstance(paid, bool):
        r.bad(f"{path}.payouts_enabled", "must be true or false")
        return None
    if not insurance_ok or any(v is None for v in fields.values()):
        return None
    return Trip(insurance=insurance, payouts_enabled=paid, **fields)  # type: ignore[arg-type]


def _unique(r: _Reader, items: list[Any], kind: str) -> None:
    """Checks the raw ids, so a duplicate is reported even when its first use has other problems."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        item_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(item_id, str):
            continue
        if item_id in seen:
            r.bad(f"{kind}[{i}].id", f"{item_id!r} is used twice (also {kind}[{seen[item_id]}])")
        else:
            seen[item_id] = i


def _list(r: _Reader, root: Mapping[str, Any], key: str) -> list[Any]:
    items = root.get(key)
    if not isinstance(items, list):
        r.bad(key, "missing" if key not in root else "must be a list")
        return []
    return items


def _ids(items: list[Any]) -> set[str]:
    return {item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)}


def _forbidden(r: _Reader, root: Mapping[str, Any], parcel_ids: set[str], trip_ids: set[str]) -> list[Forbidden]:
    """The optional list of pairs never to make again. Ids are matched against the raw ids, so a
    pair naming a trip or parcel that has problems of its own is not reported a second time. A
    pair listed twice is allowed (and kept, so the instance serialises back as it came)."""
    if "forbidden" not in root:
        return []
    items = root["forbidden"]
    if not isinstance(items, list):
        r.bad("forbidden", "must be a list")
        return []
    pairs: list[Forbidden] = []
    for i, item in enumerate(items):
        path = f"forbidden[{i}]"
        o = r.obj(item, path)
        if o is None:
            continue
        trip_id = r.get(o, "trip_id", path, r.text)
        parcel_id = r.get(o, "parcel_id", path, r.text)
        if trip_id is not None and trip_id not in trip_ids:
            r.bad(f"{path}.trip_id", f"unknown trip {trip_id!r}")
            trip_id = None
        if parcel_id is not None and parcel_id not in parcel_ids:
            r.bad(f"{path}.parcel_id", f"unknown parcel {parcel_id!r}")
            parcel_id = None
        if trip_id is not None and parcel_id is not None:
            pairs.append(Forbidden(trip_id=trip_id, parcel_id=parcel_id))
    return pairs


def parse_instance(data: Any) -> Instance:
    """Builds an Instance from decoded JSON, or raises InstanceError naming every bad field."""
    r = _Reader()
    root = r.obj(data, "instance")
    if root is None:
        raise InstanceError(r.problems)
    now = r.get(root, "now", "", r.time)
    rules = None
    if "rules" in root:
        rules = _rules(r, root["rules"])
    else:
        r.bad("rules", "missing")
    raw_parcels, raw_trips = _list(r, root, "parcels"), _list(r, root, "trips")
    parcels = [_parcel(r, item, f"parcels[{i}]") for i, item in enumerate(raw_parcels)]
    trips = [_trip(r, item, f"trips[{i}]") for i, item in enumerate(raw_trips)]
    _unique(r, raw_parcels, "parcels")
    _unique(r, raw_trips, "trips")
    forbidden = _forbidden(r, root, _ids(raw_parcels), _ids(raw_trips))
    if r.problems:
        raise InstanceError(r.problems)
    assert now is not None
    assert rules is not None
    return Instance(
        now=now,
        rules=rules,
        parcels=tuple(p for p in parcels if p is not None),
        trips=tuple(t for t in trips if t is not None),
        forbidden=tuple(forbidden),
    )


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _point(p: Point) -> list[float]:
    return [p[0], p[1]]


def instance_to_json(instance: Instance) -> dict[str, Any]:
    """The instance in the interchange format; `forbidden` is written only when it lists a pair,
    so instances without it serialise exactly as before the key existed."""
    rules = instance.rules
    data: dict[str, Any] = {
        "now": format_time(instance.now),
        "rules": {
            "road_factor": rules.road_factor,
            "service_s": rules.service_s,
            "max_parcels_per_trip": rules.max_parcels_per_trip,
            "verification": [{"min_value": v.min_value, "level": v.level} for v in rules.verification],
            "pay": {"per_parcel": rules.pay.per_parcel, "per_detour_km": rules.pay.per_detour_km},
        },
        "parcels": [
            {
                "id": p.id,
                "pickup": _point(p.pickup),
                "dropoff": _point(p.dropoff),
                "pickup_from": format_time(p.pickup_from),
                "pickup_until": format_time(p.pickup_until),
                "deliver_from": format_time(p.deliver_from),
                "deliver_until": format_time(p.deliver_until),
                "weight_g": p.weight_g,
                "volume_cm3": p.volume_cm3,
                "value": p.value,
                "currency": p.currency,
                "fallback_cost": p.fallback_cost,
            }
            for p in instance.parcels
        ],
        "trips": [
            {
                "id": t.id,
                "courier_id": t.courier_id,
                "origin": _point(t.origin),
                "destination": _point(t.destination),
                "depart_after": format_time(t.depart_after),
                "arrive_by": format_time(t.arrive_by),
                "speed_mps": t.speed_mps,
                "capacity_g": t.capacity_g,
                "capacity_cm3": t.capacity_cm3,
                "max_detour_m": t.max_detour_m,
                "verification_level": t.verification_level,
                "insurance": None
                if t.insurance is None
                else {
                    "per_parcel": t.insurance.per_parcel,
                    "per_trip": t.insurance.per_trip,
                    "currency": t.insurance.currency,
                    "valid_from": format_time(t.insurance.valid_from),
                    "valid_until": format_time(t.insurance.valid_until),
                },
                "co2_g_per_km": t.co2_g_per_km,
                # Only when false: instances without payouts stay as they were written.
                **({} if t.payouts_enabled else {"payouts_enabled": False}),
            }
            for t in instance.trips
        ],
    }
    if instance.forbidden:
        data["forbidden"] = [{"trip_id": f.trip_id, "parcel_id": f.parcel_id} for f in instance.forbidden]
    return data


def _assignment(a: Assignment) -> dict[str, Any]:
    return {
        "trip_id": a.trip_id,
        "parcel_ids": list(a.parcel_ids),
        "stops": [{"parcel_id": s.parcel_id, "kind": s.kind, "at": format_time(s.at)} for s in a.stops],
        "detour_m": round(a.detour_m, 1),
        "cost": a.cost,
        "co2_g": round(a.co2_g, 1),
    }


def solution_to_json(solution: Solution) -> dict[str, Any]:
    return {
        "assignments": [_assignment(a) for a in solution.assignments],
        "unassigned": [
            {
                "parcel_id": u.parcel_id,
                "fallback_cost": u.fallback_cost,
                "reasons": [{"code": r.code, "trips": r.trips} for r in u.reasons],
            }
            for u in solution.unassigned
        ],
        "cost": {
            "crowd": solution.cost.crowd,
            "fallback": solution.cost.fallback,
            "total": solution.cost.total,
            "fallback_only": solution.cost.fallback_only,
        },
        "bound": {"lower": solution.bound.lower, "gap": solution.bound.gap},
        "stats": solution.stats.as_dict(),
    }
