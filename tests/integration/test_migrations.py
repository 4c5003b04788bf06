"""Every migration applies one step at a time, undoes cleanly, and re-applies; the history has one head."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic.script import ScriptDirectory

from marketplace.db import migrations

EXPECTED_TABLES = {
    "organizations",
    "users",
    "sessions",
    "refresh_tokens",
    "api_keys",
    "rate_limit_buckets",
    "idempotency_keys",
    "service_areas",
    "pickup_locations",
    "lockers",
    "verification_requests",
    "verification_documents",
    "courier_level_grants",
    "insurance_policies",
    "vehicles",
    "commute_templates",
    "trips",
    "quotes",
    "jobs",
    "parcels",
    "parcel_events",
    "matching_rounds",
    "offers",
    "offer_parcels",
    "forbidden_pairs",
    # pgqueuer's, installed by 0007
    "pgqueuer",
    "pgqueuer_log",
    "pgqueuer_schedules",
    "pgqueuer_statistics",
    "locker_reservations",
    "photos",
    "delivery_proofs",
    "ledger_accounts",
    "journal_entries",
    "journal_lines",
    "courier_pings",
    "courier_positions",
    "parcel_etas",
    # the outbox: webhooks and notifications (0010_outbox)
    "outbox",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "notifications",
    # 0014_payments
    "payment_customers",
    "payout_accounts",
    "payments",
    "payment_transfers",
    "transfer_holds",
    "courier_payouts",
    "stripe_events",
    # 0017_claims
    "claims",
    "claim_photos",
    "refunds",
    # 0018_reconciliation
    "reconciliation_runs",
    "reconciliation_mismatches",
    # 0019_fleet_depots
    "fleet_depots",
    "van_plans",
    "van_routes",
    "van_stops",
    # 0020_payout_lines
    "platform_payouts",
    "platform_payout_lines",
}
ALEMBIC_OBJECTS = {"alembic_version", "alembic_version_pkc"}


async def applied_revisions(dsn: str) -> list[str] | None:
    """The rows of alembic_version, or None when the table does not exist."""
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL"):
            return None
        return [str(row["version_num"]) for row in await conn.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await conn.close()


async def public_relations(dsn: str) -> set[str]:
    """Tables, indexes, sequences and views in the public schema."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
        return {str(row["relname"]) for row in rows}
    finally:
        await conn.close()


async def public_tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return {str(row["table_name"]) for row in rows}
    finally:
        await conn.close()


async def public_functions_and_types(dsn: str) -> set[str]:
    """Functions and free-standing types (enums, domains) that outlive the tables they served."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
            UNION ALL
            SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm')
            """
        )
        return {str(row["name"]) for row in rows}
    finally:
        await conn.close()


async def test_every_revision_upgrades_and_downgrades_one_step_at_a_time(empty_database_url: str) -> None:
    dsn = empty_database_url
    revisions = migrations.all_revisions()
    assert revisions, "no migrations found"
    assert await applied_revisions(dsn) is None

    for revision in revisions:
        await asyncio.to_thread(migrations.upgrade, dsn, revision)
        assert await applied_revisions(dsn) == [revision]
    assert await public_tables(dsn) >= EXPECTED_TABLES

    for previous in reversed([None, *revisions[:-1]]):
        await asyncio.to_thread(migrations.downgrade, dsn, "-1")
        # At base alembic may keep its (empty) version table or drop it.
        expected: list[list[str] | None] = [[], None] if previous is None else [[previous]]
        assert await applied_revisions(dsn) in expected

    leftovers = await public_relations(dsn)
    assert leftovers <= ALEMBIC_OBJECTS, f"downgrading to base left {sorted(leftovers - ALEMBIC_OBJECTS)}"
    assert await public_functions_and_types(dsn) == set()

    await asyncio.to_thread(migrations.upgrade, dsn, "head")
    assert await applied_revisions(dsn) == [migrations.head_revision()]
    assert await public_tables(dsn) == EXPECTED_TABLES | {"alembic_version"}


async def test_upgrade_to_head_on_an_empty_database_creates_every_table(empty_database_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    assert await public_tables(empty_database_url) == EXPECTED_TABLES | {"alembic_version"}
    assert await applied_revisions(empty_database_url) == [migrations.head_revision()]
    # Applying head again is a no-op, not an error.
    await asyncio.to_thread(migrations.upgrade, empty_database_url)
    assert await applied_revisions(empty_database_url) == [migrations.head_revision()]


def test_history_is_one_linear_chain_with_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(""))
    heads = script.get_heads()
    assert len(heads) == 1, heads
    assert heads == [migrations.head_revision()]

    revisions = migrations.all_revisions()
    assert revisions[-1] == migrations.head_revision()
    assert len(set(revisions)) == len(revisions)
    assert len(script.get_bases()) == 1
    for previous, revision in zip([None, *revisions[:-1]], revisions, strict=True):
        assert script.get_revision(revision).down_revision == previous, revision
