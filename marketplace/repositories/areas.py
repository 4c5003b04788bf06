from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from marketplace.domain.areas import AreaDispatch, ServiceArea
from marketplace.domain.geo import Point, Polygon
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, Row, keyset_clause, page_of

_COLUMNS = (
    "id, name, country_code, currency, time_zone, polygon, active, fleet_base_minor, fleet_per_km_minor,"
    " created_at, updated_at, round_interval_s, round_time_limit_s, offer_ttl_s, fleet_cutoff_s"
)


def _area(row: Row) -> ServiceArea:
    return ServiceArea(
        id=row["id"],
        name=row["name"],
        country_code=row["country_code"],
        currency=row["currency"],
        time_zone=row["time_zone"],
        polygon=Polygon(tuple(Point(lat, lng) for lat, lng in json.loads(row["polygon"]))),
        active=row["active"],
        fleet_base_minor=row["fleet_base_minor"],
        fleet_per_km_minor=row["fleet_per_km_minor"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        dispatch=AreaDispatch(
            round_interval_s=row["round_interval_s"],
            round_time_limit_s=row["round_time_limit_s"],
            offer_ttl_s=row["offer_ttl_s"],
            fleet_cutoff_s=row["fleet_cutoff_s"],
        ),
    )


class ServiceAreaRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def save(self, area: ServiceArea) -> bool:
        """Inserts or updates; False when another area already has the name (compared case-blind).

        The write runs in a savepoint, so a taken name leaves the caller's transaction usable.
        """
        bbox = area.polygon.bbox
        polygon = json.dumps([[v.lat, v.lng] for v in area.polygon.vertices])
        try:
            async with self._conn.transaction():
                await self._conn.execute(
                    f"""
                    INSERT INTO service_areas ({_COLUMNS}, min_lat, min_lng, max_lat, max_lng)
                    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $16, $17, $18, $19,
                            $12, $13, $14, $15)
                    ON CONFLICT (id) DO UPDATE SET
                        name = EXCLUDED.name, country_code = EXCLUDED.country_code, currency = EXCLUDED.currency,
                        time_zone = EXCLUDED.time_zone, polygon = EXCLUDED.polygon, active = EXCLUDED.active,
                        fleet_base_minor = EXCLUDED.fleet_base_minor, fleet_per_km_minor = EXCLUDED.fleet_per_km_minor,
                        updated_at = EXCLUDED.updated_at, min_lat = EXCLUDED.min_lat, min_lng = EXCLUDED.min_lng,
                        max_lat = EXCLUDED.max_lat, max_lng = EXCLUDED.max_lng,
                        round_interval_s = EXCLUDED.round_interval_s, round_time_limit_s = EXCLUDED.round_time_limit_s,
                        offer_ttl_s = EXCLUDED.offer_ttl_s, fleet_cutoff_s = EXCLUDED.fleet_cutoff_s
                    """,
                    area.id,
                    area.name,
                    area.country_code,
                    area.currency,
                    area.time_zone,
                    polygon,
                    area.active,
                    area.fleet_base_minor,
                    area.fleet_per_km_minor,
                    area.created_at,
                    area.updated_at,
                    bbox.min_lat,
                    bbox.min_lng,
                    bbox.max_lat,
                    bbox.max_lng,
                    area.dispatch.round_interval_s,
                    area.dispatch.round_time_limit_s,
                    area.dispatch.offer_ttl_s,
                    area.dispatch.fleet_cutoff_s,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "service_areas_name_key":
                raise
            return False
        return True

    async def get(self, area_id: UUID, *, for_update: bool = False, for_share: bool = False) -> ServiceArea | None:
        """`for_share` lets places be added side by side while an edit of the area (`for_update`) waits."""
        lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM service_areas WHERE id = $1{lock}", area_id)
        return None if row is None else _area(row)

    async def get_many(self, ids: Sequence[UUID], *, for_share: bool = False) -> dict[UUID, ServiceArea]:
        lock = " FOR SHARE" if for_share else ""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM service_areas WHERE id = ANY($1::uuid[]){lock}", list(set(ids))
        )
        return {r["id"]: _area(r) for r in rows}

    async def has_places(self, area_id: UUID) -> bool:
        """Whether any pickup location or locker, archived or not, was registered in the area."""
        found = await self._conn.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM pickup_locations WHERE area_id = $1)
                OR EXISTS (SELECT 1 FROM lockers WHERE area_id = $1)
            """,
            area_id,
        )
        return bool(found)

    async def has_business(self, area_id: UUID) -> bool:
        """Whether anything was ever priced or offered in the area: places, trips, quotes or jobs."""
        found = await self._conn.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM pickup_locations WHERE area_id = $1)
                OR EXISTS (SELECT 1 FROM lockers WHERE area_id = $1)
                OR EXISTS (SELECT 1 FROM trips WHERE area_id = $1)
                OR EXISTS (SELECT 1 FROM quotes WHERE area_id = $1)
                OR EXISTS (SELECT 1 FROM jobs WHERE area_id = $1)
            """,
            area_id,
        )
        return bool(found)

    async def places_in_use(self, area_id: UUID) -> list[Point]:
        """Points of the area's unarchived pickup locations and active lockers."""
        rows = await self._conn.fetch(
            """
            SELECT lat, lng FROM pickup_locations WHERE area_id = $1 AND archived_at IS NULL
            UNION ALL
            SELECT lat, lng FROM lockers WHERE area_id = $1 AND active
            """,
            area_id,
        )
        return [Point(r["lat"], r["lng"]) for r in rows]

    async def containing(self, points: list[Point], *, for_share: bool = False) -> list[ServiceArea]:
        """Active areas whose bounding box holds any of the points: one query, exact test in Python.

        `for_share` makes a booking wait for an edit of an area in flight (pausing it, say) and then
        read what it wrote: an area paused meanwhile is no longer among the results.
        """
        if not points:
            return []
        lock = "FOR SHARE OF a" if for_share else ""
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM service_areas a
            WHERE active AND EXISTS (
                SELECT 1 FROM unnest($1::float8[], $2::float8[]) AS p(lat, lng)
                WHERE p.lat BETWEEN a.min_lat AND a.max_lat AND p.lng BETWEEN a.min_lng AND a.max_lng
            )
            {lock}
            """,
            [p.lat for p in points],
            [p.lng for p in points],
        )
        return [_area(r) for r in rows]

    async def list_page(self, page: PageRequest, *, active: bool | None = None) -> Page[ServiceArea]:
        where, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM service_areas
            WHERE ($2::boolean IS NULL OR active = $2) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            active,
            *args,
        )
        return page_of(rows, page, _area)
