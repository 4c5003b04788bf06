"""A generated city seeded into the test database: the engine's own instance, as booked parcels and open trips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

import matching
from marketplace.repositories.dispatch_seed import Seeded, seed_instance

_TIMES = {"now", "pickup_from", "pickup_until", "deliver_from", "deliver_until", "depart_after", "arrive_by"}
_TIMES |= {"valid_from", "valid_until"}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _shifted(value: Any, delta: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (_at(v) + delta).isoformat() if k in _TIMES and isinstance(v, str) else _shifted(v, delta)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shifted(v, delta) for v in value]
    return value


def city(parcels: int, trips: int, seed: int = 1, *, now: datetime | None = None) -> dict[str, Any]:
    """The generator's city; with `now`, every time moved so that the instance's now is `now`."""
    data = matching.instance_to_json(matching.generate(parcels, trips, seed))
    if now is None:
        return data
    shifted: dict[str, Any] = _shifted(data, now.astimezone(UTC) - _at(data["now"]))
    return shifted


async def seed_city(
    database_url: str,
    parcels: int = 60,
    trips: int = 20,
    seed: int = 1,
    *,
    now: datetime | None = None,
    **options: Any,
) -> Seeded:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            return await seed_instance(conn, city(parcels, trips, seed, now=now), **options)
    finally:
        await conn.close()
