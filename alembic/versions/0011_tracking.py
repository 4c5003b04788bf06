"""tracking: courier location pings, positions and ETAs, and live announcements over LISTEN/NOTIFY

Revision ID: 0011
Revises: 0010_outbox
Create Date: 2026-12-01

`courier_pings` keeps at most one point per courier and second (a unique index, so concurrent
batches from any replica keep one), flagged when it implies a speed the vehicle cannot reach; the
worker deletes pings older than 30 days. `courier_positions` is each courier's latest plausible
point and observed pace; `parcel_etas` the estimated pickup and drop-off of every parcel a
courier is bringing, and when its `running_late` event was written (once).

Live announcements: triggers send a small NOTIFY on channel `crowdship_live` in the transaction
of the change (so a rolled-back change announces nothing) for every parcel event (its sequence
number, parcel and organisation), every offer made or decided (offer and courier), and every
session or API key revoked; the tracking service announces a courier's new position itself.
Payloads hold ids only; listeners read the rows.
"""

from marketplace.db.migrations import run_script

revision = "0011"
down_revision = "0010_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE courier_pings (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        trip_id uuid NOT NULL REFERENCES trips (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        recorded_at timestamptz NOT NULL,
        recorded_s bigint NOT NULL,
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
        accuracy_m real CHECK (accuracy_m >= 0),
        speed_mps real CHECK (speed_mps >= 0),
        heading_deg real CHECK (heading_deg >= 0 AND heading_deg < 360),
        implausible boolean NOT NULL,
        received_at timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX courier_pings_one_per_second ON courier_pings (courier_id, recorded_s);
    CREATE INDEX courier_pings_recorded_idx ON courier_pings (recorded_at);

    CREATE TABLE courier_positions (
        courier_id uuid PRIMARY KEY REFERENCES users (id),
        trip_id uuid NOT NULL REFERENCES trips (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
        accuracy_m real,
        heading_deg real,
        recorded_at timestamptz NOT NULL,
        pace_mps double precision CHECK (pace_mps >= 0),
        updated_at timestamptz NOT NULL
    );

    CREATE TABLE parcel_etas (
        parcel_id uuid PRIMARY KEY REFERENCES parcels (id),
        trip_id uuid NOT NULL REFERENCES trips (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        pickup_eta_at timestamptz,
        dropoff_eta_at timestamptz,
        running_late_at timestamptz,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX parcel_etas_trip_idx ON parcel_etas (trip_id);

    CREATE FUNCTION crowdship_announce_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('crowdship_live', 'e ' || n.seq || ' ' || n.parcel_id || ' ' || n.organization_id) FROM new_events n ORDER BY n.seq; RETURN NULL; END $$;
    CREATE TRIGGER parcel_events_announce AFTER INSERT ON parcel_events
        REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION crowdship_announce_events();

    CREATE FUNCTION crowdship_announce_offer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('crowdship_live', 'o ' || NEW.id || ' ' || NEW.courier_id); RETURN NULL; END $$;
    CREATE TRIGGER offers_announce_insert AFTER INSERT ON offers
        FOR EACH ROW EXECUTE FUNCTION crowdship_announce_offer();
    CREATE TRIGGER offers_announce_status AFTER UPDATE OF status ON offers
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION crowdship_announce_offer();

    CREATE FUNCTION crowdship_announce_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('crowdship_live', 's ' || NEW.id); RETURN NULL; END $$;
    CREATE TRIGGER sessions_announce_revoked AFTER UPDATE OF revoked_at ON sessions
        FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
        EXECUTE FUNCTION crowdship_announce_session_revoked();

    CREATE FUNCTION crowdship_announce_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('crowdship_live', 'k ' || NEW.id); RETURN NULL; END $$;
    CREATE TRIGGER api_keys_announce_revoked AFTER UPDATE OF revoked_at ON api_keys
        FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
        EXECUTE FUNCTION crowdship_announce_key_revoked()
    """)


def downgrade() -> None:
    run_script("""
    DROP TRIGGER api_keys_announce_revoked ON api_keys;
    DROP FUNCTION crowdship_announce_key_revoked();
    DROP TRIGGER sessions_announce_revoked ON sessions;
    DROP FUNCTION crowdship_announce_session_revoked();
    DROP TRIGGER offers_announce_status ON offers;
    DROP TRIGGER offers_announce_insert ON offers;
    DROP FUNCTION crowdship_announce_offer();
    DROP TRIGGER parcel_events_announce ON parcel_events;
    DROP FUNCTION crowdship_announce_events();
    DROP TABLE parcel_etas;
    DROP TABLE courier_positions;
    DROP TABLE courier_pings
    """)
