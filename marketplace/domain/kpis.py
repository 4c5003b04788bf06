"""Operations' KPIs: what each figure means, and the van baseline the crowd is measured against.

The figures are counted in SQL from the parcel event history, offers, trips and the ledger
(`repositories/kpis.py`); this module only names them and derives the rates and the per-parcel
amounts from those counts. Every definition below is what README "Operations" documents:

- *delivered*: an event reaching `delivered` (door or safe place) or `in_locker` (a locker
  drop-off, or the fallback locker after a failed attempt) in the period;
- *on time*: a delivered event within the job's delivery window (`deliver_from`..`deliver_until`);
- *attempt*: an event leaving `at_dropoff` for `delivered`, `in_locker` or `failed_attempt`; a
  *first attempt* is a parcel's first such event ever, a success unless it is `failed_attempt`;
- *failed-delivery rate*: failed attempts / attempts, in total and per reason;
- *crowd parcels*: picked up by a courier in the period; *fleet parcels*: handed to the fleet in it;
  the *crowd share* is crowd / (crowd + fleet);
- *stops*: distinct (trip, job) drop-offs for the crowd (a job's parcels go to one address), distinct
  jobs for the fleet;
- *crowd pay*: what couriers earned in the ledger (2100 credits from captures and cancellation fees);
  *fleet cost*: the day's van routes (the stored fleet plan) for the parcels they deliver, and the
  tariff cost recorded with each hand-over for every other fleet parcel (all of them without a plan,
  and for an hour: `FigureSource`); per parcel over the parcels that cost is of; *revenue*: the platform's margin (4000)
  and cancellation fee revenue (4100) less refunds (4900);
- *capacity used*: the weight (volume) of parcels picked up on trips departing in the period over
  those trips' spare weight (volume);
- *CO2*: the crowd's accepted offers' detour emissions (each vehicle's g/km times its detour) plus
  the fleet's: its van routes' or, without a plan, its parcels at the per-parcel van estimate below;
- *van only*: the stored baseline plan (every parcel of the day by van), its unserved parcels at the
  fleet tariff and the per-parcel van estimate; or, without one, every parcel carried at those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.vehicles import KIND_SPECS, VehicleKind

# The per-parcel van estimate, the labelled fallback (`FigureSource.TARIFF`) where no van plan exists:
# a light diesel van's 250 g CO2/km (the vehicle defaults', typical EU values) over 0.8 km of round per
# parcel (an urban parcel round of ~120 stops on ~100 km).
VAN_CO2_G_PER_KM = KIND_SPECS[VehicleKind.VAN].co2_g_per_km
VAN_BASELINE_M_PER_STOP = 800
VAN_BASELINE_CO2_G_PER_PARCEL = VAN_CO2_G_PER_KM * VAN_BASELINE_M_PER_STOP // 1000


class FigureSource(StrEnum):
    """Where the fleet's or the van-only figures of a period came from.

    VAN_ROUTES: summed from the area-day's stored van plan, route by route. TARIFF: no plan for the
    day (or an hour, which no plan divides into): cost at the tariff recorded per parcel, kilometres
    and CO2 at the per-parcel van estimate. Saying which keeps a guess from passing for a measurement.
    """

    VAN_ROUTES = "van_routes"
    TARIFF = "tariff"


@dataclass(frozen=True, slots=True)
class PlanTotals:
    """A stored van plan's figures, summed in SQL from its routes."""

    parcels: int
    served: int
    stops: int
    routes: int
    distance_m: int
    cost_minor: int
    co2_g: int


class Granularity(StrEnum):
    """The width of a KPI period, as PostgreSQL's `date_trunc` names it."""

    DAY = "day"
    HOUR = "hour"


def share(part: int, whole: int) -> float | None:
    """A rate between 0 and 1; None when there is nothing to divide by (no attempts is not 0 %)."""
    return None if whole == 0 else part / whole


def per(amount_minor: int, count: int) -> int | None:
    """An amount per unit in minor units, rounded half up (money stays integer); None for no units."""
    if count == 0:
        return None
    quotient, remainder = divmod(amount_minor, count)
    return quotient + (1 if 2 * remainder >= count else 0)


@dataclass(frozen=True, slots=True)
class VehicleEmissions:
    """The crowd's accepted offers of one vehicle kind in the period."""

    kind: VehicleKind
    offers: int
    parcels: int
    detour_m: int
    co2_g: int


@dataclass(frozen=True, slots=True)
class Priced:
    """Parcels and what they cost, drove and emitted, all from one source (routes or the tariff)."""

    parcels: int = 0
    cost_minor: int = 0
    distance_m: int = 0
    co2_g: int = 0

    @classmethod
    def at_tariff(cls, parcels: int, cost_minor: int) -> Priced:
        """Parcels at the tariff's cost and the per-parcel van estimate's km and CO2."""
        return cls(parcels, cost_minor, parcels * VAN_BASELINE_M_PER_STOP, parcels * VAN_BASELINE_CO2_G_PER_PARCEL)

    @classmethod
    def of_routes(cls, plan: PlanTotals) -> Priced:
        """A plan's routes: the parcels they deliver, and their cost, km and CO2."""
        return cls(plan.served, plan.cost_minor, plan.distance_m, plan.co2_g)


@dataclass(frozen=True, slots=True)
class FleetFigures:
    """What the professional fleet carried in the period (hand-overs, their jobs as stops), and what
    it cost, drove and emitted: the parcels its van routes deliver at the routes' figures, every other
    one (no plan, or one the plan left unserved) at the tariff recorded with its hand-over."""

    parcels: int = 0
    stops: int = 0
    routes: Priced = Priced()
    tariff: Priced = Priced()
    source: FigureSource = FigureSource.TARIFF

    @classmethod
    def at_tariff(cls, parcels: int, stops: int, cost_minor: int) -> FleetFigures:
        """The fallback: the tariff cost recorded with each hand-over, the per-parcel van estimate."""
        return cls(parcels, stops, tariff=Priced.at_tariff(parcels, cost_minor))

    def with_routes(self, plan: PlanTotals | None, unserved: Priced = Priced()) -> FleetFigures:
        """Where a fleet plan exists: its routes for the parcels they deliver, and `unserved` (the
        period's hand-overs its routes do not deliver, at their recorded tariff) for the rest."""
        if plan is None:
            return self
        return FleetFigures(self.parcels, self.stops, Priced.of_routes(plan), unserved, FigureSource.VAN_ROUTES)

    @property
    def priced(self) -> int:
        """The parcels the cost, km and CO2 are of: route-delivered plus tariff-priced."""
        return self.routes.parcels + self.tariff.parcels

    @property
    def cost_minor(self) -> int:
        return self.routes.cost_minor + self.tariff.cost_minor

    @property
    def co2_g(self) -> int:
        return self.routes.co2_g + self.tariff.co2_g

    @property
    def distance_m(self) -> int:
        return self.routes.distance_m + self.tariff.distance_m

    @property
    def cost_per_parcel_minor(self) -> int | None:
        return per(self.cost_minor, self.priced)

    @property
    def co2_per_parcel_g(self) -> float | None:
        return None if self.priced == 0 else self.co2_g / self.priced

    @property
    def co2_g_per_km(self) -> float | None:
        return None if self.distance_m == 0 else self.co2_g * 1000 / self.distance_m


@dataclass(frozen=True, slots=True)
class VanOnlyFigures:
    """What the period would have cost and emitted by van alone.

    From the baseline plan: the parcels its routes deliver, with their stops (store and door visits, as
    `vanBaseline` counts them) and the routes' cost, km and CO2, plus the parcels it left unserved at
    the fleet tariff for their own distance, one (door) stop per job, and the per-parcel van estimate.
    Without one: every parcel carried and its stop, at that tariff and that estimate.
    """

    routes: Priced = Priced()
    tariff: Priced = Priced()
    route_stops: int = 0
    tariff_stops: int = 0
    source: FigureSource = FigureSource.TARIFF

    @classmethod
    def at_tariff(cls, parcels: int, stops: int, cost_minor: int) -> VanOnlyFigures:
        return cls(tariff=Priced.at_tariff(parcels, cost_minor), tariff_stops=stops)

    @classmethod
    def of_plan(cls, plan: PlanTotals, unserved: Priced = Priced(), unserved_stops: int = 0) -> VanOnlyFigures:
        return cls(Priced.of_routes(plan), unserved, plan.stops, unserved_stops, FigureSource.VAN_ROUTES)

    @property
    def parcels(self) -> int:
        return self.routes.parcels + self.tariff.parcels

    @property
    def stops(self) -> int:
        return self.route_stops + self.tariff_stops

    @property
    def cost_minor(self) -> int:
        return self.routes.cost_minor + self.tariff.cost_minor

    @property
    def distance_m(self) -> int:
        return self.routes.distance_m + self.tariff.distance_m

    @property
    def co2_g(self) -> int:
        return self.routes.co2_g + self.tariff.co2_g

    @property
    def cost_per_parcel_minor(self) -> int | None:
        return per(self.cost_minor, self.parcels)

    @property
    def cost_per_stop_minor(self) -> int | None:
        return per(self.cost_minor, self.stops)

    @property
    def co2_per_parcel_g(self) -> float | None:
        return None if self.parcels == 0 else self.co2_g / self.parcels

    @property
    def co2_g_per_km(self) -> float | None:
        return None if self.distance_m == 0 else self.co2_g * 1000 / self.distance_m


@dataclass(frozen=True, slots=True)
class KpiCounts:
    """The raw counts of one area and period, each counted in SQL from the history."""

    booked: int = 0
    delivered: int = 0
    delivered_on_time: int = 0
    attempts: int = 0
    first_attempts: int = 0
    first_attempt_successes: int = 0
    failed_attempts: int = 0
    returned: int = 0
    handed_to_fleet: int = 0
    crowd_parcels: int = 0
    crowd_stops: int = 0
    locker_deposits: int = 0
    locker_collections: int = 0
    locker_returns: int = 0
    assigned: int = 0
    booking_to_assignment_median_s: float | None = None
    booking_to_assignment_p90_s: float | None = None
    offers: int = 0
    offers_accepted: int = 0
    trips: int = 0
    capacity_weight_g: int = 0
    used_weight_g: int = 0
    capacity_volume_cm3: int = 0
    used_volume_cm3: int = 0
    crowd_pay_minor: int = 0
    revenue_minor: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    vehicles: tuple[VehicleEmissions, ...] = ()


@dataclass(frozen=True, slots=True)
class FailedReason:
    reason: str
    count: int
    rate: float | None  # of all attempts


@dataclass(frozen=True, slots=True)
class AreaKpis:
    """One area's KPIs over [start_at, end_at): the counts and what they make."""

    area_id: UUID
    currency: str
    granularity: Granularity
    start_at: datetime
    end_at: datetime
    counts: KpiCounts
    fleet: FleetFigures
    van_only: VanOnlyFigures

    @property
    def on_time_rate(self) -> float | None:
        return share(self.counts.delivered_on_time, self.counts.delivered)

    @property
    def first_attempt_success_rate(self) -> float | None:
        return share(self.counts.first_attempt_successes, self.counts.first_attempts)

    @property
    def failed_delivery_rate(self) -> float | None:
        return share(self.counts.failed_attempts, self.counts.attempts)

    @property
    def failed_by_reason(self) -> tuple[FailedReason, ...]:
        return tuple(
            FailedReason(reason, n, share(n, self.counts.attempts))
            for reason, n in sorted(self.counts.failed_by_reason.items())
        )

    @property
    def carried(self) -> int:
        """Parcels the crowd or the fleet took on in the period."""
        return self.counts.crowd_parcels + self.fleet.parcels

    @property
    def crowd_share(self) -> float | None:
        return share(self.counts.crowd_parcels, self.carried)

    @property
    def cost_minor(self) -> int:
        return self.counts.crowd_pay_minor + self.fleet.cost_minor

    @property
    def stops(self) -> int:
        return self.counts.crowd_stops + self.fleet.stops

    @property
    def costed(self) -> int:
        """The parcels the period's cost and CO2 are of: the crowd's and the fleet's priced ones (the same
        as `carried` unless a van plan delivers parcels handed over on another day)."""
        return self.counts.crowd_parcels + self.fleet.priced

    @property
    def cost_per_parcel_minor(self) -> int | None:
        return per(self.cost_minor, self.costed)

    @property
    def cost_per_stop_minor(self) -> int | None:
        return per(self.cost_minor, self.stops)

    @property
    def crowd_cost_per_parcel_minor(self) -> int | None:
        return per(self.counts.crowd_pay_minor, self.counts.crowd_parcels)

    @property
    def fleet_cost_per_parcel_minor(self) -> int | None:
        return self.fleet.cost_per_parcel_minor

    @property
    def crowd_cost_per_stop_minor(self) -> int | None:
        return per(self.counts.crowd_pay_minor, self.counts.crowd_stops)

    @property
    def fleet_cost_per_stop_minor(self) -> int | None:
        return per(self.fleet.cost_minor, self.fleet.stops)

    @property
    def van_only_cost_per_parcel_minor(self) -> int | None:
        return self.van_only.cost_per_parcel_minor

    @property
    def revenue_per_parcel_minor(self) -> int | None:
        return per(self.counts.revenue_minor, self.carried)

    @property
    def offer_acceptance_rate(self) -> float | None:
        return share(self.counts.offers_accepted, self.counts.offers)

    @property
    def capacity_weight_used(self) -> float | None:
        return share(self.counts.used_weight_g, self.counts.capacity_weight_g)

    @property
    def capacity_volume_used(self) -> float | None:
        return share(self.counts.used_volume_cm3, self.counts.capacity_volume_cm3)

    @property
    def crowd_co2_g(self) -> int:
        return sum(v.co2_g for v in self.counts.vehicles)

    @property
    def co2_g(self) -> int:
        return self.crowd_co2_g + self.fleet.co2_g

    @property
    def co2_per_parcel_g(self) -> float | None:
        """Crowd detours and the fleet's routes and tariff-priced parcels, over the parcels they are of."""
        return None if self.costed == 0 else self.co2_g / self.costed

    @property
    def crowd_detour_m(self) -> int:
        return sum(v.detour_m for v in self.counts.vehicles)

    @property
    def crowd_co2_g_per_km(self) -> float | None:
        """The crowd's CO2 per km of detour (the only kilometres it drives for us)."""
        return None if self.crowd_detour_m == 0 else self.crowd_co2_g * 1000 / self.crowd_detour_m

    @property
    def distance_m(self) -> int:
        """The crowd's detours and the fleet's kilometres: what the period drove for its parcels."""
        return self.crowd_detour_m + self.fleet.distance_m

    @property
    def co2_g_per_km(self) -> float | None:
        return None if self.distance_m == 0 else self.co2_g * 1000 / self.distance_m

    @property
    def van_only_co2_g(self) -> int:
        return self.van_only.co2_g

    @property
    def van_only_co2_per_parcel_g(self) -> float | None:
        return self.van_only.co2_per_parcel_g

    @property
    def locker_share(self) -> float | None:
        """Of the parcels delivered, the share that went into a locker."""
        return share(self.counts.locker_deposits, self.counts.delivered)
