"""The engine's plain data: an instance goes in, a solution comes out. Immutable, no I/O.

Times are timezone-aware UTC datetimes at the edges and whole epoch seconds inside; points are
(latitude, longitude) in degrees; money is integer minor units of the parcel's currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matching.warm import RoundMemo

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class VerificationRule:
    min_value: int
    level: int


@dataclass(frozen=True, slots=True)
class Pay:
    per_parcel: int
    per_detour_km: int


@dataclass(frozen=True, slots=True)
class Rules:
    road_factor: float
    service_s: int
    max_parcels_per_trip: int
    verification: tuple[VerificationRule, ...]
    pay: Pay

    def required_level(self, value: int) -> int:
        """The level of the rule with the largest min_value not above the parcel's value."""
        level, best = 0, None
        for rule in self.verification:
            if rule.min_value <= value and (best is None or rule.min_value > best):
                level, best = rule.level, rule.min_value
        return level


@dataclass(frozen=True, slots=True)
class Parcel:
    id: str
    pickup: Point
    dropoff: Point
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    weight_g: int
    volume_cm3: int
    value: int
    currency: str
    fallback_cost: int


@dataclass(frozen=True, slots=True)
class Insurance:
    per_parcel: int
    per_trip: int
    currency: str
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Trip:
    id: str
    courier_id: str
    origin: Point
    destination: Point
    depart_after: datetime
    arrive_by: datetime
    speed_mps: float
    capacity_g: int
    capacity_cm3: int
    max_detour_m: float
    verification_level: int
    insurance: Insurance | None
    co2_g_per_km: float
    # False: the courier cannot be paid (no payouts from its Stripe account), so it is offered nothing.
    payouts_enabled: bool = True


@dataclass(frozen=True, slots=True)
class Forbidden:
    """A pairing the engine must never make again: the courier of `trip_id` declined an offer of
    `parcel_id`, or let it expire."""

    trip_id: str
    parcel_id: str


@dataclass(frozen=True, slots=True)
class Instance:
    now: datetime
    rules: Rules
    parcels: tuple[Parcel, ...]
    trips: tuple[Trip, ...]
    # Pairs no plan may contain, in any bundle. A pair listed twice is the same as once. Every id
    # must name a trip or parcel of the instance: the codec reports one that does not as a bad
    # field, and solving a hand-built instance with one raises ValueError.
    forbidden: tuple[Forbidden, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    parcel_id: str
    kind: str  # "pickup" | "dropoff"
    at: datetime


@dataclass(frozen=True, slots=True)
class Assignment:
    trip_id: str
    parcel_ids: tuple[str, ...]
    stops: tuple[Stop, ...]
    detour_m: float
    cost: int
    co2_g: float


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    trips: int


@dataclass(frozen=True, slots=True)
class Unassigned:
    parcel_id: str
    fallback_cost: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Cost:
    crowd: int
    fallback: int
    total: int
    fallback_only: int


@dataclass(frozen=True, slots=True)
class Bound:
    lower: int | None
    gap: float | None


def _plain(value: object) -> object:
    return dict(value) if isinstance(value, dict) else value


@dataclass(frozen=True, slots=True)
class SolveStats:
    """What the engine did, for logs and the bench; `as_dict()` is the JSON form callers store.

    Budgets: `column_cap` is how many columns `memory_budget_mb` allows; `columns_deferred` counts
    improving columns pricing found but the cap kept out, `completion_skipped` the components whose
    reduced-cost completion would have passed it. Neither weakens the bound (it never depends on
    which columns are held). `deadline_hit` names the first phase the time limit cut short.
    """

    solver: str = ""
    wall_s: float = 0.0
    columns: int = 0
    components: int = 0
    milps: int = 0
    milp_status: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    converged: bool = False
    lp: float | None = None
    dive_total: int | None = None
    greedy_total: int | None = None
    singles: int = 0
    route_evaluations: int = 0  # pairs and triples routed by pricing (none are enumerated up front)
    trips_per_parcel: float = 0.0
    threads: int = 0
    memory_budget_mb: float = 0.0
    column_cap: int = 0
    columns_deferred: int = 0
    completion_skipped: int = 0
    warm_columns_kept: int = 0
    warm_columns_dropped: int = 0
    deadline_hit: str | None = None
    dropped_bound: int | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class WarmStart:
    """What a round hands the next one over the same area: its columns and duals, by id.

    The next solve re-checks every column against its own instance (trips and parcels come and
    go, times move on) and keeps only the feasible ones; duals only seed the pricing.
    """

    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (trip id, parcel ids)
    parcel_duals: dict[str, float] = field(default_factory=dict)
    trip_duals: dict[str, float] = field(default_factory=dict)
    plan: tuple[tuple[str, tuple[str, ...]], ...] = ()  # the round's chosen columns, a start for the next
    # In-process only: the round's instance, singles and explanations, which the next round
    # reuses for the trips and parcels that did not change (see `matching.warm`).
    memo: RoundMemo | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Solution:
    assignments: tuple[Assignment, ...]
    unassigned: tuple[Unassigned, ...]
    cost: Cost
    bound: Bound
    stats: SolveStats = field(default_factory=SolveStats)
    warm: WarmStart | None = None  # pass as `solve(..., warm=solution)` to the next round
