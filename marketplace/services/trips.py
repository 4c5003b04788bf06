"""Trips couriers offer, their status machine, and weekly commutes that create trips ahead of time."""

from __future__ import annotations

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.services.idempotency import Idempotency


class TripService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
