"""outbox: retailer webhooks and recipient notifications, written in the transaction of the change

Revision ID: 0010_outbox
Revises: 0009
Create Date: 2026-12-01

Every parcel event and every job status change becomes an `outbox` message in the statement that
records it; the same statement fans it out to the organisation's enabled webhook endpoints
(`webhook_deliveries`, one per message and endpoint) and to the recipient's channels
(`notifications`, at most one per parcel, kind and channel), and the worker is queued for each.
Delivery attempts are logged (`webhook_attempts`). Parcels get an unguessable tracking token at
booking (a column default: 244 random bits); recipients an optional e-mail address and language.
"""

from marketplace.db.migrations import run_script

revision = "0010_outbox"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(_UPGRADE)


_UPGRADE = """
    ALTER TABLE parcels ADD COLUMN tracking_token text NOT NULL
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
        CHECK (tracking_token ~ '^[0-9a-f]{64}$');
    CREATE UNIQUE INDEX parcels_tracking_token_key ON parcels (tracking_token);

    ALTER TABLE jobs
        ADD COLUMN recipient_email text CHECK (length(recipient_email) BETWEEN 3 AND 254),
        ADD COLUMN recipient_language text CHECK (recipient_language ~ '^[a-z]{2}$');

    -- The API's opaque global IDs (strawberry relay: base64 of "Kind:uuid"), for webhook payloads.
    CREATE FUNCTION graphql_id(kind text, id uuid) RETURNS text LANGUAGE sql IMMUTABLE AS
        $$ SELECT replace(encode(convert_to(kind || ':' || id::text, 'UTF8'), 'base64'), E'\\n', '') $$;

    CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
        description text CHECK (length(description) <= 200),
        event_types text[] NOT NULL CHECK (cardinality(event_types) >= 1),
        secret text NOT NULL,
        previous_secret text,
        previous_secret_until timestamptz,
        enabled boolean NOT NULL,
        disabled_reason text CHECK (disabled_reason IN ('by_user', 'failing')),
        failing_since timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT webhook_endpoints_previous CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
    );
    CREATE INDEX webhook_endpoints_organization_idx ON webhook_endpoints (organization_id, created_at, id);

    CREATE TABLE outbox (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        area_id uuid REFERENCES service_areas (id),
        parcel_id uuid REFERENCES parcels (id),
        event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE INDEX outbox_organization_idx ON outbox (organization_id, created_at);

    CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES outbox (id),
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        area_id uuid REFERENCES service_areas (id),
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        window_started_at timestamptz NOT NULL,
        last_attempt_at timestamptz,
        completed_at timestamptz,
        created_at timestamptz NOT NULL,
        UNIQUE (message_id, endpoint_id)
    );
    CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at, id);

    CREATE TABLE webhook_attempts (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        area_id uuid REFERENCES service_areas (id),
        attempted_at timestamptz NOT NULL,
        status_code integer CHECK (status_code BETWEEN 100 AND 599),
        latency_ms integer NOT NULL CHECK (latency_ms >= 0),
        error text CHECK (length(error) <= 500),
        response_excerpt text CHECK (length(response_excerpt) <= 1000)
    );
    CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

    CREATE TABLE notifications (
        id uuid PRIMARY KEY,
        parcel_id uuid REFERENCES parcels (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        area_id uuid REFERENCES service_areas (id),
        kind text NOT NULL CHECK (kind IN ('booked', 'out_for_delivery', 'arriving_soon', 'delivered',
                                           'failed_attempt', 'endpoint_disabled')),
        channel text NOT NULL CHECK (channel IN ('email', 'sms')),
        address text NOT NULL CHECK (length(address) BETWEEN 3 AND 254),
        language text CHECK (language ~ '^[a-z]{2}$'),
        pin text CHECK (pin ~ '^[0-9]{4}$'),
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL CHECK (status IN ('pending', 'sending', 'handing_over', 'sent', 'unconfirmed')),
        attempts integer NOT NULL DEFAULT 0,
        last_error text CHECK (length(last_error) <= 500),
        created_at timestamptz NOT NULL,
        sent_at timestamptz
    );
    CREATE UNIQUE INDEX notifications_once ON notifications (parcel_id, kind, channel) WHERE parcel_id IS NOT NULL;
    CREATE INDEX notifications_parcel_idx ON notifications (parcel_id) WHERE pin IS NOT NULL;
    """


def downgrade() -> None:
    run_script("""
    DROP TABLE notifications;
    DROP TABLE webhook_attempts;
    DROP TABLE webhook_deliveries;
    DROP TABLE outbox;
    DROP TABLE webhook_endpoints;
    DROP FUNCTION graphql_id(text, uuid);
    ALTER TABLE jobs DROP COLUMN recipient_email, DROP COLUMN recipient_language;
    DROP INDEX parcels_tracking_token_key;
    ALTER TABLE parcels DROP COLUMN tracking_token
    """)
