"""The parcel event history: appended in the transaction of the change it records, never changed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from marketplace.domain.delivery import Actor, ActorKind, ParcelEvent, ParcelStatus
from marketplace.domain.geo import Point
from marketplace.repositories._base import Conn
from marketplace.repositories.outbox import FROM_PARCEL_EVENTS, enqueue_work

_COLUMNS = (
    "id, parcel_id, job_id, organization_id, area_id, kind, from_status, to_status, actor_kind, actor_id, "
    "reason_code, lat, lng, details, occurred_at"
)


def _event(row: asyncpg.Record) -> ParcelEvent:
    lat, lng = row["lat"], row["lng"]
    return ParcelEvent(
        id=row["id"],
        parcel_id=row["parcel_id"],
        job_id=row["job_id"],
        organization_id=row["organization_id"],
        area_id=row["area_id"],
        kind=row["kind"],
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"]),
        occurred_at=row["occurred_at"],
        from_status=None if row["from_status"] is None else ParcelStatus(row["from_status"]),
        to_status=None if row["to_status"] is None else ParcelStatus(row["to_status"]),
        reason_code=row["reason_code"],
        position=None if lat is None else Point(lat, lng),
        details=json.loads(row["details"]),
    )


class ParcelEventRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def append(self, events: Sequence[ParcelEvent], *, pins: dict[UUID, str] | None = None) -> None:
        """One statement for any number of events; their order in the batch is their order in history.

        The same statement writes each event's outbox message, webhook deliveries and recipient
        notifications (`repositories/outbox.py`), so every writer of history tells the world too.
        `pins`: the PINs of parcels just booked, for their "booked" notification only.
        """
        if not events:
            return
        pins = pins or {}
        rows = await self._conn.fetch(
            f"""
            WITH ev AS (
                INSERT INTO parcel_events ({_COLUMNS})
                SELECT id, parcel_id, job_id, organization_id, area_id, kind, from_status, to_status, actor_kind,
                       actor_id, reason_code, lat, lng, details::jsonb, occurred_at
                FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[],
                            $8::text[], $9::text[], $10::uuid[], $11::text[], $12::float8[], $13::float8[],
                            $14::text[], $15::timestamptz[])
                     WITH ORDINALITY AS t(id, parcel_id, job_id, organization_id, area_id, kind, from_status,
                            to_status, actor_kind, actor_id, reason_code, lat, lng, details, occurred_at, n)
                ORDER BY n
                RETURNING seq, {_COLUMNS}
            )
            {FROM_PARCEL_EVENTS}
            """,
            [e.id for e in events],
            [e.parcel_id for e in events],
            [e.job_id for e in events],
            [e.organization_id for e in events],
            [e.area_id for e in events],
            [e.kind for e in events],
            [None if e.from_status is None else e.from_status.value for e in events],
            [None if e.to_status is None else e.to_status.value for e in events],
            [e.actor.kind.value for e in events],
            [e.actor.id for e in events],
            [e.reason_code for e in events],
            [None if e.position is None else e.position.lat for e in events],
            [None if e.position is None else e.position.lng for e in events],
            [json.dumps(e.details, sort_keys=True) for e in events],
            [e.occurred_at for e in events],
            list(pins),
            list(pins.values()),
        )
        await enqueue_work(self._conn, rows)

    async def for_parcels(self, parcel_ids: Sequence[UUID]) -> list[ParcelEvent]:
        """The history of these parcels, oldest first (the order they were written in)."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM parcel_events WHERE parcel_id = ANY($1::uuid[]) ORDER BY seq",
            list(parcel_ids),
        )
        return [_event(r) for r in rows]

    async def for_job(self, job_id: UUID) -> list[ParcelEvent]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM parcel_events WHERE job_id = $1 ORDER BY seq",
            job_id,
        )
        return [_event(r) for r in rows]

    async def since(
        self,
        after_seq: int,
        *,
        organization_id: UUID | None = None,
        parcel_id: UUID | None = None,
        seqs: Sequence[int] | None = None,
        limit: int = 500,
    ) -> list[tuple[int, ParcelEvent]]:
        """Events after a sequence number (or exactly `seqs`), oldest first, of one organisation or parcel.

        What live subscribers read: a NOTIFY names the sequence numbers; a subscriber that reconnects
        reads what it missed from the number it saw last.
        """
        rows = await self._conn.fetch(
            f"""
            SELECT seq, {_COLUMNS} FROM parcel_events
            WHERE seq > $1 AND ($2::uuid IS NULL OR organization_id = $2) AND ($3::uuid IS NULL OR parcel_id = $3)
              AND ($4::int8[] IS NULL OR seq = ANY($4::int8[]))
            ORDER BY seq LIMIT $5
            """,
            after_seq,
            organization_id,
            parcel_id,
            None if seqs is None else list(seqs),
            limit,
        )
        return [(r["seq"], _event(r)) for r in rows]

    async def latest_seq(self, organization_id: UUID) -> int:
        """The newest sequence number of the organisation's events (0 before any): where a live feed starts."""
        value = await self._conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM parcel_events WHERE organization_id = $1", organization_id
        )
        return int(value)
