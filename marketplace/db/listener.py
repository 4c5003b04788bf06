"""One LISTEN connection per process, fanning PostgreSQL notifications out to live subscribers.

Every replica listens on `crowdship_live`; writers NOTIFY in the transaction of the change (triggers
on parcel events, offers, sessions and API keys; the tracking service for positions), so whatever
replica a change happened on, every replica's subscribers hear of it, and nothing that rolled back
is announced. Payloads are ids only: `e <seq> <parcel> <organization>`, `o <offer> <courier>`,
`c <courier>`, `s <session>`, `k <api key>`; subscribers read the rows.

The connection is owned by the application's lifespan. When it is lost (a database restart, a
terminated backend, a network cut), the listener reconnects with back-off and then tells every
subscriber to resynchronise (`RESYNC`): they read what they missed from the event history by
sequence number, so a subscriber survives the gap without losing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from marketplace.logs import get_logger
from marketplace.repositories.tracking import LIVE_CHANNEL, TrackingRepository

log = get_logger("crowdship.live")

# Sent to every subscription after a reconnect: notifications may have been missed meanwhile.
RESYNC = "resync"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: its kind (`e`, `o`, `c`, `s`, `k`, or RESYNC) and its ids."""

    kind: str
    ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, payload: str) -> Notice | None:
        parts = payload.split()
        if not parts:
            return None
        return cls(parts[0], tuple(parts[1:]))

    def topics(self) -> tuple[str, ...]:
        """Which subscriptions care: topics are `<kind>:<id>` for each id the payload names."""
        return tuple(f"{self.kind}:{i}" for i in self.ids)


@dataclass(eq=False)
class Subscription:
    """What one live subscriber receives: notices on its topics, and RESYNC after a reconnect."""

    listener: Listener
    topics: set[str]
    queue: asyncio.Queue[Notice] = field(default_factory=asyncio.Queue)

    def add(self, *topics: str) -> None:
        self.topics.update(topics)
        self.listener._index(self, topics)

    def close(self) -> None:
        self.listener._drop(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener:
    def __init__(self, dsn: str, *, keepalive_s: float = 5.0, max_backoff_s: float = 5.0) -> None:
        self._dsn = dsn
        self._keepalive_s = keepalive_s
        self._max_backoff_s = max_backoff_s
        self._by_topic: dict[str, set[Subscription]] = {}
        self._all: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        # How many times the connection was (re)established; tests and operations read it.
        self.generation = 0

    # --- subscribers ----------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        subscription = Subscription(self, set())
        self._all.add(subscription)
        subscription.add(*topics)
        return subscription

    def _index(self, subscription: Subscription, topics: Iterable[str]) -> None:
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(subscription)

    def _drop(self, subscription: Subscription) -> None:
        self._all.discard(subscription)
        for topic in subscription.topics:
            holders = self._by_topic.get(topic)
            if holders is not None:
                holders.discard(subscription)
                if not holders:
                    del self._by_topic[topic]

    @property
    def subscribers(self) -> int:
        return len(self._all)

    def _deliver(self, notice: Notice) -> None:
        targets: set[Subscription] = set()
        for topic in notice.topics():
            targets |= self._by_topic.get(topic, set())
        for subscription in targets:
            subscription.queue.put_nowait(notice)

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        notice = Notice.parse(str(payload))
        if notice is not None:
            self._deliver(notice)

    # --- the connection -------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts listening; returns once the first connection listens (or raises if it cannot)."""
        conn = await self._connect()
        self._task = asyncio.create_task(self._run(conn), name="crowdship-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._dsn, server_settings={"application_name": "crowdship-listener"})
        try:
            await conn.add_listener(LIVE_CHANNEL, self._on_notification)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self.generation += 1
        self.connected.set()
        log.info("listening", channel=LIVE_CHANNEL, generation=self.generation)
        return conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.connected.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Returns when the connection is lost: closed under us, or a keep-alive query failing."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._keepalive_s)
                continue
            try:
                await asyncio.wait_for(TrackingRepository(conn).alive(), self._keepalive_s)
            except Exception as exc:  # whatever broke the connection, the answer is to reconnect
                log.warning("listener keep-alive failed", error=type(exc).__name__)
                return

    async def _run(self, conn: asyncpg.Connection) -> None:
        while True:
            await self._watch(conn)
            log.warning("listener connection lost; reconnecting", generation=self.generation)
            await self._close()
            backoff = 0.05
            while True:
                try:
                    conn = await self._connect()
                    break
                except Exception as exc:  # the database is still away: wait and try again, never give up
                    log.warning("listener reconnect failed", error=type(exc).__name__, retry_in_s=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
            # Anything announced while no connection listened is lost: every subscriber reads it back.
            for subscription in list(self._all):
                subscription.queue.put_nowait(Notice(RESYNC))
