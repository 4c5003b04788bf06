"""The asyncpg pool, with a per-request count of SQL statements for logs and N+1 tests."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

import asyncpg
from asyncpg.connection import LoggedQuery


@dataclass
class StatementCounter:
    count: int = 0


current_statements: contextvars.ContextVar[StatementCounter | None] = contextvars.ContextVar(
    "current_statements", default=None
)


def _record(query: LoggedQuery) -> None:
    counter = current_statements.get()
    if counter is not None:
        counter.count += 1


async def _init_connection(conn: asyncpg.Connection) -> None:
    conn.add_query_logger(_record)


async def create_pool(dsn: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "crowdship"},
        command_timeout=30,
    )
    assert pool is not None
    return pool
