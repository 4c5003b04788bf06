"""trips: the capacity couriers offer, and weekly commute templates that create trips ahead of time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from marketplace.db.migrations import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE commute_templates (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        vehicle_id uuid NOT NULL REFERENCES vehicles (id),
        origin_lat double precision NOT NULL CHECK (origin_lat BETWEEN -90 AND 90),
        origin_lng double precision NOT NULL CHECK (origin_lng BETWEEN -180 AND 180),
        origin_label text NOT NULL CHECK (length(origin_label) BETWEEN 1 AND 200),
        destination_lat double precision NOT NULL CHECK (destination_lat BETWEEN -90 AND 90),
        destination_lng double precision NOT NULL CHECK (destination_lng BETWEEN -180 AND 180),
        destination_label text NOT NULL CHECK (length(destination_label) BETWEEN 1 AND 200),
        weekdays smallint[] NOT NULL CHECK (cardinality(weekdays) BETWEEN 1 AND 7 AND weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
        depart_local time NOT NULL,
        arrive_local time NOT NULL CHECK (arrive_local > depart_local),
        time_zone text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
        spare_weight_g integer NOT NULL CHECK (spare_weight_g > 0),
        spare_volume_cm3 integer NOT NULL CHECK (spare_volume_cm3 > 0),
        max_detour_m integer NOT NULL CHECK (max_detour_m >= 0),
        active boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX commute_templates_courier_idx ON commute_templates (courier_id, created_at, id);
    CREATE INDEX commute_templates_active_idx ON commute_templates (created_at, id) WHERE active;

    CREATE TABLE trips (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        vehicle_id uuid NOT NULL REFERENCES vehicles (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        origin_lat double precision NOT NULL CHECK (origin_lat BETWEEN -90 AND 90),
        origin_lng double precision NOT NULL CHECK (origin_lng BETWEEN -180 AND 180),
        origin_label text NOT NULL CHECK (length(origin_label) BETWEEN 1 AND 200),
        destination_lat double precision NOT NULL CHECK (destination_lat BETWEEN -90 AND 90),
        destination_lng double precision NOT NULL CHECK (destination_lng BETWEEN -180 AND 180),
        destination_label text NOT NULL CHECK (length(destination_label) BETWEEN 1 AND 200),
        depart_after timestamptz NOT NULL,
        arrive_by timestamptz NOT NULL CHECK (arrive_by > depart_after),
        spare_weight_g integer NOT NULL CHECK (spare_weight_g > 0),
        spare_volume_cm3 integer NOT NULL CHECK (spare_volume_cm3 > 0),
        max_detour_m integer NOT NULL CHECK (max_detour_m >= 0),
        status text NOT NULL CHECK (status IN ('open', 'matched', 'in_progress', 'completed', 'cancelled', 'expired')),
        template_id uuid REFERENCES commute_templates (id),
        template_date date,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT trips_template_date CHECK ((template_id IS NULL) = (template_date IS NULL)),
        CONSTRAINT trips_one_per_template_day UNIQUE (template_id, template_date)
    );
    CREATE INDEX trips_courier_idx ON trips (courier_id, created_at, id);
    CREATE INDEX trips_created_idx ON trips (created_at, id);
    CREATE INDEX trips_area_open_idx ON trips (area_id, depart_after) WHERE status = 'open';
    -- The expiry sweep: open trips whose latest arrival has passed.
    CREATE INDEX trips_open_arrive_idx ON trips (arrive_by) WHERE status = 'open';
    """)


def downgrade() -> None:
    run_script("""
    DROP TABLE trips;
    DROP TABLE commute_templates;
    """)
