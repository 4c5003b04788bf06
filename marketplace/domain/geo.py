"""Points, distances and service-area polygons. Degrees in, metres out; no map service needed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from marketplace.domain.errors import ErrorCode, FieldError

EARTH_RADIUS_M = 6_371_000.0
# City streets are longer than the crow flies; 1.3 is the usual urban detour index. Quotes and the
# matching engine both measure road distance as the great circle times this factor.
ROAD_FACTOR = 1.3
MAX_POLYGON_VERTICES = 500
# A metropolitan area spans a degree or two; anything near 180 degrees is a ring drawn the wrong way round.
MAX_LONGITUDE_SPAN = 10.0


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lng: float


def point_problems(lat: float, lng: float, field: str) -> list[FieldError]:
    problems = []
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "latitude must be between -90 and 90", f"{field}.lat"))
    if not (math.isfinite(lng) and -180.0 <= lng <= 180.0):
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "longitude must be between -180 and 180", f"{field}.lng"))
    return problems


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance; the matching engine uses the same formula, times its road factor."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class BoundingBox:
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float

    def contains(self, p: Point) -> bool:
        return self.min_lat <= p.lat <= self.max_lat and self.min_lng <= p.lng <= self.max_lng


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon, vertices in order, not repeating the first; cities never cross the antimeridian."""

    vertices: tuple[Point, ...]

    @property
    def bbox(self) -> BoundingBox:
        lats = [v.lat for v in self.vertices]
        lngs = [v.lng for v in self.vertices]
        return BoundingBox(min(lats), min(lngs), max(lats), max(lngs))

    def contains(self, p: Point) -> bool:
        """Even-odd ray casting; a point exactly on an edge counts as inside."""
        inside = False
        vs = self.vertices
        n = len(vs)
        for i in range(n):
            a, b = vs[i], vs[(i + 1) % n]
            if _on_segment(p, a, b):
                return True
            if (a.lat > p.lat) != (b.lat > p.lat):
                cross_lng = a.lng + (p.lat - a.lat) * (b.lng - a.lng) / (b.lat - a.lat)
                if p.lng < cross_lng:
                    inside = not inside
        return inside


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    cross = (b.lng - a.lng) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lng - a.lng)
    if abs(cross) > 1e-12:
        return False
    return min(a.lat, b.lat) <= p.lat <= max(a.lat, b.lat) and min(a.lng, b.lng) <= p.lng <= max(a.lng, b.lng)


_EPS = 1e-12


def _orient(a: Point, b: Point, c: Point) -> int:
    """Which side of a->b the point c lies on: 1 left, -1 right, 0 on the line (within rounding)."""
    v = (b.lng - a.lng) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lng - a.lng)
    return 0 if abs(v) <= _EPS else (1 if v > 0 else -1)


def _within_box(a: Point, b: Point, p: Point) -> bool:
    return min(a.lat, b.lat) <= p.lat <= max(a.lat, b.lat) and min(a.lng, b.lng) <= p.lng <= max(a.lng, b.lng)


def _segments_meet(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """True when the segments share any point: a proper crossing, a touch, or a collinear overlap."""
    if (
        max(p1.lat, p2.lat) < min(q1.lat, q2.lat)
        or max(q1.lat, q2.lat) < min(p1.lat, p2.lat)
        or max(p1.lng, p2.lng) < min(q1.lng, q2.lng)
        or max(q1.lng, q2.lng) < min(p1.lng, p2.lng)
    ):
        return False  # boxes apart: the cheap test settles most pairs of a 500-vertex ring
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True
    return (
        (d1 == 0 and _within_box(q1, q2, p1))
        or (d2 == 0 and _within_box(q1, q2, p2))
        or (d3 == 0 and _within_box(p1, p2, q1))
        or (d4 == 0 and _within_box(p1, p2, q2))
    )


def _folds_back(a: Point, b: Point, c: Point) -> bool:
    """Neighbouring edges a->b->c that turn back on themselves overlap along a line (a spike)."""
    if _orient(a, b, c) != 0:
        return False
    return (b.lat - a.lat) * (c.lat - b.lat) + (b.lng - a.lng) * (c.lng - b.lng) < 0


def parse_polygon(raw: Sequence[tuple[float, float]], field: str) -> tuple[Polygon | None, list[FieldError]]:
    """Validates a ring of (lat, lng) pairs: in range, at least three distinct, a simple (non-touching) ring.

    Edges that merely touch are refused too: ray casting gives arbitrary answers near such a pinch.
    """
    problems: list[FieldError] = []
    points = list(raw)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()  # a closed ring, as GeoJSON writes it
    if not 3 <= len(points) <= MAX_POLYGON_VERTICES:
        msg = f"a polygon needs 3 to {MAX_POLYGON_VERTICES} vertices"
        return None, [FieldError(ErrorCode.INVALID_POLYGON, msg, field)]
    for i, (lat, lng) in enumerate(points):
        problems.extend(point_problems(lat, lng, f"{field}[{i}]"))
    if problems:
        return None, problems
    vertices = tuple(Point(lat, lng) for lat, lng in points)
    lngs = [v.lng for v in vertices]
    if max(lngs) - min(lngs) > MAX_LONGITUDE_SPAN:
        # Plane geometry on degrees reads a ring across the antimeridian as one around the globe.
        msg = f"an area may span at most {MAX_LONGITUDE_SPAN:g} degrees of longitude and not cross the antimeridian"
        return None, [FieldError(ErrorCode.INVALID_POLYGON, msg, field)]
    if len(set(vertices)) != len(vertices):
        return None, [FieldError(ErrorCode.INVALID_POLYGON, "vertices must be distinct", field)]
    n = len(vertices)
    for i in range(n):
        if _folds_back(vertices[i - 1], vertices[i], vertices[(i + 1) % n]):
            return None, [FieldError(ErrorCode.INVALID_POLYGON, "edges must not cross or touch", field)]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if _segments_meet(vertices[i], vertices[(i + 1) % n], vertices[j], vertices[(j + 1) % n]):
                return None, [FieldError(ErrorCode.INVALID_POLYGON, "edges must not cross or touch", field)]
    area2 = sum(
        vertices[i].lng * vertices[(i + 1) % n].lat - vertices[(i + 1) % n].lng * vertices[i].lat for i in range(n)
    )
    if abs(area2) < 1e-12:
        return None, [FieldError(ErrorCode.INVALID_POLYGON, "the polygon has no area", field)]
    return Polygon(vertices), []
