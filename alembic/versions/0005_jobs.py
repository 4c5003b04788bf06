"""jobs: quotes, booked delivery jobs and their parcels

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from marketplace.db.migrations import run_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE quotes (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        request jsonb NOT NULL,
        price_minor bigint NOT NULL CHECK (price_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        price_parts jsonb NOT NULL,
        distance_m integer NOT NULL CHECK (distance_m >= 0),
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
        job_id uuid
    );
    CREATE INDEX quotes_organization_idx ON quotes (organization_id, created_at, id);

    CREATE TABLE jobs (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        quote_id uuid UNIQUE REFERENCES quotes (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        reference text CHECK (length(reference) BETWEEN 1 AND 100),
        status text NOT NULL CHECK (status IN ('booked', 'assigned', 'in_transit', 'delivered', 'failed', 'returned', 'cancelled')),
        pickup_location_id uuid NOT NULL REFERENCES pickup_locations (id),
        pickup_lat double precision NOT NULL CHECK (pickup_lat BETWEEN -90 AND 90),
        pickup_lng double precision NOT NULL CHECK (pickup_lng BETWEEN -180 AND 180),
        dropoff_kind text NOT NULL CHECK (dropoff_kind IN ('address', 'locker')),
        dropoff_locker_id uuid REFERENCES lockers (id),
        dropoff_street text CHECK (length(dropoff_street) BETWEEN 1 AND 200),
        dropoff_house_number text CHECK (length(dropoff_house_number) BETWEEN 1 AND 20),
        dropoff_postal_code text CHECK (length(dropoff_postal_code) BETWEEN 1 AND 12),
        dropoff_city text CHECK (length(dropoff_city) BETWEEN 1 AND 200),
        dropoff_country_code text NOT NULL CHECK (dropoff_country_code ~ '^[A-Z]{2}$'),
        dropoff_lat double precision NOT NULL CHECK (dropoff_lat BETWEEN -90 AND 90),
        dropoff_lng double precision NOT NULL CHECK (dropoff_lng BETWEEN -180 AND 180),
        pickup_from timestamptz NOT NULL,
        pickup_until timestamptz NOT NULL CHECK (pickup_until > pickup_from),
        deliver_from timestamptz NOT NULL,
        deliver_until timestamptz NOT NULL CHECK (deliver_until > deliver_from),
        recipient_name text NOT NULL CHECK (length(recipient_name) BETWEEN 1 AND 200),
        recipient_phone text NOT NULL CHECK (length(recipient_phone) BETWEEN 4 AND 20),
        delivery_instructions text CHECK (length(delivery_instructions) <= 1000),
        safe_place text CHECK (length(safe_place) <= 200),
        safe_place_consent boolean NOT NULL,
        neighbour_consent boolean NOT NULL,
        failure_action text NOT NULL CHECK (failure_action IN ('return_to_pickup', 'safe_place', 'locker')),
        fallback_locker_id uuid REFERENCES lockers (id),
        price_minor bigint NOT NULL CHECK (price_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        price_parts jsonb NOT NULL,
        distance_m integer NOT NULL CHECK (distance_m >= 0),
        booked_by_user_id uuid REFERENCES users (id),
        booked_by_api_key_id uuid REFERENCES api_keys (id),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT jobs_locker_dropoff CHECK ((dropoff_kind = 'locker') = (dropoff_locker_id IS NOT NULL)),
        CONSTRAINT jobs_address_dropoff CHECK (dropoff_kind = 'locker' OR (dropoff_street IS NOT NULL AND dropoff_house_number IS NOT NULL AND dropoff_postal_code IS NOT NULL AND dropoff_city IS NOT NULL)),
        CONSTRAINT jobs_fallback_locker CHECK ((failure_action = 'locker') = (fallback_locker_id IS NOT NULL)),
        CONSTRAINT jobs_safe_place CHECK (failure_action <> 'safe_place' OR (safe_place_consent AND safe_place IS NOT NULL))
    );
    CREATE INDEX jobs_organization_idx ON jobs (organization_id, created_at, id);
    CREATE INDEX jobs_created_idx ON jobs (created_at, id);
    CREATE INDEX jobs_area_pickup_idx ON jobs (area_id, pickup_from);
    CREATE UNIQUE INDEX jobs_reference_key ON jobs (organization_id, reference) WHERE reference IS NOT NULL;

    CREATE TABLE parcels (
        id uuid PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        position smallint NOT NULL CHECK (position >= 0),
        weight_g integer NOT NULL CHECK (weight_g > 0),
        length_mm integer NOT NULL CHECK (length_mm > 0),
        width_mm integer NOT NULL CHECK (width_mm > 0),
        height_mm integer NOT NULL CHECK (height_mm > 0),
        volume_cm3 integer NOT NULL CHECK (volume_cm3 > 0),
        declared_value_minor bigint NOT NULL CHECK (declared_value_minor >= 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        fragile boolean NOT NULL,
        id_check boolean NOT NULL,
        adults_only boolean NOT NULL,
        assigned_courier_id uuid REFERENCES users (id),
        assigned_trip_id uuid REFERENCES trips (id),
        created_at timestamptz NOT NULL,
        UNIQUE (job_id, position)
    );
    CREATE INDEX parcels_unassigned_idx ON parcels (job_id) WHERE assigned_trip_id IS NULL;
    CREATE INDEX parcels_courier_idx ON parcels (assigned_courier_id) WHERE assigned_courier_id IS NOT NULL;
    """)


def downgrade() -> None:
    run_script("""
    DROP TABLE parcels;
    DROP TABLE jobs;
    DROP TABLE quotes;
    """)
