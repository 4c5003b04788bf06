"""Operations' KPIs counted in SQL from what happened: parcel events, offers, trips and the ledger.

Nothing here reads a counter kept on the side. Every query takes one area, a half-open UTC range and a
granularity, and groups by the period (`date_trunc` in the area's time zone) an event fell in; the
definitions are in `marketplace/domain/kpis.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from marketplace.domain.geo import EARTH_RADIUS_M, ROAD_FACTOR
from marketplace.domain.kpis import FleetFigures, Granularity, PlanTotals, Priced, VehicleEmissions
from marketplace.domain.vans import VanPlanKind
from marketplace.domain.vehicles import VehicleKind
from marketplace.repositories._base import Conn

# $1 area, $2 start, $3 end, $4 granularity, $5 the area's time zone: the period an instant falls in.
_PERIOD = "(date_trunc($4, {at} AT TIME ZONE $5) AT TIME ZONE $5)"

_ATTEMPT = "e.from_status = 'at_dropoff' AND e.to_status IN ('delivered', 'in_locker', 'failed_attempt')"

# Jobs, parcels and the booking are looked up only for the events that need them (index lookups per
# delivered, picked-up or assigned event), never joined to the whole history.
_EVENTS = f"""
WITH ev AS (
    SELECT {_PERIOD.format(at="e.occurred_at")} AS period, e.kind, e.from_status, e.to_status,
        CASE WHEN e.to_status IN ('delivered', 'in_locker') THEN (
            SELECT e.occurred_at BETWEEN j.deliver_from AND j.deliver_until FROM jobs j WHERE j.id = e.job_id
        ) END AS on_time,
        CASE WHEN {_ATTEMPT} THEN NOT EXISTS (
            SELECT 1 FROM parcel_events x WHERE x.parcel_id = e.parcel_id AND x.seq < e.seq
              AND x.from_status = 'at_dropoff' AND x.to_status IN ('delivered', 'in_locker', 'failed_attempt')
        ) END AS first_attempt,
        CASE WHEN e.to_status = 'picked_up' THEN (
            SELECT (p.assigned_trip_id, e.job_id)::text FROM parcels p WHERE p.id = e.parcel_id
        ) END AS crowd_stop,
        CASE WHEN e.to_status = 'assigned' THEN extract(epoch FROM e.occurred_at - (
            SELECT min(b.occurred_at) FROM parcel_events b WHERE b.parcel_id = e.parcel_id AND b.kind = 'booked'
        )) END AS assign_s
    FROM parcel_events e
    WHERE e.area_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
)
SELECT period,
    count(*) FILTER (WHERE kind = 'booked' AND from_status IS NULL) AS booked,
    count(*) FILTER (WHERE to_status IN ('delivered', 'in_locker')) AS delivered,
    count(*) FILTER (WHERE on_time) AS delivered_on_time,
    count(first_attempt) AS attempts,
    count(*) FILTER (WHERE first_attempt) AS first_attempts,
    count(*) FILTER (WHERE first_attempt AND to_status <> 'failed_attempt') AS first_attempt_successes,
    count(*) FILTER (WHERE to_status = 'failed_attempt') AS failed_attempts,
    count(*) FILTER (WHERE to_status = 'returned') AS returned,
    count(*) FILTER (WHERE to_status = 'handed_to_fleet') AS handed_to_fleet,
    count(*) FILTER (WHERE to_status = 'picked_up') AS crowd_parcels,
    count(DISTINCT crowd_stop) AS crowd_stops,
    count(*) FILTER (WHERE to_status = 'in_locker') AS locker_deposits,
    count(*) FILTER (WHERE to_status = 'collected') AS locker_collections,
    count(*) FILTER (WHERE to_status = 'returned' AND from_status = 'in_locker') AS locker_returns,
    count(assign_s) AS assigned,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY assign_s) AS assign_median_s,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY assign_s) AS assign_p90_s
FROM ev
GROUP BY period
"""

_FAILED_BY_REASON = f"""
SELECT {_PERIOD.format(at="e.occurred_at")} AS period, coalesce(e.reason_code, 'unknown') AS reason, count(*) AS n
FROM parcel_events e
WHERE e.area_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND e.to_status = 'failed_attempt'
GROUP BY 1, 2
"""

# Offers by area and creation (`offers_area_created_idx`, migration 0021_kpi_indexes).
_OFFERS = f"""
SELECT {_PERIOD.format(at="o.created_at")} AS period, count(*) AS offers,
       count(*) FILTER (WHERE o.status = 'accepted') AS accepted
FROM offers o
WHERE o.area_id = $1 AND o.created_at >= $2 AND o.created_at < $3
GROUP BY 1
"""

# The capacity a trip offered is its spare weight and volume; what it used, the parcels picked up on it.
# A trip spans at most a day (`MAX_TRIP_SPAN`), so its pickups are among the picked-up events within a day
# either side of the range.
_CAPACITY = f"""
WITH used AS (
    SELECT p.assigned_trip_id AS trip_id, sum(p.weight_g) AS weight_g, sum(p.volume_cm3) AS volume_cm3
    FROM parcel_events e JOIN parcels p ON p.id = e.parcel_id
    WHERE e.area_id = $1 AND e.to_status = 'picked_up'
      AND e.occurred_at >= $2::timestamptz - interval '1 day' AND e.occurred_at < $3::timestamptz + interval '1 day'
    GROUP BY 1
)
SELECT {_PERIOD.format(at="t.depart_after")} AS period, count(*) AS trips,
       sum(t.spare_weight_g)::bigint AS capacity_weight_g, sum(t.spare_volume_cm3)::bigint AS capacity_volume_cm3,
       coalesce(sum(u.weight_g), 0)::bigint AS used_weight_g, coalesce(sum(u.volume_cm3), 0)::bigint AS used_volume_cm3
FROM trips t LEFT JOIN used u ON u.trip_id = t.id
WHERE t.area_id = $1 AND t.depart_after >= $2 AND t.depart_after < $3 AND t.status <> 'cancelled'
GROUP BY 1
"""

_EMISSIONS = f"""
SELECT {_PERIOD.format(at="o.created_at")} AS period, v.kind, count(*) AS offers,
       sum((SELECT count(*) FROM offer_parcels op WHERE op.offer_id = o.id))::bigint AS parcels,
       sum(o.detour_m)::bigint AS detour_m, sum(o.co2_g)::bigint AS co2_g
FROM offers o JOIN trips t ON t.id = o.trip_id JOIN vehicles v ON v.id = t.vehicle_id
WHERE o.area_id = $1 AND o.created_at >= $2 AND o.created_at < $3 AND o.status = 'accepted'
GROUP BY 1, 2
"""

# Couriers' earnings are the credits to their payables from captures and cancellation fees; revenue the
# platform's margin and cancellation fee revenue, less refunds. Credits are negative in the ledger.
_LEDGER = f"""
SELECT {_PERIOD.format(at="l.occurred_at")} AS period,
    coalesce(-sum(l.amount_minor) FILTER (
        WHERE a.kind = 'courier_payable' AND e.kind IN ('charge_captured', 'cancellation_fee')), 0)::bigint AS pay,
    coalesce(-sum(l.amount_minor) FILTER (
        WHERE a.kind IN ('platform_revenue', 'cancellation_fee_revenue', 'refunds')), 0)::bigint AS revenue
FROM journal_lines l JOIN ledger_accounts a ON a.id = l.account_id JOIN journal_entries e ON e.id = l.entry_id
WHERE l.area_id = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3 AND l.currency = $6
GROUP BY 1
"""

# The fleet's parcels and stops, and the fallback cost where no van plan exists: the cost recorded with
# each hand-over (the area's tariff or the round's).
_FLEET = f"""
SELECT {_PERIOD.format(at="e.occurred_at")} AS period, count(*) AS parcels, count(DISTINCT e.job_id) AS stops,
       coalesce(sum((e.details ->> 'fallback_cost_minor')::bigint), 0)::bigint AS cost_minor
FROM parcel_events e
WHERE e.area_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND e.to_status = 'handed_to_fleet'
GROUP BY 1
"""

# The area-days' stored van plans, their cost, km and CO2 summed from their routes (not the plan's own
# totals: the routes are what was planned, and what the manifest shows). A plan priced in another
# currency than the area's (the area's changed since) is not a figure of this day's: the fallback stands.
_VAN_PLANS = """
SELECT p.local_date, p.kind, p.parcels, p.parcels - cardinality(p.unserved) AS served, p.stops,
       count(r.route_no) AS routes, coalesce(sum(r.distance_m), 0)::bigint AS distance_m,
       coalesce(sum(r.cost_minor), 0)::bigint AS cost_minor, coalesce(sum(r.co2_g), 0)::bigint AS co2_g
FROM van_plans p LEFT JOIN van_routes r ON r.plan_id = p.id
WHERE p.area_id = $1 AND p.local_date BETWEEN $2 AND $3 AND p.currency = $4
GROUP BY p.id
"""

# One parcel at its area's fleet tariff for its own pickup-to-drop-off distance (great circle times the
# road factor, as `FleetTariff.cost_minor`): {road} and {radius} the parameters of the road factor and the
# earth's radius; `s` the area, `j` the job.
_TARIFF = """s.fleet_base_minor + ceil(s.fleet_per_km_minor * {road}::float8 * 2 * {radius}::float8 * asin(sqrt(
           power(sin(radians(j.dropoff_lat - j.pickup_lat) / 2), 2)
           + cos(radians(j.pickup_lat)) * cos(radians(j.dropoff_lat))
             * power(sin(radians(j.dropoff_lng - j.pickup_lng) / 2), 2))) / 1000)"""

# Vans alone, the fallback without a baseline plan: every parcel the crowd or the fleet took on, at the
# area's fleet tariff.
_VAN_ONLY = f"""
SELECT {_PERIOD.format(at="e.occurred_at")} AS period,
       sum({_TARIFF.format(road="$6", radius="$7")})::bigint AS cost_minor
FROM parcel_events e JOIN jobs j ON j.id = e.job_id JOIN service_areas s ON s.id = e.area_id
WHERE e.area_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
  AND e.to_status IN ('picked_up', 'handed_to_fleet')
GROUP BY 1
"""

# A day's hand-overs its fleet plan's routes do not deliver (left unserved, or handed over after the plan
# was made), with the tariff recorded with each hand-over: priced at that, not hidden in the routes' cost.
_FLEET_UNSERVED = """
SELECT p.local_date, count(*) AS parcels,
       coalesce(sum((e.details ->> 'fallback_cost_minor')::bigint), 0)::bigint AS cost_minor
FROM parcel_events e
JOIN van_plans p ON p.area_id = e.area_id AND p.kind = 'fleet' AND p.currency = $4
 AND p.local_date = (e.occurred_at AT TIME ZONE $5)::date
WHERE e.area_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND e.to_status = 'handed_to_fleet'
  AND NOT EXISTS (
      SELECT 1 FROM van_stops v JOIN van_routes r ON r.plan_id = v.plan_id AND r.route_no = v.route_no
      WHERE v.plan_id = p.id AND v.parcel_id = e.parcel_id AND r.leg = 'delivery')
GROUP BY p.local_date
"""

# The parcels a baseline plan left unserved, each at its area's fleet tariff; one (door) stop per job.
_BASELINE_UNSERVED = f"""
SELECT p.local_date, count(*) AS parcels, count(DISTINCT j.id) AS stops,
       sum({_TARIFF.format(road="$5", radius="$6")})::bigint AS cost_minor
FROM van_plans p
CROSS JOIN LATERAL unnest(p.unserved) AS u(parcel_id)
JOIN parcels pa ON pa.id = u.parcel_id JOIN jobs j ON j.id = pa.job_id JOIN service_areas s ON s.id = p.area_id
WHERE p.area_id = $1 AND p.local_date BETWEEN $2 AND $3 AND p.kind = 'baseline' AND p.currency = $4
GROUP BY p.local_date
"""


class KpiRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def without_jit(self) -> None:
        """For the rest of this transaction only (`SET LOCAL`): compiling these plans costs more than running them.

        PostgreSQL's JIT takes about a second to compile the events query once the history is large,
        for an execution of ~100 ms; a transaction-local setting leaves nothing on the pooled connection.
        """
        await self._conn.execute("SET LOCAL jit = off")

    async def area_ids(self) -> list[UUID]:
        """Every service area, for an export of all of them."""
        return [r["id"] for r in await self._conn.fetch("SELECT id FROM service_areas ORDER BY lower(name), id")]

    def _args(self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str) -> list[object]:
        return [area_id, start, end, unit.value, zone]

    async def events(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, dict[str, object]]:
        """Counts from the parcel event history per period (see the domain's definitions)."""
        rows = await self._conn.fetch(_EVENTS, *self._args(area_id, start, end, unit, zone))
        return {r["period"]: dict(r) for r in rows}

    async def failed_by_reason(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, dict[str, int]]:
        rows = await self._conn.fetch(_FAILED_BY_REASON, *self._args(area_id, start, end, unit, zone))
        out: dict[datetime, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["period"], {})[r["reason"]] = int(r["n"])
        return out

    async def offers(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, tuple[int, int]]:
        """(offers made, of them accepted) per period of their creation."""
        rows = await self._conn.fetch(_OFFERS, *self._args(area_id, start, end, unit, zone))
        return {r["period"]: (int(r["offers"]), int(r["accepted"])) for r in rows}

    async def capacity(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, dict[str, int]]:
        """Trips departing per period: their spare weight and volume, and what parcels picked up on them used."""
        rows = await self._conn.fetch(_CAPACITY, *self._args(area_id, start, end, unit, zone))
        return {r["period"]: {k: int(v) for k, v in dict(r).items() if k != "period"} for r in rows}

    async def emissions(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, tuple[VehicleEmissions, ...]]:
        """Accepted offers per period of their creation, by vehicle kind: parcels, detour and CO2."""
        rows = await self._conn.fetch(_EMISSIONS, *self._args(area_id, start, end, unit, zone))
        out: dict[datetime, list[VehicleEmissions]] = {}
        for r in sorted(rows, key=lambda r: r["kind"]):
            out.setdefault(r["period"], []).append(
                VehicleEmissions(VehicleKind(r["kind"]), r["offers"], r["parcels"], r["detour_m"], r["co2_g"])
            )
        return {k: tuple(v) for k, v in out.items()}

    async def ledger(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str, currency: str
    ) -> dict[datetime, tuple[int, int]]:
        """(couriers' earnings, platform revenue) in minor units per period the lines occurred in."""
        rows = await self._conn.fetch(_LEDGER, *self._args(area_id, start, end, unit, zone), currency)
        return {r["period"]: (int(r["pay"]), int(r["revenue"])) for r in rows}

    async def fleet_figures(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, FleetFigures]:
        """The fleet's parcels and stops per period of hand-over, at the tariff (the labelled fallback).

        The cost is what each hand-over recorded (the round's fallback cost or the area's tariff,
        `services/fleet.py`); km and CO2 the per-parcel van estimate. Where the day has a van plan,
        the service replaces cost, km and CO2 with its routes' (`FleetFigures.with_routes`).
        """
        rows = await self._conn.fetch(_FLEET, *self._args(area_id, start, end, unit, zone))
        return {
            r["period"]: FleetFigures.at_tariff(int(r["parcels"]), int(r["stops"]), int(r["cost_minor"])) for r in rows
        }

    async def van_plans(
        self, area_id: UUID, first_day: date, last_day: date, currency: str
    ) -> dict[tuple[date, VanPlanKind], PlanTotals]:
        """The area's stored van plans (fleet and baseline) of these local days, summed from their routes."""
        rows = await self._conn.fetch(_VAN_PLANS, area_id, first_day, last_day, currency)
        return {
            (r["local_date"], VanPlanKind(r["kind"])): PlanTotals(
                parcels=int(r["parcels"]),
                served=int(r["served"]),
                stops=int(r["stops"]),
                routes=int(r["routes"]),
                distance_m=int(r["distance_m"]),
                cost_minor=int(r["cost_minor"]),
                co2_g=int(r["co2_g"]),
            )
            for r in rows
        }

    async def fleet_unserved(
        self, area_id: UUID, start: datetime, end: datetime, zone: str, currency: str
    ) -> dict[date, Priced]:
        """Per local day with a fleet plan: the day's hand-overs its routes do not deliver, at the tariff
        recorded with each (km and CO2 at the per-parcel van estimate)."""
        rows = await self._conn.fetch(_FLEET_UNSERVED, area_id, start, end, currency, zone)
        return {r["local_date"]: Priced.at_tariff(int(r["parcels"]), int(r["cost_minor"])) for r in rows}

    async def baseline_unserved(
        self, area_id: UUID, first_day: date, last_day: date, currency: str
    ) -> dict[date, tuple[Priced, int]]:
        """Per local day with a baseline plan: the parcels it left unserved at the fleet tariff, and their jobs."""
        rows = await self._conn.fetch(
            _BASELINE_UNSERVED, area_id, first_day, last_day, currency, ROAD_FACTOR, EARTH_RADIUS_M
        )
        return {
            r["local_date"]: (Priced.at_tariff(int(r["parcels"]), int(r["cost_minor"])), int(r["stops"])) for r in rows
        }

    async def van_only_cost(
        self, area_id: UUID, start: datetime, end: datetime, unit: Granularity, zone: str
    ) -> dict[datetime, int]:
        """What vans alone would have been paid at the tariff for the parcels carried per period (the
        fallback where no baseline plan exists)."""
        rows = await self._conn.fetch(
            _VAN_ONLY, *self._args(area_id, start, end, unit, zone), ROAD_FACTOR, EARTH_RADIUS_M
        )
        return {r["period"]: int(r["cost_minor"]) for r in rows}
