"""tracking finish: when a parcel's "arriving soon" was written, once per parcel like running_late

Revision ID: 0016_tracking_finish
Revises: 0015_tracking_page
Create Date: 2026-12-01

"Arriving soon" follows the live drop-off ETA now: ping processing writes one `arriving_soon` event
when the ETA comes within the threshold, and marks the parcel's ETA row so it is never written twice.
"""

from marketplace.db.migrations import run_script

revision = "0016_tracking_finish"
down_revision = "0019_fleet_depots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("ALTER TABLE parcel_etas ADD COLUMN arriving_soon_at timestamptz;")


def downgrade() -> None:
    run_script("ALTER TABLE parcel_etas DROP COLUMN arriving_soon_at;")
