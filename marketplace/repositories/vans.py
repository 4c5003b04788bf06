"""The fleet's depots and van plans (routes and stops as rows), and the parcels a van plan covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import asyncpg

from marketplace.domain.geo import Point
from marketplace.domain.vans import FleetDepot, VanPlan, VanPlanKind, VanRoute, VanStop
from marketplace.repositories._base import Conn

_DEPOT_COLUMNS = (
    "area_id, name, lat, lng, opens_s, closes_s, van_count, van_capacity_g, van_fixed_cost_minor,"
    " van_cost_per_km_minor, van_cost_per_hour_minor, van_co2_g_per_km"
)


@dataclass(frozen=True, slots=True)
class DayParcel:
    """What the van planner needs of one parcel: where, how heavy, and its open windows."""

    parcel_id: UUID
    pickup_location_id: UUID
    pickup: Point
    dropoff: Point
    weight_g: int
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime


def _depot(row: asyncpg.Record) -> FleetDepot:
    return FleetDepot(
        area_id=row["area_id"],
        name=row["name"],
        point=Point(row["lat"], row["lng"]),
        opens_s=row["opens_s"],
        closes_s=row["closes_s"],
        van_count=row["van_count"],
        van_capacity_g=row["van_capacity_g"],
        van_fixed_cost_minor=row["van_fixed_cost_minor"],
        van_cost_per_km_minor=row["van_cost_per_km_minor"],
        van_cost_per_hour_minor=row["van_cost_per_hour_minor"],
        van_co2_g_per_km=row["van_co2_g_per_km"],
    )


class VanRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def depot(self, area_id: UUID) -> FleetDepot | None:
        row = await self._conn.fetchrow(f"SELECT {_DEPOT_COLUMNS} FROM fleet_depots WHERE area_id = $1", area_id)
        return None if row is None else _depot(row)

    async def save_depot(self, d: FleetDepot, now: datetime) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO fleet_depots ({_DEPOT_COLUMNS}, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (area_id) DO UPDATE SET
                name = EXCLUDED.name, lat = EXCLUDED.lat, lng = EXCLUDED.lng, opens_s = EXCLUDED.opens_s,
                closes_s = EXCLUDED.closes_s, van_count = EXCLUDED.van_count,
                van_capacity_g = EXCLUDED.van_capacity_g, van_fixed_cost_minor = EXCLUDED.van_fixed_cost_minor,
                van_cost_per_km_minor = EXCLUDED.van_cost_per_km_minor,
                van_cost_per_hour_minor = EXCLUDED.van_cost_per_hour_minor,
                van_co2_g_per_km = EXCLUDED.van_co2_g_per_km, updated_at = EXCLUDED.updated_at
            """,
            d.area_id,
            d.name,
            d.point.lat,
            d.point.lng,
            d.opens_s,
            d.closes_s,
            d.van_count,
            d.van_capacity_g,
            d.van_fixed_cost_minor,
            d.van_cost_per_km_minor,
            d.van_cost_per_hour_minor,
            d.van_co2_g_per_km,
            now,
        )

    async def day_parcels(self, area_id: UUID, start: datetime, end: datetime, kind: VanPlanKind) -> list[DayParcel]:
        """The fleet's parcels (handed to it) or, for the baseline, every parcel not cancelled, whose
        pickup window opens in [start, end): the same day the fleet manifest lists."""
        status = "p.status = 'handed_to_fleet'" if kind is VanPlanKind.FLEET else "p.status <> 'cancelled'"
        rows = await self._conn.fetch(
            f"""
            SELECT p.id, j.pickup_location_id, j.pickup_lat, j.pickup_lng, j.dropoff_lat, j.dropoff_lng, p.weight_g,
                   j.pickup_open_from, j.pickup_open_until, j.deliver_open_from, j.deliver_open_until
            FROM parcels p JOIN jobs j ON j.id = p.job_id
            WHERE p.area_id = $1 AND {status} AND j.pickup_open_from >= $2 AND j.pickup_open_from < $3
            ORDER BY p.id
            """,
            area_id,
            start,
            end,
        )
        return [
            DayParcel(
                parcel_id=r["id"],
                pickup_location_id=r["pickup_location_id"],
                pickup=Point(r["pickup_lat"], r["pickup_lng"]),
                dropoff=Point(r["dropoff_lat"], r["dropoff_lng"]),
                weight_g=r["weight_g"],
                pickup_from=r["pickup_open_from"],
                pickup_until=r["pickup_open_until"],
                deliver_from=r["deliver_open_from"],
                deliver_until=r["deliver_open_until"],
            )
            for r in rows
        ]

    async def replace_plan(self, plan: VanPlan) -> None:
        """The area-day's plan of this kind, replacing the one before (its routes and stops go with it)."""
        await self._conn.execute(
            "DELETE FROM van_plans WHERE area_id = $1 AND local_date = $2 AND kind = $3",
            plan.area_id,
            plan.local_date,
            plan.kind.value,
        )
        await self._conn.execute(
            """
            INSERT INTO van_plans (id, area_id, local_date, kind, planned_at, parcels, unserved, routes, stops,
                                   distance_m, duration_s, cost_minor, currency, co2_g)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            """,
            plan.id,
            plan.area_id,
            plan.local_date,
            plan.kind.value,
            plan.planned_at,
            plan.parcels,
            list(plan.unserved),
            len(plan.routes),
            plan.stops,
            plan.distance_m,
            plan.duration_s,
            plan.cost_minor,
            plan.currency,
            plan.co2_g,
        )
        await self._conn.executemany(
            """
            INSERT INTO van_routes (plan_id, route_no, leg, van, depart_at, return_at, distance_m, cost_minor, co2_g)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            [
                (plan.id, r.route_no, r.leg, r.van, r.depart_at, r.return_at, r.distance_m, r.cost_minor, r.co2_g)
                for r in plan.routes
            ],
        )
        await self._conn.executemany(
            """
            INSERT INTO van_stops (plan_id, route_no, seq, parcel_id, lat, lng, arrive_at, start_at, end_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            [
                (plan.id, r.route_no, seq, s.parcel_id, s.point.lat, s.point.lng, s.arrive_at, s.start_at, s.end_at)
                for r in plan.routes
                for seq, s in enumerate(r.stops, start=1)
            ],
        )

    async def plan(self, area_id: UUID, local_date: date, kind: VanPlanKind) -> VanPlan | None:
        head = await self._conn.fetchrow(
            """
            SELECT id, area_id, local_date, kind, planned_at, parcels, unserved, stops, distance_m, duration_s,
                   cost_minor, currency, co2_g
            FROM van_plans WHERE area_id = $1 AND local_date = $2 AND kind = $3
            """,
            area_id,
            local_date,
            kind.value,
        )
        if head is None:
            return None
        routes = await self._conn.fetch(
            """
            SELECT route_no, leg, van, depart_at, return_at, distance_m, cost_minor, co2_g
            FROM van_routes WHERE plan_id = $1 ORDER BY route_no
            """,
            head["id"],
        )
        stops = await self._conn.fetch(
            """
            SELECT route_no, parcel_id, lat, lng, arrive_at, start_at, end_at
            FROM van_stops WHERE plan_id = $1 ORDER BY route_no, seq
            """,
            head["id"],
        )
        by_route: dict[int, list[VanStop]] = {}
        for s in stops:
            by_route.setdefault(s["route_no"], []).append(
                VanStop(s["parcel_id"], Point(s["lat"], s["lng"]), s["arrive_at"], s["start_at"], s["end_at"])
            )
        return VanPlan(
            id=head["id"],
            area_id=head["area_id"],
            local_date=head["local_date"],
            kind=VanPlanKind(head["kind"]),
            planned_at=head["planned_at"],
            parcels=head["parcels"],
            unserved=tuple(head["unserved"]),
            routes=tuple(
                VanRoute(
                    route_no=r["route_no"],
                    leg=r["leg"],
                    van=r["van"],
                    depart_at=r["depart_at"],
                    return_at=r["return_at"],
                    distance_m=r["distance_m"],
                    cost_minor=r["cost_minor"],
                    co2_g=r["co2_g"],
                    stops=tuple(by_route.get(r["route_no"], [])),
                )
                for r in routes
            ),
            stops=head["stops"],
            distance_m=head["distance_m"],
            duration_s=head["duration_s"],
            cost_minor=head["cost_minor"],
            currency=head["currency"],
            co2_g=head["co2_g"],
        )

    async def local_days(self, parcel_ids: list[UUID], time_zone: str) -> list[date]:
        """The local dates on which these parcels' pickup windows open: the van plans they belong to."""
        rows = await self._conn.fetch(
            """
            SELECT DISTINCT (j.pickup_open_from AT TIME ZONE $2)::date AS day
            FROM parcels p JOIN jobs j ON j.id = p.job_id WHERE p.id = ANY($1::uuid[]) ORDER BY day
            """,
            parcel_ids,
            time_zone,
        )
        return [r["day"] for r in rows]

    async def depot_areas(self) -> list[tuple[UUID, str]]:
        """(area id, time zone) of every active area with a fleet depot."""
        rows = await self._conn.fetch(
            """
            SELECT a.id, a.time_zone FROM fleet_depots d JOIN service_areas a ON a.id = d.area_id
            WHERE a.active ORDER BY a.id
            """
        )
        return [(r["id"], r["time_zone"]) for r in rows]
