"""Housekeeping: drop what no request can use any more, so tables stay the size of live state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from marketplace.clock import Clock
from marketplace.db.uow import Database

# Kept a little past their use, so an incident can still be looked into.
SESSION_GRACE = timedelta(days=7)
# Webhook delivery logs and sent notifications are kept this long, for retailers' and operations' questions.
OUTBOX_RETENTION = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Purged:
    idempotency_keys: int
    rate_limit_buckets: int
    sessions: int
    outbox_messages: int = 0


class MaintenanceService:
    def __init__(self, db: Database, clock: Clock, *, idempotency_ttl_s: int, rate_window_s: int) -> None:
        self._db = db
        self._clock = clock
        self._idempotency_ttl = timedelta(seconds=idempotency_ttl_s)
        self._rate_window = timedelta(seconds=rate_window_s)

    async def purge(self) -> Purged:
        """Safe to run at any time and from any replica; each delete only touches dead rows."""
        now = self._clock.now()
        async with self._db.uow() as uow:
            purged = Purged(
                idempotency_keys=await uow.repos.idempotency.purge(now - self._idempotency_ttl),
                rate_limit_buckets=await uow.repos.rate_limits.purge(now - self._rate_window),
                sessions=await uow.repos.sessions.purge(now - SESSION_GRACE),
                outbox_messages=await uow.repos.webhooks.purge(now - OUTBOX_RETENTION),
            )
            await uow.commit()
        return purged
