"""The outbox: messages written in the transaction of the change they tell, and what fans out of them.

A parcel event (`ParcelEventRepository.append`) and a job status change
(`DeliveryRepository.set_job_statuses`) each write, in the very statement that records them, an
`outbox` message, one `webhook_deliveries` row per enabled endpoint of the organisation that asked
for that event type, and (parcel events) the recipient's `notifications`; `enqueue_work` then queues
a worker job for each delivery and notification through pgqueuer, in the same transaction. So a
crash between "changed" and "told" loses nothing, and nothing that did not happen is told.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from marketplace.repositories._base import Conn
from marketplace.repositories.job_queue import JobQueueRepository

DELIVER_WEBHOOK_JOB = "deliver_webhook"
SEND_NOTIFICATION_JOB = "send_notification"

_TIMESTAMP = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

# Fans the CTE `msg` (outbox rows just written) out to the organisation's enabled endpoints.
HOOKS_CTE = """
    hooks AS (
        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, organization_id, area_id, status,
                                        window_started_at, created_at)
        SELECT gen_random_uuid(), msg.id, e.id, msg.organization_id, msg.area_id, 'pending', msg.created_at,
               msg.created_at
        FROM msg JOIN webhook_endpoints e
          ON e.organization_id = msg.organization_id AND e.enabled AND msg.event_type = ANY (e.event_types)
        RETURNING id
    )
"""

# Follows a CTE `ev` (parcel_events rows just inserted, RETURNING *). Parameters $16 / $17: the PINs
# of parcels just booked (parcel ids, PINs), kept on their "booked" notification until it is sent.
FROM_PARCEL_EVENTS = f"""
    , msg AS (
        INSERT INTO outbox (id, organization_id, area_id, parcel_id, event_type, payload, created_at)
        SELECT ev.id, ev.organization_id, ev.area_id, ev.parcel_id, 'parcel.' || ev.kind,
               jsonb_build_object(
                   'type', 'parcel.' || ev.kind,
                   'timestamp', {_TIMESTAMP.format("ev.occurred_at")},
                   'data', jsonb_build_object(
                       'eventId', ev.id,
                       'sequence', ev.seq,
                       'parcelId', graphql_id('Parcel', ev.parcel_id),
                       'jobId', graphql_id('Job', ev.job_id),
                       'reference', j.reference,
                       'kind', ev.kind,
                       'fromStatus', upper(ev.from_status),
                       'toStatus', upper(ev.to_status),
                       'reasonCode', ev.reason_code,
                       'position', CASE WHEN ev.lat IS NULL THEN NULL
                                        ELSE jsonb_build_object('lat', ev.lat, 'lng', ev.lng) END,
                       'occurredAt', {_TIMESTAMP.format("ev.occurred_at")})
                   || CASE WHEN ev.kind LIKE 'claim\\_%' THEN jsonb_build_object(
                                'claimId', graphql_id('Claim', (ev.details->>'claim_id')::uuid),
                                'amount', ev.details->'amount')
                           WHEN ev.kind = 'refunded' THEN jsonb_build_object(
                                'refundId', graphql_id('Refund', (ev.details->>'refund_id')::uuid),
                                'amount', ev.details->'amount')
                           ELSE '{{}}'::jsonb END),
               ev.occurred_at
        FROM ev JOIN jobs j ON j.id = ev.job_id
        RETURNING id, organization_id, area_id, event_type, created_at
    ),
    {HOOKS_CTE},
    told AS (
        INSERT INTO notifications (id, parcel_id, organization_id, area_id, kind, channel, address, language, pin,
                                   details, status, created_at)
        SELECT gen_random_uuid(), n.parcel_id, ev.organization_id, ev.area_id, n.kind, c.channel, c.address,
               j.recipient_language, CASE WHEN n.kind = 'booked' THEN pins.pin END, n.details, 'pending',
               ev.occurred_at
        FROM ev
        CROSS JOIN LATERAL (
            SELECT ev.parcel_id,
                   CASE ev.kind WHEN 'booked' THEN 'booked' WHEN 'picked_up' THEN 'out_for_delivery'
                                WHEN 'arriving_soon' THEN 'arriving_soon'
                                WHEN 'delivered' THEN 'delivered' WHEN 'failed_attempt' THEN 'failed_attempt' END,
                   CASE WHEN ev.kind = 'arriving_soon' THEN jsonb_build_object('eta_at', ev.details -> 'eta_at')
                        ELSE '{{}}'::jsonb END
        ) AS n(parcel_id, kind, details)
        JOIN parcels pp ON pp.id = n.parcel_id
        JOIN jobs j ON j.id = pp.job_id
        CROSS JOIN LATERAL (VALUES ('email', j.recipient_email), ('sms', j.recipient_phone)) AS c(channel, address)
        LEFT JOIN unnest($16::uuid[], $17::text[]) AS pins(parcel_id, pin) ON pins.parcel_id = n.parcel_id
        WHERE n.kind IS NOT NULL AND c.address IS NOT NULL
        ON CONFLICT (parcel_id, kind, channel) WHERE parcel_id IS NOT NULL DO NOTHING
        RETURNING id
    ),
    scrubbed AS (
        -- A handed-over parcel's PIN is of no use any more: an unsent "booked" message loses it.
        UPDATE notifications SET pin = NULL
        WHERE pin IS NOT NULL
          AND parcel_id IN (SELECT parcel_id FROM ev WHERE to_status IN
                            ('delivered', 'in_locker', 'collected', 'returning', 'returned', 'cancelled',
                             'handed_to_fleet'))
        RETURNING id
    )
    SELECT '{DELIVER_WEBHOOK_JOB}' AS entrypoint, id FROM hooks
    UNION ALL SELECT '{SEND_NOTIFICATION_JOB}', id FROM told
"""

# Follows a CTE `changed` (jobs whose status just changed: id, organization_id, area_id, reference,
# from_status, to_status); $3 is the instant.
FROM_JOB_CHANGES = f"""
    , msg AS (
        INSERT INTO outbox (id, organization_id, area_id, parcel_id, event_type, payload, created_at)
        SELECT gen_random_uuid(), c.organization_id, c.area_id, NULL, 'job.status_changed',
               jsonb_build_object(
                   'type', 'job.status_changed',
                   'timestamp', {_TIMESTAMP.format("$3::timestamptz")},
                   'data', jsonb_build_object(
                       'jobId', graphql_id('Job', c.id),
                       'reference', c.reference,
                       'sequence', (SELECT max(seq) FROM parcel_events e WHERE e.job_id = c.id),
                       'fromStatus', upper(c.from_status),
                       'toStatus', upper(c.to_status),
                       'occurredAt', {_TIMESTAMP.format("$3::timestamptz")})),
               $3
        FROM changed c
        RETURNING id, organization_id, area_id, event_type, created_at
    ),
    {HOOKS_CTE}
    SELECT '{DELIVER_WEBHOOK_JOB}' AS entrypoint, id FROM hooks
"""


async def enqueue_work(conn: Conn, rows: Sequence[asyncpg.Record]) -> None:
    """One worker job per delivery and notification the outbox statement fanned out, in its transaction."""
    if rows:
        await JobQueueRepository(conn).enqueue_many(
            [r["entrypoint"] for r in rows], [{"id": str(r["id"]), "attempt": 0} for r in rows]
        )
