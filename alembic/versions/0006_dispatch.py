"""dispatch: parcel status and event history, matching rounds, offers, pairs never to offer again

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Every new table carries `area_id`, the shard key of a city. `parcel_events` is append-only: a
trigger refuses updates and deletes, so the history that tracking, webhooks, payments and KPIs
read can only grow.
"""

from marketplace.db.migrations import run_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PARCEL_STATUSES = (
    "'booked', 'offered', 'assigned', 'at_pickup', 'picked_up', 'at_dropoff', 'delivered', 'failed_attempt', "
    "'to_locker', 'in_locker', 'collected', 'returning', 'returned', 'cancelled', 'handed_to_fleet'"
)


def upgrade() -> None:
    run_script(_UPGRADE.replace("{PARCEL_STATUSES}", PARCEL_STATUSES))


_UPGRADE = """
    ALTER TABLE parcels
        ADD COLUMN area_id uuid REFERENCES service_areas (id),
        ADD COLUMN status text NOT NULL DEFAULT 'booked' CHECK (status IN ({PARCEL_STATUSES})),
        ADD COLUMN status_changed_at timestamptz,
        ADD COLUMN placement_round_id uuid,
        ADD COLUMN placement_reasons jsonb,
        ADD COLUMN fallback_cost_minor bigint CHECK (fallback_cost_minor >= 0);
    UPDATE parcels p SET area_id = j.area_id, status_changed_at = p.created_at,
        status = CASE j.status WHEN 'cancelled' THEN 'cancelled' ELSE 'booked' END
        FROM jobs j WHERE j.id = p.job_id;
    ALTER TABLE parcels ALTER COLUMN area_id SET NOT NULL, ALTER COLUMN status_changed_at SET NOT NULL,
        ALTER COLUMN status DROP DEFAULT;
    CREATE INDEX parcels_area_status_idx ON parcels (area_id, status);

    ALTER TABLE service_areas
        ADD COLUMN round_interval_s integer NOT NULL DEFAULT 300 CHECK (round_interval_s BETWEEN 30 AND 86400),
        ADD COLUMN round_time_limit_s integer NOT NULL DEFAULT 20 CHECK (round_time_limit_s BETWEEN 5 AND 600),
        ADD COLUMN offer_ttl_s integer NOT NULL DEFAULT 180 CHECK (offer_ttl_s BETWEEN 30 AND 3600),
        ADD COLUMN fleet_cutoff_s integer NOT NULL DEFAULT 1800 CHECK (fleet_cutoff_s BETWEEN 0 AND 86400);

    CREATE TABLE parcel_events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        job_id uuid NOT NULL REFERENCES jobs (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
        from_status text CHECK (from_status IN ({PARCEL_STATUSES})),
        to_status text CHECK (to_status IN ({PARCEL_STATUSES})),
        actor_kind text NOT NULL CHECK (actor_kind IN ('courier', 'retailer', 'admin', 'system', 'recipient')),
        actor_id uuid,
        reason_code text CHECK (length(reason_code) BETWEEN 1 AND 64),
        lat double precision CHECK (lat BETWEEN -90 AND 90),
        lng double precision CHECK (lng BETWEEN -180 AND 180),
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        occurred_at timestamptz NOT NULL,
        CONSTRAINT parcel_events_position CHECK ((lat IS NULL) = (lng IS NULL))
    );
    CREATE INDEX parcel_events_parcel_idx ON parcel_events (parcel_id, seq);
    CREATE INDEX parcel_events_job_idx ON parcel_events (job_id, seq);
    CREATE INDEX parcel_events_organization_idx ON parcel_events (organization_id, seq);
    CREATE INDEX parcel_events_area_idx ON parcel_events (area_id, occurred_at);
    CREATE FUNCTION parcel_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'parcel_events is append-only'; END $$;
    CREATE TRIGGER parcel_events_immutable BEFORE UPDATE OR DELETE ON parcel_events FOR EACH ROW EXECUTE FUNCTION parcel_events_append_only();

    CREATE TABLE matching_rounds (
        id uuid PRIMARY KEY,
        area_id uuid NOT NULL REFERENCES service_areas (id),
        status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        trigger text NOT NULL CHECK (trigger IN ('schedule', 'operations')),
        requested_by_user_id uuid REFERENCES users (id),
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        load_ms integer CHECK (load_ms >= 0),
        solve_ms integer CHECK (solve_ms >= 0),
        write_ms integer CHECK (write_ms >= 0),
        parcels_count integer CHECK (parcels_count >= 0),
        trips_count integer CHECK (trips_count >= 0),
        assigned_count integer CHECK (assigned_count >= 0),
        unassigned_count integer CHECK (unassigned_count >= 0),
        offers_count integer CHECK (offers_count >= 0),
        currency text CHECK (currency ~ '^[A-Z]{3}$'),
        cost_crowd_minor bigint,
        cost_fallback_minor bigint,
        cost_total_minor bigint,
        bound_lower_minor bigint,
        gap double precision,
        engine_stats jsonb,
        plan jsonb,
        error text,
        created_at timestamptz NOT NULL
    );
    CREATE INDEX matching_rounds_area_idx ON matching_rounds (area_id, created_at, id);
    CREATE UNIQUE INDEX matching_rounds_one_running ON matching_rounds (area_id) WHERE status = 'running';

    CREATE TABLE offers (
        id uuid PRIMARY KEY,
        round_id uuid NOT NULL REFERENCES matching_rounds (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        trip_id uuid NOT NULL REFERENCES trips (id),
        courier_id uuid NOT NULL REFERENCES users (id),
        status text NOT NULL CHECK (status IN ('open', 'accepted', 'declined', 'expired', 'withdrawn')),
        stops jsonb NOT NULL,
        detour_m integer NOT NULL CHECK (detour_m >= 0),
        co2_g integer NOT NULL CHECK (co2_g >= 0),
        pay_minor bigint NOT NULL CHECK (pay_minor >= 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        expires_at timestamptz NOT NULL,
        decided_at timestamptz,
        decline_reason text CHECK (length(decline_reason) BETWEEN 1 AND 64),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT offers_expiry CHECK (expires_at > created_at)
    );
    CREATE INDEX offers_courier_idx ON offers (courier_id, created_at, id);
    CREATE INDEX offers_open_expiry_idx ON offers (expires_at) WHERE status = 'open';
    CREATE INDEX offers_round_idx ON offers (round_id);
    CREATE UNIQUE INDEX offers_one_live_per_trip ON offers (trip_id) WHERE status IN ('open', 'accepted');

    CREATE TABLE offer_parcels (
        offer_id uuid NOT NULL REFERENCES offers (id),
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        live boolean NOT NULL,
        PRIMARY KEY (offer_id, parcel_id)
    );
    CREATE UNIQUE INDEX offer_parcels_one_live ON offer_parcels (parcel_id) WHERE live;

    CREATE TABLE forbidden_pairs (
        trip_id uuid NOT NULL REFERENCES trips (id),
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        offer_id uuid NOT NULL REFERENCES offers (id),
        reason text NOT NULL CHECK (reason IN ('declined', 'expired', 'withdrawn')),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (trip_id, parcel_id)
    );
    CREATE INDEX forbidden_pairs_area_idx ON forbidden_pairs (area_id)
    """


def downgrade() -> None:
    run_script("""
    DROP TABLE forbidden_pairs;
    DROP TABLE offer_parcels;
    DROP TABLE offers;
    DROP TABLE matching_rounds;
    DROP TABLE parcel_events;
    DROP FUNCTION parcel_events_append_only();
    ALTER TABLE service_areas DROP COLUMN round_interval_s, DROP COLUMN round_time_limit_s,
        DROP COLUMN offer_ttl_s, DROP COLUMN fleet_cutoff_s;
    DROP INDEX parcels_area_status_idx;
    ALTER TABLE parcels DROP COLUMN area_id, DROP COLUMN status, DROP COLUMN status_changed_at,
        DROP COLUMN placement_round_id, DROP COLUMN placement_reasons, DROP COLUMN fallback_cost_minor
    """)
