"""Live tracking's pure rules: one point per second, implausible jumps per vehicle kind, the ETA model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from marketplace.domain.errors import DomainError
from marketplace.domain.geo import ROAD_FACTOR, Point, haversine_m
from marketplace.domain.matching_rules import SERVICE_S
from marketplace.domain.notifications import NotificationFacts, NotificationKind, render
from marketplace.domain.tracking import (
    ARRIVING_SOON,
    PACE_WEIGHT,
    LastPosition,
    Ping,
    RemainingStop,
    StopEta,
    StopKind,
    arriving_within,
    check_batch,
    classify,
    estimate,
    one_per_second,
)
from marketplace.domain.vehicles import KIND_SPECS, VehicleKind

T = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
HERE = Point(52.3600, 4.9000)
# About 111 m north of HERE.
NORTH_111M = Point(52.3610, 4.9000)


def at(seconds: float, point: Point = HERE) -> Ping:
    return Ping(T + seconds * S, point)


def test_one_point_per_second_keeps_the_first_of_each_second_in_time_order() -> None:
    kept, dropped = one_per_second([at(1.5), at(0.2), at(1.1), at(0.9), at(2.0)])
    assert [p.recorded_at for p in kept] == [T + 0.2 * S, T + 1.1 * S, T + 2 * S]
    assert dropped == 2


def test_a_batch_is_refused_whole_with_every_problem() -> None:
    bad = [
        Ping(T + 2 * 60 * S, Point(91.0, 4.9)),
        Ping(T, HERE, accuracy_m=-1.0, heading_deg=360.0),
        Ping(T - timedelta(hours=25), HERE),
    ]
    with pytest.raises(DomainError) as raised:
        check_batch(bad, T)
    assert sorted((e.field or "", e.code.value) for e in raised.value.errors) == [
        ("pings[0].position.lat", "OUT_OF_RANGE"),
        ("pings[0].recordedAt", "OUT_OF_RANGE"),
        ("pings[1].accuracyM", "OUT_OF_RANGE"),
        ("pings[1].headingDeg", "OUT_OF_RANGE"),
        ("pings[2].recordedAt", "OUT_OF_RANGE"),
    ]
    with pytest.raises(DomainError):
        check_batch([at(-i) for i in range(51)], T)
    check_batch([at(-i) for i in range(50)], T)


@pytest.mark.parametrize(
    ("kind", "flagged"),
    [(VehicleKind.FOOT, True), (VehicleKind.BICYCLE, True), (VehicleKind.CAR, False), (VehicleKind.VAN, False)],
)
def test_a_jump_is_implausible_for_the_slow_kinds_only(kind: VehicleKind, flagged: bool) -> None:
    # 111 m in 5 s is 80 km/h: a car or a van, never a walker or a cyclist.
    fixes, last = classify([at(0), at(5, NORTH_111M)], None, kind)
    assert [f.implausible for f in fixes] == [False, flagged]
    assert last is not None
    assert last.position == (HERE if flagged else NORTH_111M)


def test_fix_accuracy_is_allowed_for_before_a_point_is_called_a_jump() -> None:
    sloppy = Ping(T + 5 * S, NORTH_111M, accuracy_m=60.0)
    fixes, _ = classify([Ping(T, HERE, accuracy_m=60.0), sloppy], None, VehicleKind.FOOT)
    assert [f.implausible for f in fixes] == [False, False]


def test_a_point_older_than_the_last_position_cannot_move_it() -> None:
    last = LastPosition(HERE, T + 10 * S, None, None)
    fixes, after = classify([at(5, NORTH_111M)], last, VehicleKind.CAR)
    assert [f.implausible for f in fixes] == [True]
    assert after == last


def test_the_pace_is_smoothed_and_held_within_half_and_one_and_a_half_the_typical_speed() -> None:
    typical = KIND_SPECS[VehicleKind.CAR].typical_speed_kmh / 3.6
    start = LastPosition(HERE, T, None, typical)
    # 111 m in 10 s is 11.1 m/s: the pace moves a weighted step towards it.
    _, moved = classify([at(10, NORTH_111M)], start, VehicleKind.CAR)
    assert moved is not None
    observed = haversine_m(HERE, NORTH_111M) / 10
    assert moved.pace_mps == pytest.approx((1 - PACE_WEIGHT) * typical + PACE_WEIGHT * observed)
    # Standing still for minutes brings the pace down to half the typical speed, no lower.
    last: LastPosition | None = moved
    for i in range(1, 40):
        _, last = classify([Ping(T + (10 + 30 * i) * S, NORTH_111M)], last, VehicleKind.CAR)
    assert last is not None
    assert last.pace_mps == pytest.approx(0.5 * typical)


def stop(kind: StopKind, point: Point, start: datetime, end: datetime) -> RemainingStop:
    return RemainingStop(UUID(int=1), kind, point, start, start, end)


def test_eta_is_travel_at_the_pace_plus_service_never_before_the_window_opens() -> None:
    pickup = Point(52.3700, 4.9000)
    dropoff = Point(52.3800, 4.9000)
    pace = 10.0
    position = LastPosition(HERE, T, None, pace)
    open_now = stop(StopKind.PICKUP, pickup, T, T + timedelta(hours=1))
    later = stop(StopKind.DROPOFF, dropoff, T + timedelta(hours=2), T + timedelta(hours=3))
    first, second = estimate([open_now, later], position, VehicleKind.CAR, T)
    expected_pickup = T + timedelta(seconds=haversine_m(HERE, pickup) * ROAD_FACTOR / pace)
    assert first.eta_at == expected_pickup
    assert not first.late
    # The drop-off window opens later than the courier could arrive: the ETA is its start.
    assert second.eta_at == T + timedelta(hours=2)
    # The same drop-off with a window open now: travel from the pickup plus its service time.
    now_open = stop(StopKind.DROPOFF, dropoff, T, T + timedelta(minutes=5))
    _, tight = estimate([open_now, now_open], position, VehicleKind.CAR, T)
    leg = haversine_m(pickup, dropoff) * ROAD_FACTOR / pace + SERVICE_S
    assert tight.eta_at == expected_pickup + timedelta(seconds=leg)
    assert tight.late


def test_without_an_observed_pace_the_vehicles_typical_speed_is_used() -> None:
    pickup = Point(52.3700, 4.9000)
    position = LastPosition(HERE, T, None, None)
    (eta,) = estimate([stop(StopKind.PICKUP, pickup, T, T + timedelta(hours=1))], position, VehicleKind.BICYCLE, T)
    typical = KIND_SPECS[VehicleKind.BICYCLE].typical_speed_kmh / 3.6
    assert eta.eta_at == T + timedelta(seconds=haversine_m(HERE, pickup) * ROAD_FACTOR / typical)


def test_arriving_within_takes_drop_offs_at_most_the_threshold_away_and_never_a_pickup() -> None:
    def stop_eta(n: int, kind: StopKind, minutes: float) -> StopEta:
        stop = RemainingStop(UUID(int=n), kind, HERE, T, T, T + timedelta(hours=2))
        return StopEta(stop, T + timedelta(minutes=minutes))

    etas = [
        stop_eta(1, StopKind.PICKUP, 2),
        stop_eta(2, StopKind.DROPOFF, 10),
        stop_eta(3, StopKind.DROPOFF, 10.01),
        stop_eta(4, StopKind.DROPOFF, 0),
    ]
    soon = arriving_within(etas, T, ARRIVING_SOON)
    assert [e.stop.parcel_id for e in soon] == [UUID(int=2), UUID(int=4)]


def test_arriving_soon_says_the_eta_in_the_areas_time_else_the_stop_before() -> None:
    def facts(eta_at: datetime | None, language: str) -> NotificationFacts:
        return NotificationFacts(
            kind=NotificationKind.ARRIVING_SOON,
            language=language,
            recipient_name="Ada",
            sender="Corner Shop",
            tracking_url="https://t.example/t/x",
            parcel_status=None,
            pin=None,
            window_start_at=None,
            window_end_at=None,
            time_zone="Europe/Berlin",
            failure_action=None,
            eta_at=eta_at,
        )

    eta = datetime(2026, 11, 24, 13, 7, 40, tzinfo=UTC)  # 14:07 in Berlin
    assert "arrives at about 14:07." in render(facts(eta, "en")).body
    assert "kommt gegen 14:07 Uhr." in render(facts(eta, "de")).body
    assert "completed the stop before yours" in render(facts(None, "en")).body
