"""Live tracking rules: what a batch of location pings may hold, which points are kept, which are
implausible, and the ETA of every remaining stop of a trip. Pure: no I/O.

The ETA model (README "Live tracking"): the round's plan fixes the order of the stops and when
each may start (its window); the courier's observed progress fixes where the courier is and how
fast they move. From the latest plausible position, each remaining stop is reached after the road
distance (great circle x `ROAD_FACTOR`, as the engine plans) at the courier's pace, plus the
service time per stop the engine plans with; a stop is never earlier than its window opens (the
courier waits, as the plan does). The pace is the observed speed smoothed over the pings (an
exponentially weighted mean, weight `PACE_WEIGHT` per new segment), held between half and one and
a half times the vehicle's typical speed, so a red light or a sprint moves the ETA but does not
throw it away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.domain import validation
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import ROAD_FACTOR, Point, haversine_m, point_problems
from marketplace.domain.matching_rules import SERVICE_S
from marketplace.domain.vehicles import KIND_SPECS, VehicleKind

MAX_PINGS_PER_BATCH = 50
# Pings are kept this long, then the worker deletes them.
PING_RETENTION = timedelta(days=30)
# A point recorded further ahead of the server's clock than this is refused (phones' clocks drift a little).
MAX_CLOCK_SKEW = timedelta(seconds=60)
# A batch may carry points recorded up to this long ago (an app that was offline uploads its backlog).
MAX_PING_AGE = timedelta(hours=24)
MAX_ACCURACY_M = 10_000.0
MAX_REPORTED_SPEED_MPS = 150.0
PACE_WEIGHT = 0.3
PACE_FLOOR, PACE_CEILING = 0.5, 1.5

# The fastest each kind can really move (km/h): faster than this between two points is a jump
# (a bad fix, a spoofed position), flagged and left out of ETAs. Public transport includes trains.
PLAUSIBLE_SPEED_KMH: dict[VehicleKind, int] = {
    VehicleKind.FOOT: 25,
    VehicleKind.BICYCLE: 60,
    VehicleKind.CARGO_BIKE: 45,
    VehicleKind.E_SCOOTER: 50,
    VehicleKind.CAR: 200,
    VehicleKind.VAN: 170,
    VehicleKind.PUBLIC_TRANSPORT: 200,
}


@dataclass(frozen=True, slots=True)
class Ping:
    """One point as the courier's phone recorded it."""

    recorded_at: datetime
    position: Point
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None

    @property
    def second(self) -> int:
        """The whole second it falls in: at most one point per courier and second is kept."""
        return math.floor(self.recorded_at.timestamp())


@dataclass(frozen=True, slots=True)
class Fix:
    """A kept point, and whether it is plausible (usable for positions and ETAs)."""

    ping: Ping
    implausible: bool


@dataclass(frozen=True, slots=True)
class LastPosition:
    position: Point
    recorded_at: datetime
    accuracy_m: float | None
    pace_mps: float | None


def check_batch(pings: Sequence[Ping], now: datetime) -> None:
    """Every problem of the batch at once; a bad batch is refused whole and changes nothing."""
    problems: list[FieldError] = []
    if not pings:
        problems.append(FieldError(ErrorCode.REQUIRED, "send at least one point", "pings"))
    if len(pings) > MAX_PINGS_PER_BATCH:
        message = f"at most {MAX_PINGS_PER_BATCH} points per batch"
        problems.append(FieldError(ErrorCode.TOO_MANY_ROWS, message, "pings"))
    for i, ping in enumerate(pings):
        field = f"pings[{i}]"
        problems.extend(point_problems(ping.position.lat, ping.position.lng, f"{field}.position"))
        if validation.instant(ping.recorded_at, f"{field}.recordedAt", problems):
            if ping.recorded_at > now + MAX_CLOCK_SKEW:
                problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "lies in the future", f"{field}.recordedAt"))
            elif ping.recorded_at < now - MAX_PING_AGE:
                problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "is older than 24 hours", f"{field}.recordedAt"))
        for name, value, top in (
            ("accuracyM", ping.accuracy_m, MAX_ACCURACY_M),
            ("speedMps", ping.speed_mps, MAX_REPORTED_SPEED_MPS),
        ):
            if value is not None and not (math.isfinite(value) and 0 <= value <= top):
                problems.append(
                    FieldError(ErrorCode.OUT_OF_RANGE, f"must lie between 0 and {top:g}", f"{field}.{name}")
                )
        heading = ping.heading_deg
        if heading is not None and not (math.isfinite(heading) and 0 <= heading < 360):
            message = "must lie in [0, 360)"
            problems.append(FieldError(ErrorCode.OUT_OF_RANGE, message, f"{field}.headingDeg"))
    if problems:
        raise DomainError(problems)


def one_per_second(pings: Sequence[Ping]) -> tuple[list[Ping], int]:
    """The first point of each second, in time order, and how many were dropped within the batch."""
    kept: dict[int, Ping] = {}
    for ping in sorted(pings, key=lambda p: p.recorded_at):
        kept.setdefault(ping.second, ping)
    return list(kept.values()), len(pings) - len(kept)


def _jump(a: Point, a_at: datetime, a_acc: float | None, b: Ping, limit_mps: float) -> bool:
    """Faster than `limit_mps` between the two points, after allowing for both fixes' accuracy."""
    seconds = (b.recorded_at - a_at).total_seconds()
    distance = max(0.0, haversine_m(a, b.position) - (a_acc or 0.0) - (b.accuracy_m or 0.0))
    if seconds <= 0:
        return distance > 0
    return distance / seconds > limit_mps


def classify(
    points: Sequence[Ping], last: LastPosition | None, kind: VehicleKind
) -> tuple[list[Fix], LastPosition | None]:
    """Flags each point (time order) that jumps from the last plausible one; returns the new last position.

    A point older than the last plausible position is kept but cannot move it (flagged implausible:
    it says nothing about where the courier is now).
    """
    limit = PLAUSIBLE_SPEED_KMH[kind] / 3.6
    typical = KIND_SPECS[kind].typical_speed_kmh / 3.6
    fixes: list[Fix] = []
    current = last
    for ping in points:
        if current is not None and ping.recorded_at <= current.recorded_at:
            fixes.append(Fix(ping, implausible=True))
            continue
        if current is not None and _jump(current.position, current.recorded_at, current.accuracy_m, ping, limit):
            fixes.append(Fix(ping, implausible=True))
            continue
        fixes.append(Fix(ping, implausible=False))
        pace = None if current is None else current.pace_mps
        if current is not None:
            seconds = (ping.recorded_at - current.recorded_at).total_seconds()
            observed = haversine_m(current.position, ping.position) / seconds
            pace = observed if pace is None else (1 - PACE_WEIGHT) * pace + PACE_WEIGHT * observed
        if pace is not None:
            pace = min(max(pace, PACE_FLOOR * typical), PACE_CEILING * typical)
        current = LastPosition(ping.position, ping.recorded_at, ping.accuracy_m, pace)
    return fixes, current


class StopKind(StrEnum):
    PICKUP = "pickup"
    DROPOFF = "dropoff"


@dataclass(frozen=True, slots=True)
class RemainingStop:
    """A stop still ahead, in the order the round planned it."""

    parcel_id: UUID
    kind: StopKind
    position: Point
    planned_at: datetime
    window_start_at: datetime
    window_end_at: datetime


@dataclass(frozen=True, slots=True)
class StopEta:
    stop: RemainingStop
    eta_at: datetime

    @property
    def late(self) -> bool:
        return self.eta_at > self.stop.window_end_at


# "Arriving soon" is told when a carried parcel's drop-off ETA comes this close (ARRIVING_SOON_S).
ARRIVING_SOON = timedelta(minutes=10)


def arriving_within(etas: Sequence[StopEta], now: datetime, within: timedelta) -> list[StopEta]:
    """The drop-offs whose ETA is at most `within` from `now` (the caller keeps those on board)."""
    return [e for e in etas if e.stop.kind is StopKind.DROPOFF and e.eta_at - now <= within]


def travel_s(a: Point, b: Point, pace_mps: float) -> float:
    return haversine_m(a, b) * ROAD_FACTOR / pace_mps


def estimate(stops: Sequence[RemainingStop], position: LastPosition, kind: VehicleKind, now: datetime) -> list[StopEta]:
    """The ETA of every remaining stop, in plan order, from where the courier is and how fast they go."""
    typical = KIND_SPECS[kind].typical_speed_kmh / 3.6
    pace = position.pace_mps or typical
    clock = max(now, position.recorded_at)
    here = position.position
    etas: list[StopEta] = []
    for i, stop in enumerate(stops):
        arrive = clock + timedelta(seconds=travel_s(here, stop.position, pace) + (SERVICE_S if i else 0))
        eta = max(arrive, stop.window_start_at)
        etas.append(StopEta(stop, eta))
        clock, here = eta, stop.position
    return etas
