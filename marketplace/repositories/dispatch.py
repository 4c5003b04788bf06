"""Parcels as dispatch sees them: locked heads for status changes, placements, expiring offers, the fleet."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.geo import Point
from marketplace.domain.offers import Offer
from marketplace.repositories._base import Conn
from marketplace.repositories.offers import _COLUMNS as OFFER_COLUMNS
from marketplace.repositories.offers import _offer as offer_of


@dataclass(frozen=True, slots=True)
class ParcelHead:
    """What a status change needs: the parcel's status and the keys its events carry."""

    id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID
    status: ParcelStatus


@dataclass(frozen=True, slots=True)
class FleetCandidate:
    head: ParcelHead
    pickup: Point
    dropoff: Point
    fallback_cost_minor: int | None
    placement_reasons: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class ManifestLine:
    parcel_id: UUID
    job_id: UUID
    reference: str | None
    organization_name: str
    pickup_name: str
    pickup_address: str
    pickup_point: Point
    dropoff_address: str
    dropoff_point: Point
    pickup_from: datetime
    pickup_until: datetime
    deliver_from: datetime
    deliver_until: datetime
    weight_g: int
    volume_cm3: int
    fallback_cost_minor: int | None
    currency: str
    handed_at: datetime
    reasons: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ParcelPlacementRow:
    parcel_id: UUID
    status: ParcelStatus
    round_id: UUID | None
    reasons: list[dict[str, Any]] | None
    fallback_cost_minor: int | None


class DispatchRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock_parcels(self, parcel_ids: Sequence[UUID]) -> dict[UUID, ParcelHead]:
        """Locks the parcels (in id order, so concurrent lockers never deadlock) and returns their heads."""
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.job_id, j.organization_id, p.area_id, p.status
            FROM parcels p JOIN jobs j ON j.id = p.job_id
            WHERE p.id = ANY($1::uuid[]) ORDER BY p.id FOR UPDATE OF p
            """,
            list(parcel_ids),
        )
        return {
            r["id"]: ParcelHead(r["id"], r["job_id"], r["organization_id"], r["area_id"], ParcelStatus(r["status"]))
            for r in rows
        }

    async def open_trip_ids(self, trip_ids: Sequence[UUID]) -> set[UUID]:
        """Of these trips, those still open with no live offer (locked, so none is offered twice)."""
        rows = await self._conn.fetch(
            """
            SELECT t.id FROM trips t WHERE t.id = ANY($1::uuid[]) AND t.status = 'open'
              AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.trip_id = t.id AND o.status IN ('open', 'accepted'))
            ORDER BY t.id FOR UPDATE OF t
            """,
            list(trip_ids),
        )
        return {r["id"] for r in rows}

    async def set_placements(
        self, round_id: UUID, offered: Sequence[UUID], unplaced: Sequence[tuple[UUID, list[dict[str, Any]], int]]
    ) -> None:
        """The round's word on each parcel: offered (no reasons), or not placed with the engine's reasons."""
        await self._conn.execute(
            """
            UPDATE parcels SET placement_round_id = $1, placement_reasons = NULL WHERE id = ANY($2::uuid[])
            """,
            round_id,
            list(offered),
        )
        if unplaced:
            await self._conn.execute(
                """
                UPDATE parcels p SET placement_round_id = $1, placement_reasons = u.reasons::jsonb,
                    fallback_cost_minor = u.cost
                FROM unnest($2::uuid[], $3::text[], $4::int8[]) AS u(id, reasons, cost)
                WHERE p.id = u.id AND p.status = 'booked'
                """,
                round_id,
                [u[0] for u in unplaced],
                [json.dumps(u[1]) for u in unplaced],
                [u[2] for u in unplaced],
            )

    async def placements(self, parcel_ids: Sequence[UUID]) -> dict[UUID, ParcelPlacementRow]:
        rows = await self._conn.fetch(
            """
            SELECT id, status, placement_round_id, placement_reasons::text AS reasons, fallback_cost_minor
            FROM parcels WHERE id = ANY($1::uuid[])
            """,
            list(parcel_ids),
        )
        return {
            r["id"]: ParcelPlacementRow(
                r["id"],
                ParcelStatus(r["status"]),
                r["placement_round_id"],
                None if r["reasons"] is None else json.loads(r["reasons"]),
                r["fallback_cost_minor"],
            )
            for r in rows
        }

    async def expired_offer_ids(self, now: datetime, limit: int) -> list[UUID]:
        """Open offers past their instant, locked and skipped by other sweepers."""
        rows = await self._conn.fetch(
            """
            SELECT id FROM offers WHERE status = 'open' AND expires_at <= $1
            ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            now,
            limit,
        )
        return [r["id"] for r in rows]

    async def close_offer(self, offer_id: UUID, status: str, reason: str | None, at: datetime) -> None:
        """The offer's decision, and its parcels no longer live in it."""
        await self._conn.execute(
            """
            UPDATE offers SET status = $2, decline_reason = $3, decided_at = $4, updated_at = $4 WHERE id = $1
            """,
            offer_id,
            status,
            reason,
            at,
        )
        await self._conn.execute("UPDATE offer_parcels SET live = FALSE WHERE offer_id = $1", offer_id)

    async def forbid(
        self, trip_id: UUID, parcel_ids: Sequence[UUID], area_id: UUID, offer_id: UUID, reason: str, at: datetime
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO forbidden_pairs (trip_id, parcel_id, area_id, offer_id, reason, created_at)
            SELECT $1, p, $3, $4, $5, $6 FROM unnest($2::uuid[]) AS p
            ON CONFLICT (trip_id, parcel_id) DO NOTHING
            """,
            trip_id,
            list(parcel_ids),
            area_id,
            offer_id,
            reason,
            at,
        )

    async def fleet_due(self, area_id: UUID, now: datetime, cutoff_s: int) -> list[FleetCandidate]:
        """Waiting parcels whose open pickup window closes within the cut-off, locked (skipping busy ones)."""
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.job_id, j.organization_id, p.area_id, p.status, j.pickup_lat, j.pickup_lng,
                   j.dropoff_lat, j.dropoff_lng, p.fallback_cost_minor, p.placement_reasons::text AS reasons
            FROM parcels p JOIN jobs j ON j.id = p.job_id
            WHERE p.area_id = $1 AND p.status = 'booked'
              AND j.pickup_open_until - make_interval(secs => $3) <= $2
            ORDER BY p.id FOR UPDATE OF p SKIP LOCKED
            """,
            area_id,
            now,
            cutoff_s,
        )
        return [
            FleetCandidate(
                head=ParcelHead(r["id"], r["job_id"], r["organization_id"], r["area_id"], ParcelStatus(r["status"])),
                pickup=Point(r["pickup_lat"], r["pickup_lng"]),
                dropoff=Point(r["dropoff_lat"], r["dropoff_lng"]),
                fallback_cost_minor=r["fallback_cost_minor"],
                placement_reasons=None if r["reasons"] is None else json.loads(r["reasons"]),
            )
            for r in rows
        ]

    async def set_fallback_costs(self, costs: Sequence[tuple[UUID, int]]) -> None:
        if costs:
            await self._conn.execute(
                """
                UPDATE parcels p SET fallback_cost_minor = c.cost
                FROM unnest($1::uuid[], $2::int8[]) AS c(id, cost) WHERE p.id = c.id
                """,
                [c[0] for c in costs],
                [c[1] for c in costs],
            )

    async def fleet_manifest(self, area_id: UUID, start: datetime, end: datetime) -> list[ManifestLine]:
        """Parcels handed to the fleet whose open pickup window opens in [start, end), with their open windows."""
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.job_id, j.reference, o.name AS organization_name, l.name AS pickup_name,
                   l.street, l.house_number, l.postal_code, l.city, l.country_code, j.pickup_lat, j.pickup_lng,
                   j.dropoff_kind, j.dropoff_street, j.dropoff_house_number, j.dropoff_postal_code, j.dropoff_city,
                   j.dropoff_country_code, k.name AS locker_name, j.dropoff_lat, j.dropoff_lng,
                   j.pickup_open_from AS pickup_from, j.pickup_open_until AS pickup_until,
                   j.deliver_open_from AS deliver_from, j.deliver_open_until AS deliver_until, p.weight_g, p.volume_cm3,
                   p.fallback_cost_minor, a.currency, p.status_changed_at, p.placement_reasons::text AS reasons
            FROM parcels p
            JOIN jobs j ON j.id = p.job_id
            JOIN organizations o ON o.id = j.organization_id
            JOIN pickup_locations l ON l.id = j.pickup_location_id
            JOIN service_areas a ON a.id = p.area_id
            LEFT JOIN lockers k ON k.id = j.dropoff_locker_id
            WHERE p.area_id = $1 AND p.status = 'handed_to_fleet'
              AND j.pickup_open_from >= $2 AND j.pickup_open_from < $3
            ORDER BY j.pickup_open_from, p.id
            """,
            area_id,
            start,
            end,
        )
        lines = []
        for r in rows:
            pickup_address = f"{r['street']} {r['house_number']}, {r['postal_code']} {r['city']}, {r['country_code']}"
            if r["dropoff_kind"] == "locker":
                dropoff_address = f"locker {r['locker_name']}"
            else:
                dropoff_address = (
                    f"{r['dropoff_street']} {r['dropoff_house_number']}, {r['dropoff_postal_code']} "
                    f"{r['dropoff_city']}, {r['dropoff_country_code']}"
                )
            lines.append(
                ManifestLine(
                    parcel_id=r["id"],
                    job_id=r["job_id"],
                    reference=r["reference"],
                    organization_name=r["organization_name"],
                    pickup_name=r["pickup_name"],
                    pickup_address=pickup_address,
                    pickup_point=Point(r["pickup_lat"], r["pickup_lng"]),
                    dropoff_address=dropoff_address,
                    dropoff_point=Point(r["dropoff_lat"], r["dropoff_lng"]),
                    pickup_from=r["pickup_from"],
                    pickup_until=r["pickup_until"],
                    deliver_from=r["deliver_from"],
                    deliver_until=r["deliver_until"],
                    weight_g=r["weight_g"],
                    volume_cm3=r["volume_cm3"],
                    fallback_cost_minor=r["fallback_cost_minor"],
                    currency=r["currency"],
                    handed_at=r["status_changed_at"],
                    reasons=[] if r["reasons"] is None else json.loads(r["reasons"]),
                )
            )
        return lines

    async def round_offers(self, round_id: UUID) -> list[Offer]:
        rows = await self._conn.fetch(
            f"SELECT {OFFER_COLUMNS} FROM offers o WHERE o.round_id = $1 ORDER BY o.created_at, o.id", round_id
        )
        return [offer_of(r) for r in rows]
