"""fleet depots and van plans: each area's micro-hub, and the van rounds planned from it per local day

Revision ID: 0019_fleet_depots
Revises: 0015_tracking_page
Create Date: 2026-12-01

The professional fleet works from one depot per area (operations set it with `setFleetDepot`), with
its vans described on the depot row. A van plan is one area-day's rounds, either the fleet's (the
parcels handed to it) or the van-only baseline (every parcel of the day); replanning replaces it.
Routes and their stops are rows, so the manifest and the KPIs read them with plain SQL.
"""

from marketplace.db.migrations import run_script

revision = "0019_fleet_depots"
down_revision = "0018_reconciliation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE fleet_depots (
            area_id uuid PRIMARY KEY REFERENCES service_areas (id) ON DELETE CASCADE,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
            lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
            opens_s integer NOT NULL CHECK (opens_s BETWEEN 0 AND 172800),
            closes_s integer NOT NULL CHECK (closes_s BETWEEN 0 AND 172800),
            van_count integer NOT NULL CHECK (van_count BETWEEN 1 AND 1000),
            van_capacity_g integer NOT NULL CHECK (van_capacity_g > 0),
            van_fixed_cost_minor integer NOT NULL CHECK (van_fixed_cost_minor >= 0),
            van_cost_per_km_minor integer NOT NULL CHECK (van_cost_per_km_minor >= 0),
            van_cost_per_hour_minor integer NOT NULL CHECK (van_cost_per_hour_minor >= 0),
            van_co2_g_per_km integer NOT NULL CHECK (van_co2_g_per_km >= 0),
            updated_at timestamptz NOT NULL,
            CHECK (opens_s < closes_s)
        );

        CREATE TABLE van_plans (
            id uuid PRIMARY KEY,
            area_id uuid NOT NULL REFERENCES service_areas (id) ON DELETE CASCADE,
            local_date date NOT NULL,
            kind text NOT NULL CHECK (kind IN ('fleet', 'baseline')),
            planned_at timestamptz NOT NULL,
            parcels integer NOT NULL,
            unserved uuid[] NOT NULL,
            routes integer NOT NULL,
            stops integer NOT NULL,
            distance_m bigint NOT NULL,
            duration_s bigint NOT NULL,
            cost_minor bigint NOT NULL,
            currency char(3) NOT NULL,
            co2_g bigint NOT NULL,
            UNIQUE (area_id, local_date, kind)
        );

        CREATE TABLE van_routes (
            plan_id uuid NOT NULL REFERENCES van_plans (id) ON DELETE CASCADE,
            route_no integer NOT NULL,
            leg text NOT NULL CHECK (leg IN ('collection', 'delivery')),
            van text NOT NULL,
            depart_at timestamptz NOT NULL,
            return_at timestamptz NOT NULL,
            distance_m bigint NOT NULL,
            cost_minor bigint NOT NULL,
            co2_g bigint NOT NULL,
            PRIMARY KEY (plan_id, route_no)
        );

        CREATE TABLE van_stops (
            plan_id uuid NOT NULL,
            route_no integer NOT NULL,
            seq integer NOT NULL,
            parcel_id uuid NOT NULL REFERENCES parcels (id) ON DELETE CASCADE,
            lat double precision NOT NULL,
            lng double precision NOT NULL,
            arrive_at timestamptz NOT NULL,
            start_at timestamptz NOT NULL,
            end_at timestamptz NOT NULL,
            PRIMARY KEY (plan_id, route_no, seq),
            FOREIGN KEY (plan_id, route_no) REFERENCES van_routes (plan_id, route_no) ON DELETE CASCADE
        );
        CREATE INDEX van_stops_parcel ON van_stops (parcel_id);
        """,
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE van_stops;
        DROP TABLE van_routes;
        DROP TABLE van_plans;
        DROP TABLE fleet_depots;
        """,
    )
