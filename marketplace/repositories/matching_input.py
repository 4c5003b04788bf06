from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from marketplace.domain.geo import Point
from marketplace.domain.hours import hours_from_json
from marketplace.domain.matching_input import OpenTrip, WaitingParcel
from marketplace.repositories._base import Conn


class MatchingInputRepository:
    """Reads across trips, vehicles, jobs and parcels for one area: one statement each."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def open_trips(self, area_id: UUID, start: datetime, end: datetime, now: datetime) -> list[OpenTrip]:
        """Open trips of the area that overlap [start, end), have not yet had to arrive and await no offer.

        A vehicle retired or shrunk since the trip was offered limits what the trip can carry now.
        """
        rows = await self._conn.fetch(
            """
            SELECT t.id, t.courier_id, t.origin_lat, t.origin_lng, t.destination_lat, t.destination_lng,
                   t.depart_after, t.arrive_by, t.max_detour_m, v.typical_speed_kmh, v.co2_g_per_km,
                   least(t.spare_weight_g, v.max_weight_g) AS spare_weight_g,
                   least(t.spare_volume_cm3, v.max_volume_cm3) AS spare_volume_cm3
            FROM trips t JOIN vehicles v ON v.id = t.vehicle_id
            WHERE t.area_id = $1 AND t.status = 'open' AND v.retired_at IS NULL
              AND t.arrive_by > $4 AND t.arrive_by > $2 AND t.depart_after < $3
              AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.trip_id = t.id AND o.status IN ('open', 'accepted'))
            ORDER BY t.id
            """,
            area_id,
            start,
            end,
            now,
        )
        return [
            OpenTrip(
                id=r["id"],
                courier_id=r["courier_id"],
                origin=Point(r["origin_lat"], r["origin_lng"]),
                destination=Point(r["destination_lat"], r["destination_lng"]),
                depart_after=r["depart_after"],
                arrive_by=r["arrive_by"],
                spare_weight_g=r["spare_weight_g"],
                spare_volume_cm3=r["spare_volume_cm3"],
                max_detour_m=r["max_detour_m"],
                speed_kmh=r["typical_speed_kmh"],
                co2_g_per_km=r["co2_g_per_km"],
            )
            for r in rows
        ]

    async def waiting_parcels(
        self, area_id: UUID, start: datetime, end: datetime, now: datetime
    ) -> list[WaitingParcel]:
        """Parcels waiting for a round (status booked: not offered, not assigned) of booked jobs, whose open
        windows overlap [start, end) and can still be met.

        Each comes with the open windows its job was booked with and the hours its store and locker keep
        now, so the bridge can hold a courier to times the places are still open.
        """
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.job_id, j.pickup_lat, j.pickup_lng, j.dropoff_lat, j.dropoff_lng,
                   j.pickup_open_from, j.pickup_open_until, j.deliver_open_from, j.deliver_open_until,
                   p.weight_g, p.volume_cm3, p.declared_value_minor, p.currency,
                   pl.opening_hours AS store_hours, lk.opening_hours AS locker_hours, a.time_zone
            FROM jobs j JOIN parcels p ON p.job_id = j.id
            JOIN pickup_locations pl ON pl.id = j.pickup_location_id
            JOIN service_areas a ON a.id = j.area_id
            LEFT JOIN lockers lk ON lk.id = j.dropoff_locker_id
            WHERE j.area_id = $1 AND j.status = 'booked' AND p.status = 'booked' AND p.assigned_trip_id IS NULL
              -- a job whose card is not (yet, or no longer) authorised is not offered to anyone
              AND NOT EXISTS (SELECT 1 FROM payments pay WHERE pay.job_id = j.id AND pay.status <> 'authorized')
              AND j.deliver_open_until > $4 AND j.deliver_open_until > $2 AND j.pickup_open_from < $3
            ORDER BY p.id
            """,
            area_id,
            start,
            end,
            now,
        )
        return [
            WaitingParcel(
                id=r["id"],
                job_id=r["job_id"],
                pickup=Point(r["pickup_lat"], r["pickup_lng"]),
                dropoff=Point(r["dropoff_lat"], r["dropoff_lng"]),
                pickup_from=r["pickup_open_from"],
                pickup_until=r["pickup_open_until"],
                deliver_from=r["deliver_open_from"],
                deliver_until=r["deliver_open_until"],
                weight_g=r["weight_g"],
                volume_cm3=r["volume_cm3"],
                declared_value_minor=r["declared_value_minor"],
                currency=r["currency"],
                store_hours=hours_from_json(json.loads(r["store_hours"])),
                locker_hours=None if r["locker_hours"] is None else hours_from_json(json.loads(r["locker_hours"])),
                time_zone=r["time_zone"],
            )
            for r in rows
        ]

    async def area_id_by_name(self, name: str) -> UUID | None:
        """Operations name areas by their city; names are unique regardless of case."""
        value = await self._conn.fetchval("SELECT id FROM service_areas WHERE lower(name) = lower($1)", name)
        return value if isinstance(value, UUID) else None
