"""The background worker: pgqueuer entrypoints and schedules over the same services as the API.

Jobs live in PostgreSQL (pgqueuer's tables, installed by migration 0008), so any number of workers
on any number of machines share them. Each periodic task is a cron schedule (pgqueuer fires each
once across all workers) that only enqueues its job under a dedupe key; the job itself runs with
retries and exponential back-off, and a job that fails every attempt is held as `failed` (listed
by `crowdship worker failed` and the `failedJobs` query) rather than dropped.

Matching rounds solve in a process pool (spawned, warmed with a tiny solve before the worker takes
any job, so no round's time limit is spent compiling kernels); the event loop keeps answering
other jobs while a solve runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import multiprocessing
import signal
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from pgqueuer import DatabaseRetryEntrypointExecutor, PgQueuer, RetryRequested
from pgqueuer.executors import EntrypointExecutorParameters
from pgqueuer.models import Job, Schedule

from marketplace.domain.vans import VanPlanKind
from marketplace.logs import get_logger
from marketplace.repositories.outbox import DELIVER_WEBHOOK_JOB, SEND_NOTIFICATION_JOB
from marketplace.services import matching_bridge
from marketplace.services.claims import PAY_CLAIM_JOB, REFUND_JOB
from marketplace.services.container import Services
from marketplace.services.fleet import PLAN_VAN_ROUNDS_JOB
from marketplace.services.offers_release import expire_offers
from marketplace.services.payments import (
    AUTHORIZE_JOB,
    RELEASE_AUTHORIZATION_JOB,
    SETTLE_JOB,
    STRIPE_EVENT_JOB,
    TRANSFER_PAY_JOB,
)
from marketplace.services.reconciliation import RECONCILE_JOB
from marketplace.services.rounds import EXPIRE_OFFERS_JOB, ROUND_JOB, RunOutcome

log = get_logger("crowdship.worker")

# Job names (pgqueuer entrypoints).
SCHEDULE_ROUNDS = "schedule_rounds"
EXPIRE_OFFERS = EXPIRE_OFFERS_JOB
FLEET_HANDOFF = "fleet_handoff"
PLAN_VAN_ROUNDS = PLAN_VAN_ROUNDS_JOB
SCHEDULE_VAN_BASELINES = "schedule_van_baselines"
RETURN_UNCOLLECTED = "return_uncollected"
MAINTENANCE_PURGE = "maintenance_purge"
SCHEDULE_COMMUTES = "schedule_commutes"
PING = "ping"
DELIVER_WEBHOOK = DELIVER_WEBHOOK_JOB
SEND_NOTIFICATION = SEND_NOTIFICATION_JOB
RECONCILE = RECONCILE_JOB

# When each periodic job is enqueued (cron, UTC). Rounds are checked every minute against each
# area's `roundIntervalS`. Offers read as expired from their exact instant; each round also enqueues
# a sweep due at its offers' expiry, and the minutely sweep catches anything left.
SCHEDULES: dict[str, str] = {
    SCHEDULE_ROUNDS: "* * * * *",
    EXPIRE_OFFERS: "* * * * *",
    FLEET_HANDOFF: "* * * * *",
    RETURN_UNCOLLECTED: "*/5 * * * *",
    MAINTENANCE_PURGE: "17 * * * *",
    SCHEDULE_COMMUTES: "40 2 * * *",
    # Yesterday (UTC) against Stripe, once its last objects are past the matching margin (one hour).
    RECONCILE: "20 1 * * *",
    SCHEDULE_VAN_BASELINES: "50 3 * * *",
}
COMMUTE_DAYS = 7


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)


def _die_with_parent() -> None:
    """Pool processes end when their worker does, even a SIGKILLed one (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def solve_pool(processes: int = 1) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=processes, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent
    )


async def warm_pool(pool: ProcessPoolExecutor, processes: int) -> None:
    """A tiny solve in every pool process, so kernels are loaded (or compiled) before the first round."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, matching_bridge.warm_up) for _ in range(processes)))


def _payload(job: Job) -> dict[str, Any]:
    return dict(json.loads(job.payload)) if job.payload else {}


Handler = Callable[[Job], Awaitable[None]]


def build_worker(
    services: Services,
    queue_connection: asyncpg.Connection,
    *,
    retry: RetryPolicy | None = None,
    schedules: bool = True,
) -> PgQueuer:
    """The worker's entrypoints and schedules; `queue_connection` is its own (LISTEN and dequeue).

    `schedules=False` leaves the wall-clock cron out: `crowdship simulate` enqueues those jobs itself
    at their simulated minute.
    """
    retry = retry or RetryPolicy()
    pgq = PgQueuer.from_asyncpg_connection(queue_connection)

    def executor(parameters: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
        return DatabaseRetryEntrypointExecutor(
            parameters,
            max_attempts=retry.max_attempts,
            initial_delay=retry.initial_delay,
            max_delay=retry.max_delay,
        )

    def entrypoint(name: str) -> Callable[[Handler], Handler]:
        return pgq.entrypoint(name, on_failure="hold", executor_factory=executor)

    @entrypoint(ROUND_JOB)
    async def matching_round(job: Job) -> None:
        area_id = UUID(_payload(job)["area_id"])
        outcome, done = await services.rounds.run(area_id)
        if outcome is RunOutcome.BUSY:
            # Another worker holds the area (or a request is probing it): look again shortly; by then
            # its round is over and a queued one, if any, is ours.
            raise RetryRequested(delay=timedelta(seconds=2), reason="the area's round is running elsewhere")
        log.info(
            "matching round",
            area_id=str(area_id),
            outcome=outcome.value,
            round_id=None if done is None else str(done.id),
        )

    @entrypoint(SCHEDULE_ROUNDS)
    async def schedule_rounds(job: Job) -> None:
        queued = await services.rounds.schedule_due()
        if queued:
            log.info("rounds queued", count=queued)

    @entrypoint(EXPIRE_OFFERS)
    async def expire(job: Job) -> None:
        async with services.db.uow() as uow:
            expired = await expire_offers(uow, services.clock.now())
            await uow.commit()
        if expired:
            log.info("offers expired", count=expired)

    @entrypoint(FLEET_HANDOFF)
    async def fleet_handoff(job: Job) -> None:
        handed = await services.fleet.hand_off_due()
        if handed:
            log.info("parcels handed to the fleet", count=handed)

    @entrypoint(PLAN_VAN_ROUNDS)
    async def plan_van_rounds(job: Job) -> None:
        """An area-day's van rounds (the fleet's parcels, or every parcel for the van-only baseline)."""
        data = _payload(job)
        area_id, kind = UUID(data["area_id"]), VanPlanKind(data.get("kind", "fleet"))
        plan = await services.fleet.plan_van_rounds(area_id, date.fromisoformat(data["date"]), kind)
        if plan is not None:
            log.info(
                "van rounds planned",
                area_id=str(area_id),
                kind=kind.value,
                parcels=plan.parcels,
                routes=len(plan.routes),
                unserved=len(plan.unserved),
                cost_minor=plan.cost_minor,
            )

    @entrypoint(SCHEDULE_VAN_BASELINES)
    async def van_baselines(job: Job) -> None:
        """Every depot area's van-only baseline of its local yesterday, for the KPIs to compare with."""
        queued = await services.fleet.queue_baselines()
        log.info("van baselines queued", count=queued)

    @entrypoint(RETURN_UNCOLLECTED)
    async def return_uncollected(job: Job) -> None:
        """Parcels left in a locker past their hold go back to the store."""
        returned = await services.delivery.return_uncollected()
        if returned:
            log.info("uncollected parcels returned", count=returned)

    @entrypoint(MAINTENANCE_PURGE)
    async def purge(job: Job) -> None:
        purged = await services.maintenance.purge()
        expired = await services.trips.expire_overdue()
        pings = await services.tracking.purge_pings()
        log.info(
            "purged", sessions=purged.sessions, idempotency_keys=purged.idempotency_keys, trips=expired, pings=pings
        )

    @entrypoint(SCHEDULE_COMMUTES)
    async def commutes(job: Job) -> None:
        created = await services.trips.schedule_all(COMMUTE_DAYS)
        log.info("commute trips scheduled", count=created)

    @entrypoint(DELIVER_WEBHOOK)
    async def deliver_webhook(job: Job) -> None:
        """One attempt of one webhook delivery; a failed attempt queues the next itself (back-off, 24 h)."""
        payload = _payload(job)
        await services.webhooks.deliver(UUID(payload["id"]), payload.get("attempt"))

    # One hand-over at a time per worker: a worker that dies mid-send leaves at most one message whose
    # arrival is unknown (never sent again); workers scale out for throughput.
    @pgq.entrypoint(SEND_NOTIFICATION, concurrency_limit=1, on_failure="hold", executor_factory=executor)
    async def send_notification(job: Job) -> None:
        """One recipient notification, at most once; a send that certainly failed raises and is retried."""
        await services.notifications.send(UUID(_payload(job)["id"]))

    @entrypoint(SETTLE_JOB)
    async def settle_payment(job: Job) -> None:
        """A finished job's capture (or cancellation) and its couriers' transfers; safe to run again."""
        job_id = UUID(_payload(job)["job_id"])
        outcome = await services.payments.settle_job(job_id)
        if outcome is not None:
            log.info("payment settled", job_id=str(job_id), kind=outcome.kind.value, captured=outcome.capture_minor)

    @entrypoint(TRANSFER_PAY_JOB)
    async def transfer_pay(job: Job) -> None:
        """A courier's pay held while its account could not take a transfer, once payouts are on again."""
        data = _payload(job)
        if await services.payments.transfer_outstanding(UUID(data["job_id"]), UUID(data["courier_id"])):
            log.info("held pay transferred", job_id=data["job_id"], courier_id=data["courier_id"])

    @entrypoint(STRIPE_EVENT_JOB)
    async def stripe_event(job: Job) -> None:
        """A stored webhook event: the object is read back from Stripe and our copy brought up to date."""
        data = _payload(job)
        await services.payments.process_event(data["event_id"], data["type"], data.get("account"), data["object"])

    @entrypoint(AUTHORIZE_JOB)
    async def authorize_payment(job: Job) -> None:
        """A far pickup's card authorisation, 6 days before it (Stripe holds one for 7)."""
        job_id = UUID(_payload(job)["job_id"])
        status = await services.payments.authorize_pending(job_id)
        log.info("payment authorised", job_id=str(job_id), status=None if status is None else status.value)

    @entrypoint(RELEASE_AUTHORIZATION_JOB)
    async def release_authorization(job: Job) -> None:
        """An authorisation whose booking never committed is cancelled, so no hold stays on the card."""
        if await services.payments.release_request(_payload(job)["request"]):
            log.info("authorisation released")

    @entrypoint(REFUND_JOB)
    async def refund_payment(job: Job) -> None:
        """A refund operations asked for that its request could not finish: Stripe, then the record; once."""
        refund = await services.claims.execute_refund(UUID(_payload(job)["refund_id"]))
        if refund is not None:
            log.info("refund", refund_id=str(refund.id), status=refund.status.value)

    @entrypoint(PAY_CLAIM_JOB)
    async def pay_claim(job: Job) -> None:
        """An upheld claim: the retailer's refund, the at-fault courier's transfer reversal; safe to run again."""
        claim = await services.claims.pay_claim(UUID(_payload(job)["claim_id"]))
        if claim is not None:
            log.info("claim paid", claim_id=str(claim.id), status=claim.status.value)

    @entrypoint(RECONCILE)
    async def reconcile(job: Job) -> None:
        """A day's Stripe movements against the ledger (yesterday unless the payload names `date`)."""
        named = _payload(job).get("date")
        day = date.fromisoformat(named) if named else services.reconciliation.yesterday()
        run = await services.reconciliation.reconcile(day)
        log.info(
            "reconciled",
            day=day.isoformat(),
            run_id=str(run.id),
            matched=run.matched,
            mismatches=run.mismatch_count,
        )

    @entrypoint(PING)
    async def ping(job: Job) -> None:
        """A job that does nothing: operations (and a test) see the worker answering."""

    for name, expression in SCHEDULES.items() if schedules else ():
        pgq.schedule(f"enqueue_{name}", expression)(functools.partial(_enqueue_periodic, services, name))
    return pgq


async def _enqueue_periodic(services: Services, name: str, schedule: Schedule) -> None:
    """A schedule only enqueues: the job runs with retries, and its dedupe key keeps one queued at a time."""
    async with services.db.uow() as uow:
        await uow.repos.job_queue.enqueue(name, {}, dedupe_key=name)
        await uow.commit()


async def run_worker(
    services: Services, dsn: str, *, processes: int = 1, heartbeat_timeout: timedelta = timedelta(seconds=30)
) -> None:
    """Runs until SIGTERM or SIGINT; the pool is warmed before the first job is taken.

    A job whose worker died (no heartbeat for `heartbeat_timeout`) is picked up again by another.
    """
    pool = solve_pool(processes)
    services.rounds.executor = pool
    try:
        log.info("warming the solver pool", processes=processes)
        await warm_pool(pool, processes)
        conn = await asyncpg.connect(dsn)
        try:
            pgq = build_worker(services, conn)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, pgq.shutdown.set)
            log.info("worker started", entrypoints=sorted(pgq.qm.entrypoint_registry))
            print("crowdship: worker ready", file=sys.stderr, flush=True)
            await pgq.run(dequeue_timeout=timedelta(seconds=5), heartbeat_timeout=heartbeat_timeout)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
    finally:
        services.rounds.executor = None
        await services.webhooks.sender.aclose()
        pool.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped")
