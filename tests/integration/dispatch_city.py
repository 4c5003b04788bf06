"""A generated city seeded into the test database: the engine's own instance, as booked parcels and open trips."""

from __future__ import annotations

from typing import Any

import asyncpg

import matching
from marketplace.repositories.dispatch_seed import Seeded, seed_instance


def city(parcels: int, trips: int, seed: int = 1) -> dict[str, Any]:
    return matching.instance_to_json(matching.generate(parcels, trips, seed))


async def seed_city(database_url: str, parcels: int = 60, trips: int = 20, seed: int = 1, **options: Any) -> Seeded:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            return await seed_instance(conn, city(parcels, trips, seed), **options)
    finally:
        await conn.close()
