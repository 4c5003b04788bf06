"""Operations' KPIs in GraphQL: an area's local day, and the hours of today.

Finance and operations read them. Rates are between 0 and 1 and null when there is nothing to
divide by; amounts per parcel or stop are rounded half up in minor units (README "Operations").
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from marketplace.domain import kpis
from marketplace.domain.kpis import AreaKpis, VehicleEmissions
from schema.access import query
from schema.common import Money
from schema.context import Info
from schema.finance import BOOKS
from schema.types import decode_id, global_id
from schema.vehicles import VehicleKind

KpiFigureSource = strawberry.enum(
    kpis.FigureSource,
    name="KpiFigureSource",
    description=(
        "Where the fleet's or the van-only cost, km and CO2 came from: VAN_ROUTES, the day's stored van plan "
        "summed route by route for the parcels its routes deliver, the rest at the tariff (see the *Tariff* "
        "fields); TARIFF, no plan for the day (or an hour): the tariff per parcel and the per-parcel van "
        "estimate (0.8 km, 200 g CO2)."
    ),
)


@strawberry.type(description="Failed hand-over attempts with one reason.")
class FailedAttemptsByReason:
    reason: str
    count: int
    rate: float | None = strawberry.field(description="Of all hand-over attempts in the period.")


@strawberry.type(description="The crowd's accepted offers of one vehicle kind: its detours and their CO2.")
class VehicleKindEmissions:
    kind: VehicleKind  # type: ignore[valid-type]
    offers: int
    parcels: int
    detour_m: int
    co2_g: int

    @classmethod
    def from_domain(cls, v: VehicleEmissions) -> VehicleKindEmissions:
        return cls(kind=v.kind, offers=v.offers, parcels=v.parcels, detour_m=v.detour_m, co2_g=v.co2_g)


@strawberry.type(description="An area's delivery KPIs over a period (a local day or an hour), from its history.")
class DeliveryKpis:
    area_id: strawberry.ID
    start_at: datetime
    end_at: datetime
    parcels_booked: int
    parcels_delivered: int = strawberry.field(description="Reached the door, a safe place or a locker.")
    delivered_on_time: int = strawberry.field(description="Delivered within the job's delivery window.")
    on_time_rate: float | None
    first_attempts: int
    first_attempt_successes: int
    first_attempt_success_rate: float | None
    delivery_attempts: int
    failed_attempts: int
    failed_delivery_rate: float | None
    failed_by_reason: list[FailedAttemptsByReason]
    returned: int
    handed_to_fleet: int
    crowd_parcels: int = strawberry.field(description="Picked up by couriers in the period.")
    crowd_share: float | None = strawberry.field(description="Crowd parcels over crowd and fleet parcels.")
    crowd_stops: int
    fleet_stops: int
    crowd_pay: Money
    fleet_cost: Money = strawberry.field(description="The fleet's routes and its tariff-priced parcels.")
    cost_per_parcel: Money | None = strawberry.field(
        description="Crowd pay and fleet cost over the crowd's parcels and the fleet's priced ones."
    )
    cost_per_stop: Money | None
    crowd_cost_per_parcel: Money | None
    fleet_cost_per_parcel: Money | None = strawberry.field(
        description="Fleet cost over its route-delivered and tariff-priced parcels."
    )
    crowd_cost_per_stop: Money | None
    fleet_cost_per_stop: Money | None
    fleet_source: KpiFigureSource = strawberry.field(  # type: ignore[valid-type]
        description="Where the fleet's cost, km and CO2 came from."
    )
    fleet_route_parcels: int = strawberry.field(description="Fleet parcels the day's van plan's routes deliver.")
    fleet_route_cost: Money = strawberry.field(description="The day's van routes' cost (both legs).")
    fleet_route_co2_g: int
    fleet_tariff_parcels: int = strawberry.field(
        description="Fleet parcels no van route delivers (no plan, or left unserved), at their hand-off's tariff."
    )
    fleet_tariff_cost: Money
    fleet_tariff_co2_g: int = strawberry.field(description="At the per-parcel van estimate (200 g).")
    fleet_distance_m: int
    van_only_source: KpiFigureSource = strawberry.field(  # type: ignore[valid-type]
        description="Where the van-only figures came from: the day's baseline plan, or the tariff fallback."
    )
    van_only_parcels: int = strawberry.field(
        description="The baseline plan's parcels (route-delivered and tariff-priced), or the parcels carried."
    )
    van_only_route_parcels: int = strawberry.field(description="Parcels the baseline plan's routes deliver.")
    van_only_tariff_parcels: int = strawberry.field(
        description="Parcels the baseline plan left unserved (or, without one, every parcel): at the fleet tariff."
    )
    van_only_tariff_cost: Money
    van_only_stops: int = strawberry.field(
        description="The baseline plan's store and door stops and a stop per job it left unserved, or the stops made."
    )
    van_only_cost: Money = strawberry.field(description="What the day would have cost by van alone.")
    van_only_cost_per_parcel: Money | None
    van_only_cost_per_stop: Money | None
    van_only_distance_m: int
    revenue: Money = strawberry.field(description="Platform margin and cancellation fee revenue, less refunds.")
    revenue_per_parcel: Money | None
    offers: int
    offers_accepted: int
    offer_acceptance_rate: float | None
    trips: int
    capacity_weight_used: float | None = strawberry.field(description="Share of the trips' spare weight used.")
    capacity_volume_used: float | None
    booking_to_assignment_median_s: float | None
    booking_to_assignment_p90_s: float | None
    crowd_detour_m: int = strawberry.field(description="The accepted offers' detours: what the crowd drove for us.")
    crowd_co2_g: int
    crowd_co2_g_per_km: float | None = strawberry.field(description="Per km of detour.")
    fleet_co2_g: int
    fleet_co2_g_per_km: float | None
    co2_per_parcel_g: float | None
    co2_g_per_km: float | None = strawberry.field(description="Crowd and fleet CO2 over their detour and van km.")
    van_only_co2_g: int
    van_only_co2_per_parcel_g: float | None
    van_only_co2_g_per_km: float | None
    emissions_by_vehicle: list[VehicleKindEmissions]
    locker_deposits: int
    locker_collections: int
    locker_returns: int
    locker_share: float | None = strawberry.field(description="Of the parcels delivered, those into a locker.")

    @classmethod
    def from_domain(cls, k: AreaKpis) -> DeliveryKpis:
        c = k.counts

        def m(minor: int) -> Money:
            return Money.of(minor, k.currency)

        def maybe(minor: int | None) -> Money | None:
            return None if minor is None else Money.of(minor, k.currency)

        return cls(
            area_id=global_id("ServiceArea", k.area_id),
            start_at=k.start_at,
            end_at=k.end_at,
            parcels_booked=c.booked,
            parcels_delivered=c.delivered,
            delivered_on_time=c.delivered_on_time,
            on_time_rate=k.on_time_rate,
            first_attempts=c.first_attempts,
            first_attempt_successes=c.first_attempt_successes,
            first_attempt_success_rate=k.first_attempt_success_rate,
            delivery_attempts=c.attempts,
            failed_attempts=c.failed_attempts,
            failed_delivery_rate=k.failed_delivery_rate,
            failed_by_reason=[
                FailedAttemptsByReason(reason=r.reason.upper(), count=r.count, rate=r.rate) for r in k.failed_by_reason
            ],
            returned=c.returned,
            handed_to_fleet=c.handed_to_fleet,
            crowd_parcels=c.crowd_parcels,
            crowd_share=k.crowd_share,
            crowd_stops=c.crowd_stops,
            fleet_stops=k.fleet.stops,
            crowd_pay=m(c.crowd_pay_minor),
            fleet_cost=m(k.fleet.cost_minor),
            cost_per_parcel=maybe(k.cost_per_parcel_minor),
            cost_per_stop=maybe(k.cost_per_stop_minor),
            crowd_cost_per_parcel=maybe(k.crowd_cost_per_parcel_minor),
            fleet_cost_per_parcel=maybe(k.fleet_cost_per_parcel_minor),
            crowd_cost_per_stop=maybe(k.crowd_cost_per_stop_minor),
            fleet_cost_per_stop=maybe(k.fleet_cost_per_stop_minor),
            fleet_source=k.fleet.source,
            fleet_route_parcels=k.fleet.routes.parcels,
            fleet_route_cost=m(k.fleet.routes.cost_minor),
            fleet_route_co2_g=k.fleet.routes.co2_g,
            fleet_tariff_parcels=k.fleet.tariff.parcels,
            fleet_tariff_cost=m(k.fleet.tariff.cost_minor),
            fleet_tariff_co2_g=k.fleet.tariff.co2_g,
            fleet_distance_m=k.fleet.distance_m,
            van_only_source=k.van_only.source,
            van_only_parcels=k.van_only.parcels,
            van_only_route_parcels=k.van_only.routes.parcels,
            van_only_tariff_parcels=k.van_only.tariff.parcels,
            van_only_tariff_cost=m(k.van_only.tariff.cost_minor),
            van_only_stops=k.van_only.stops,
            van_only_cost=m(k.van_only.cost_minor),
            van_only_cost_per_parcel=maybe(k.van_only_cost_per_parcel_minor),
            van_only_cost_per_stop=maybe(k.van_only.cost_per_stop_minor),
            van_only_distance_m=k.van_only.distance_m,
            revenue=m(c.revenue_minor),
            revenue_per_parcel=maybe(k.revenue_per_parcel_minor),
            offers=c.offers,
            offers_accepted=c.offers_accepted,
            offer_acceptance_rate=k.offer_acceptance_rate,
            trips=c.trips,
            capacity_weight_used=k.capacity_weight_used,
            capacity_volume_used=k.capacity_volume_used,
            booking_to_assignment_median_s=c.booking_to_assignment_median_s,
            booking_to_assignment_p90_s=c.booking_to_assignment_p90_s,
            crowd_detour_m=k.crowd_detour_m,
            crowd_co2_g=k.crowd_co2_g,
            crowd_co2_g_per_km=k.crowd_co2_g_per_km,
            fleet_co2_g=k.fleet.co2_g,
            fleet_co2_g_per_km=k.fleet.co2_g_per_km,
            co2_per_parcel_g=k.co2_per_parcel_g,
            co2_g_per_km=k.co2_g_per_km,
            van_only_co2_g=k.van_only.co2_g,
            van_only_co2_per_parcel_g=k.van_only_co2_per_parcel_g,
            van_only_co2_g_per_km=k.van_only.co2_g_per_km,
            emissions_by_vehicle=[VehicleKindEmissions.from_domain(v) for v in c.vehicles],
            locker_deposits=c.locker_deposits,
            locker_collections=c.locker_collections,
            locker_returns=c.locker_returns,
            locker_share=k.locker_share,
        )


@strawberry.type
class KpiQuery:
    @query(BOOKS, description="An area's delivery KPIs on its local `date` (README, Operations).")
    async def delivery_kpis(self, info: Info, area_id: strawberry.ID, date: date) -> DeliveryKpis | None:
        found = await info.context.services.kpis.day(
            await info.context.principal(), decode_id(area_id, "ServiceArea", field="areaId"), date
        )
        return DeliveryKpis.from_domain(found)

    @query(BOOKS, description="An area's delivery KPIs for each hour of its current local day so far.")
    async def delivery_kpis_by_hour(self, info: Info, area_id: strawberry.ID) -> list[DeliveryKpis] | None:
        found = await info.context.services.kpis.today_by_hour(
            await info.context.principal(), decode_id(area_id, "ServiceArea", field="areaId")
        )
        return [DeliveryKpis.from_domain(k) for k in found]
