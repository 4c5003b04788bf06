"""Quotes, booking them into jobs (one at a time or in bulk), and what retailers see of their jobs."""

from __future__ import annotations

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.services.idempotency import Idempotency


class JobService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
