"""Offers and the pairs a round must never offer again. Every row carries its area (the shard key)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from marketplace.domain.money import Money
from marketplace.domain.offers import Offer, OfferStatus, OfferStop, StopKind
from marketplace.repositories._base import Conn

_COLUMNS = (
    "o.id, o.round_id, o.area_id, o.trip_id, o.courier_id, o.status, o.stops, o.detour_m, o.co2_g, o.pay_minor, "
    "o.currency, o.expires_at, o.decided_at, o.decline_reason, o.created_at, o.updated_at, "
    "ARRAY(SELECT op.parcel_id FROM offer_parcels op WHERE op.offer_id = o.id ORDER BY op.parcel_id) AS parcel_ids"
)


def _stops_json(stops: Sequence[OfferStop]) -> str:
    return json.dumps(
        [{"parcel_id": str(s.parcel_id), "kind": s.kind.value, "planned_at": s.planned_at.isoformat()} for s in stops]
    )


def _stops(text: str) -> tuple[OfferStop, ...]:
    return tuple(
        OfferStop(UUID(s["parcel_id"]), StopKind(s["kind"]), datetime.fromisoformat(s["planned_at"]).astimezone(UTC))
        for s in json.loads(text)
    )


def _offer(row: asyncpg.Record) -> Offer:
    return Offer(
        id=row["id"],
        round_id=row["round_id"],
        area_id=row["area_id"],
        trip_id=row["trip_id"],
        courier_id=row["courier_id"],
        status=OfferStatus(row["status"]),
        parcel_ids=tuple(row["parcel_ids"]),
        stops=_stops(row["stops"]),
        detour_m=row["detour_m"],
        co2_g=row["co2_g"],
        pay=Money(row["pay_minor"], row["currency"]),
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
        decline_reason=row["decline_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class OfferRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add_many(self, offers: Sequence[Offer]) -> None:
        """Two statements for any number of offers: the offers, then their parcels (live while open)."""
        if not offers:
            return
        await self._conn.execute(
            """
            INSERT INTO offers (id, round_id, area_id, trip_id, courier_id, status, stops, detour_m, co2_g,
                                pay_minor, currency, expires_at, decided_at, decline_reason, created_at, updated_at)
            SELECT id, round_id, area_id, trip_id, courier_id, status, stops::jsonb, detour_m, co2_g, pay_minor,
                   currency, expires_at, NULL, NULL, created_at, created_at
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
                        $8::int4[], $9::int4[], $10::int8[], $11::text[], $12::timestamptz[], $13::timestamptz[])
                 AS t(id, round_id, area_id, trip_id, courier_id, status, stops, detour_m, co2_g, pay_minor,
                      currency, expires_at, created_at)
            """,
            [o.id for o in offers],
            [o.round_id for o in offers],
            [o.area_id for o in offers],
            [o.trip_id for o in offers],
            [o.courier_id for o in offers],
            [o.status.value for o in offers],
            [_stops_json(o.stops) for o in offers],
            [o.detour_m for o in offers],
            [o.co2_g for o in offers],
            [o.pay.amount_minor for o in offers],
            [o.pay.currency for o in offers],
            [o.expires_at for o in offers],
            [o.created_at for o in offers],
        )
        pairs = [(o.id, p, o.area_id) for o in offers for p in o.parcel_ids]
        await self._conn.execute(
            """
            INSERT INTO offer_parcels (offer_id, parcel_id, area_id, live)
            SELECT offer_id, parcel_id, area_id, TRUE FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
                 AS t(offer_id, parcel_id, area_id)
            """,
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            [p[2] for p in pairs],
        )

    async def get(self, offer_id: UUID, *, for_update: bool = False) -> Offer | None:
        """`for_update` locks the offer row: of concurrent decisions on one offer, one runs at a time."""
        lock = " FOR UPDATE OF o" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM offers o WHERE o.id = $1{lock}", offer_id)
        return None if row is None else _offer(row)

    async def forbidden_pairs(self, area_id: UUID) -> list[tuple[UUID, UUID]]:
        """(trip, parcel) pairs of the area that a round must never offer again."""
        rows = await self._conn.fetch(
            "SELECT trip_id, parcel_id FROM forbidden_pairs WHERE area_id = $1 ORDER BY trip_id, parcel_id", area_id
        )
        return [(r["trip_id"], r["parcel_id"]) for r in rows]
