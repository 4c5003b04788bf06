"""Live tracking: courier pings, each courier's latest position, parcels' ETAs, and what subscribers read.

Every row carries its area (the shard key). Pings keep one point per courier and second through a
unique index, so concurrent batches from any replica keep exactly one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from marketplace.domain.delivery import WITH_COURIER, ParcelStatus
from marketplace.domain.geo import Point
from marketplace.domain.tracking import Fix, LastPosition, StopEta, StopKind
from marketplace.domain.vehicles import VehicleKind
from marketplace.repositories._base import Conn

# The one channel every replica listens on; payloads are ids only (see marketplace/db/listener.py).
LIVE_CHANNEL = "crowdship_live"


@dataclass(frozen=True, slots=True)
class ParcelRef:
    """What an event names of a parcel it tells about without reading it for a step."""

    id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID


@dataclass(frozen=True, slots=True)
class CarriedParcel:
    """A parcel a courier carries or is heading to, with what its ETAs are computed from."""

    id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID
    status: ParcelStatus
    trip_id: UUID
    trip_status: str
    vehicle_kind: VehicleKind
    pickup: Point
    dropoff: Point
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    planned: dict[str, datetime]  # stop kind -> planned time, from the accepted offer


@dataclass(frozen=True, slots=True)
class ParcelLive:
    """What a parcel's subscribers see: status, where its courier is, and its ETAs."""

    parcel_id: UUID
    organization_id: UUID
    status: ParcelStatus
    courier_id: UUID | None
    last_seq: int
    position: Point | None
    position_at: datetime | None
    heading_deg: float | None
    pickup_eta_at: datetime | None
    dropoff_eta_at: datetime | None
    deliver_from: datetime
    deliver_until: datetime


_WITH_COURIER = [s.value for s in WITH_COURIER]


class TrackingRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def carried_by(self, courier_id: UUID) -> list[CarriedParcel]:
        """The courier's parcels between acceptance and settlement, in trip then parcel order."""
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.job_id, j.organization_id, p.area_id, p.status, p.assigned_trip_id, t.status AS trip_status,
                   v.kind, j.pickup_lat, j.pickup_lng, j.dropoff_lat, j.dropoff_lng,
                   coalesce(j.pickup_open_from, j.pickup_from) AS pickup_from,
                   coalesce(j.pickup_open_until, j.pickup_until) AS pickup_until,
                   coalesce(j.deliver_open_from, j.deliver_from) AS deliver_from,
                   coalesce(j.deliver_open_until, j.deliver_until) AS deliver_until,
                   o.stops
            FROM parcels p
            JOIN jobs j ON j.id = p.job_id
            JOIN trips t ON t.id = p.assigned_trip_id
            JOIN vehicles v ON v.id = t.vehicle_id
            LEFT JOIN offers o ON o.trip_id = p.assigned_trip_id AND o.status = 'accepted'
            WHERE p.assigned_courier_id = $1 AND p.status = ANY($2::text[])
            ORDER BY t.depart_after, t.id, p.id
            """,
            courier_id,
            _WITH_COURIER,
        )
        found = []
        for r in rows:
            planned: dict[str, datetime] = {}
            for stop in json.loads(r["stops"]) if r["stops"] else []:
                if stop["parcel_id"] == str(r["id"]):
                    planned[stop["kind"]] = datetime.fromisoformat(stop["planned_at"]).astimezone(UTC)
            found.append(
                CarriedParcel(
                    id=r["id"],
                    job_id=r["job_id"],
                    organization_id=r["organization_id"],
                    area_id=r["area_id"],
                    status=ParcelStatus(r["status"]),
                    trip_id=r["assigned_trip_id"],
                    trip_status=r["trip_status"],
                    vehicle_kind=VehicleKind(r["kind"]),
                    pickup=Point(r["pickup_lat"], r["pickup_lng"]),
                    dropoff=Point(r["dropoff_lat"], r["dropoff_lng"]),
                    pickup_from=r["pickup_from"],
                    pickup_until=r["pickup_until"],
                    deliver_from=r["deliver_from"],
                    deliver_until=r["deliver_until"],
                    planned=planned,
                )
            )
        return found

    async def lock_courier(self, courier_id: UUID) -> LastPosition | None:
        """Serialises one courier's batches (a transaction-level advisory lock), then reads the last position."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 12))", str(courier_id))
        row = await self._conn.fetchrow(
            "SELECT lat, lng, recorded_at, accuracy_m, pace_mps FROM courier_positions WHERE courier_id = $1",
            courier_id,
        )
        if row is None:
            return None
        return LastPosition(Point(row["lat"], row["lng"]), row["recorded_at"], row["accuracy_m"], row["pace_mps"])

    async def add_pings(
        self, courier_id: UUID, trip_id: UUID, area_id: UUID, fixes: Sequence[Fix], at: datetime
    ) -> set[int]:
        """Inserts the points; a second already kept for this courier keeps its first point. The seconds kept."""
        rows = await self._conn.fetch(
            """
            INSERT INTO courier_pings (courier_id, trip_id, area_id, recorded_at, recorded_s, lat, lng, accuracy_m,
                                       speed_mps, heading_deg, implausible, received_at)
            SELECT $1, $2, $3, recorded_at, recorded_s, lat, lng, accuracy_m, speed_mps, heading_deg, implausible, $11
            FROM unnest($4::timestamptz[], $5::int8[], $6::float8[], $7::float8[], $8::float4[], $9::float4[],
                        $10::float4[], $12::bool[])
                 AS t(recorded_at, recorded_s, lat, lng, accuracy_m, speed_mps, heading_deg, implausible)
            ON CONFLICT (courier_id, recorded_s) DO NOTHING
            RETURNING recorded_s
            """,
            courier_id,
            trip_id,
            area_id,
            [f.ping.recorded_at for f in fixes],
            [f.ping.second for f in fixes],
            [f.ping.position.lat for f in fixes],
            [f.ping.position.lng for f in fixes],
            [f.ping.accuracy_m for f in fixes],
            [f.ping.speed_mps for f in fixes],
            [f.ping.heading_deg for f in fixes],
            at,
            [f.implausible for f in fixes],
        )
        return {r["recorded_s"] for r in rows}

    async def record_progress(
        self,
        courier_id: UUID,
        trip_id: UUID,
        area_id: UUID,
        position: LastPosition,
        heading_deg: float | None,
        etas: Sequence[StopEta],
        at: datetime,
    ) -> None:
        """The courier's last position, each parcel's latest pickup and drop-off ETAs (a stop already passed
        keeps none), and the notice to every replica (`c <courier>`, at commit): one round trip per batch.

        The three write different rows and read none the others write, so they run as one statement's
        data-modifying CTEs (they were three statements; the ping profile in the README).
        """
        pickups = {e.stop.parcel_id: e.eta_at for e in etas if e.stop.kind is StopKind.PICKUP}
        dropoffs = {e.stop.parcel_id: e.eta_at for e in etas if e.stop.kind is StopKind.DROPOFF}
        parcel_ids = sorted(pickups.keys() | dropoffs.keys())
        await self._conn.execute(
            """
            WITH pos AS (
                INSERT INTO courier_positions (courier_id, trip_id, area_id, lat, lng, accuracy_m, heading_deg,
                                               recorded_at, pace_mps, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (courier_id) DO UPDATE SET trip_id = EXCLUDED.trip_id, area_id = EXCLUDED.area_id,
                    lat = EXCLUDED.lat, lng = EXCLUDED.lng, accuracy_m = EXCLUDED.accuracy_m,
                    heading_deg = EXCLUDED.heading_deg, recorded_at = EXCLUDED.recorded_at,
                    pace_mps = EXCLUDED.pace_mps, updated_at = EXCLUDED.updated_at
                RETURNING 1
            ), eta AS (
                INSERT INTO parcel_etas (parcel_id, trip_id, area_id, pickup_eta_at, dropoff_eta_at, updated_at)
                SELECT id, $2, $3, pickup_eta_at, dropoff_eta_at, $10
                FROM unnest($11::uuid[], $12::timestamptz[], $13::timestamptz[]) AS t(id, pickup_eta_at, dropoff_eta_at)
                ON CONFLICT (parcel_id) DO UPDATE SET trip_id = EXCLUDED.trip_id,
                    pickup_eta_at = EXCLUDED.pickup_eta_at, dropoff_eta_at = EXCLUDED.dropoff_eta_at,
                    updated_at = EXCLUDED.updated_at
                RETURNING 1
            )
            SELECT pg_notify($14, $15), (SELECT count(*) FROM pos), (SELECT count(*) FROM eta)
            """,
            courier_id,
            trip_id,
            area_id,
            position.position.lat,
            position.position.lng,
            position.accuracy_m,
            heading_deg,
            position.recorded_at,
            position.pace_mps,
            at,
            parcel_ids,
            [pickups.get(p) for p in parcel_ids],
            [dropoffs.get(p) for p in parcel_ids],
            LIVE_CHANNEL,
            f"c {courier_id}",
        )

    async def mark_running_late(self, parcel_ids: Sequence[UUID], at: datetime) -> list[UUID]:
        """Those of the parcels not yet marked late, now marked: each parcel is reported late once."""
        if not parcel_ids:
            return []
        rows = await self._conn.fetch(
            """
            UPDATE parcel_etas SET running_late_at = $2
            WHERE parcel_id = ANY($1::uuid[]) AND running_late_at IS NULL RETURNING parcel_id
            """,
            sorted(set(parcel_ids)),
            at,
        )
        return sorted(r["parcel_id"] for r in rows)

    async def mark_arriving_soon(self, parcel_ids: Sequence[UUID], at: datetime) -> list[UUID]:
        """Those of the parcels not yet told "arriving soon", now marked: each parcel is told once."""
        if not parcel_ids:
            return []
        rows = await self._conn.fetch(
            """
            UPDATE parcel_etas SET arriving_soon_at = $2
            WHERE parcel_id = ANY($1::uuid[]) AND arriving_soon_at IS NULL RETURNING parcel_id
            """,
            sorted(set(parcel_ids)),
            at,
        )
        return sorted(r["parcel_id"] for r in rows)

    async def mark_arriving_after_stop(self, done_parcel_id: UUID, at: datetime) -> list[ParcelRef]:
        """The fallback for a courier app that sends no positions: the trip's other parcels on board
        without a drop-off ETA, marked told "arriving soon" now that the stop before is done.

        The same `arriving_soon_at` mark as the live path, so either path tells a parcel once; a parcel
        whose ETA exists is left to its ETA.
        """
        rows = await self._conn.fetch(
            """
            WITH marked AS (
                INSERT INTO parcel_etas (parcel_id, trip_id, area_id, arriving_soon_at, updated_at)
                SELECT p.id, p.assigned_trip_id, p.area_id, $2, $2
                FROM parcels me
                JOIN parcels p ON p.assigned_courier_id = me.assigned_courier_id  -- its index, then the trip
                              AND p.assigned_trip_id = me.assigned_trip_id AND p.id <> me.id
                WHERE me.id = $1 AND p.status = 'picked_up'
                ORDER BY p.id
                ON CONFLICT (parcel_id) DO UPDATE SET arriving_soon_at = EXCLUDED.arriving_soon_at
                WHERE parcel_etas.arriving_soon_at IS NULL AND parcel_etas.dropoff_eta_at IS NULL
                RETURNING parcel_id
            )
            SELECT p.id, p.job_id, j.organization_id, p.area_id
            FROM marked m JOIN parcels p ON p.id = m.parcel_id JOIN jobs j ON j.id = p.job_id
            ORDER BY p.id
            """,
            done_parcel_id,
            at,
        )
        return [ParcelRef(r["id"], r["job_id"], r["organization_id"], r["area_id"]) for r in rows]

    async def notify(self, channel: str, payload: str) -> None:
        await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def alive(self) -> None:
        """A round trip: the listener's keep-alive, which finds a half-open connection."""
        await self._conn.fetchval("SELECT 1")

    async def purge_pings(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` pings recorded before the cut-off (small batches keep transactions short)."""
        result = await self._conn.execute(
            """
            DELETE FROM courier_pings WHERE id IN (
                SELECT id FROM courier_pings WHERE recorded_at < $1 ORDER BY recorded_at LIMIT $2)
            """,
            before,
            limit,
        )
        return int(result.split()[-1])

    # --- what subscribers read ------------------------------------------------------------------

    async def parcel_live(self, parcel_id: UUID) -> ParcelLive | None:
        row = await self._conn.fetchrow(
            """
            SELECT p.id, j.organization_id, p.status, p.assigned_courier_id,
                   coalesce((SELECT max(seq) FROM parcel_events e WHERE e.parcel_id = p.id), 0) AS last_seq,
                   cp.lat, cp.lng, cp.recorded_at, cp.heading_deg, pe.pickup_eta_at, pe.dropoff_eta_at,
                   coalesce(j.deliver_open_from, j.deliver_from) AS deliver_from,
                   coalesce(j.deliver_open_until, j.deliver_until) AS deliver_until
            FROM parcels p
            JOIN jobs j ON j.id = p.job_id
            LEFT JOIN courier_positions cp ON cp.courier_id = p.assigned_courier_id AND p.status = ANY($2::text[])
            LEFT JOIN parcel_etas pe ON pe.parcel_id = p.id AND p.status = ANY($2::text[])
            WHERE p.id = $1
            """,
            parcel_id,
            _WITH_COURIER,
        )
        if row is None:
            return None
        return ParcelLive(
            parcel_id=row["id"],
            organization_id=row["organization_id"],
            status=ParcelStatus(row["status"]),
            courier_id=row["assigned_courier_id"],
            last_seq=row["last_seq"],
            position=None if row["lat"] is None else Point(row["lat"], row["lng"]),
            position_at=row["recorded_at"],
            heading_deg=row["heading_deg"],
            pickup_eta_at=row["pickup_eta_at"],
            dropoff_eta_at=row["dropoff_eta_at"],
            deliver_from=row["deliver_from"],
            deliver_until=row["deliver_until"],
        )
