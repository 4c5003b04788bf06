"""Alembic runs the hand-written revisions over asyncpg, the same driver the service uses."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import context

config = context.config


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run(dsn: str) -> None:
    # async_creator lets asyncpg parse the DSN itself, Unix-socket `?host=` paths included.
    engine = create_async_engine("postgresql+asyncpg://", async_creator=lambda: asyncpg.connect(dsn))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `crowdship db upgrade`")

asyncio.run(_run(config.attributes["dsn"]))
