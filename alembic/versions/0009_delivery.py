"""delivery: proof at pickup and hand-over, locker compartments, photos, cancellation fees

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Parcels get the codes generated at booking (the label code shown to the retailer, the recipient's
PIN stored only as a keyed hash, with a failure counter and a lock), what a deposit in a locker
gives the recipient, and what a cancellation cost. Locker compartments are reserved per parcel
(`locker_reservations`; counting under a lock on the locker row keeps a size from being
overbooked). Photos are stored by content hash in a blob store; only their metadata lives here.
Proof of hand-over (PIN checked, photo, signature strokes, ID / 18+ check: document kind and
result, never a number or an image) is one row per settled hand-over.
"""

from marketplace.db.migrations import run_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JOB_STATUSES_BEFORE = "'booked', 'assigned', 'in_transit', 'delivered', 'failed', 'returned', 'cancelled'"
JOB_STATUSES = JOB_STATUSES_BEFORE + ", 'in_locker', 'handed_to_fleet'"


def upgrade() -> None:
    run_script(_UPGRADE.replace("{JOB_STATUSES}", JOB_STATUSES))


_UPGRADE = """
    ALTER TABLE parcels
        ADD COLUMN label_code text CHECK (label_code ~ '^[A-Z0-9]{8}$'),
        ADD COLUMN pin_hash bytea,
        ADD COLUMN pin_failures smallint NOT NULL DEFAULT 0 CHECK (pin_failures BETWEEN 0 AND 5),
        ADD COLUMN pin_locked_at timestamptz,
        ADD COLUMN locker_id uuid REFERENCES lockers (id),
        ADD COLUMN locker_pickup_code text CHECK (locker_pickup_code ~ '^[0-9]{6}$'),
        ADD COLUMN deposited_at timestamptz,
        ADD COLUMN cancellation_fee_minor bigint CHECK (cancellation_fee_minor >= 0),
        ADD COLUMN cancelled_at timestamptz;
    CREATE INDEX parcels_in_locker_idx ON parcels (deposited_at) WHERE status = 'in_locker';

    ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
    ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ({JOB_STATUSES}));

    CREATE TABLE locker_reservations (
        id uuid PRIMARY KEY,
        locker_id uuid NOT NULL REFERENCES lockers (id),
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        size text NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
        status text NOT NULL CHECK (status IN ('held', 'occupied', 'released')),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE UNIQUE INDEX locker_reservations_one_live ON locker_reservations (parcel_id) WHERE status <> 'released';
    CREATE INDEX locker_reservations_locker_idx ON locker_reservations (locker_id, size) WHERE status <> 'released';

    CREATE TABLE photos (
        sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
        size_bytes integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 10485760),
        uploaded_by_user_id uuid NOT NULL REFERENCES users (id),
        created_at timestamptz NOT NULL
    );

    CREATE TABLE delivery_proofs (
        id uuid PRIMARY KEY,
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        kind text NOT NULL CHECK (kind IN ('handover', 'safe_place')),
        pin_verified boolean NOT NULL,
        photo_sha256 text REFERENCES photos (sha256),
        signature jsonb,
        id_document_kind text CHECK (id_document_kind IN ('passport', 'national_id', 'driving_licence', 'residence_permit')),
        id_check_result text CHECK (id_check_result IN ('passed', 'failed')),
        lat double precision CHECK (lat BETWEEN -90 AND 90),
        lng double precision CHECK (lng BETWEEN -180 AND 180),
        created_at timestamptz NOT NULL,
        CONSTRAINT delivery_proofs_id_check CHECK ((id_document_kind IS NULL) = (id_check_result IS NULL)),
        CONSTRAINT delivery_proofs_position CHECK ((lat IS NULL) = (lng IS NULL))
    );
    CREATE INDEX delivery_proofs_parcel_idx ON delivery_proofs (parcel_id, created_at)
    """


def downgrade() -> None:
    run_script(
        """
    DROP TABLE delivery_proofs;
    DROP TABLE photos;
    DROP TABLE locker_reservations;
    UPDATE jobs SET status = 'assigned' WHERE status IN ('in_locker', 'handed_to_fleet');
    ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
    ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ({JOB_STATUSES_BEFORE}));
    DROP INDEX parcels_in_locker_idx;
    ALTER TABLE parcels DROP COLUMN label_code, DROP COLUMN pin_hash, DROP COLUMN pin_failures,
        DROP COLUMN pin_locked_at, DROP COLUMN locker_id, DROP COLUMN locker_pickup_code, DROP COLUMN deposited_at,
        DROP COLUMN cancellation_fee_minor, DROP COLUMN cancelled_at
    """.replace("{JOB_STATUSES_BEFORE}", JOB_STATUSES_BEFORE)
    )
