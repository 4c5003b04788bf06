"""What `crowdship simulate` reads off the database beside the API: whether the worker has caught up, and
the day's final counts. The simulation is a driver, not a use case, so it reads here rather than through
a service; nothing in the application calls this."""

from __future__ import annotations

from uuid import UUID

from marketplace.repositories._base import Conn

FINAL_PARCEL_STATUSES = ("delivered", "collected", "returned", "handed_to_fleet", "cancelled")


class SimulationRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def busy_jobs(self) -> int:
        """pgqueuer jobs picked or due now: the simulated clock may move on only when there are none."""
        value = await self._conn.fetchval(
            "SELECT count(*) FROM pgqueuer WHERE status = 'picked' OR (status = 'queued' AND execute_after <= now())"
        )
        return int(value)

    async def unfinished_parcels(self) -> int:
        value = await self._conn.fetchval(
            "SELECT count(*) FROM parcels WHERE status::text <> ALL($1::text[])", list(FINAL_PARCEL_STATUSES)
        )
        return int(value)

    async def tracking_token(self, parcel_id: UUID) -> str | None:
        """The recipient's link, as the booking notification would carry it."""
        value = await self._conn.fetchval("SELECT tracking_token FROM parcels WHERE id = $1", parcel_id)
        return None if value is None else str(value)

    async def release_van_plans(self) -> None:
        """The van plans deferred through the day become due now, once the day's last hand-over is past."""
        await self._conn.execute(
            "UPDATE pgqueuer SET execute_after = now() WHERE entrypoint = 'plan_van_rounds' AND status = 'queued'"
        )

    async def status_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Parcels and payments by final status, for the report."""
        parcels = await self._conn.fetch("SELECT status::text, count(*) AS n FROM parcels GROUP BY 1 ORDER BY 1")
        payments = await self._conn.fetch("SELECT status::text, count(*) AS n FROM payments GROUP BY 1 ORDER BY 1")
        return ({r["status"]: int(r["n"]) for r in parcels}, {r["status"]: int(r["n"]) for r in payments})
