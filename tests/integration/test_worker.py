"""The worker in-process: real pgqueuer consumers on their own connections against the real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg

from marketplace.domain.rounds import RoundTrigger
from marketplace.services.container import Services
from marketplace.worker import PING, RetryPolicy, build_worker, solve_pool, warm_pool
from tests.integration.dispatch_city import seed_city

FAST_RETRY = RetryPolicy(max_attempts=2, initial_delay=timedelta(milliseconds=50), max_delay=timedelta(seconds=1))


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 60.0, what: str = "the condition") -> None:
    """Polls a condition (bounded; never a fixed sleep standing in for it) until it holds."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {seconds:.0f} s")


@asynccontextmanager
async def worker(
    services: Services, database_url: str, retry: RetryPolicy = FAST_RETRY
) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    pgq = build_worker(services, conn, retry=retry)
    task = asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=1)))
    try:
        yield conn
    finally:
        pgq.shutdown.set()
        await asyncio.wait_for(task, 60)
        await conn.close()


async def enqueue(services: Services, entrypoint: str, payload: dict[str, str]) -> int:
    async with services.db.uow() as uow:
        job_id = await uow.repos.job_queue.enqueue(entrypoint, payload)
        await uow.commit()
    assert job_id is not None
    return job_id


async def test_a_failing_job_is_retried_with_back_off_then_held_for_operations(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    job_id = await enqueue(services, "matching_round", {"area_id": "not-an-area"})
    async with worker(services, database_url):

        async def held() -> bool:
            return bool(await db.fetchval("SELECT status::text FROM pgqueuer WHERE id = $1", job_id) == "failed")

        await eventually(held)
    assert await db.fetchval("SELECT attempts FROM pgqueuer WHERE id = $1", job_id) == FAST_RETRY.max_attempts
    failed = await services.operations.failed_jobs()
    assert [(j.id, j.entrypoint, j.payload) for j in failed] == [(job_id, "matching_round", {"area_id": "not-an-area"})]
    assert failed[0].error is not None
    assert "ValueError" in failed[0].error

    # Operations may queue it again: it runs (and fails) once more, and is held again.
    await services.operations.requeue_jobs([job_id])
    assert await db.fetchval("SELECT status::text FROM pgqueuer WHERE id = $1", job_id) == "queued"


async def test_two_workers_asked_for_one_areas_round_at_once_run_exactly_one(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    seeded = await seed_city(database_url)
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    # A second job for the same area, past the dedupe key, as a job re-picked from a slow worker would be.
    await enqueue(services, "matching_round", {"area_id": str(seeded.area_id)})
    async with worker(services, database_url), worker(services, database_url):

        async def both_done() -> bool:
            done = await db.fetchval(
                "SELECT count(*) FROM pgqueuer_log WHERE entrypoint = 'matching_round' AND status = 'successful'"
            )
            return bool(done == 2)

        await eventually(both_done)
    assert await db.fetchval("SELECT count(*) FROM matching_rounds") == 1
    assert await db.fetchval("SELECT status FROM matching_rounds") == "succeeded"
    offers = await db.fetchval("SELECT count(*) FROM offers")
    assert offers == await db.fetchval("SELECT offers_count FROM matching_rounds")


async def test_the_worker_answers_other_jobs_while_a_solve_runs_in_its_process_pool(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    seeded = await seed_city(database_url, 2000, 600)
    pool = solve_pool(1)
    services.rounds.executor = pool
    try:
        await warm_pool(pool, 1)
        async with worker(services, database_url):
            await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)

            async def running() -> bool:
                return bool(await db.fetchval("SELECT status FROM matching_rounds") == "running")

            await eventually(running)
            ping = await enqueue(services, PING, {})

            async def answered() -> bool:
                return bool(
                    await db.fetchval(
                        "SELECT count(*) FROM pgqueuer_log WHERE job_id = $1 AND status = 'successful'", ping
                    )
                )

            await eventually(answered)
            # The ping was answered while the round was still solving.
            assert await db.fetchval("SELECT status FROM matching_rounds") == "running"

            async def finished() -> bool:
                return bool(await db.fetchval("SELECT status FROM matching_rounds") != "running")

            await eventually(finished, 180)
        assert await db.fetchval("SELECT status FROM matching_rounds") == "succeeded"
    finally:
        services.rounds.executor = None
        pool.shutdown()
