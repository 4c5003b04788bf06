"""tracking page: the courier's first name, the one thing of a courier the recipient's page shows

Revision ID: 0015_tracking_page
Revises: 0014_payments
Create Date: 2026-12-01

A courier account had no name at all; the tracking page shows the recipient the first name of whoever
brings the parcel (never a phone or an address), so users get an optional `first_name`.
"""

from marketplace.db.migrations import run_script

revision = "0015_tracking_page"
down_revision = "0014_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE users ADD COLUMN first_name text CHECK (length(first_name) BETWEEN 1 AND 100);
        """,
    )


def downgrade() -> None:
    run_script("ALTER TABLE users DROP COLUMN first_name;")
