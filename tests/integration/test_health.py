"""/health says the process is up; /ready says the database answers and its schema is at the newest migration."""

from __future__ import annotations

import asyncio

from litestar import Litestar

from marketplace.db import migrations
from tests.helpers import GraphQL


async def test_health_is_ok_without_asking_the_database(app_and_gql: tuple[Litestar, GraphQL]) -> None:
    response = await app_and_gql[1].client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_the_head_revision_on_a_migrated_database(app_and_gql: tuple[Litestar, GraphQL]) -> None:
    response = await app_and_gql[1].client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "revision": migrations.head_revision()}


async def test_ready_is_503_while_migrations_are_pending_and_recovers_after_upgrade(
    app_and_gql: tuple[Litestar, GraphQL], database_url: str
) -> None:
    client = app_and_gql[1].client
    head = migrations.head_revision()
    assert (await client.get("/ready")).status_code == 200

    # Alembic runs its own event loop (asyncio.run in env.py), so it gets a thread of its own.
    await asyncio.to_thread(migrations.downgrade, database_url, "base")
    pending = await client.get("/ready")
    assert pending.status_code == 503, pending.text
    assert pending.json() == {"status": "migrations_pending", "current": None, "expected": head}
    # The process itself is still fine: liveness does not depend on the schema.
    health = await client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})

    await asyncio.to_thread(migrations.upgrade, database_url, "head")
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "revision": head}
