"""reconciliation: each day's match of Stripe's balance movements against the ledger, and its mismatches

Revision ID: 0018_reconciliation
Revises: 0015_tracking_page
Create Date: 2026-12-01

A run records one reconciliation of one UTC day; running the day again writes a new run and marks the
previous one superseded (history is kept, one current run per day). Each mismatch keeps both sides as
they were read: Stripe's object (id, type, signed amount, currency, time) and the ledger's entry (id,
kind, total under that object, currency, time), with the entry's service area where one is known.
"""

from marketplace.db.migrations import run_script

revision = "0018_reconciliation"
down_revision = "0015_tracking_page"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE reconciliation_runs (
            id uuid PRIMARY KEY,
            day date NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz NOT NULL,
            superseded_at timestamptz,
            superseded_by uuid REFERENCES reconciliation_runs (id),
            stripe_objects integer NOT NULL CHECK (stripe_objects >= 0),
            ledger_entries integer NOT NULL CHECK (ledger_entries >= 0),
            matched integer NOT NULL CHECK (matched >= 0),
            mismatch_count integer NOT NULL CHECK (mismatch_count >= 0),
            created_at timestamptz NOT NULL
        );
        CREATE UNIQUE INDEX reconciliation_runs_current ON reconciliation_runs (day) WHERE superseded_at IS NULL;
        CREATE INDEX reconciliation_runs_day ON reconciliation_runs (day, created_at, id);
        CREATE INDEX reconciliation_runs_page ON reconciliation_runs (created_at, id);

        CREATE TABLE reconciliation_mismatches (
            id uuid PRIMARY KEY,
            run_id uuid NOT NULL REFERENCES reconciliation_runs (id),
            area_id uuid REFERENCES service_areas (id),
            kind text NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_in_stripe', 'amount_differs',
                'currency_differs', 'duplicate')),
            object_id text NOT NULL,
            object_type text NOT NULL,
            stripe_balance_transaction_id text,
            stripe_amount_minor bigint,
            stripe_currency text CHECK (stripe_currency ~ '^[A-Z]{3}$'),
            stripe_created_at timestamptz,
            -- No foreign key: entries are never deleted, and a reference would answer a TRUNCATE of the
            -- journal before its append-only trigger does.
            ledger_entry_id uuid,
            ledger_entry_kind text,
            ledger_amount_minor bigint,
            ledger_currency text CHECK (ledger_currency ~ '^[A-Z]{3}$'),
            ledger_occurred_at timestamptz,
            detail text NOT NULL,
            created_at timestamptz NOT NULL,
            CHECK (stripe_amount_minor IS NOT NULL OR ledger_entry_id IS NOT NULL)
        );
        CREATE INDEX reconciliation_mismatches_run ON reconciliation_mismatches (run_id, created_at, id);
        -- Entries are looked up by the Stripe object they record, whatever their kind.
        CREATE INDEX journal_entries_source_idx ON journal_entries (source_id);
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP INDEX journal_entries_source_idx;
        DROP TABLE reconciliation_mismatches;
        DROP TABLE reconciliation_runs
        """
    )
