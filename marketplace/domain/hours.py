"""Weekly opening hours in a place's local time, and whether a UTC window meets them."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from marketplace.domain.errors import ErrorCode, FieldError

MAX_INTERVALS = 50


@dataclass(frozen=True, slots=True)
class OpeningInterval:
    """Open on ISO `weekday` (1 = Monday) from `opens` until `closes`; `closes` 00:00 means midnight."""

    weekday: int
    opens: time
    closes: time

    @property
    def _end(self) -> timedelta:
        end = timedelta(hours=self.closes.hour, minutes=self.closes.minute)
        return end if end > timedelta(0) else timedelta(days=1)

    @property
    def _start(self) -> timedelta:
        return timedelta(hours=self.opens.hour, minutes=self.opens.minute)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    intervals: tuple[OpeningInterval, ...]

    @property
    def always_open(self) -> bool:
        """Open round the clock every day, however the days are split into intervals."""
        for day in range(1, 8):
            covered = timedelta(0)
            for interval in sorted((i for i in self.intervals if i.weekday == day), key=lambda i: i._start):
                if interval._start > covered:
                    return False
                covered = max(covered, interval._end)
            if covered < timedelta(days=1):
                return False
        return True

    def open_during(self, start_at: datetime, end_at: datetime, tz: str) -> bool:
        """True when the place is open at some moment of [start_at, end_at)."""
        if start_at.tzinfo is None or end_at.tzinfo is None:
            raise ValueError("open_during needs timezone-aware instants")
        if not self.intervals:
            return False
        zone = ZoneInfo(tz)
        # Compared in UTC: datetimes sharing one tzinfo compare by wall clock, which is wrong across DST.
        start_utc, end_utc = start_at.astimezone(UTC), end_at.astimezone(UTC)
        for opens_at, closes_at in self._occurrences(start_at, end_at, zone):
            if opens_at.astimezone(UTC) < end_utc and closes_at.astimezone(UTC) > start_utc:
                return True
        return False

    def open_periods(self, start_at: datetime, end_at: datetime, tz: str) -> list[tuple[datetime, datetime]]:
        """The parts of [start_at, end_at) during which the place is open, in UTC, in order.

        Intervals that meet (Monday 20:00-00:00 and Tuesday 00:00-02:00) make one period.
        """
        if start_at.tzinfo is None or end_at.tzinfo is None:
            raise ValueError("open_periods needs timezone-aware instants")
        start_utc, end_utc = start_at.astimezone(UTC), end_at.astimezone(UTC)
        occurrences = sorted(
            (opens.astimezone(UTC), closes.astimezone(UTC))
            for opens, closes in self._occurrences(start_at, end_at, ZoneInfo(tz))
        )
        periods: list[tuple[datetime, datetime]] = []
        for opens, closes in occurrences:
            if periods and opens <= periods[-1][1]:
                periods[-1] = (periods[-1][0], max(periods[-1][1], closes))
            else:
                periods.append((opens, closes))
        clipped = ((max(opens, start_utc), min(closes, end_utc)) for opens, closes in periods)
        return [(opens, closes) for opens, closes in clipped if opens < closes]

    def open_part(
        self,
        start_at: datetime,
        end_at: datetime,
        tz: str,
        *,
        now: datetime | None = None,
        ends_after: datetime | None = None,
    ) -> tuple[datetime, datetime] | None:
        """The one stretch of [start_at, end_at) a courier is held to: the place open throughout.

        Where the hours split the window, the part with the most time left after `now` wins (the
        earliest of equals); parts over by `now`, or not ending after `ends_after` (a delivery must
        end after its pickup can start), do not count. None when no part is left.
        """
        floor = max((t for t in (now, ends_after) if t is not None), default=None)
        best: tuple[datetime, datetime] | None = None
        best_left = None
        for opens, closes in self.open_periods(start_at, end_at, tz):
            if floor is not None and closes <= floor:
                continue
            left = closes - (opens if now is None else max(opens, now))
            if best_left is None or left > best_left:
                best, best_left = (opens, closes), left
        return best

    def _occurrences(self, start_at: datetime, end_at: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        day = start_at.astimezone(zone).date() - timedelta(days=1)
        last = end_at.astimezone(zone).date()
        while day <= last:
            midnight = datetime.combine(day, time(0), tzinfo=zone)
            for interval in self.intervals:
                if interval.weekday == day.isoweekday():
                    # Wall-clock arithmetic, then resolved in the zone: 09:00 stays 09:00 across DST. A time
                    # the clocks skip (02:30 on the spring-forward night) resolves an hour later, to 03:30 (fold=0).
                    opens = (midnight.replace(tzinfo=None) + interval._start).replace(tzinfo=zone)
                    closes = (midnight.replace(tzinfo=None) + interval._end).replace(tzinfo=zone)
                    yield opens, closes
            day += timedelta(days=1)


ALWAYS_OPEN = OpeningHours(tuple(OpeningInterval(d, time(0), time(0)) for d in range(1, 8)))


def parse_opening_hours(
    raw: Iterable[tuple[int, time, time]], field: str
) -> tuple[OpeningHours | None, list[FieldError]]:
    """Weekly intervals in local time; a place that never opens could never be served, so one is needed."""
    given = list(raw)
    if not given:
        return None, [FieldError(ErrorCode.INVALID_OPENING_HOURS, "at least one opening interval is needed", field)]
    if len(given) > MAX_INTERVALS:
        return None, [FieldError(ErrorCode.INVALID_OPENING_HOURS, f"at most {MAX_INTERVALS} intervals", field)]
    intervals = []
    problems: list[FieldError] = []
    for i, (weekday, opens, closes) in enumerate(given):
        path = f"{field}[{i}]"
        if not 1 <= weekday <= 7:
            problems.append(FieldError(ErrorCode.INVALID_OPENING_HOURS, "weekday must be 1 (Monday) to 7", path))
            continue
        if opens.second or closes.second or opens.microsecond or closes.microsecond:
            problems.append(FieldError(ErrorCode.INVALID_OPENING_HOURS, "times are whole minutes", path))
            continue
        if opens.tzinfo is not None or closes.tzinfo is not None:
            problems.append(FieldError(ErrorCode.INVALID_OPENING_HOURS, "times are local wall-clock times", path))
            continue
        interval = OpeningInterval(weekday, opens, closes)
        if interval._end <= interval._start:
            problems.append(FieldError(ErrorCode.INVALID_OPENING_HOURS, "closes must be after opens", path))
            continue
        intervals.append(interval)
    ordered = sorted(intervals, key=lambda i: (i.weekday, i._start))
    for a, b in itertools.pairwise(ordered):
        if a.weekday == b.weekday and b._start < a._end:
            problems.append(FieldError(ErrorCode.INVALID_OPENING_HOURS, f"intervals overlap on day {a.weekday}", field))
            break
    if problems:
        return None, problems
    return OpeningHours(tuple(ordered)), []


def hours_to_json(hours: OpeningHours) -> list[dict[str, object]]:
    return [
        {"weekday": i.weekday, "opens": i.opens.strftime("%H:%M"), "closes": i.closes.strftime("%H:%M")}
        for i in hours.intervals
    ]


def hours_from_json(data: list[dict[str, object]]) -> OpeningHours:
    return OpeningHours(
        tuple(
            OpeningInterval(
                int(str(d["weekday"])), time.fromisoformat(str(d["opens"])), time.fromisoformat(str(d["closes"]))
            )
            for d in data
        )
    )
