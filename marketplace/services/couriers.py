"""Courier verification levels with their audit history, and insurance policies."""

from __future__ import annotations

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.services.idempotency import Idempotency


class CourierService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
