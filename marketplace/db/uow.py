"""Unit of work: one connection, one transaction, every repository bound to it.

Within a request scope (`Database.request_scope()`, opened by the HTTP middleware) every read and
unit of work of the request shares one pooled connection, acquired on first use and released when the
request ends: a request used to take a connection from the pool once per read (authentication, the
list, each dataloader), and every release costs the pool a reset round trip. Uses from concurrent
tasks of the request (dataloaders dispatched together) take turns on it; a use nested inside another
in the same task (a read inside a unit of work) takes its own pooled connection, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Literal, Self

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from marketplace.repositories import Repositories

Isolation = Literal["read_committed", "repeatable_read", "serializable"]


class _FairPool:
    """The pool's connections handed out in the order they were asked for.

    asyncpg's pool queue is not fair: a connection released to a waiting task can be taken by a task
    that asks in the meantime, and the waiter queues again at the back. With more requests than
    connections (64 clients on 10 connections) that showed as the tail: under bench_api's read load
    the median request waited 0.5 s for its connection and the 99th percentile 1.6 s. A FIFO
    semaphore of the pool's size in front of it (asyncio's is fair) makes every waiter's turn come in
    order. Uses of the pool outside `Database` (matching rounds' `pool.acquire()`) bypass it, which
    costs them their place in line, not correctness.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._turns = asyncio.Semaphore(pool.get_max_size())

    async def acquire(self) -> PoolConnectionProxy:
        await self._turns.acquire()
        try:
            conn: PoolConnectionProxy = await self.pool.acquire()
        except BaseException:
            self._turns.release()
            raise
        return conn

    async def release(self, conn: PoolConnectionProxy) -> None:
        try:
            await self.pool.release(conn)
        finally:
            self._turns.release()


class _RequestConnection:
    """The one connection of a request, lent to one use at a time."""

    def __init__(self, pool: _FairPool) -> None:
        self.pool = pool
        self.turn = asyncio.Lock()
        self.conn: PoolConnectionProxy | None = None
        self.repos: Repositories | None = None  # bound to `conn`, made once per request
        # Set when the request ends: a task it started that outlives it uses the pool like any other.
        self.closed = False

    async def borrow(self) -> PoolConnectionProxy:
        """Called holding `turn`."""
        if self.conn is None:
            self.conn = await self.pool.acquire()
        return self.conn

    async def discard(self) -> None:
        """After a failure that may have left the connection unusable: the pool checks or replaces it."""
        conn, self.conn, self.repos = self.conn, None, None
        if conn is not None:
            await self.pool.release(conn)


def _lent(conn: PoolConnectionProxy) -> None:
    """Repository SQL leaves no session state: the pool may skip its reset (see `PooledConnection`)."""
    mark = getattr(conn, "lent_without_session_state", None)
    if mark is not None:  # a pool made elsewhere, with asyncpg's own connection class
        mark()


_request: contextvars.ContextVar[_RequestConnection | None] = contextvars.ContextVar("request_connection", default=None)
# True inside a use of the request's connection, in that task (and tasks it starts): a nested use
# must not wait for the turn its own task holds.
_in_use: contextvars.ContextVar[bool] = contextvars.ContextVar("request_connection_in_use", default=False)


def _shared(pool: _FairPool) -> _RequestConnection | None:
    held = _request.get()
    if held is None or held.closed or held.pool.pool is not pool.pool or _in_use.get():
        return None
    return held


class _Lease:
    """A connection for one use: the request's (waiting for its turn) or the pool's."""

    def __init__(self, pool: _FairPool) -> None:
        self._pool = pool
        self._shared: _RequestConnection | None = None
        self._token: contextvars.Token[bool] | None = None

    def repositories(self, conn: PoolConnectionProxy) -> Repositories:
        """The request's repositories when lent its connection (building two dozen of them per read
        showed in profiles), else a fresh set for the pool's connection."""
        shared = self._shared
        if shared is None:
            return Repositories(conn)
        if shared.repos is None:
            shared.repos = Repositories(conn)
        return shared.repos

    async def take(self) -> PoolConnectionProxy:
        shared = _shared(self._pool)
        if shared is None:
            conn = await self._pool.acquire()
            _lent(conn)
            return conn
        await shared.turn.acquire()
        try:
            conn = await shared.borrow()
        except BaseException:
            shared.turn.release()
            raise
        _lent(conn)
        self._shared = shared
        self._token = _in_use.set(True)
        return conn

    async def give_back(self, conn: PoolConnectionProxy, *, broken: bool = False) -> None:
        shared, self._shared = self._shared, None
        if shared is None:
            await self._pool.release(conn)
            return
        try:
            if broken:
                await shared.discard()
        finally:
            if self._token is not None:
                _in_use.reset(self._token)
                self._token = None
            shared.turn.release()


class UnitOfWork:
    """Rolls back unless `commit()` was called, so an exception or a DomainError writes nothing."""

    def __init__(self, pool: _FairPool, *, isolation: Isolation = "read_committed", readonly: bool = False) -> None:
        self._pool = pool
        self._isolation = isolation
        self._readonly = readonly
        self._lease = _Lease(pool)
        self._conn: PoolConnectionProxy | None = None
        self._tx: Transaction | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        self._conn = await self._lease.take()
        try:
            self._tx = self._conn.transaction(isolation=self._isolation, readonly=self._readonly)
            await self._tx.start()
        except BaseException:
            await self._lease.give_back(self._conn, broken=True)
            self._conn = self._tx = None
            raise
        self._committed = False
        self.repos = self._lease.repositories(self._conn)
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
        broken = False
        try:
            if not self._committed:
                try:
                    await self._tx.rollback()
                except BaseException:
                    broken = True
                    raise
        finally:
            await self._lease.give_back(self._conn, broken=broken)
            self._conn = self._tx = None


class Database:
    """What services hold: a way to open a unit of work, or to read without one."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._fair = _FairPool(pool)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._fair)

    def read(self) -> _Reader:
        return _Reader(self._fair)

    def autocommit(self) -> _Reader:
        """The connection without a transaction, for one write that must be committed on its own and at
        once (a single statement is atomic): no BEGIN and COMMIT round trips around it."""
        return _Reader(self._fair)

    def snapshot(self) -> UnitOfWork:
        """A read-only transaction whose reads all see one moment, for exports that join several reads."""
        return UnitOfWork(self._fair, isolation="repeatable_read", readonly=True)

    @asynccontextmanager
    async def request_scope(self) -> AsyncIterator[None]:
        """Every use of this database inside the block (and tasks started in it) shares one connection."""
        held = _RequestConnection(self._fair)
        token = _request.set(held)
        try:
            yield
        finally:
            _request.reset(token)
            held.closed = True
            async with held.turn:
                await held.discard()


class _Reader:
    """A connection in autocommit, for reads that need no transaction (and single-statement writes)."""

    def __init__(self, pool: _FairPool) -> None:
        self._lease = _Lease(pool)
        self._conn: PoolConnectionProxy | None = None

    async def __aenter__(self) -> Repositories:
        self._conn = await self._lease.take()
        return self._lease.repositories(self._conn)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        conn, self._conn = self._conn, None
        # A read cut off mid-query (a cancelled task) may leave the connection busy: the pool resets it.
        await self._lease.give_back(conn, broken=exc_type is not None and not issubclass(exc_type, Exception))
