"""payout lines: the platform's payouts with the balance transactions each settles; couriers' payouts paged

Revision ID: 0020_payout_lines
Revises: 0016_tracking_finish
Create Date: 2026-12-01

`platform_payouts` records each payout of the platform's Stripe balance to its bank as Stripe has it
(amount, status, automatic, created, arrival) and when its ledger entries were posted (`posted_at`, once
paid). `platform_payout_lines` are the balance transactions the payout settles (Stripe's
`balance_transactions?payout=`, the payout's own left out, so the lines' net sums to the payout), each
with the service area and the ledger entries it was matched to: the entry under its object (charge,
refund, transfer, reversal) and the `stripe_fee` entry under its fee. The payout's ledger entries are one
per area, under `<po_ id>:<area id>`. `courier_payouts` gets an id and a recording time, to be paged.
"""

from marketplace.db.migrations import run_script

revision = "0020_payout_lines"
down_revision = "0017_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE platform_payouts (
            id uuid PRIMARY KEY,
            payout_id text NOT NULL UNIQUE CHECK (payout_id ~ '^po_[A-Za-z0-9]+$'),
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            status text NOT NULL,
            automatic boolean NOT NULL,
            stripe_created_at timestamptz NOT NULL,
            arrival_at timestamptz NOT NULL,
            posted_at timestamptz,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE INDEX platform_payouts_page ON platform_payouts (stripe_created_at, id);

        CREATE TABLE platform_payout_lines (
            payout_id text NOT NULL REFERENCES platform_payouts (payout_id),
            balance_transaction_id text NOT NULL,
            type text NOT NULL,
            source_id text,
            amount_minor bigint NOT NULL,
            fee_minor bigint NOT NULL CHECK (fee_minor >= 0),
            net_minor bigint NOT NULL,
            currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            stripe_created_at timestamptz NOT NULL,
            area_id uuid REFERENCES service_areas (id),
            -- No foreign keys to the journal: a reference would answer a TRUNCATE of it before its
            -- append-only trigger does (as reconciliation_mismatches).
            entry_id uuid,
            fee_entry_id uuid,
            PRIMARY KEY (payout_id, balance_transaction_id),
            CHECK (net_minor = amount_minor - fee_minor)
        );

        ALTER TABLE courier_payouts ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
        ALTER TABLE courier_payouts ADD COLUMN created_at timestamptz;
        UPDATE courier_payouts SET created_at = updated_at;
        ALTER TABLE courier_payouts ALTER COLUMN created_at SET NOT NULL;
        CREATE UNIQUE INDEX courier_payouts_id ON courier_payouts (id);
        CREATE INDEX courier_payouts_page ON courier_payouts (created_at, id);
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP INDEX courier_payouts_page;
        DROP INDEX courier_payouts_id;
        ALTER TABLE courier_payouts DROP COLUMN created_at;
        ALTER TABLE courier_payouts DROP COLUMN id;
        DROP TABLE platform_payout_lines;
        DROP TABLE platform_payouts
        """
    )
