"""Matching rounds and the per-area lock that lets one round run per area across every worker."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.rounds import (
    DispatchSettings,
    MatchingRound,
    RoundResult,
    RoundStatus,
    RoundTrigger,
)
from marketplace.repositories._base import Conn, keyset_clause, page_of

_COLUMNS = (
    "id, area_id, status, trigger, requested_by_user_id, started_at, finished_at, load_ms, solve_ms, write_ms, "
    "parcels_count, trips_count, assigned_count, unassigned_count, offers_count, currency, cost_crowd_minor, "
    "cost_fallback_minor, cost_total_minor, bound_lower_minor, gap, engine_stats, error, created_at"
)
_SETTINGS = "id, currency, time_zone, active, round_interval_s, round_time_limit_s, offer_ttl_s, fleet_cutoff_s"
# The lock key: one 64-bit advisory lock per area, in its own namespace of keys.
_KEY = "hashtextextended('matching_round:' || $1::uuid::text, 0)"


def _settings(row: asyncpg.Record) -> DispatchSettings:
    return DispatchSettings(
        area_id=row["id"],
        currency=row["currency"],
        time_zone=row["time_zone"],
        active=row["active"],
        round_interval_s=row["round_interval_s"],
        round_time_limit_s=row["round_time_limit_s"],
        offer_ttl_s=row["offer_ttl_s"],
        fleet_cutoff_s=row["fleet_cutoff_s"],
    )


def _round(row: asyncpg.Record, plan: str | None = None) -> MatchingRound:
    result = None
    if row["status"] == RoundStatus.SUCCEEDED.value:
        result = RoundResult(
            load_ms=row["load_ms"],
            solve_ms=row["solve_ms"],
            write_ms=row["write_ms"],
            parcels_count=row["parcels_count"],
            trips_count=row["trips_count"],
            assigned_count=row["assigned_count"],
            unassigned_count=row["unassigned_count"],
            offers_count=row["offers_count"],
            currency=row["currency"],
            cost_crowd_minor=row["cost_crowd_minor"],
            cost_fallback_minor=row["cost_fallback_minor"],
            cost_total_minor=row["cost_total_minor"],
            bound_lower_minor=row["bound_lower_minor"],
            gap=row["gap"],
            engine_stats=json.loads(row["engine_stats"]) if row["engine_stats"] else {},
            plan=json.loads(plan) if plan else {},
        )
    return MatchingRound(
        id=row["id"],
        area_id=row["area_id"],
        status=RoundStatus(row["status"]),
        trigger=RoundTrigger(row["trigger"]),
        requested_by_user_id=row["requested_by_user_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=result,
        error=row["error"],
        created_at=row["created_at"],
    )


class RoundRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # The area's lock. Session-level, so it is held across the round's transactions and released by
    # PostgreSQL itself when the holding connection ends, however its worker died.
    async def try_lock(self, area_id: UUID) -> bool:
        return bool(await self._conn.fetchval(f"SELECT pg_try_advisory_lock({_KEY})", area_id))

    async def unlock(self, area_id: UUID) -> None:
        await self._conn.execute(f"SELECT pg_advisory_unlock({_KEY})", area_id)

    async def lock_is_free(self, area_id: UUID) -> bool:
        """Inside a transaction: True when no worker holds the area (the probe ends with the transaction)."""
        return bool(await self._conn.fetchval(f"SELECT pg_try_advisory_xact_lock({_KEY})", area_id))

    async def settings(self, area_id: UUID) -> DispatchSettings | None:
        row = await self._conn.fetchrow(f"SELECT {_SETTINGS} FROM service_areas WHERE id = $1", area_id)
        return None if row is None else _settings(row)

    async def active_areas(self) -> list[DispatchSettings]:
        rows = await self._conn.fetch(f"SELECT {_SETTINGS} FROM service_areas WHERE active ORDER BY id")
        return [_settings(r) for r in rows]

    async def last_started(self, area_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """The latest start (or request) of any round per area."""
        rows = await self._conn.fetch(
            """
            SELECT area_id, max(greatest(started_at, created_at)) AS at FROM matching_rounds
            WHERE area_id = ANY($1::uuid[]) GROUP BY area_id
            """,
            list(area_ids),
        )
        return {r["area_id"]: r["at"] for r in rows}

    async def live(self, area_id: UUID) -> MatchingRound | None:
        """The area's queued or running round, if any."""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM matching_rounds WHERE area_id = $1 AND status IN ('queued', 'running')",
            area_id,
        )
        return None if row is None else _round(row)

    async def add_queued(
        self, round_id: UUID, area_id: UUID, trigger: RoundTrigger, requested_by: UUID | None, at: datetime
    ) -> bool:
        """False when the area already has a queued or running round (the unique index says so)."""
        status = await self._conn.execute(
            """
            INSERT INTO matching_rounds (id, area_id, status, trigger, requested_by_user_id, started_at, created_at)
            VALUES ($1, $2, 'queued', $3, $4, $5, $5)
            ON CONFLICT (area_id) WHERE status IN ('queued', 'running') DO NOTHING
            """,
            round_id,
            area_id,
            trigger.value,
            requested_by,
            at,
        )
        return status.endswith(" 1")

    async def abandon_running(self, area_id: UUID, error: str, at: datetime) -> int:
        """Fails the area's running round; only call while holding the area's lock (its worker is gone)."""
        status = await self._conn.execute(
            """
            UPDATE matching_rounds SET status = 'failed', error = $2, finished_at = $3
            WHERE area_id = $1 AND status = 'running'
            """,
            area_id,
            error,
            at,
        )
        return int(status.split()[-1])

    async def claim(self, area_id: UUID, at: datetime) -> MatchingRound | None:
        """The area's queued round becomes running, started now."""
        row = await self._conn.fetchrow(
            f"""
            UPDATE matching_rounds SET status = 'running', started_at = $2
            WHERE area_id = $1 AND status = 'queued' RETURNING {_COLUMNS}
            """,
            area_id,
            at,
        )
        return None if row is None else _round(row)

    async def add_running(self, round_id: UUID, area_id: UUID, trigger: RoundTrigger, at: datetime) -> MatchingRound:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO matching_rounds (id, area_id, status, trigger, started_at, created_at)
            VALUES ($1, $2, 'running', $3, $4, $4) RETURNING {_COLUMNS}
            """,
            round_id,
            area_id,
            trigger.value,
            at,
        )
        assert row is not None
        return _round(row)

    async def succeed(self, round_id: UUID, result: RoundResult, at: datetime) -> None:
        await self._conn.execute(
            """
            UPDATE matching_rounds SET status = 'succeeded', finished_at = $2, load_ms = $3, solve_ms = $4,
                write_ms = $5, parcels_count = $6, trips_count = $7, assigned_count = $8, unassigned_count = $9,
                offers_count = $10, currency = $11, cost_crowd_minor = $12, cost_fallback_minor = $13,
                cost_total_minor = $14, bound_lower_minor = $15, gap = $16, engine_stats = $17::jsonb,
                plan = $18::jsonb
            WHERE id = $1 AND status = 'running'
            """,
            round_id,
            at,
            result.load_ms,
            result.solve_ms,
            result.write_ms,
            result.parcels_count,
            result.trips_count,
            result.assigned_count,
            result.unassigned_count,
            result.offers_count,
            result.currency,
            result.cost_crowd_minor,
            result.cost_fallback_minor,
            result.cost_total_minor,
            result.bound_lower_minor,
            result.gap,
            json.dumps(result.engine_stats, default=str),
            json.dumps(result.plan),
        )

    async def set_write_ms(self, round_id: UUID, write_ms: int) -> None:
        await self._conn.execute("UPDATE matching_rounds SET write_ms = $2 WHERE id = $1", round_id, write_ms)

    async def fail(self, round_id: UUID, error: str, at: datetime) -> None:
        await self._conn.execute(
            """
            UPDATE matching_rounds SET status = 'failed', error = $2, finished_at = $3
            WHERE id = $1 AND status IN ('queued', 'running')
            """,
            round_id,
            error[:2000],
            at,
        )

    async def get(self, round_id: UUID, *, with_plan: bool = False) -> MatchingRound | None:
        plan = ", plan::text AS plan_text" if with_plan else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS}{plan} FROM matching_rounds WHERE id = $1", round_id)
        if row is None:
            return None
        return _round(row, row["plan_text"] if with_plan else None)

    async def list(self, area_id: UUID, page: PageRequest) -> Page[MatchingRound]:
        """Newest last, like every other list: keyset over (created_at, id)."""
        clause, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM matching_rounds WHERE area_id = $1 AND {clause}
            ORDER BY created_at, id LIMIT $2
            """,
            area_id,
            page.first + 1,
            *args,
        )
        return page_of(rows, page, _round)
