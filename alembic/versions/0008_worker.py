"""worker: pgqueuer's job queue, job log and schedules (from pgqueuer's own DDL); queued rounds

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

The statements come from pgqueuer's schema declaration (the one `pgq install` renders), one at a
time, so upgrading pgqueuer means a new migration from its plan rather than hand-copied SQL.

A round is `queued` from the request until a worker takes it; at most one round per area is
queued or running, so a second request is answered with that one.
"""

from pgqueuer.adapters.persistence import schema_ddl
from pgqueuer.domain.schema.declaration import target
from pgqueuer.domain.settings import DBSettings

from alembic import op
from marketplace.db.migrations import run_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def install_statements(settings: DBSettings) -> list[str]:
    """`render_install` piece by piece: asyncpg runs one statement per call."""
    schema = target(settings)
    return [
        *(schema_ddl.render_enum(entry, settings) for entry in schema.enums),
        *(schema_ddl.render_table(entry, settings) for entry in schema.tables),
        *(schema_ddl.render_index(entry, settings) for entry in schema.indexes),
        *(schema_ddl.render_function(entry, settings) for entry in schema.functions),
        *(schema_ddl.render_trigger(entry, settings) for entry in schema.triggers),
    ]


def upgrade() -> None:
    run_script("""
    ALTER TABLE matching_rounds DROP CONSTRAINT matching_rounds_status_check;
    ALTER TABLE matching_rounds ADD CONSTRAINT matching_rounds_status_check
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed'));
    DROP INDEX matching_rounds_one_running;
    CREATE UNIQUE INDEX matching_rounds_one_live ON matching_rounds (area_id) WHERE status IN ('queued', 'running');
    CREATE INDEX parcels_fleet_idx ON parcels (area_id, status_changed_at) WHERE status = 'handed_to_fleet'
    """)
    for statement in install_statements(DBSettings()):
        op.execute(statement)


def downgrade() -> None:
    for statement in schema_ddl.render_uninstall(DBSettings()).splitlines():
        if statement.strip():
            op.execute(statement)
    run_script("""
    DROP INDEX parcels_fleet_idx;
    DELETE FROM matching_rounds WHERE status = 'queued';
    DROP INDEX matching_rounds_one_live;
    CREATE UNIQUE INDEX matching_rounds_one_running ON matching_rounds (area_id) WHERE status = 'running';
    ALTER TABLE matching_rounds DROP CONSTRAINT matching_rounds_status_check;
    ALTER TABLE matching_rounds ADD CONSTRAINT matching_rounds_status_check
        CHECK (status IN ('running', 'succeeded', 'failed'))
    """)
