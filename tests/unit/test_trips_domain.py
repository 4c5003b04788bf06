"""The trip status machine, trip and commute input rules, and commute dates across DST, without a database."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

import pytest

from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point
from marketplace.domain.trips import (
    MAX_DETOUR_M,
    Commute,
    Transition,
    TripStatus,
    Waypoint,
    effective_status,
    local_times,
    max_detour,
    occurrences,
    schedule_days,
    spare_capacity,
    transition,
    trip_window,
    waypoint,
    weekdays,
)
from marketplace.domain.vehicles import KIND_SPECS, Vehicle, VehicleKind

S = TripStatus
# Written out by hand, independently of TRANSITIONS: the machine the issue asks for.
ALLOWED = {
    (S.OPEN, S.MATCHED),
    (S.OPEN, S.CANCELLED),
    (S.OPEN, S.EXPIRED),
    (S.MATCHED, S.OPEN),
    (S.MATCHED, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.COMPLETED),
}
ALL_PAIRS = list(itertools.product(TripStatus, TripStatus))

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
TOO_FAR = NOW + timedelta(days=90, seconds=1)


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED))
def test_transition_allows_each_pair_of_the_table(source: TripStatus, target: TripStatus) -> None:
    assert transition(source, target) == Transition(source, target)


@pytest.mark.parametrize(("source", "target"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_transition_refuses_every_other_pair(source: TripStatus, target: TripStatus) -> None:
    with pytest.raises(DomainError) as caught:
        transition(source, target)
    assert [e.code for e in caught.value.errors] == [ErrorCode.INVALID_TRANSITION]
    assert source.value in caught.value.errors[0].message


def test_an_open_trip_expires_at_the_exact_instant_of_its_latest_arrival() -> None:
    arrive_by = NOW + timedelta(hours=1)
    assert effective_status(S.OPEN, arrive_by, arrive_by - timedelta(microseconds=1)) is S.OPEN
    assert effective_status(S.OPEN, arrive_by, arrive_by) is S.EXPIRED


@pytest.mark.parametrize("status", [s for s in TripStatus if s is not S.OPEN])
def test_only_open_trips_expire_by_time(status: TripStatus) -> None:
    assert effective_status(status, NOW, NOW + timedelta(days=1)) is status


def codes(problems: list[FieldError]) -> list[tuple[str | None, ErrorCode]]:
    return [(p.field, p.code) for p in problems]


def test_trip_window_accepts_a_trip_already_under_way() -> None:
    problems: list[FieldError] = []
    trip_window(NOW - timedelta(minutes=30), NOW + timedelta(minutes=30), NOW, problems)
    assert problems == []


@pytest.mark.parametrize(
    ("depart", "arrive", "expected"),
    [
        (NOW + timedelta(hours=2), NOW + timedelta(hours=1), [("arriveBy", ErrorCode.WINDOW_ORDER)]),
        (NOW + timedelta(hours=1), NOW + timedelta(hours=1), [("arriveBy", ErrorCode.WINDOW_ORDER)]),
        (NOW, NOW + timedelta(hours=24, seconds=1), [("arriveBy", ErrorCode.OUT_OF_RANGE)]),
        (NOW - timedelta(hours=2), NOW, [("arriveBy", ErrorCode.IN_THE_PAST)]),
        (
            NOW + timedelta(days=90, seconds=1),
            NOW + timedelta(days=90, hours=1),
            [("departAfter", ErrorCode.OUT_OF_RANGE)],
        ),
        (NOW.replace(tzinfo=None), NOW + timedelta(hours=1), [("departAfter", ErrorCode.INVALID)]),
    ],
    ids=["reversed", "empty", "longer-than-a-day", "over", "too-far-ahead", "naive"],
)
def test_trip_window_refuses(depart: datetime, arrive: datetime, expected: list[tuple[str, ErrorCode]]) -> None:
    problems: list[FieldError] = []
    trip_window(depart, arrive, NOW, problems)
    assert codes(problems) == expected


def test_trip_window_allows_exactly_a_day() -> None:
    problems: list[FieldError] = []
    trip_window(NOW, NOW + timedelta(hours=24), NOW, problems)
    assert problems == []


def test_waypoint_checks_the_point_and_cleans_the_label() -> None:
    problems: list[FieldError] = []
    clean = waypoint(Waypoint(Point(52.37, 4.89), "  my   home "), "origin", problems)
    assert (clean.label, problems) == ("my home", [])
    waypoint(Waypoint(Point(91.0, 181.0), " "), "destination", problems)
    assert codes(problems) == [
        ("destination.point.lat", ErrorCode.OUT_OF_RANGE),
        ("destination.point.lng", ErrorCode.OUT_OF_RANGE),
        ("destination.label", ErrorCode.REQUIRED),
    ]


@pytest.mark.parametrize(("value", "ok"), [(-1, False), (0, True), (MAX_DETOUR_M, True), (MAX_DETOUR_M + 1, False)])
def test_max_detour_is_bounded(value: int, ok: bool) -> None:
    problems: list[FieldError] = []
    max_detour(value, problems)
    assert (problems == []) is ok


def bicycle() -> Vehicle:
    spec = KIND_SPECS[VehicleKind.BICYCLE]
    return Vehicle(
        id=uuid4(),
        courier_id=uuid4(),
        kind=VehicleKind.BICYCLE,
        name="bike",
        max_weight_g=spec.max_weight_g,
        max_volume_cm3=spec.max_volume_cm3,
        zero_emission=True,
        co2_g_per_km=0,
        typical_speed_kmh=15,
        created_at=NOW,
    )


def test_spare_capacity_defaults_to_what_the_vehicle_carries() -> None:
    bike = bicycle()
    problems: list[FieldError] = []
    assert spare_capacity(None, None, bike, problems) == (bike.max_weight_g, bike.max_volume_cm3)
    assert spare_capacity(2_000, None, bike, problems) == (2_000, bike.max_volume_cm3)
    assert problems == []


def test_spare_capacity_may_not_exceed_the_vehicle_nor_be_zero() -> None:
    bike = bicycle()
    problems: list[FieldError] = []
    spare_capacity(bike.max_weight_g + 1, 0, bike, problems)
    assert codes(problems) == [
        ("spareWeightG", ErrorCode.CAPACITY_EXCEEDS_VEHICLE),
        ("spareVolumeCm3", ErrorCode.OUT_OF_RANGE),
    ]


def test_weekdays_are_iso_numbers_each_once_and_sorted() -> None:
    problems: list[FieldError] = []
    assert weekdays([5, 1, 3], problems) == (1, 3, 5)
    assert problems == []
    weekdays([0, 2, 2, 8], problems)
    assert codes(problems) == [
        ("weekdays[0]", ErrorCode.OUT_OF_RANGE),
        ("weekdays[2]", ErrorCode.INVALID),
        ("weekdays[3]", ErrorCode.OUT_OF_RANGE),
    ]
    problems.clear()
    weekdays([], problems)
    assert codes(problems) == [("weekdays", ErrorCode.REQUIRED)]


def test_local_times_are_whole_minutes_without_offset_arriving_after_departure() -> None:
    problems: list[FieldError] = []
    local_times(time(8), time(8, 45), problems)
    assert problems == []
    local_times(time(9), time(8), problems)
    local_times(time(8, tzinfo=UTC), time(9), problems)
    local_times(time(8), time(9, 0, 30), problems)
    assert codes(problems) == [
        ("arriveTime", ErrorCode.WINDOW_ORDER),
        ("departTime", ErrorCode.INVALID),
        ("arriveTime", ErrorCode.INVALID),
    ]


@pytest.mark.parametrize(("days", "ok"), [(0, False), (1, True), (28, True), (29, False)])
def test_schedule_days_are_one_to_twenty_eight(days: int, ok: bool) -> None:
    if ok:
        assert schedule_days(days) == days
    else:
        with pytest.raises(DomainError):
            schedule_days(days)


def commute(
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7),
    depart: time = time(8),
    arrive: time = time(8, 45),
    zone: str = "Europe/Amsterdam",
) -> Commute:
    home = Waypoint(Point(52.37, 4.89), "home")
    return Commute(
        id=uuid4(),
        courier_id=uuid4(),
        vehicle_id=uuid4(),
        origin=home,
        destination=home,
        weekdays=days,
        depart_local=depart,
        arrive_local=arrive,
        time_zone=zone,
        spare_weight_g=1_000,
        spare_volume_cm3=1_000,
        max_detour_m=1_000,
        active=True,
        created_at=NOW,
        updated_at=NOW,
    )


def test_commute_local_times_follow_the_zone_across_spring_forward() -> None:
    # Europe/Amsterdam goes to summer time on Sunday 2027-03-28.
    now = datetime(2027, 3, 26, 0, 0, tzinfo=UTC)
    found = occurrences(commute(), now, 4)
    assert [(o.template_date, o.depart_after, o.arrive_by) for o in found] == [
        (date(2027, 3, 26), datetime(2027, 3, 26, 7, 0, tzinfo=UTC), datetime(2027, 3, 26, 7, 45, tzinfo=UTC)),
        (date(2027, 3, 27), datetime(2027, 3, 27, 7, 0, tzinfo=UTC), datetime(2027, 3, 27, 7, 45, tzinfo=UTC)),
        (date(2027, 3, 28), datetime(2027, 3, 28, 6, 0, tzinfo=UTC), datetime(2027, 3, 28, 6, 45, tzinfo=UTC)),
        (date(2027, 3, 29), datetime(2027, 3, 29, 6, 0, tzinfo=UTC), datetime(2027, 3, 29, 6, 45, tzinfo=UTC)),
    ]


def test_commute_local_times_follow_the_zone_across_fall_back() -> None:
    # ... and back to winter time on Sunday 2026-10-25.
    now = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
    departures = [o.depart_after for o in occurrences(commute(), now, 2)]
    assert departures == [datetime(2026, 10, 24, 6, 0, tzinfo=UTC), datetime(2026, 10, 25, 7, 0, tzinfo=UTC)]


def test_a_time_in_the_spring_forward_gap_is_read_with_the_old_offset() -> None:
    now = datetime(2027, 3, 28, 0, 0, tzinfo=UTC)
    found = occurrences(commute(depart=time(2, 30), arrive=time(4)), now, 1)
    # 02:30 does not exist that night: it is 01:30Z, which is 03:30 summer time.
    assert [(o.depart_after, o.arrive_by) for o in found] == [
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), datetime(2027, 3, 28, 2, 0, tzinfo=UTC))
    ]


def test_a_day_the_gap_empties_is_skipped() -> None:
    now = datetime(2027, 3, 27, 0, 0, tzinfo=UTC)
    found = occurrences(commute(depart=time(2, 30), arrive=time(3)), now, 3)
    assert [o.template_date for o in found] == [date(2027, 3, 27), date(2027, 3, 29)]


def test_occurrences_skip_other_weekdays_and_departures_already_past() -> None:
    # Tuesday 2026-11-24 08:00Z is 09:00 in Amsterdam: today's 08:00 has left, Wednesday is not a commute day.
    found = occurrences(commute(days=(2, 4)), NOW, 7)
    assert [o.template_date for o in found] == [date(2026, 11, 26)]
    later_today = occurrences(commute(days=(2,), depart=time(10), arrive=time(11)), NOW, 1)
    assert [o.depart_after for o in later_today] == [datetime(2026, 11, 24, 9, 0, tzinfo=UTC)]


def test_occurrences_count_days_from_the_local_date_not_the_utc_one() -> None:
    # 23:30Z on Monday is already Tuesday in Amsterdam: one day ahead means Tuesday only.
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    found = occurrences(commute(), now, 1)
    assert [o.template_date for o in found] == [date(2026, 11, 24)]
