"""Webhook endpoints, their deliveries and the attempts of each (the delivery log)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.webhooks import TEST_EVENT, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from marketplace.repositories._base import Conn, keyset_clause, page_of

_ENDPOINT = (
    "id, organization_id, url, description, event_types, enabled, disabled_reason, failing_since, "
    "previous_secret_until, created_at, updated_at"
)


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        organization_id=row["organization_id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(row["event_types"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        previous_secret_until=row["previous_secret_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_DELIVERY = (
    "d.id, d.endpoint_id, d.message_id, m.event_type, d.status, d.attempts, d.created_at, d.last_attempt_at, "
    "d.completed_at, m.payload::text AS payload"
)


def _delivery(row: asyncpg.Record) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        message_id=row["message_id"],
        event_type=row["event_type"],
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        completed_at=row["completed_at"],
        payload=row["payload"],
    )


@dataclass(frozen=True, slots=True)
class DeliveryToSend:
    """Everything one attempt needs, read in one statement."""

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    secrets: tuple[str, ...]  # the current secret, then the previous one while its overlap lasts
    window_started_at: datetime


class WebhookRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # Endpoints

    async def add_endpoint(self, endpoint: WebhookEndpoint, secret: str) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO webhook_endpoints ({_ENDPOINT}, secret)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """,
            endpoint.id,
            endpoint.organization_id,
            endpoint.url,
            endpoint.description,
            list(endpoint.event_types),
            endpoint.enabled,
            endpoint.disabled_reason,
            endpoint.failing_since,
            endpoint.previous_secret_until,
            endpoint.created_at,
            endpoint.updated_at,
            secret,
        )

    async def count_for_organization(self, organization_id: UUID) -> int:
        return int(
            await self._conn.fetchval(
                "SELECT count(*) FROM webhook_endpoints WHERE organization_id = $1", organization_id
            )
        )

    async def get_endpoint(
        self, endpoint_id: UUID, organization_id: UUID | None, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        """An endpoint of this organisation (None: any organisation's, for operations)."""
        row = await self._conn.fetchrow(
            f"""
            SELECT {_ENDPOINT} FROM webhook_endpoints
            WHERE id = $1 AND ($2::uuid IS NULL OR organization_id = $2) {"FOR UPDATE" if for_update else ""}
            """,
            endpoint_id,
            organization_id,
        )
        return None if row is None else _endpoint(row)

    async def list_endpoints(self, organization_id: UUID | None, page: PageRequest) -> Page[WebhookEndpoint]:
        where, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_ENDPOINT} FROM webhook_endpoints
            WHERE ($1::uuid IS NULL OR organization_id = $1) AND {where}
            ORDER BY created_at, id LIMIT $2
            """,
            organization_id,
            page.first + 1,
            *args,
        )
        return page_of(rows, page, _endpoint)

    async def update_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self._conn.execute(
            """
            UPDATE webhook_endpoints SET url = $2, description = $3, event_types = $4, enabled = $5,
                   disabled_reason = $6, failing_since = $7, updated_at = $8
            WHERE id = $1
            """,
            endpoint.id,
            endpoint.url,
            endpoint.description,
            list(endpoint.event_types),
            endpoint.enabled,
            endpoint.disabled_reason,
            endpoint.failing_since,
            endpoint.updated_at,
        )

    async def rotate_secret(self, endpoint_id: UUID, secret: str, previous_until: datetime, at: datetime) -> None:
        """The new secret signs from now on; the old one signs too until `previous_until` (the overlap)."""
        await self._conn.execute(
            """
            UPDATE webhook_endpoints
            SET previous_secret = secret, previous_secret_until = $3, secret = $2, updated_at = $4
            WHERE id = $1
            """,
            endpoint_id,
            secret,
            previous_until,
            at,
        )

    # Deliveries

    async def delivery_to_send(self, delivery_id: UUID, at: datetime) -> DeliveryToSend | None:
        row = await self._conn.fetchrow(
            f"""
            SELECT {_DELIVERY}, d.window_started_at, e.secret,
                   CASE WHEN e.previous_secret_until > $2 THEN e.previous_secret END AS previous_secret,
                   {", ".join("e." + c.strip() + " AS e_" + c.strip() for c in _ENDPOINT.split(","))}
            FROM webhook_deliveries d JOIN outbox m ON m.id = d.message_id
            JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.id = $1
            """,
            delivery_id,
            at,
        )
        if row is None:
            return None
        endpoint_row = {c.strip(): row["e_" + c.strip()] for c in _ENDPOINT.split(",")}
        secrets = (row["secret"],) + (() if row["previous_secret"] is None else (row["previous_secret"],))
        return DeliveryToSend(
            _delivery(row),
            _endpoint(endpoint_row),  # type: ignore[arg-type]
            secrets,
            row["window_started_at"],
        )

    async def record_attempt(
        self,
        delivery_id: UUID,
        *,
        at: datetime,
        status_code: int | None,
        latency_ms: int,
        error: str | None,
        excerpt: str | None,
        outcome: str,
    ) -> int:
        """Logs one attempt and moves the delivery to `outcome` (pending, succeeded, failed); its attempts."""
        attempts = await self._conn.fetchval(
            """
            WITH attempt AS (
                INSERT INTO webhook_attempts (delivery_id, area_id, attempted_at, status_code, latency_ms, error,
                                              response_excerpt)
                SELECT id, area_id, $2, $3, $4, $5, $6 FROM webhook_deliveries WHERE id = $1
            )
            UPDATE webhook_deliveries
            SET attempts = attempts + 1, last_attempt_at = $2, status = $7,
                completed_at = CASE WHEN $7 = 'pending' THEN NULL ELSE $2 END
            WHERE id = $1
            RETURNING attempts
            """,
            delivery_id,
            at,
            status_code,
            latency_ms,
            None if error is None else error[:500],
            None if excerpt is None else excerpt[:1000],
            outcome,
        )
        return int(attempts)

    async def endpoint_failed(self, endpoint_id: UUID, at: datetime) -> datetime:
        """The endpoint has been failing since this instant (now, if it was healthy)."""
        return await self._conn.fetchval(  # type: ignore[no-any-return]
            """
            UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2) WHERE id = $1
            RETURNING failing_since
            """,
            endpoint_id,
            at,
        )

    async def endpoint_succeeded(self, endpoint_id: UUID) -> None:
        await self._conn.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            endpoint_id,
        )

    async def disable_failing(self, endpoint_id: UUID, at: datetime) -> bool:
        """Switches a failing endpoint off; False when it already was."""
        done = await self._conn.fetchval(
            """
            UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'failing', updated_at = $2
            WHERE id = $1 AND enabled RETURNING true
            """,
            endpoint_id,
            at,
        )
        return bool(done)

    async def reopen(self, delivery_id: UUID, organization_id: UUID | None, at: datetime) -> WebhookDelivery | None:
        """A delivery made pending again, with a fresh retry window (redelivery); None: not this caller's."""
        row = await self._conn.fetchrow(
            f"""
            WITH d AS (
                UPDATE webhook_deliveries SET status = 'pending', window_started_at = $3, completed_at = NULL
                WHERE id = $1 AND ($2::uuid IS NULL OR organization_id = $2)
                RETURNING *
            )
            SELECT {_DELIVERY} FROM d JOIN outbox m ON m.id = d.message_id
            """,
            delivery_id,
            organization_id,
            at,
        )
        return None if row is None else _delivery(row)

    async def get_delivery(self, delivery_id: UUID, organization_id: UUID | None) -> WebhookDelivery | None:
        row = await self._conn.fetchrow(
            f"""
            SELECT {_DELIVERY} FROM webhook_deliveries d JOIN outbox m ON m.id = d.message_id
            WHERE d.id = $1 AND ($2::uuid IS NULL OR d.organization_id = $2)
            """,
            delivery_id,
            organization_id,
        )
        return None if row is None else _delivery(row)

    async def add_test_message(
        self, message_id: UUID, delivery_id: UUID, endpoint: WebhookEndpoint, at: datetime
    ) -> None:
        """A `webhook.test` message for one endpoint, whatever its event types."""
        payload = {
            "type": TEST_EVENT,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": {"endpointUrl": endpoint.url},
        }
        await self._conn.execute(
            """
            WITH msg AS (
                INSERT INTO outbox (id, organization_id, area_id, parcel_id, event_type, payload, created_at)
                VALUES ($1, $3, NULL, NULL, $5, $6::jsonb, $4)
            )
            INSERT INTO webhook_deliveries (id, message_id, endpoint_id, organization_id, area_id, status,
                                            window_started_at, created_at)
            VALUES ($2, $1, $7, $3, NULL, 'pending', $4, $4)
            """,
            message_id,
            delivery_id,
            endpoint.organization_id,
            at,
            TEST_EVENT,
            json.dumps(payload),
            endpoint.id,
        )

    async def deliveries(self, endpoint_id: UUID, page: PageRequest) -> Page[WebhookDelivery]:
        """An endpoint's deliveries, newest first."""
        after = "TRUE"
        args: list[object] = []
        if page.after is not None:
            after = "(d.created_at, d.id) < ($3, $4)"
            args = [page.after.created_at, page.after.id]
        rows = await self._conn.fetch(
            f"""
            SELECT {_DELIVERY} FROM webhook_deliveries d JOIN outbox m ON m.id = d.message_id
            WHERE d.endpoint_id = $1 AND {after}
            ORDER BY d.created_at DESC, d.id DESC LIMIT $2
            """,
            endpoint_id,
            page.first + 1,
            *args,
        )
        return page_of(rows, page, _delivery)

    async def purge(self, settled_before: datetime) -> int:
        """Outbox messages older than the cutoff whose deliveries all ended, with their deliveries and
        attempts, and notifications settled before it; the number of messages dropped."""
        return int(
            await self._conn.fetchval(
                """
                WITH old AS (
                    SELECT m.id FROM outbox m
                    WHERE m.created_at < $1
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                      WHERE d.message_id = m.id AND (d.status = 'pending' OR d.completed_at >= $1))
                ),
                gone_deliveries AS (
                    DELETE FROM webhook_deliveries WHERE message_id IN (SELECT id FROM old) RETURNING 1
                ),
                gone_notifications AS (
                    DELETE FROM notifications WHERE created_at < $1 AND status IN ('sent', 'unconfirmed') RETURNING 1
                ),
                gone AS (DELETE FROM outbox WHERE id IN (SELECT id FROM old) RETURNING 1)
                SELECT count(*) FROM gone
                """,
                settled_before,
            )
        )

    async def attempts(self, delivery_ids: list[UUID]) -> dict[UUID, list[WebhookAttempt]]:
        rows = await self._conn.fetch(
            """
            SELECT delivery_id, attempted_at, status_code, latency_ms, error FROM webhook_attempts
            WHERE delivery_id = ANY($1::uuid[]) ORDER BY id
            """,
            delivery_ids,
        )
        found: dict[UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
        for r in rows:
            found[r["delivery_id"]].append(
                WebhookAttempt(r["attempted_at"], r["status_code"], r["latency_ms"], r["error"])
            )
        return found
