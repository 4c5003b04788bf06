"""The background job queue (pgqueuer's tables), written through pgqueuer's own queries.

Bound to the unit of work's connection like every repository, so a job enqueued by a mutation is
committed or rolled back with it: a round is never queued for a request that wrote nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import asyncpg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries

from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    entrypoint: str
    attempts: int
    created: datetime
    updated: datetime
    payload: dict[str, Any]
    error: str | None


class JobQueueRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def _queries(self) -> Queries:
        return Queries(AsyncpgDriver(cast("asyncpg.Connection[asyncpg.Record]", self._conn)))

    async def enqueue(
        self,
        entrypoint: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        execute_after: timedelta | None = None,
    ) -> int | None:
        """The job's id, or None when a job with this dedupe key is already queued or running."""
        ids = await self._queries().enqueue(
            [entrypoint],
            [json.dumps(payload).encode()],
            [0],
            [execute_after],
            [dedupe_key],
            on_conflict="skip",
        )
        return None if ids[0] is None else int(ids[0])

    async def enqueue_many(
        self,
        entrypoints: list[str],
        payloads: list[dict[str, Any]],
        *,
        execute_after: timedelta | None = None,
        dedupe_keys: list[str] | None = None,
    ) -> None:
        """Several jobs in one statement (the outbox's deliveries and notifications, a bulk booking's
        authorisations); with `dedupe_keys`, a job whose key is already queued is skipped, not an error."""
        if not entrypoints:
            return
        queries = self._queries()
        encoded: list[bytes | None] = [json.dumps(p).encode() for p in payloads]
        priorities = [0] * len(entrypoints)
        after = [execute_after] * len(entrypoints)
        if dedupe_keys is None:
            await queries.enqueue(entrypoints, encoded, priorities, after)
        else:
            keys: list[str | None] = list(dedupe_keys)
            await queries.enqueue(entrypoints, encoded, priorities, after, keys, on_conflict="skip")

    async def failed(self, limit: int = 100) -> list[FailedJob]:
        """Jobs that failed every attempt and are held for operations, newest first, with their last error."""
        rows = await self._conn.fetch(
            """
            SELECT q.id, q.entrypoint, q.attempts, q.created, q.updated, q.payload,
                   (SELECT l.traceback::text FROM pgqueuer_log l WHERE l.job_id = q.id AND l.traceback IS NOT NULL
                    ORDER BY l.created DESC, l.id DESC LIMIT 1) AS traceback
            FROM pgqueuer q WHERE q.status = 'failed' ORDER BY q.updated DESC, q.id DESC LIMIT $1
            """,
            limit,
        )
        jobs = []
        for r in rows:
            error = None
            if r["traceback"]:
                record = json.loads(r["traceback"])
                error = f"{record.get('exception_type', '')}: {record.get('exception_message', '')}".strip(": ")
            try:
                payload = json.loads(bytes(r["payload"])) if r["payload"] else {}
            except ValueError:
                payload = {}
            jobs.append(FailedJob(r["id"], r["entrypoint"], r["attempts"], r["created"], r["updated"], payload, error))
        return jobs

    async def requeue(self, job_ids: list[int]) -> None:
        await self._queries().requeue_jobs(job_ids)  # type: ignore[arg-type]
