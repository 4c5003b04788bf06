"""payments: Stripe customers, courier payout accounts, one payment per job, transfers, webhook events

Revision ID: 0014_payments
Revises: 0012_ledger
Create Date: 2026-12-01

Every row keeps the Stripe ids next to what it records (PaymentIntent, charge, balance transaction,
transfer, payout, event), so reconciliation can match Stripe's lists to the ledger lines posted under
the same ids. A payment is one manual-capture PaymentIntent per job; its transfers are unique per
(payment, courier), which with the ledger's (kind, source_id) key makes a retried settlement move
and post nothing twice. Webhook events are stored once by event id before they are processed.
"""

from marketplace.db.migrations import run_script

revision = "0014_payments"
down_revision = "0012_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(_UPGRADE)


_UPGRADE = """
    CREATE TABLE payment_customers (
        organization_id uuid PRIMARY KEY REFERENCES organizations (id),
        customer_id text NOT NULL UNIQUE,
        payment_method_id text,
        card_brand text,
        card_last4 text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );

    CREATE TABLE payout_accounts (
        courier_id uuid PRIMARY KEY REFERENCES users (id),
        account_id text NOT NULL UNIQUE,
        payouts_enabled boolean NOT NULL DEFAULT false,
        requirements text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );

    CREATE TABLE payments (
        id uuid PRIMARY KEY,
        job_id uuid NOT NULL UNIQUE REFERENCES jobs (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        organization_id uuid NOT NULL REFERENCES organizations (id),
        payment_intent_id text UNIQUE,  -- null while pending (a pickup more than 7 days out)
        transfer_group text NOT NULL UNIQUE,
        status text NOT NULL CHECK (status IN ('pending', 'authorized', 'failed', 'captured', 'cancelled')),
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        captured_minor bigint CHECK (captured_minor >= 0),
        charge_id text,
        balance_transaction_id text,
        fee_minor bigint CHECK (fee_minor >= 0),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        authorize_at timestamptz NOT NULL,
        CHECK ((status = 'captured') = (captured_minor IS NOT NULL AND charge_id IS NOT NULL)),
        CHECK ((status IN ('pending', 'failed')) = (payment_intent_id IS NULL))
    );
    CREATE INDEX payments_area ON payments (area_id, updated_at);

    CREATE TABLE payment_transfers (
        id uuid PRIMARY KEY,
        payment_id uuid NOT NULL REFERENCES payments (id),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        courier_id uuid NOT NULL REFERENCES users (id),
        transfer_id text NOT NULL UNIQUE,
        destination text NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        created_at timestamptz NOT NULL,
        UNIQUE (payment_id, courier_id)
    );
    CREATE INDEX payment_transfers_courier ON payment_transfers (courier_id, created_at);

    CREATE TABLE courier_payouts (
        payout_id text PRIMARY KEY,
        courier_id uuid NOT NULL REFERENCES users (id),
        account_id text NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor > 0),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        status text NOT NULL,
        arrival_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX courier_payouts_courier ON courier_payouts (courier_id, arrival_at);

    CREATE TABLE stripe_events (
        id text PRIMARY KEY,
        type text NOT NULL,
        account_id text,
        object_id text NOT NULL,
        received_at timestamptz NOT NULL,
        processed_at timestamptz
    )
"""


def downgrade() -> None:
    run_script(
        """
    DROP TABLE stripe_events;
    DROP TABLE courier_payouts;
    DROP TABLE payment_transfers;
    DROP TABLE payments;
    DROP TABLE payout_accounts;
    DROP TABLE payment_customers
    """
    )
