"""couriers: verification requests and documents, level grants, insurance policies, vehicles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from marketplace.db.migrations import run_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE verification_requests (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        level smallint NOT NULL CHECK (level IN (1, 2)),
        status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
        created_at timestamptz NOT NULL,
        decided_at timestamptz,
        decided_by uuid REFERENCES users (id),
        reason text CHECK (length(reason) <= 1000),
        CONSTRAINT verification_requests_decided CHECK ((status = 'pending') = (decided_at IS NULL)),
        CONSTRAINT verification_requests_decider CHECK ((decided_at IS NULL) = (decided_by IS NULL)),
        CONSTRAINT verification_requests_rejection_reason CHECK (status <> 'rejected' OR reason IS NOT NULL)
    );
    CREATE UNIQUE INDEX verification_requests_one_pending ON verification_requests (courier_id) WHERE status = 'pending';
    CREATE INDEX verification_requests_queue_idx ON verification_requests (created_at, id) WHERE status = 'pending';
    CREATE INDEX verification_requests_courier_idx ON verification_requests (courier_id, created_at, id);
    CREATE INDEX verification_requests_created_idx ON verification_requests (created_at, id);

    CREATE TABLE verification_documents (
        id uuid PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES verification_requests (id) ON DELETE CASCADE,
        position smallint NOT NULL CHECK (position BETWEEN 0 AND 4),
        kind text NOT NULL
            CHECK (kind IN ('passport', 'national_id', 'driving_licence', 'residence_permit', 'background_check')),
        issuing_country text NOT NULL CHECK (issuing_country ~ '^[A-Z]{2}$'),
        expires_at timestamptz NOT NULL,
        number_last4 text NOT NULL CHECK (number_last4 ~ '^[A-Z0-9]{4}$'),
        UNIQUE (request_id, position)
    );

    CREATE TABLE courier_level_grants (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        level smallint NOT NULL CHECK (level IN (1, 2)),
        request_id uuid NOT NULL UNIQUE REFERENCES verification_requests (id),
        granted_at timestamptz NOT NULL,
        valid_until timestamptz NOT NULL CHECK (valid_until > granted_at),
        granted_by uuid NOT NULL REFERENCES users (id),
        revoked_at timestamptz,
        revoked_by uuid REFERENCES users (id),
        revoke_reason text CHECK (length(revoke_reason) <= 1000),
        CONSTRAINT courier_level_grants_revocation CHECK (
            (revoked_at IS NULL) = (revoked_by IS NULL) AND (revoked_at IS NULL) = (revoke_reason IS NULL)
        )
    );
    CREATE INDEX courier_level_grants_courier_idx ON courier_level_grants (courier_id, valid_until);

    CREATE TABLE insurance_policies (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        insurer text NOT NULL CHECK (length(insurer) BETWEEN 1 AND 200),
        policy_number text NOT NULL CHECK (length(policy_number) BETWEEN 1 AND 100),
        cover_per_parcel_minor bigint NOT NULL CHECK (cover_per_parcel_minor > 0),
        cover_per_trip_minor bigint NOT NULL CHECK (cover_per_trip_minor >= cover_per_parcel_minor),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        valid_from timestamptz NOT NULL,
        valid_until timestamptz NOT NULL CHECK (valid_until > valid_from),
        status text NOT NULL CHECK (status IN ('pending', 'verified', 'rejected')),
        created_at timestamptz NOT NULL,
        decided_at timestamptz,
        decided_by uuid REFERENCES users (id),
        reason text CHECK (length(reason) <= 1000),
        CONSTRAINT insurance_policies_decided CHECK ((status = 'pending') = (decided_at IS NULL)),
        CONSTRAINT insurance_policies_decider CHECK ((decided_at IS NULL) = (decided_by IS NULL)),
        CONSTRAINT insurance_policies_rejection_reason CHECK (status <> 'rejected' OR reason IS NOT NULL)
    );
    CREATE INDEX insurance_policies_courier_idx ON insurance_policies (courier_id, created_at, id);
    CREATE INDEX insurance_policies_created_idx ON insurance_policies (created_at, id);
    CREATE INDEX insurance_policies_queue_idx ON insurance_policies (created_at, id) WHERE status = 'pending';
    CREATE UNIQUE INDEX insurance_policies_number_key
        ON insurance_policies (courier_id, lower(insurer), policy_number) WHERE status <> 'rejected';

    CREATE TABLE vehicles (
        id uuid PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        kind text NOT NULL CHECK (kind IN ('foot', 'bicycle', 'cargo_bike', 'e_scooter', 'car', 'van', 'public_transport')),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        max_weight_g integer NOT NULL CHECK (max_weight_g > 0),
        max_volume_cm3 integer NOT NULL CHECK (max_volume_cm3 > 0),
        zero_emission boolean NOT NULL,
        co2_g_per_km integer NOT NULL CHECK (co2_g_per_km >= 0),
        typical_speed_kmh integer NOT NULL CHECK (typical_speed_kmh > 0),
        created_at timestamptz NOT NULL,
        retired_at timestamptz,
        CONSTRAINT vehicles_zero_emission_emits_nothing CHECK (NOT zero_emission OR co2_g_per_km = 0)
    );
    CREATE INDEX vehicles_courier_idx ON vehicles (courier_id, created_at, id);
    CREATE INDEX vehicles_created_idx ON vehicles (created_at, id);
    """)


def downgrade() -> None:
    run_script("""
    DROP TABLE vehicles;
    DROP TABLE insurance_policies;
    DROP TABLE courier_level_grants;
    DROP TABLE verification_documents;
    DROP TABLE verification_requests;
    """)
