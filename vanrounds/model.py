"""The van planner's input and output: plain frozen values, times in integer seconds from the day's origin.

The service turns its parcels into these (seconds since the area's local midnight, grams, metres) and
reads routes back; nothing here knows of the service, PostgreSQL or GraphQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Site:
    """A place a van stops at: the depot, a store or a recipient's address."""

    id: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Depot:
    site: Site
    opens_s: int
    closes_s: int


@dataclass(frozen=True, slots=True)
class Parcel:
    """One parcel: collected at `store` within its pickup window, delivered to `recipient` within its window."""

    id: str
    store: Site
    recipient: Site
    weight_g: int
    pickup_from_s: int
    pickup_until_s: int
    deliver_from_s: int
    deliver_until_s: int


@dataclass(frozen=True, slots=True)
class VanType:
    """A kind of van: how many there are, what each carries and what each costs and emits."""

    name: str
    count: int
    capacity_g: int
    fixed_cost_minor: int
    cost_per_km_minor: int
    cost_per_hour_minor: int
    co2_g_per_km: int


@dataclass(frozen=True, slots=True)
class Problem:
    depot: Depot
    parcels: tuple[Parcel, ...]
    vans: tuple[VanType, ...]
    service_s: int = 120
    depot_handling_s: int = 600
    speed_mps: float = 7.0
    road_factor: float = 1.3
    # The collection's waves (`solver.collection_waves`): a parcel's collecting van must be back in time
    # for a delivery round that reaches it within `delivery_round_s` of the straight drive; parcels due
    # back within `wave_s` of each other are collected by the same routes.
    delivery_round_s: int = 3600
    wave_s: int = 3600


class Leg(Enum):
    COLLECTION = "collection"
    DELIVERY = "delivery"


@dataclass(frozen=True, slots=True)
class Stop:
    """A parcel's visit: the van arrives, waits for the window if early, and works `service_s`."""

    parcel_id: str
    site_id: str
    arrive_s: int
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class Route:
    """One van's round: it leaves `start_site_id` at `depart_s` and is back at `end_site_id` at `return_s`."""

    leg: Leg
    van: str
    start_site_id: str
    end_site_id: str
    depart_s: int
    return_s: int
    stops: tuple[Stop, ...]
    distance_m: int


@dataclass(frozen=True, slots=True)
class Totals:
    """What a set of routes costs and emits, summed route by route (see `check.route_totals`)."""

    routes: int
    stops: int
    parcels: int
    distance_m: int
    duration_s: int
    cost_minor: int
    co2_g: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Both legs; `released_s` is when each collected parcel is ready at the depot for delivery.

    `repaired` lists the unserved parcels PyVRP had placed on a route no van could drive in time
    (its search ended infeasible); empty whenever PyVRP's best was feasible.
    """

    collection: tuple[Route, ...]
    delivery: tuple[Route, ...]
    released_s: dict[str, int]
    unserved: tuple[str, ...]
    totals: Totals
    repaired: tuple[str, ...] = ()

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.collection + self.delivery
