"""Seeds webhook deliveries set-based, as the outbox statement writes them, for the webhook benchmark."""

from __future__ import annotations

import uuid
from datetime import datetime

from marketplace.repositories._base import Conn
from marketplace.repositories.job_queue import JobQueueRepository
from marketplace.repositories.outbox import DELIVER_WEBHOOK_JOB


async def seed_deliveries(conn: Conn, *, url: str, secret: str, bodies: list[str], at: datetime) -> None:
    """One organisation, one endpoint, a message per body fanned out to it, and a worker job each."""
    org = uuid.uuid4()
    endpoint = uuid.uuid4()
    await conn.execute("INSERT INTO organizations (id, name, created_at) VALUES ($1, 'Bench', $2)", org, at)
    await conn.execute(
        """
        INSERT INTO webhook_endpoints (id, organization_id, url, event_types, secret, enabled, created_at,
                                       updated_at)
        VALUES ($1, $2, $3, ARRAY['parcel.picked_up'], $4, true, $5, $5)
        """,
        endpoint,
        org,
        url,
        secret,
        at,
    )
    messages = [uuid.uuid4() for _ in bodies]
    deliveries = [uuid.uuid4() for _ in bodies]
    await conn.execute(
        """
        WITH m AS (
            INSERT INTO outbox (id, organization_id, event_type, payload, created_at)
            SELECT id, $2, 'parcel.picked_up', payload::jsonb, $3
            FROM unnest($1::uuid[], $4::text[]) AS t(id, payload)
        )
        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, organization_id, status, window_started_at,
                                        created_at)
        SELECT d, m, $5, $2, 'pending', $3, $3 FROM unnest($6::uuid[], $1::uuid[]) AS t(d, m)
        """,
        messages,
        org,
        at,
        bodies,
        endpoint,
        deliveries,
    )
    await JobQueueRepository(conn).enqueue_many(
        [DELIVER_WEBHOOK_JOB] * len(deliveries), [{"id": str(d), "attempt": 0} for d in deliveries]
    )


async def delivery_counts(conn: Conn) -> tuple[int, int]:
    """(deliveries succeeded, attempts that did not get a 200)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded') AS succeeded,
               (SELECT count(*) FROM webhook_attempts WHERE status_code IS DISTINCT FROM 200) AS bad
        """
    )
    assert row is not None
    return int(row["succeeded"]), int(row["bad"])
