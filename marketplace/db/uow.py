"""Unit of work: one connection, one transaction, every repository bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from marketplace.repositories import Repositories

Isolation = Literal["read_committed", "repeatable_read", "serializable"]


class UnitOfWork:
    """Rolls back unless `commit()` was called, so an exception or a DomainError writes nothing."""

    def __init__(self, pool: asyncpg.Pool, *, isolation: Isolation = "read_committed", readonly: bool = False) -> None:
        self._pool = pool
        self._isolation = isolation
        self._readonly = readonly
        self._conn: PoolConnectionProxy | None = None
        self._tx: Transaction | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction(isolation=self._isolation, readonly=self._readonly)
            await self._tx.start()
        except BaseException:
            await self._pool.release(self._conn)
            self._conn = self._tx = None
            raise
        self._committed = False
        self.repos = Repositories(self._conn)
        return self

    async def commit(self) -> None:
        assert self._tx is not None
        await self._tx.commit()
        self._committed = True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        assert self._tx is not None
        try:
            if not self._committed:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = self._tx = None


class Database:
    """What services hold: a way to open a unit of work, or to read without one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.pool)

    def read(self) -> _Reader:
        return _Reader(self.pool)

    def snapshot(self) -> UnitOfWork:
        """A read-only transaction whose reads all see one moment, for exports that join several reads."""
        return UnitOfWork(self.pool, isolation="repeatable_read", readonly=True)


class _Reader:
    """A pooled connection in autocommit for reads that need no transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy | None = None

    async def __aenter__(self) -> Repositories:
        self._conn = await self._pool.acquire()
        return Repositories(self._conn)

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        await self._pool.release(self._conn)
        self._conn = None
