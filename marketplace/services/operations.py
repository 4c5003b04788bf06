"""What operations see of the background work: jobs that failed every retry, and queuing them again."""

from __future__ import annotations

from marketplace.db.uow import Database
from marketplace.repositories.job_queue import FailedJob


class OperationsService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def failed_jobs(self, limit: int = 100) -> list[FailedJob]:
        async with self._db.read() as repos:
            return await repos.job_queue.failed(limit)

    async def requeue_jobs(self, job_ids: list[int]) -> None:
        async with self._db.uow() as uow:
            await uow.repos.job_queue.requeue(job_ids)
            await uow.commit()
