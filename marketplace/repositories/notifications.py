"""Recipient notifications (written by the outbox statement) and the organisation's notices."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    """A notification this worker now owns (status `sending`), with what its message may say."""

    id: UUID
    kind: str
    channel: str
    address: str
    language: str | None
    pin: str | None
    details: dict[str, Any]
    parcel_status: str | None
    tracking_token: str | None
    recipient_name: str | None
    sender: str
    country_code: str | None
    time_zone: str | None
    window_start_at: datetime | None
    window_end_at: datetime | None
    failure_action: str | None


# One session-level advisory lock per notification, in its own namespace of keys: held by the
# worker sending it, dropped by PostgreSQL when that worker's connection dies.
_KEY = "hashtextextended('notification:' || $1::uuid::text, 0)"


class NotificationRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def try_lock(self, notification_id: UUID) -> bool:
        return bool(await self._conn.fetchval(f"SELECT pg_try_advisory_lock({_KEY})", notification_id))

    async def unlock(self, notification_id: UUID) -> None:
        await self._conn.execute(f"SELECT pg_advisory_unlock({_KEY})", notification_id)

    async def claim(self, notification_id: UUID) -> ClaimedNotification | None:
        """Takes a notification to send (`sending`): a pending one, or one whose sender died before
        handing it to the server (the caller holds its lock, so no live worker has it)."""
        row = await self._conn.fetchrow(
            """
            WITH n AS (
                UPDATE notifications SET status = 'sending', attempts = attempts + 1
                WHERE id = $1 AND status IN ('pending', 'sending')
                RETURNING *
            )
            SELECT n.id, n.kind, n.channel, n.address, n.language, n.pin, n.details::text AS details,
                   p.status AS parcel_status, p.tracking_token, j.recipient_name, o.name AS sender,
                   a.country_code, a.time_zone, j.deliver_open_from, j.deliver_open_until, j.failure_action
            FROM n JOIN organizations o ON o.id = n.organization_id
            LEFT JOIN parcels p ON p.id = n.parcel_id
            LEFT JOIN jobs j ON j.id = p.job_id
            LEFT JOIN service_areas a ON a.id = j.area_id
            """,
            notification_id,
        )
        if row is None:
            return None
        return ClaimedNotification(
            id=row["id"],
            kind=row["kind"],
            channel=row["channel"],
            address=row["address"],
            language=row["language"],
            pin=row["pin"],
            details=json.loads(row["details"]),
            parcel_status=row["parcel_status"],
            tracking_token=row["tracking_token"],
            recipient_name=row["recipient_name"],
            sender=row["sender"],
            country_code=row["country_code"],
            time_zone=row["time_zone"],
            window_start_at=row["deliver_open_from"],
            window_end_at=row["deliver_open_until"],
            failure_action=row["failure_action"],
        )

    async def status(self, notification_id: UUID) -> str | None:
        value = await self._conn.fetchval("SELECT status FROM notifications WHERE id = $1", notification_id)
        return None if value is None else str(value)

    async def handing_over(self, notification_id: UUID) -> None:
        """The server is about to receive the message (SMTP DATA, the SMS provider's call): from here on
        a sender that dies leaves it unconfirmed, never sent again."""
        await self._conn.execute(
            "UPDATE notifications SET status = 'handing_over' WHERE id = $1 AND status = 'sending'", notification_id
        )

    async def sent(self, notification_id: UUID, at: datetime) -> None:
        """Sent: the PIN it may have carried is forgotten."""
        await self._conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = $2, pin = NULL WHERE id = $1", notification_id, at
        )

    async def release(self, notification_id: UUID, error: str) -> None:
        """A send that certainly failed: pending again, for the job's retry."""
        await self._conn.execute(
            """
            UPDATE notifications SET status = 'pending', last_error = $2
            WHERE id = $1 AND status IN ('sending', 'handing_over')
            """,
            notification_id,
            error[:500],
        )

    async def unconfirmed(self, notification_id: UUID, reason: str) -> bool:
        """Handed over without an answer (the sender died, or the connection broke during the hand-over):
        it may have gone out, so it is never sent again."""
        done = await self._conn.fetchval(
            """
            UPDATE notifications SET status = 'unconfirmed', pin = NULL, last_error = $2
            WHERE id = $1 AND status = 'handing_over' RETURNING true
            """,
            notification_id,
            reason[:500],
        )
        return bool(done)

    async def tell_organization(
        self, organization_id: UUID, kind: str, details: dict[str, Any], at: datetime
    ) -> list[UUID]:
        """A notice by e-mail to every user of the organisation; the ids to send."""
        rows = await self._conn.fetch(
            """
            INSERT INTO notifications (id, parcel_id, organization_id, area_id, kind, channel, address, language,
                                       details, status, created_at)
            SELECT gen_random_uuid(), NULL, $1, NULL, $2, 'email', u.email, NULL, $3::jsonb, 'pending', $4
            FROM users u WHERE u.organization_id = $1
            RETURNING id
            """,
            organization_id,
            kind,
            json.dumps(details),
            at,
        )
        return [r["id"] for r in rows]
