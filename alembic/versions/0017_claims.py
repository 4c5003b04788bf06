"""claims: refunds (by operations and for claims) and retailers' claims for lost or damaged parcels

Revision ID: 0017_claims
Revises: 0016_tracking_finish
Create Date: 2026-12-01

Every Stripe refund is one `refunds` row, written `pending` (with its amount reserved against what was
captured) before Stripe is called and `succeeded` with Stripe's `re_...` id in the transaction that posts
its ledger entry under the same id; so "captured minus refunded" is one sum over this table, and
reconciliation matches refunds by id. A claim names its parcel, its job's payment and, once upheld,
what the retailer is paid, what the courier at fault is charged (the transfer reversal `trr_...`) and
the courier's insurance policy for recovery. `payments.captured_at` dates the settlement a claim's 14
days run from.
"""

from marketplace.db.migrations import run_script

revision = "0017_claims"
down_revision = "0016_tracking_finish"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(_UPGRADE)


_UPGRADE = """
    ALTER TABLE payments ADD COLUMN captured_at timestamptz;
    UPDATE payments SET captured_at = updated_at WHERE status = 'captured';
    ALTER TABLE payments ADD CONSTRAINT payments_captured_at CHECK ((status = 'captured') = (captured_at IS NOT NULL));

    -- A retailer's API key uploads a claim's photos too: it names its organisation, not a user.
    ALTER TABLE photos ALTER COLUMN uploaded_by_user_id DROP NOT NULL;
    ALTER TABLE photos ADD COLUMN uploaded_by_organization_id uuid REFERENCES organizations (id);
    ALTER TABLE photos ADD CONSTRAINT photos_uploader
        CHECK ((uploaded_by_user_id IS NULL) <> (uploaded_by_organization_id IS NULL));

    CREATE TABLE claims (
        id uuid PRIMARY KEY,
        parcel_id uuid NOT NULL REFERENCES parcels (id),
        job_id uuid NOT NULL REFERENCES jobs (id),
        payment_id uuid NOT NULL REFERENCES payments (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        kind text NOT NULL CHECK (kind IN ('lost', 'damaged')),
        description text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
        claimed_minor bigint NOT NULL CHECK (claimed_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        status text NOT NULL CHECK (status IN ('filed', 'upheld', 'rejected', 'paid')),
        filed_by_user_id uuid REFERENCES users (id),  -- null when an API key filed it
        created_at timestamptz NOT NULL,
        decided_by uuid REFERENCES users (id),
        decided_at timestamptz,
        decision_reason text,
        upheld_minor bigint CHECK (upheld_minor > 0 AND upheld_minor <= claimed_minor),
        courier_at_fault boolean,
        courier_id uuid REFERENCES users (id),
        insurance_policy_id uuid REFERENCES insurance_policies (id),
        charged_to_courier_minor bigint NOT NULL DEFAULT 0 CHECK (charged_to_courier_minor >= 0),
        refund_id text,  -- Stripe's re_... (null when nothing was left to refund on the card)
        refunded_minor bigint CHECK (refunded_minor >= 0),
        reversal_id text,  -- Stripe's trr_...
        reversal_error text,  -- Stripe refused the reversal (the courier's balance): recovery stays open
        paid_at timestamptz,
        updated_at timestamptz NOT NULL,
        CHECK ((status = 'filed') = (decided_at IS NULL)),
        CHECK (status <> 'rejected' OR decision_reason IS NOT NULL),
        CHECK ((status IN ('upheld', 'paid')) = (upheld_minor IS NOT NULL)),
        CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
        CHECK (charged_to_courier_minor = 0 OR (courier_at_fault AND courier_id IS NOT NULL)),
        CHECK (charged_to_courier_minor <= coalesce(upheld_minor, 0))
    );
    -- One live claim per parcel: a rejected one may be filed again (within the window).
    CREATE UNIQUE INDEX claims_one_per_parcel ON claims (parcel_id) WHERE status <> 'rejected';
    CREATE INDEX claims_created ON claims (created_at, id);
    CREATE INDEX claims_organization ON claims (organization_id, created_at, id);
    CREATE INDEX claims_open ON claims (created_at, id) WHERE status = 'filed';

    CREATE TABLE claim_photos (
        claim_id uuid NOT NULL REFERENCES claims (id),
        position smallint NOT NULL CHECK (position >= 0),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        photo_sha256 text NOT NULL REFERENCES photos (sha256),
        PRIMARY KEY (claim_id, position)
    );

    CREATE TABLE refunds (
        id uuid PRIMARY KEY,
        payment_id uuid NOT NULL REFERENCES payments (id),
        job_id uuid NOT NULL REFERENCES jobs (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        claim_id uuid UNIQUE REFERENCES claims (id),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        reason text NOT NULL CHECK (reason IN ('duplicate', 'fraudulent', 'requested_by_customer', 'service_failure',
                                               'goodwill', 'claim', 'other')),
        note text CHECK (length(note) <= 1000),
        status text NOT NULL CHECK (status IN ('pending', 'succeeded')),
        refund_id text UNIQUE,  -- Stripe's re_..., once Stripe answered
        requested_by uuid REFERENCES users (id),
        created_at timestamptz NOT NULL,
        succeeded_at timestamptz,
        CHECK ((status = 'succeeded') = (refund_id IS NOT NULL AND succeeded_at IS NOT NULL)),
        CHECK ((reason = 'claim') = (claim_id IS NOT NULL))
    );
    CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
    CREATE INDEX refunds_area ON refunds (area_id, created_at)
"""


def downgrade() -> None:
    run_script(
        """
    DROP TABLE refunds;
    DROP TABLE claim_photos;
    DROP TABLE claims;
    DELETE FROM photos WHERE uploaded_by_user_id IS NULL;
    ALTER TABLE photos DROP CONSTRAINT photos_uploader;
    ALTER TABLE photos DROP COLUMN uploaded_by_organization_id;
    ALTER TABLE photos ALTER COLUMN uploaded_by_user_id SET NOT NULL;
    ALTER TABLE payments DROP CONSTRAINT payments_captured_at;
    ALTER TABLE payments DROP COLUMN captured_at
    """
    )
