"""GET /metrics: Prometheus' text format, for the service's own health.

- `crowdship_graphql_request_seconds` (histogram): GraphQL operations by type and root field, all
  server processes together (see `marketplace/metrics.py`);
- from the database at scrape time, the same whichever process answers: per area the newest finished
  round's duration (total and load / solve / write), its status, seconds since it started and the gap
  to the round before; pgqueuer's jobs by entrypoint and status with the oldest one's age; the webhook
  backlog (pending and failed deliveries, the oldest pending one's age, pending notifications); per
  area and kind its newest van plan's age and unserved parcels (a stored plan is heard of here: it is
  no parcel's event and no organisation's, see README "Operations").

Unauthenticated like `/health`: it names areas and counts, nothing of any tenant; keep it on the
internal network (the load balancer should not route it).
"""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from marketplace.metrics import process_exposition
from marketplace.services.container import Services
from marketplace.services.service_health import HealthSnapshot


class _Snapshot(Collector):
    """The database's figures of one scrape as metric families."""

    def __init__(self, snapshot: HealthSnapshot) -> None:
        self._s = snapshot

    def collect(self) -> list[GaugeMetricFamily]:
        s = self._s
        duration = GaugeMetricFamily(
            "crowdship_round_last_duration_seconds",
            "The newest finished matching round of each area: its duration, in total and per phase.",
            labels=["area", "phase"],
        )
        since = GaugeMetricFamily(
            "crowdship_round_seconds_since_last",
            "Seconds from the start of each area's newest finished round to now.",
            labels=["area"],
        )
        gap = GaugeMetricFamily(
            "crowdship_round_last_gap_seconds",
            "Seconds between the starts of each area's newest finished round and the round before it.",
            labels=["area"],
        )
        failed = GaugeMetricFamily(
            "crowdship_round_last_failed", "1 when each area's newest finished round failed.", labels=["area"]
        )
        for r in s.rounds:
            if r.finished_at is not None:
                duration.add_metric([r.area, "total"], (r.finished_at - r.started_at).total_seconds())
            for phase, ms in (("load", r.load_ms), ("solve", r.solve_ms), ("write", r.write_ms)):
                if ms is not None:
                    duration.add_metric([r.area, phase], ms / 1000)
            since.add_metric([r.area], (s.at - r.started_at).total_seconds())
            if r.previous_started_at is not None:
                gap.add_metric([r.area], (r.started_at - r.previous_started_at).total_seconds())
            failed.add_metric([r.area], 1.0 if r.status == "failed" else 0.0)
        jobs = GaugeMetricFamily(
            "crowdship_queue_jobs",
            "Jobs in pgqueuer's queue by entrypoint and status.",
            labels=["entrypoint", "status"],
        )
        oldest = GaugeMetricFamily(
            "crowdship_queue_oldest_job_age_seconds",
            "Age of the oldest job by entrypoint and status.",
            labels=["entrypoint", "status"],
        )
        for q in s.queue:
            jobs.add_metric([q.entrypoint, q.status], q.jobs)
            oldest.add_metric([q.entrypoint, q.status], max(0.0, (s.at - q.oldest_created_at).total_seconds()))
        w = s.webhooks
        backlog = GaugeMetricFamily(
            "crowdship_webhook_backlog", "Webhook deliveries not yet succeeded.", labels=["status"]
        )
        backlog.add_metric(["pending"], w.pending)
        backlog.add_metric(["failed"], w.failed)
        backlog_age = GaugeMetricFamily(
            "crowdship_webhook_backlog_oldest_age_seconds", "Age of the oldest pending webhook delivery (0: none)."
        )
        backlog_age.add_metric(
            [], 0.0 if w.oldest_pending_at is None else max(0.0, (s.at - w.oldest_pending_at).total_seconds())
        )
        notifications = GaugeMetricFamily("crowdship_notifications_pending", "Recipient notifications not yet sent.")
        notifications.add_metric([], w.notifications_pending)
        plan_age = GaugeMetricFamily(
            "crowdship_van_plan_seconds_since",
            "Seconds since each area's newest van plan (of its latest local date) was stored, by kind.",
            labels=["area", "kind"],
        )
        unserved = GaugeMetricFamily(
            "crowdship_van_plan_unserved",
            "Parcels that plan left out (no van within their windows).",
            labels=["area", "kind"],
        )
        for p in s.van_plans:
            plan_age.add_metric([p.area, p.kind], max(0.0, (s.at - p.planned_at).total_seconds()))
            unserved.add_metric([p.area, p.kind], p.unserved)
        return [duration, since, gap, failed, jobs, oldest, backlog, backlog_age, notifications, plan_age, unserved]


@get("/metrics")
async def metrics(state: State) -> Response[bytes]:
    services: Services = state["services"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await services.service_health.snapshot()))
    return Response(process_exposition() + generate_latest(registry), media_type=CONTENT_TYPE_LATEST, status_code=200)
