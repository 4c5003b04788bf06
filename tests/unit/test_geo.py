"""Points, distances and polygons: the geometry every 'inside the service area' check rests on."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from marketplace.domain.areas import ServiceArea, locate
from marketplace.domain.errors import ErrorCode
from marketplace.domain.geo import MAX_POLYGON_VERTICES, Point, Polygon, haversine_m, parse_polygon, point_problems

SQUARE = ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0))
# A "U": the notch between its arms (lat 0.5..1, lng 1..2) is outside.
U_SHAPE = ((0.0, 0.0), (0.0, 3.0), (1.0, 3.0), (1.0, 2.0), (0.5, 2.0), (0.5, 1.0), (1.0, 1.0), (1.0, 0.0))


def polygon(raw: tuple[tuple[float, float], ...]) -> Polygon:
    shape, problems = parse_polygon(raw, "polygon")
    assert problems == []
    assert shape is not None
    return shape


def codes(raw: tuple[tuple[float, float], ...] | list[tuple[float, float]]) -> list[tuple[ErrorCode, str | None]]:
    return [(p.code, p.field) for p in parse_polygon(raw, "polygon")[1]]


@pytest.mark.parametrize(
    ("lat", "lng", "fields"),
    [
        (52.37, 4.89, []),
        (90.0, 180.0, []),
        (-90.0, -180.0, []),
        (90.0001, 0.0, ["p.lat"]),
        (0.0, -180.5, ["p.lng"]),
        (math.nan, math.inf, ["p.lat", "p.lng"]),
    ],
)
def test_point_problems_name_each_coordinate_out_of_range(lat: float, lng: float, fields: list[str]) -> None:
    problems = point_problems(lat, lng, "p")
    assert [p.field for p in problems] == fields
    assert all(p.code is ErrorCode.OUT_OF_RANGE for p in problems)


def test_haversine_matches_known_distances() -> None:
    # One degree of latitude is 111.195 km on the 6371 km sphere.
    assert haversine_m(Point(0, 0), Point(1, 0)) == pytest.approx(111_195, abs=1)
    dam, utrecht = Point(52.3731, 4.8926), Point(52.0907, 5.1214)
    assert haversine_m(dam, utrecht) == pytest.approx(34_900, rel=0.01)
    assert haversine_m(dam, utrecht) == haversine_m(utrecht, dam)
    assert haversine_m(dam, dam) == 0


def test_containment_follows_the_outline_not_the_bounding_box() -> None:
    u = polygon(U_SHAPE)
    assert u.contains(Point(0.25, 1.5))  # the base of the U
    assert u.contains(Point(0.75, 0.5))  # an arm
    assert not u.contains(Point(0.75, 1.5))  # the notch: inside the box, outside the U
    assert u.bbox.contains(Point(0.75, 1.5))
    assert not u.contains(Point(2.0, 0.5))


def test_points_on_edges_and_vertices_count_as_inside() -> None:
    square = polygon(SQUARE)
    assert square.contains(Point(0.0, 0.5))
    assert square.contains(Point(1.0, 1.0))
    assert square.contains(Point(0.5, 1.0))
    assert not square.contains(Point(0.5, 1.000001))


def test_a_closed_ring_is_read_like_an_open_one() -> None:
    closed = (*SQUARE, SQUARE[0])
    assert polygon(closed).vertices == polygon(SQUARE).vertices


@pytest.mark.parametrize(
    "raw",
    [
        (),
        ((0.0, 0.0), (1.0, 1.0)),
        ((0.0, 0.0), (1.0, 1.0), (0.0, 0.0)),  # closed ring of two points
    ],
)
def test_fewer_than_three_vertices_is_not_a_polygon(raw: tuple[tuple[float, float], ...]) -> None:
    assert codes(raw) == [(ErrorCode.INVALID_POLYGON, "polygon")]


def test_too_many_vertices_are_refused() -> None:
    ring = [
        (math.sin(2 * math.pi * i / (MAX_POLYGON_VERTICES + 1)), math.cos(2 * math.pi * i / (MAX_POLYGON_VERTICES + 1)))
        for i in range(MAX_POLYGON_VERTICES + 1)
    ]
    assert codes(ring) == [(ErrorCode.INVALID_POLYGON, "polygon")]
    assert codes(ring[:MAX_POLYGON_VERTICES]) == []


def test_out_of_range_vertices_are_named_by_index() -> None:
    raw = ((0.0, 0.0), (95.0, 1.0), (1.0, 200.0))
    assert codes(raw) == [(ErrorCode.OUT_OF_RANGE, "polygon[1].lat"), (ErrorCode.OUT_OF_RANGE, "polygon[2].lng")]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (((0.0, 0.0), (0.0, 1.0), (0.0, 1.0), (1.0, 0.0)), "repeated vertex"),
        (((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)), "bow tie: two edges cross"),
        (((0.0, 0.0), (0.0, 1.0), (0.0, 2.0)), "all on one line"),
        (((0.0, 0.0), (0.0, 2.0), (0.0, 1.0), (1.0, 1.0)), "spike: an edge folds back on the one before"),
        (((0.0, 0.0), (0.0, 4.0), (2.0, 4.0), (0.0, 2.0), (2.0, 0.0)), "pinched: a vertex on another edge"),
        (((0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (0.0, 1.0), (-1.0, 1.0), (-1.0, 0.0)), "edge touches"),
    ],
)
def test_rings_that_are_not_simple_are_refused(raw: tuple[tuple[float, float], ...], why: str) -> None:
    assert codes(raw) == [(ErrorCode.INVALID_POLYGON, "polygon")], why


def test_straight_through_vertices_are_harmless() -> None:
    """A vertex in the middle of a straight edge adds nothing but breaks nothing either."""
    shape = polygon(((0.0, 0.0), (0.0, 0.5), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)))
    assert shape.contains(Point(0.5, 0.5))


def area(name: str, raw: tuple[tuple[float, float], ...], *, active: bool = True, age_h: int = 0) -> ServiceArea:
    at = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=age_h)
    return ServiceArea(
        id=UUID(int=age_h),
        name=name,
        country_code="NL",
        currency="EUR",
        time_zone="Europe/Amsterdam",
        polygon=polygon(raw),
        active=active,
        fleet_base_minor=0,
        fleet_per_km_minor=0,
        created_at=at,
        updated_at=at,
    )


def test_locate_ignores_inactive_areas_and_prefers_the_oldest_overlap() -> None:
    west = area("West", ((0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 0.0)), age_h=1)
    east_older = area("East", ((0.0, 1.0), (0.0, 3.0), (2.0, 3.0), (2.0, 1.0)), age_h=5)
    paused = area("Paused", ((0.0, 0.0), (0.0, 3.0), (3.0, 3.0), (3.0, 0.0)), active=False, age_h=9)
    areas = [west, east_older, paused]
    assert locate(areas, Point(1.0, 0.5)) is west
    assert locate(areas, Point(1.0, 1.5)) is east_older
    assert locate(areas, Point(2.5, 2.5)) is None
    assert locate([], Point(1.0, 1.0)) is None


def test_a_ring_across_the_antimeridian_is_refused_rather_than_read_round_the_globe() -> None:
    polygon, problems = parse_polygon([(-17.0, 179.0), (-17.0, -179.0), (-19.0, -179.0), (-19.0, 179.0)], "polygon")
    assert polygon is None
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.INVALID_POLYGON, "polygon")]
    wide, problems = parse_polygon([(50.0, 0.0), (50.0, 10.0), (51.0, 10.0), (51.0, 0.0)], "polygon")
    assert problems == []
    assert wide is not None
