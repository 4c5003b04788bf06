"""The service's health figures for `/metrics`: matching rounds, the job queue, the webhook backlog.

Read from the database at each scrape, so every server or worker process answers the same; the
clock is the injected one, so "seconds since the last round" is testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.repositories.service_health import QueueDepth, RoundHealth, VanPlanHealth, WebhookBacklog


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    at: datetime
    rounds: list[RoundHealth]
    queue: list[QueueDepth]
    webhooks: WebhookBacklog
    van_plans: list[VanPlanHealth]


class ServiceHealthService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def snapshot(self) -> HealthSnapshot:
        async with self._db.read() as repos:
            rounds = await repos.service_health.latest_rounds()
            queue = await repos.service_health.queue_depth()
            webhooks = await repos.service_health.webhook_backlog()
            van_plans = await repos.service_health.latest_van_plans()
        return HealthSnapshot(self._clock.now(), rounds, queue, webhooks, van_plans)
