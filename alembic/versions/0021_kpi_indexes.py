"""indexes for the KPIs and /metrics: trips by area and departure, offers by area and creation, unsettled webhook deliveries

Revision ID: 0021_kpi_indexes
Revises: 0016_tracking_finish
Create Date: 2026-12-01

Measured on a seeded month (README "Operations"): the KPIs' capacity read scanned every trip of every
area (the only trips index by area was the open trips'), and `/metrics` counted the webhook backlog
over every delivery ever kept. Offers by area and creation let the KPIs read a day's offers without
going through their rounds. Plain CREATE INDEX (a migration runs in one transaction): on a large
deployment build them by hand with CONCURRENTLY first, and this migration's IF NOT EXISTS skips them.
"""

from marketplace.db.migrations import run_script

revision = "0021_kpi_indexes"
down_revision = "0020_payout_lines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        CREATE INDEX IF NOT EXISTS trips_area_depart_idx ON trips (area_id, depart_after);
        CREATE INDEX IF NOT EXISTS offers_area_created_idx ON offers (area_id, created_at);
        CREATE INDEX IF NOT EXISTS webhook_deliveries_unsettled_idx ON webhook_deliveries (status, created_at)
            WHERE status <> 'succeeded';
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP INDEX webhook_deliveries_unsettled_idx;
        DROP INDEX offers_area_created_idx;
        DROP INDEX trips_area_depart_idx;
        """
    )
