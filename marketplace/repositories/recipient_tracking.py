"""The recipient's tracking page: one parcel by its token, and the drop-off changes the recipient makes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.geo import Point
from marketplace.domain.jobs import DropoffKind
from marketplace.domain.recipient_tracking import TrackedParcel
from marketplace.domain.vehicles import VehicleKind
from marketplace.repositories._base import Conn


class RecipientTrackingRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def by_token(self, token: str, *, for_update: bool = False) -> TrackedParcel | None:
        """The parcel the token names; `for_update` locks the parcel and its job (a redirect)."""
        lock = "FOR UPDATE OF p, j" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT p.id, p.job_id, j.organization_id, p.area_id, p.status, p.status_changed_at,
                   p.id_check OR p.adults_only AS id_check,
                   u.first_name, v.kind AS vehicle_kind,
                   coalesce(j.deliver_open_from, j.deliver_from) AS deliver_from,
                   coalesce(j.deliver_open_until, j.deliver_until) AS deliver_until,
                   pe.dropoff_eta_at, j.dropoff_kind, j.dropoff_locker_id, lk.name AS locker_name,
                   j.safe_place, j.safe_place_consent, j.neighbour_consent
            FROM parcels p
            JOIN jobs j ON j.id = p.job_id
            LEFT JOIN users u ON u.id = p.assigned_courier_id
            LEFT JOIN trips t ON t.id = p.assigned_trip_id
            LEFT JOIN vehicles v ON v.id = t.vehicle_id
            LEFT JOIN lockers lk ON lk.id = j.dropoff_locker_id
            LEFT JOIN parcel_etas pe ON pe.parcel_id = p.id
            WHERE p.tracking_token = $1
            {lock}
            """,
            token,
        )
        if row is None:
            return None
        return TrackedParcel(
            parcel_id=row["id"],
            job_id=row["job_id"],
            organization_id=row["organization_id"],
            area_id=row["area_id"],
            status=ParcelStatus(row["status"]),
            status_changed_at=row["status_changed_at"],
            courier_first_name=row["first_name"],
            vehicle_kind=None if row["vehicle_kind"] is None else VehicleKind(row["vehicle_kind"]),
            deliver_from=row["deliver_from"],
            deliver_until=row["deliver_until"],
            dropoff_eta_at=row["dropoff_eta_at"],
            dropoff_kind=DropoffKind(row["dropoff_kind"]),
            locker_id=row["dropoff_locker_id"],
            locker_name=row["locker_name"],
            safe_place=row["safe_place"],
            safe_place_consent=row["safe_place_consent"],
            neighbour_consent=row["neighbour_consent"],
            id_check=row["id_check"],
        )

    async def job_windows(self, job_id: UUID) -> tuple[datetime, datetime, datetime, datetime]:
        """The windows the job was booked with: pickup from/until, delivery from/until."""
        row = await self._conn.fetchrow(
            "SELECT pickup_from, pickup_until, deliver_from, deliver_until FROM jobs WHERE id = $1", job_id
        )
        assert row is not None
        return row["pickup_from"], row["pickup_until"], row["deliver_from"], row["deliver_until"]

    async def job_parcel_sizes(self, job_id: UUID) -> list[tuple[UUID, ParcelStatus, tuple[int, int, int], int]]:
        """Every parcel of the job: id, status, sorted dimensions and weight (a locker must take them all)."""
        rows = await self._conn.fetch(
            "SELECT id, status, length_mm, width_mm, height_mm, weight_g FROM parcels WHERE job_id = $1 "
            "ORDER BY position",
            job_id,
        )
        return [
            (
                r["id"],
                ParcelStatus(r["status"]),
                tuple(sorted((r["length_mm"], r["width_mm"], r["height_mm"]))),
                r["weight_g"],
            )
            for r in rows
        ]

    async def redirect_to_locker(
        self, job_id: UUID, locker_id: UUID, point: Point, deliver_open_from: datetime, deliver_open_until: datetime
    ) -> None:
        """The job's drop-off becomes the locker (what the bridge and the courier read from then on)."""
        await self._conn.execute(
            """
            UPDATE jobs SET dropoff_kind = 'locker', dropoff_locker_id = $2, dropoff_lat = $3, dropoff_lng = $4,
                            deliver_open_from = $5, deliver_open_until = $6
            WHERE id = $1
            """,
            job_id,
            locker_id,
            point.lat,
            point.lng,
            deliver_open_from,
            deliver_open_until,
        )

    async def allow_leaving(self, job_id: UUID, *, safe_place: str | None, neighbour: bool) -> None:
        """The recipient's consents: a safe place (with where it is), a neighbour; never withdrawn here."""
        await self._conn.execute(
            """
            UPDATE jobs SET safe_place = coalesce($2, safe_place),
                            safe_place_consent = safe_place_consent OR $2 IS NOT NULL,
                            neighbour_consent = neighbour_consent OR $3
            WHERE id = $1
            """,
            job_id,
            safe_place,
            neighbour,
        )
