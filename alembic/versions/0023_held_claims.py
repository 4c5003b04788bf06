"""held claims: a claim upheld against a courier whose pay is still held is charged to the held pay

Revision ID: 0023_held_claims
Revises: 0022_transfer_holds
Create Date: 2026-12-01

`transfer_holds.deducted_minor` is what upheld claims on the job took out of the held pay (the transfer that
follows pays `amount_minor - deducted_minor`, or nothing, and the hold closes); `sending_minor` is the
amount of the transfer in flight under the hold's current key (set, under the hold's row lock, before
Stripe is called; Stripe must see the same amount on every retry of a key), so a claim never deducts from
pay that is already on its way. `claims.held_deducted_minor` is the part of a claim's charge taken from
held pay (null until the worker decided it); the rest is reversed at Stripe. `transfer_holds.id` gives the
open holds a keyset position (held_at, id) for the `heldTransfers` query.
"""

from marketplace.db.migrations import run_script

revision = "0023_held_claims"
down_revision = "0022_transfer_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE transfer_holds
            ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
            ADD COLUMN deducted_minor bigint NOT NULL DEFAULT 0,
            ADD COLUMN sending_minor bigint,
            ADD CONSTRAINT transfer_holds_deducted CHECK (deducted_minor BETWEEN 0 AND amount_minor),
            ADD CONSTRAINT transfer_holds_sending CHECK (sending_minor > 0 AND sending_minor <= amount_minor);
        CREATE INDEX transfer_holds_open ON transfer_holds (held_at, id) WHERE released_at IS NULL;
        ALTER TABLE claims
            ADD COLUMN held_deducted_minor bigint,
            ADD CONSTRAINT claims_held_deducted CHECK (
                held_deducted_minor >= 0 AND held_deducted_minor <= charged_to_courier_minor);
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE claims DROP COLUMN held_deducted_minor;
        DROP INDEX transfer_holds_open;
        ALTER TABLE transfer_holds DROP COLUMN sending_minor, DROP COLUMN deducted_minor, DROP COLUMN id;
        """
    )
