"""open windows: the parts of a job's pickup and delivery windows when the store and locker are open

A job keeps the windows the retailer asked for and, beside them, the parts the courier is held to
and the matching engine is given: the pickup window clipped to the store's opening hours, a locker
delivery window to the locker's. Jobs booked before keep their windows as they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from marketplace.db.migrations import run_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    ALTER TABLE jobs
        ADD COLUMN pickup_open_from timestamptz,
        ADD COLUMN pickup_open_until timestamptz,
        ADD COLUMN deliver_open_from timestamptz,
        ADD COLUMN deliver_open_until timestamptz;
    UPDATE jobs SET pickup_open_from = pickup_from, pickup_open_until = pickup_until,
                    deliver_open_from = deliver_from, deliver_open_until = deliver_until;
    ALTER TABLE jobs
        ALTER COLUMN pickup_open_from SET NOT NULL,
        ALTER COLUMN pickup_open_until SET NOT NULL,
        ALTER COLUMN deliver_open_from SET NOT NULL,
        ALTER COLUMN deliver_open_until SET NOT NULL,
        ADD CONSTRAINT jobs_pickup_open_within CHECK (
            pickup_from <= pickup_open_from AND pickup_open_from < pickup_open_until
            AND pickup_open_until <= pickup_until),
        ADD CONSTRAINT jobs_deliver_open_within CHECK (
            deliver_from <= deliver_open_from AND deliver_open_from < deliver_open_until
            AND deliver_open_until <= deliver_until);
    """)


def downgrade() -> None:
    run_script("""
    ALTER TABLE jobs
        DROP COLUMN pickup_open_from,
        DROP COLUMN pickup_open_until,
        DROP COLUMN deliver_open_from,
        DROP COLUMN deliver_open_until;
    """)
