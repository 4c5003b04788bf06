"""areas and places: service areas, retailers' pickup locations, lockers and pickup points

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from marketplace.db.migrations import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE service_areas (
        id uuid PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        time_zone text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
        polygon jsonb NOT NULL,
        min_lat double precision NOT NULL,
        min_lng double precision NOT NULL,
        max_lat double precision NOT NULL,
        max_lng double precision NOT NULL,
        fleet_base_minor bigint NOT NULL CHECK (fleet_base_minor >= 0),
        fleet_per_km_minor bigint NOT NULL CHECK (fleet_per_km_minor >= 0),
        active boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX service_areas_name_key ON service_areas (lower(name));
    CREATE INDEX service_areas_created_idx ON service_areas (created_at, id);

    CREATE TABLE pickup_locations (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        kind text NOT NULL CHECK (kind IN ('store', 'warehouse', 'micro_hub')),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        street text NOT NULL CHECK (length(street) BETWEEN 1 AND 200),
        house_number text NOT NULL CHECK (length(house_number) BETWEEN 1 AND 20),
        postal_code text NOT NULL CHECK (length(postal_code) BETWEEN 1 AND 12),
        city text NOT NULL CHECK (length(city) BETWEEN 1 AND 200),
        country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        opening_hours jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        archived_at timestamptz
    );
    CREATE INDEX pickup_locations_organization_idx ON pickup_locations (organization_id, created_at, id);

    CREATE TABLE lockers (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('locker', 'pickup_point')),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        operator text NOT NULL CHECK (length(operator) BETWEEN 1 AND 200),
        street text NOT NULL CHECK (length(street) BETWEEN 1 AND 200),
        house_number text NOT NULL CHECK (length(house_number) BETWEEN 1 AND 20),
        postal_code text NOT NULL CHECK (length(postal_code) BETWEEN 1 AND 12),
        city text NOT NULL CHECK (length(city) BETWEEN 1 AND 200),
        country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        opening_hours jsonb NOT NULL,
        compartments jsonb NOT NULL,
        active boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX lockers_area_idx ON lockers (area_id, created_at, id);
    CREATE INDEX lockers_created_idx ON lockers (created_at, id);
    """)


def downgrade() -> None:
    run_script("""
    DROP TABLE lockers;
    DROP TABLE pickup_locations;
    DROP TABLE service_areas;
    """)
