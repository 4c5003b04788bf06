"""Opening hours: weekly local intervals, read in the place's time zone, across DST and midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.domain.errors import ErrorCode
from marketplace.domain.hours import (
    ALWAYS_OPEN,
    MAX_INTERVALS,
    OpeningHours,
    OpeningInterval,
    hours_from_json,
    hours_to_json,
    parse_opening_hours,
)

AMS = "Europe/Amsterdam"
AMS_ZONE = ZoneInfo(AMS)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(*raw: tuple[int, str, str]) -> OpeningHours:
    parsed, problems = parse_opening_hours([(d, time.fromisoformat(o), time.fromisoformat(c)) for d, o, c in raw], "h")
    assert problems == []
    assert parsed is not None
    return parsed


def open_at(h: OpeningHours, start: datetime, minutes: int = 1) -> bool:
    return h.open_during(start, start + timedelta(minutes=minutes), AMS)


# 2026-11-24 is a Tuesday (weekday 2); Amsterdam is UTC+1 in winter and UTC+2 in summer.
def test_a_window_meets_the_hours_in_local_time() -> None:
    weekdays = hours(*[(d, "09:00", "17:00") for d in range(1, 6)])
    assert not open_at(weekdays, utc(2026, 11, 24, 7, 59))  # 08:59 local
    assert open_at(weekdays, utc(2026, 11, 24, 8, 0))  # 09:00 local
    assert open_at(weekdays, utc(2026, 11, 24, 15, 59))  # 16:59 local
    assert not open_at(weekdays, utc(2026, 11, 24, 16, 0))  # 17:00 local: closed, the end is exclusive
    assert not open_at(weekdays, utc(2026, 11, 28, 12, 0))  # Saturday


def test_a_window_that_only_overlaps_the_hours_at_one_end_still_meets_them() -> None:
    weekdays = hours((2, "09:00", "17:00"))
    # 06:00-08:01 UTC is 07:00-09:01 local: open for its last minute.
    assert weekdays.open_during(utc(2026, 11, 24, 6, 0), utc(2026, 11, 24, 8, 1), AMS)
    assert not weekdays.open_during(utc(2026, 11, 24, 6, 0), utc(2026, 11, 24, 8, 0), AMS)


def test_opening_times_stay_on_the_wall_clock_across_the_spring_forward() -> None:
    """09:00 local is 08:00 UTC on Saturday 28 March 2026 and 07:00 UTC from Sunday the 29th."""
    daily = hours(*[(d, "09:00", "10:00") for d in range(1, 8)])
    assert open_at(daily, utc(2026, 3, 28, 8, 0))
    assert not open_at(daily, utc(2026, 3, 28, 7, 30))
    assert open_at(daily, utc(2026, 3, 29, 7, 0))
    assert not open_at(daily, utc(2026, 3, 29, 8, 0))  # 10:00 CEST: closed


def test_opening_times_stay_on_the_wall_clock_across_the_fall_back() -> None:
    """09:00 local is 07:00 UTC on Saturday 24 October 2026 and 08:00 UTC from Sunday the 25th."""
    daily = hours(*[(d, "09:00", "10:00") for d in range(1, 8)])
    assert open_at(daily, utc(2026, 10, 24, 7, 0))
    assert not open_at(daily, utc(2026, 10, 25, 7, 30))
    assert open_at(daily, utc(2026, 10, 25, 8, 0))


def test_hours_on_the_night_the_clocks_go_back_last_twenty_five_hours() -> None:
    sunday = hours((7, "00:00", "00:00"))  # 25 October 2026 is a Sunday with 25 hours
    assert open_at(sunday, utc(2026, 10, 24, 22, 0))  # 00:00 CEST
    assert open_at(sunday, utc(2026, 10, 25, 22, 59))  # 23:59 CET
    assert not open_at(sunday, utc(2026, 10, 25, 23, 0))  # Monday 00:00 CET
    assert not open_at(sunday, utc(2026, 10, 24, 21, 59))  # Saturday 23:59 CEST


def test_an_opening_time_the_clocks_skip_resolves_an_hour_later() -> None:
    """02:30 does not exist on 29 March 2026 in Amsterdam; the place opens at 03:30 CEST (01:30 UTC)."""
    night = hours((7, "02:30", "04:00"))
    assert not open_at(night, utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert open_at(night, utc(2026, 3, 29, 1, 30))


def test_closing_at_midnight_means_the_end_of_the_day() -> None:
    late = hours((2, "18:00", "00:00"))
    assert open_at(late, utc(2026, 11, 24, 22, 59))  # Tuesday 23:59 local
    assert not open_at(late, utc(2026, 11, 24, 23, 0))  # Wednesday 00:00 local
    assert not open_at(late, utc(2026, 11, 24, 16, 59))  # Tuesday 17:59 local


def test_hours_past_midnight_are_two_intervals_and_meet_a_window_spanning_midnight() -> None:
    night = hours((2, "22:00", "00:00"), (3, "00:00", "02:00"))
    assert open_at(night, utc(2026, 11, 24, 23, 30))  # Wednesday 00:30 local
    assert not open_at(night, utc(2026, 11, 25, 1, 0))  # Wednesday 02:00 local
    assert night.open_during(utc(2026, 11, 24, 20, 0), utc(2026, 11, 24, 21, 1), AMS)


def test_windows_given_in_another_zone_mean_the_same_instants() -> None:
    weekdays = hours((2, "09:00", "17:00"))
    local_start = datetime(2026, 11, 24, 8, 30, tzinfo=AMS_ZONE)  # 07:30 UTC: closed
    assert not weekdays.open_during(local_start, local_start + timedelta(minutes=20), AMS)
    assert weekdays.open_during(local_start, local_start + timedelta(minutes=31), AMS)


def test_a_window_of_several_days_finds_the_one_open_day() -> None:
    sunday_only = hours((7, "12:00", "13:00"))
    assert sunday_only.open_during(utc(2026, 11, 23, 0, 0), utc(2026, 11, 30, 0, 0), AMS)
    assert not sunday_only.open_during(utc(2026, 11, 23, 0, 0), utc(2026, 11, 29, 11, 0), AMS)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ALWAYS_OPEN.open_during(datetime(2026, 11, 24, 9), datetime(2026, 11, 24, 10), AMS)


def test_always_open_recognises_round_the_clock_however_it_is_split() -> None:
    assert ALWAYS_OPEN.always_open
    split = hours(*[(d, "00:00", "12:00") for d in range(1, 8)], *[(d, "12:00", "00:00") for d in range(1, 8)])
    assert split.always_open
    assert not hours(*[(d, "00:00", "23:59") for d in range(1, 8)]).always_open
    assert not hours(*[(d, "00:00", "00:00") for d in range(1, 7)]).always_open
    gap = hours(*[(d, "00:00", "12:00") for d in range(1, 8)], *[(d, "12:01", "00:00") for d in range(1, 8)])
    assert not gap.always_open


def problems_of(*raw: tuple[int, time, time]) -> list[tuple[ErrorCode, str | None]]:
    parsed, problems = parse_opening_hours(list(raw), "openingHours")
    assert (parsed is None) == bool(problems)
    return [(p.code, p.field) for p in problems]


def test_each_bad_interval_is_named_by_index() -> None:
    assert problems_of(
        (1, time(9), time(17)),
        (8, time(9), time(17)),
        (2, time(9, 0, 30), time(17)),
        (3, time(17), time(9)),
        (4, time(9), time(9)),
        (5, time(9, tzinfo=UTC), time(17)),
    ) == [
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours[1]"),
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours[2]"),
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours[3]"),
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours[4]"),
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours[5]"),
    ]


def test_overlapping_intervals_on_one_day_are_refused_but_touching_ones_are_fine() -> None:
    assert problems_of((1, time(9), time(13)), (1, time(12), time(17))) == [
        (ErrorCode.INVALID_OPENING_HOURS, "openingHours")
    ]
    assert problems_of((1, time(9), time(13)), (1, time(9), time(13))) != []
    assert problems_of((1, time(9), time(13)), (1, time(13), time(17)), (2, time(12), time(14))) == []


def test_a_place_must_open_sometime_and_not_list_endless_intervals() -> None:
    assert problems_of() == [(ErrorCode.INVALID_OPENING_HOURS, "openingHours")]
    many = [(1 + i % 7, time(i // 7), time(i // 7, 30)) for i in range(MAX_INTERVALS + 1)]
    assert problems_of(*many) == [(ErrorCode.INVALID_OPENING_HOURS, "openingHours")]
    assert problems_of(*many[:MAX_INTERVALS]) == []


def test_intervals_are_kept_in_week_order_and_survive_a_json_round_trip() -> None:
    parsed = hours((3, "09:00", "12:00"), (1, "13:00", "00:00"), (1, "08:00", "12:00"))
    assert [(i.weekday, i.opens) for i in parsed.intervals] == [(1, time(8)), (1, time(13)), (3, time(9))]
    data = hours_to_json(parsed)
    assert data[1] == {"weekday": 1, "opens": "13:00", "closes": "00:00"}
    assert hours_from_json(data) == parsed
    assert parsed.intervals[1] == OpeningInterval(1, time(13), time(0))


def test_the_repeated_hour_of_the_fall_back_is_told_apart() -> None:
    """02:00-02:40 on 25 October happens twice; the hours mean the first (00:00-00:40 UTC).

    A window in the second 02:30 (01:30 UTC) must not meet it, although the wall clocks agree: times
    sharing one tzinfo compare by wall clock, so the comparison has to be done in UTC.
    """
    early = hours((7, "02:00", "02:40"))
    second = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=AMS_ZONE)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
    assert not early.open_during(second, second + timedelta(minutes=5), AMS)
    first = datetime(2026, 10, 25, 2, 30, tzinfo=AMS_ZONE)
    assert early.open_during(first, first + timedelta(minutes=5), AMS)


# --- the open part of a window -------------------------------------------------------------------

EVERY_DAY_8_TO_20 = hours(*((d, "08:00", "20:00") for d in range(1, 8)))


def test_a_pickup_window_running_past_closing_is_clipped_to_closing_time() -> None:
    """The issue's example: open 08:00-20:00, a window of 19:00-23:00 local is open 19:00-20:00 only."""
    start, end = utc(2026, 11, 24, 18, 0), utc(2026, 11, 24, 22, 0)  # 19:00-23:00 in Amsterdam
    assert EVERY_DAY_8_TO_20.open_periods(start, end, AMS) == [(start, utc(2026, 11, 24, 19, 0))]
    assert EVERY_DAY_8_TO_20.open_part(start, end, AMS) == (start, utc(2026, 11, 24, 19, 0))


def test_a_window_the_hours_split_gets_its_longest_open_part() -> None:
    split = hours((2, "08:00", "12:00"), (2, "13:00", "20:00"))
    # 10:00-19:00 local: open 10-12 (2 h) and 13-19 (6 h); the longer part wins.
    part = split.open_part(utc(2026, 11, 24, 9, 0), utc(2026, 11, 24, 18, 0), AMS)
    assert part == (utc(2026, 11, 24, 12, 0), utc(2026, 11, 24, 18, 0))
    # Parts of equal length: the earlier one.
    even = hours((2, "08:00", "10:00"), (2, "12:00", "14:00"))
    assert even.open_part(utc(2026, 11, 24, 7, 0), utc(2026, 11, 24, 13, 0), AMS) == (
        utc(2026, 11, 24, 7, 0),
        utc(2026, 11, 24, 9, 0),
    )


def test_the_longest_part_counts_only_the_time_left_after_now() -> None:
    two_days = (utc(2026, 11, 24, 6, 0), utc(2026, 11, 25, 22, 0))  # Tuesday 07:00 to Wednesday 23:00 local
    tuesday = (utc(2026, 11, 24, 7, 0), utc(2026, 11, 24, 19, 0))
    wednesday = (utc(2026, 11, 25, 7, 0), utc(2026, 11, 25, 19, 0))
    assert EVERY_DAY_8_TO_20.open_part(*two_days, AMS) == tuesday
    # At Tuesday 19:00 local one hour of Tuesday is left: Wednesday has more.
    assert EVERY_DAY_8_TO_20.open_part(*two_days, AMS, now=utc(2026, 11, 24, 18, 0)) == wednesday
    # A delivery part must end after the pickup can start.
    assert EVERY_DAY_8_TO_20.open_part(*two_days, AMS, ends_after=wednesday[0]) == wednesday


def test_no_open_part_is_left_when_the_place_is_closed_throughout_or_it_is_over() -> None:
    evening = (utc(2026, 11, 24, 19, 0), utc(2026, 11, 24, 22, 0))  # 20:00-23:00 local
    assert EVERY_DAY_8_TO_20.open_periods(*evening, AMS) == []
    assert EVERY_DAY_8_TO_20.open_part(*evening, AMS) is None
    late = (utc(2026, 11, 24, 18, 0), utc(2026, 11, 24, 22, 0))  # open 19:00-20:00 local only
    assert EVERY_DAY_8_TO_20.open_part(*late, AMS, now=utc(2026, 11, 24, 19, 0)) is None


def test_hours_that_meet_at_midnight_are_one_open_stretch() -> None:
    night = hours((2, "18:00", "00:00"), (3, "00:00", "02:00"))
    window = (utc(2026, 11, 24, 16, 0), utc(2026, 11, 25, 3, 0))
    assert night.open_periods(*window, AMS) == [(utc(2026, 11, 24, 17, 0), utc(2026, 11, 25, 1, 0))]
    assert ALWAYS_OPEN.open_part(*window, AMS) == window


def test_open_parts_follow_the_wall_clock_across_the_spring_forward() -> None:
    # 2026-03-29 (a Sunday) the clocks go from 02:00 to 03:00: 08:00-20:00 local is 06:00-18:00 UTC.
    assert EVERY_DAY_8_TO_20.open_part(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 23, 0), AMS) == (
        utc(2026, 3, 29, 6, 0),
        utc(2026, 3, 29, 18, 0),
    )
