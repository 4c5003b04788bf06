"""Clocks: the manual one moves only when told to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from marketplace.clock import ManualClock, SystemClock

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_manual_clock_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 11, 24, 8, 0))


def test_manual_clock_accepts_any_timezone() -> None:
    paris = timezone(timedelta(hours=1))

    assert ManualClock(T0.astimezone(paris)).now() == T0


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(T0)

    assert clock.now() == T0
    assert clock.now() == T0


def test_manual_clock_advances_by_the_given_delta() -> None:
    clock = ManualClock(T0)

    clock.advance(timedelta(minutes=15))
    clock.advance(timedelta(seconds=30))

    assert clock.now() == T0 + timedelta(minutes=15, seconds=30)
    assert clock.now().tzinfo is not None


def test_manual_clock_can_move_backwards() -> None:
    clock = ManualClock(T0)

    clock.advance(timedelta(hours=-1))

    assert clock.now() == T0 - timedelta(hours=1)


def test_system_clock_returns_aware_utc_now() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)

    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
