from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import asyncpg

from marketplace.domain.geo import Point
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.trips import Commute, Transition, Trip, TripStatus, Waypoint
from marketplace.repositories._base import Conn, keyset_clause, page_of

_TRIP_COLUMNS = (
    "id, courier_id, vehicle_id, area_id, origin_lat, origin_lng, origin_label, destination_lat, destination_lng,"
    " destination_label, depart_after, arrive_by, spare_weight_g, spare_volume_cm3, max_detour_m, status,"
    " template_id, template_date, created_at, updated_at"
)

_COMMUTE_COLUMNS = (
    "id, courier_id, vehicle_id, origin_lat, origin_lng, origin_label, destination_lat, destination_lng,"
    " destination_label, weekdays, depart_local, arrive_local, time_zone, spare_weight_g, spare_volume_cm3,"
    " max_detour_m, active, created_at, updated_at"
)


def _effective_status(now: str) -> str:
    """The status readers see at the instant in parameter `now`: an open trip past its latest arrival is
    expired before any sweep marks it (domain.trips.effective_status, in SQL)."""
    return f"CASE WHEN status = 'open' AND arrive_by <= {now} THEN 'expired' ELSE status END"


def _waypoints(row: asyncpg.Record) -> tuple[Waypoint, Waypoint]:
    return (
        Waypoint(Point(row["origin_lat"], row["origin_lng"]), row["origin_label"]),
        Waypoint(Point(row["destination_lat"], row["destination_lng"]), row["destination_label"]),
    )


def _trip(row: asyncpg.Record) -> Trip:
    origin, destination = _waypoints(row)
    return Trip(
        id=row["id"],
        courier_id=row["courier_id"],
        vehicle_id=row["vehicle_id"],
        area_id=row["area_id"],
        origin=origin,
        destination=destination,
        depart_after=row["depart_after"],
        arrive_by=row["arrive_by"],
        spare_weight_g=row["spare_weight_g"],
        spare_volume_cm3=row["spare_volume_cm3"],
        max_detour_m=row["max_detour_m"],
        status=TripStatus(row["status"]),
        template_id=row["template_id"],
        template_date=row["template_date"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _commute(row: asyncpg.Record) -> Commute:
    origin, destination = _waypoints(row)
    return Commute(
        id=row["id"],
        courier_id=row["courier_id"],
        vehicle_id=row["vehicle_id"],
        origin=origin,
        destination=destination,
        weekdays=tuple(row["weekdays"]),
        depart_local=row["depart_local"],
        arrive_local=row["arrive_local"],
        time_zone=row["time_zone"],
        spare_weight_g=row["spare_weight_g"],
        spare_volume_cm3=row["spare_volume_cm3"],
        max_detour_m=row["max_detour_m"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True, slots=True)
class CommuteTrip:
    """One trip a commute should have: the rest of its row is copied from the template when inserted."""

    id: UUID
    template_id: UUID
    template_date: date
    area_id: UUID
    depart_after: datetime
    arrive_by: datetime


class TripRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, trip: Trip) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO trips ({_TRIP_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
            """,
            trip.id,
            trip.courier_id,
            trip.vehicle_id,
            trip.area_id,
            trip.origin.point.lat,
            trip.origin.point.lng,
            trip.origin.label,
            trip.destination.point.lat,
            trip.destination.point.lng,
            trip.destination.label,
            trip.depart_after,
            trip.arrive_by,
            trip.spare_weight_g,
            trip.spare_volume_cm3,
            trip.max_detour_m,
            trip.status.value,
            trip.template_id,
            trip.template_date,
            trip.created_at,
            trip.updated_at,
        )

    async def get(self, trip_id: UUID, courier_id: UUID | None, *, for_update: bool = False) -> Trip | None:
        """Scoped to the courier unless None (admins): another courier's trip is 'not found'."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_TRIP_COLUMNS} FROM trips WHERE id = $1 AND ($2::uuid IS NULL OR courier_id = $2){lock}",
            trip_id,
            courier_id,
        )
        return None if row is None else _trip(row)

    async def save_terms(self, trip: Trip) -> None:
        """Writes what a courier may edit; the status is left alone (it changes only through `apply`)."""
        await self._conn.execute(
            """
            UPDATE trips SET
                vehicle_id = $2, area_id = $3, origin_lat = $4, origin_lng = $5, origin_label = $6,
                destination_lat = $7, destination_lng = $8, destination_label = $9, depart_after = $10,
                arrive_by = $11, spare_weight_g = $12, spare_volume_cm3 = $13, max_detour_m = $14, updated_at = $15
            WHERE id = $1
            """,
            trip.id,
            trip.vehicle_id,
            trip.area_id,
            trip.origin.point.lat,
            trip.origin.point.lng,
            trip.origin.label,
            trip.destination.point.lat,
            trip.destination.point.lng,
            trip.destination.label,
            trip.depart_after,
            trip.arrive_by,
            trip.spare_weight_g,
            trip.spare_volume_cm3,
            trip.max_detour_m,
            trip.updated_at,
        )

    async def apply(self, trip_id: UUID, change: Transition, at: datetime) -> Trip | None:
        """Moves one trip along an allowed transition; None when, at `at`, it is not in the source status.

        An open trip past its latest arrival counts as expired here too, so nothing matches or
        cancels a trip that readers already see as expired.
        """
        row = await self._conn.fetchrow(
            f"""
            UPDATE trips SET status = $3, updated_at = $4
            WHERE id = $1 AND {_effective_status("$4")} = $2
            RETURNING {_TRIP_COLUMNS}
            """,
            trip_id,
            change.source.value,
            change.target.value,
            at,
        )
        return None if row is None else _trip(row)

    async def apply_to_vehicle(self, vehicle_id: UUID, change: Transition, at: datetime) -> int:
        """Moves every trip of the vehicle that is, at `at`, in the source status; one statement."""
        status = await self._conn.execute(
            f"""
            UPDATE trips SET status = $3, updated_at = $4
            WHERE vehicle_id = $1 AND {_effective_status("$4")} = $2
            """,
            vehicle_id,
            change.source.value,
            change.target.value,
            at,
        )
        return int(status.split()[-1])

    async def vehicle_has_trips_under_way(self, vehicle_id: UUID) -> bool:
        """Matched or in progress: parcels are (about to be) on board."""
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM trips WHERE vehicle_id = $1 AND status IN ('matched', 'in_progress'))",
            vehicle_id,
        )
        return bool(found)

    async def apply_overdue(self, change: Transition, now: datetime) -> int:
        """Moves every trip in the source status whose latest arrival has been reached, in one statement."""
        status = await self._conn.execute(
            "UPDATE trips SET status = $2, updated_at = $3 WHERE status = $1 AND arrive_by <= $3",
            change.source.value,
            change.target.value,
            now,
        )
        return int(status.split()[-1])

    async def list_page(
        self,
        page: PageRequest,
        *,
        now: datetime,
        courier_id: UUID | None,
        status: TripStatus | None = None,
        depart_from: datetime | None = None,
        depart_until: datetime | None = None,
        area_id: UUID | None = None,
    ) -> Page[Trip]:
        """Filters on the status readers see at `now`, and on departure in [depart_from, depart_until)."""
        where, args = keyset_clause(page, 8)
        rows = await self._conn.fetch(
            f"""
            SELECT {_TRIP_COLUMNS} FROM trips
            WHERE ($3::uuid IS NULL OR courier_id = $3)
              AND ($4::text IS NULL OR {_effective_status("$2")} = $4)
              AND ($5::timestamptz IS NULL OR depart_after >= $5)
              AND ($6::timestamptz IS NULL OR depart_after < $6)
              AND ($7::uuid IS NULL OR area_id = $7)
              AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            now,
            courier_id,
            None if status is None else status.value,
            depart_from,
            depart_until,
            area_id,
            *args,
        )
        return page_of(rows, page, _trip)

    async def add_for_commutes(self, wanted: Sequence[CommuteTrip], status: TripStatus, now: datetime) -> int:
        """One set-based insert of commute trips; a day a template already has (even cancelled) is left alone.

        Templates deactivated and vehicles retired since the caller read them create nothing, and the
        spare capacity is capped at what the vehicle carries today.
        """
        if not wanted:
            return 0
        count = await self._conn.fetchval(
            """
            WITH wanted AS (
                SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::uuid[], $5::timestamptz[],
                                     $6::timestamptz[]) AS w(id, template_id, template_date, area_id, depart_after,
                                                             arrive_by)
            ), inserted AS (
                INSERT INTO trips (
                    id, courier_id, vehicle_id, area_id, origin_lat, origin_lng, origin_label, destination_lat,
                    destination_lng, destination_label, depart_after, arrive_by, spare_weight_g, spare_volume_cm3,
                    max_detour_m, status, template_id, template_date, created_at, updated_at
                )
                SELECT w.id, t.courier_id, t.vehicle_id, w.area_id, t.origin_lat, t.origin_lng, t.origin_label,
                       t.destination_lat, t.destination_lng, t.destination_label, w.depart_after, w.arrive_by,
                       least(t.spare_weight_g, v.max_weight_g), least(t.spare_volume_cm3, v.max_volume_cm3),
                       t.max_detour_m, $7, t.id, w.template_date, $8, $8
                FROM wanted w
                JOIN commute_templates t ON t.id = w.template_id AND t.active
                JOIN vehicles v ON v.id = t.vehicle_id AND v.retired_at IS NULL
                ORDER BY w.template_id, w.template_date
                ON CONFLICT (template_id, template_date) DO NOTHING
                RETURNING 1
            )
            SELECT count(*) FROM inserted
            """,
            [w.id for w in wanted],
            [w.template_id for w in wanted],
            [w.template_date for w in wanted],
            [w.area_id for w in wanted],
            [w.depart_after for w in wanted],
            [w.arrive_by for w in wanted],
            status.value,
            now,
        )
        return int(count)


class CommuteRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def save(self, commute: Commute) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO commute_templates ({_COMMUTE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
            ON CONFLICT (id) DO UPDATE SET
                vehicle_id = EXCLUDED.vehicle_id, origin_lat = EXCLUDED.origin_lat,
                origin_lng = EXCLUDED.origin_lng, origin_label = EXCLUDED.origin_label,
                destination_lat = EXCLUDED.destination_lat, destination_lng = EXCLUDED.destination_lng,
                destination_label = EXCLUDED.destination_label, weekdays = EXCLUDED.weekdays,
                depart_local = EXCLUDED.depart_local, arrive_local = EXCLUDED.arrive_local,
                time_zone = EXCLUDED.time_zone, spare_weight_g = EXCLUDED.spare_weight_g,
                spare_volume_cm3 = EXCLUDED.spare_volume_cm3, max_detour_m = EXCLUDED.max_detour_m,
                active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
            """,
            commute.id,
            commute.courier_id,
            commute.vehicle_id,
            commute.origin.point.lat,
            commute.origin.point.lng,
            commute.origin.label,
            commute.destination.point.lat,
            commute.destination.point.lng,
            commute.destination.label,
            list(commute.weekdays),
            commute.depart_local,
            commute.arrive_local,
            commute.time_zone,
            commute.spare_weight_g,
            commute.spare_volume_cm3,
            commute.max_detour_m,
            commute.active,
            commute.created_at,
            commute.updated_at,
        )

    async def get(self, commute_id: UUID, courier_id: UUID | None, *, for_update: bool = False) -> Commute | None:
        """Scoped to the courier unless None (admins): another courier's commute is 'not found'."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT {_COMMUTE_COLUMNS} FROM commute_templates
            WHERE id = $1 AND ($2::uuid IS NULL OR courier_id = $2){lock}
            """,
            commute_id,
            courier_id,
        )
        return None if row is None else _commute(row)

    async def get_many_owned(self, keys: Sequence[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], Commute]:
        """By (commute id, courier id): a commute is found only under the courier who owns it."""
        unique = list(set(keys))
        rows = await self._conn.fetch(
            f"""
            SELECT {_COMMUTE_COLUMNS} FROM commute_templates
            WHERE (id, courier_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
            """,
            [k[0] for k in unique],
            [k[1] for k in unique],
        )
        return {(r["id"], r["courier_id"]): _commute(r) for r in rows}

    async def list_page(self, page: PageRequest, *, courier_id: UUID | None) -> Page[Commute]:
        where, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COMMUTE_COLUMNS} FROM commute_templates
            WHERE ($2::uuid IS NULL OR courier_id = $2) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            courier_id,
            *args,
        )
        return page_of(rows, page, _commute)

    async def active_page(
        self, page: PageRequest, *, courier_id: UUID | None, commute_id: UUID | None = None
    ) -> Page[Commute]:
        """Active templates in (created_at, id) order, optionally one courier's or one template."""
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COMMUTE_COLUMNS} FROM commute_templates
            WHERE active AND ($2::uuid IS NULL OR courier_id = $2) AND ($3::uuid IS NULL OR id = $3) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            courier_id,
            commute_id,
            *args,
        )
        return page_of(rows, page, _commute)
