"""transfer_holds: a courier's pay held while its connected account cannot take a transfer

Revision ID: 0022_transfer_holds
Revises: 0021_kpi_indexes
Create Date: 2026-12-01

A settlement whose courier has no payout account, or whose account Stripe refuses transfers to
(`insufficient_capabilities_for_transfer`: requirements past due), records the capture and holds that
courier's transfer here instead of failing the job; `account.updated` turning payouts on queues it again.
Stripe remembers a refused request under its idempotency key and answers every retry with the same
refusal, so `refusals` counts the keys Stripe refused: the next attempt's key is
`transfer:<payment>:<courier>:<refusals>` (the first one's has no suffix). A key changes only after Stripe
refused it, when no transfer exists under it, so no retry can pay twice.
"""

from marketplace.db.migrations import run_script

revision = "0022_transfer_holds"
down_revision = "0021_kpi_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE TABLE transfer_holds (
            payment_id uuid NOT NULL REFERENCES payments (id),
            courier_id uuid NOT NULL REFERENCES users (id),
            area_id uuid NOT NULL REFERENCES service_areas (id),
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            refusals integer NOT NULL DEFAULT 0 CHECK (refusals >= 0),
            reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 100),
            held_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            released_at timestamptz,
            PRIMARY KEY (payment_id, courier_id)
        );
        CREATE INDEX transfer_holds_courier ON transfer_holds (courier_id) WHERE released_at IS NULL;
        """
    )


def downgrade() -> None:
    run_script("DROP TABLE transfer_holds;")
