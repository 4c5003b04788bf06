"""The service's own health figures for `/metrics`, read from the database at scrape time.

Whatever process is scraped, these are the whole deployment's: rounds are rows, the job queue is
pgqueuer's table, the webhook backlog is the deliveries not yet done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class RoundHealth:
    """An area's newest finished round and the start of the one before it."""

    area: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    load_ms: int | None
    solve_ms: int | None
    write_ms: int | None
    previous_started_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    entrypoint: str
    status: str
    jobs: int
    oldest_created_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookBacklog:
    pending: int
    oldest_pending_at: datetime | None
    failed: int
    notifications_pending: int


@dataclass(frozen=True, slots=True)
class VanPlanHealth:
    """An area's newest stored van plan of one kind (by local date): when it was planned, what it left out."""

    area: str
    kind: str
    local_date: date
    planned_at: datetime
    parcels: int
    unserved: int


class ServiceHealthRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def latest_rounds(self) -> list[RoundHealth]:
        """Per area: its newest round that finished, and when the round before that one started."""
        rows = await self._conn.fetch(
            """
            SELECT s.name AS area, r.status, r.started_at, r.finished_at, r.load_ms, r.solve_ms, r.write_ms,
                   (SELECT max(p.started_at) FROM matching_rounds p
                    WHERE p.area_id = r.area_id AND p.started_at < r.started_at) AS previous_started_at
            FROM service_areas s
            JOIN LATERAL (
                SELECT * FROM matching_rounds m
                WHERE m.area_id = s.id AND m.status IN ('succeeded', 'failed')
                ORDER BY m.started_at DESC LIMIT 1
            ) r ON TRUE
            ORDER BY s.name
            """
        )
        return [RoundHealth(**dict(r)) for r in rows]

    async def queue_depth(self) -> list[QueueDepth]:
        """pgqueuer's jobs by entrypoint and status (queued, picked, failed; finished ones leave the table)."""
        rows = await self._conn.fetch(
            "SELECT entrypoint, status::text AS status, count(*) AS jobs, min(created) AS oldest_created_at"
            " FROM pgqueuer GROUP BY entrypoint, status ORDER BY entrypoint, status"
        )
        return [QueueDepth(r["entrypoint"], r["status"], int(r["jobs"]), r["oldest_created_at"]) for r in rows]

    async def webhook_backlog(self) -> WebhookBacklog:
        row = await self._conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS pending,
                   (SELECT min(created_at) FROM webhook_deliveries WHERE status = 'pending') AS oldest_pending_at,
                   (SELECT count(*) FROM webhook_deliveries WHERE status = 'failed') AS failed,
                   (SELECT count(*) FROM notifications n WHERE n.status = 'pending') AS notifications_pending
            """
        )
        assert row is not None
        return WebhookBacklog(
            int(row["pending"]), row["oldest_pending_at"], int(row["failed"]), int(row["notifications_pending"])
        )

    async def latest_van_plans(self) -> list[VanPlanHealth]:
        """Per area and kind (fleet, baseline): the plan of its latest local date."""
        rows = await self._conn.fetch(
            """
            SELECT DISTINCT ON (p.area_id, p.kind) s.name AS area, p.kind, p.local_date, p.planned_at, p.parcels,
                   cardinality(p.unserved) AS unserved
            FROM van_plans p JOIN service_areas s ON s.id = p.area_id
            ORDER BY p.area_id, p.kind, p.local_date DESC
            """
        )
        return [VanPlanHealth(**dict(r)) for r in rows]
