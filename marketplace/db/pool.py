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


class PooledConnection(asyncpg.Connection):
    """A pooled connection that can skip asyncpg's reset round trip when it goes back to the pool.

    asyncpg resets every released connection (advisory locks unlocked, cursors closed, UNLISTEN,
    RESET ALL; after rolling back an open transaction, which it always does): one round trip per
    release, that is per request. Connections lent through `Database` (reads and units of
    work) run repository SQL only, which leaves no session state (no SET, LISTEN, session advisory
    lock or cursor outside a transaction), so they are marked and skip it; any other use of the pool
    (`pool.acquire()`, as matching rounds do for their advisory lock) keeps the full reset.
    """

    __slots__ = ("_no_session_state",)

    def lent_without_session_state(self) -> None:
        self._no_session_state = True

    def get_reset_query(self) -> str:
        if getattr(self, "_no_session_state", False):
            self._no_session_state = False
            return ""
        return str(super().get_reset_query())


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
        connection_class=PooledConnection,
    )
    assert pool is not None
    return pool
