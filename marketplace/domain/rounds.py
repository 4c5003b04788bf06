"""Matching rounds: one area's waiting parcels and open trips solved together, and what came of it.

Pure rules only. A round is `queued` from the request until a worker takes it, `running` while that
worker holds the area's lock, then `succeeded` (its offers written with it, in one transaction) or
`failed` (nothing written but the error; a round whose worker died is failed as `abandoned` by
the next worker that takes the area's lock). At most one round per area is queued or running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus


class RoundStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


LIVE = frozenset({RoundStatus.QUEUED, RoundStatus.RUNNING})


class RoundTrigger(StrEnum):
    SCHEDULE = "schedule"
    OPERATIONS = "operations"


ABANDONED = "abandoned: the worker running it stopped before it finished"


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """An area's dispatch settings (seconds), with the defaults of the issue."""

    area_id: UUID
    currency: str
    time_zone: str
    active: bool
    round_interval_s: int = 300
    round_time_limit_s: int = 20
    offer_ttl_s: int = 180
    fleet_cutoff_s: int = 1800

    @property
    def offer_ttl(self) -> timedelta:
        return timedelta(seconds=self.offer_ttl_s)

    @property
    def fleet_cutoff(self) -> timedelta:
        return timedelta(seconds=self.fleet_cutoff_s)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What a finished round records besides its offers."""

    load_ms: int
    solve_ms: int
    write_ms: int
    parcels_count: int
    trips_count: int
    assigned_count: int
    unassigned_count: int
    offers_count: int
    currency: str
    cost_crowd_minor: int
    cost_fallback_minor: int
    cost_total_minor: int
    bound_lower_minor: int | None
    gap: float | None
    engine_stats: dict[str, Any]
    plan: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MatchingRound:
    id: UUID
    area_id: UUID
    status: RoundStatus
    trigger: RoundTrigger
    requested_by_user_id: UUID | None
    started_at: datetime
    finished_at: datetime | None
    result: RoundResult | None
    error: str | None
    created_at: datetime


def round_due(last_started: datetime | None, now: datetime, interval_s: int) -> bool:
    """A scheduled round is due once the interval has passed since the last one started."""
    return last_started is None or now - last_started >= timedelta(seconds=interval_s)


class PlacementState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    NOT_PLACED = "not_placed"
    HANDED_TO_FLEET = "handed_to_fleet"
    SETTLED = "settled"  # picked up or further on, or cancelled: placement no longer applies


@dataclass(frozen=True, slots=True)
class PlacementReason:
    code: str
    trips: int


@dataclass(frozen=True, slots=True)
class Placement:
    state: PlacementState
    round_id: UUID | None
    reasons: tuple[PlacementReason, ...]
    fallback_cost_minor: int | None


def placement(
    status: ParcelStatus, round_id: UUID | None, reasons: list[dict[str, Any]] | None, fallback_cost_minor: int | None
) -> Placement:
    """A parcel's placement from its status and the latest round's explanation, if any."""
    why = tuple(PlacementReason(str(r["code"]), int(r["trips"])) for r in reasons or [])
    if status is ParcelStatus.BOOKED:
        state = PlacementState.NOT_PLACED if reasons is not None else PlacementState.WAITING
    elif status is ParcelStatus.OFFERED:
        state = PlacementState.OFFERED
    elif status is ParcelStatus.ASSIGNED:
        state = PlacementState.ASSIGNED
    elif status is ParcelStatus.HANDED_TO_FLEET:
        state = PlacementState.HANDED_TO_FLEET
    else:
        state = PlacementState.SETTLED
    keep = state in (PlacementState.NOT_PLACED, PlacementState.HANDED_TO_FLEET)
    return Placement(state, round_id, why if keep else (), fallback_cost_minor)


@dataclass(frozen=True, slots=True)
class PlannedStop:
    parcel_id: UUID
    kind: str  # "pickup" | "dropoff"
    at: datetime


@dataclass(frozen=True, slots=True)
class PlannedBundle:
    """One (trip, bundle) of the engine's plan: it becomes an offer to the trip's courier."""

    trip_id: UUID
    courier_id: UUID
    parcel_ids: tuple[UUID, ...]
    stops: tuple[PlannedStop, ...]
    detour_m: float
    co2_g: float
    cost_minor: int


@dataclass(frozen=True, slots=True)
class Unplaced:
    parcel_id: UUID
    fallback_cost_minor: int
    reasons: tuple[PlacementReason, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The engine's solution in marketplace terms (the bridge translates; nothing else sees the engine)."""

    parcels_count: int
    trips_count: int
    bundles: tuple[PlannedBundle, ...]
    unplaced: tuple[Unplaced, ...]
    cost_crowd_minor: int
    cost_fallback_minor: int
    cost_total_minor: int
    bound_lower_minor: int | None
    gap: float | None
    stats: dict[str, Any]
    solution_json: dict[str, Any]
