"""Couriers' vehicles: kinds with documented defaults a courier may override within limits."""

from __future__ import annotations

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.services.idempotency import Idempotency


class VehicleService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
