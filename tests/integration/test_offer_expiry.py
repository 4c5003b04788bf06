"""Offers expire at their exact instant: the sweep returns their parcels and forbids the pairs for good."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.rounds import RoundTrigger
from marketplace.services.container import Services
from marketplace.services.offers_release import expire_offers
from tests.integration.dispatch_city import seed_city

MICROSECOND = timedelta(microseconds=1)


async def sweep(services: Services) -> int:
    async with services.db.uow() as uow:
        expired = await expire_offers(uow, services.clock.now())
        await uow.commit()
    return expired


async def test_offers_expire_at_their_instant_and_their_pairs_are_never_offered_again(
    services: Services, database_url: str, db: asyncpg.Connection, clock: ManualClock
) -> None:
    seeded = await seed_city(database_url)
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    await services.rounds.run(seeded.area_id)
    offers = await db.fetch("SELECT id, trip_id, expires_at FROM offers ORDER BY id")
    assert offers
    offered = await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'offered'")
    expires_at = offers[0]["expires_at"]
    assert {o["expires_at"] for o in offers} == {clock.now() + timedelta(seconds=180)} == {expires_at}

    clock.at = expires_at - MICROSECOND
    assert await sweep(services) == 0
    assert await db.fetchval("SELECT count(*) FROM offers WHERE status = 'open'") == len(offers)

    clock.at = expires_at
    assert await sweep(services) == len(offers)
    assert await db.fetchval(
        "SELECT count(*) FROM offers WHERE status = 'expired' AND decided_at = $1", expires_at
    ) == len(offers)
    assert await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'offered'") == 0
    assert await db.fetchval("SELECT count(*) FROM offer_parcels WHERE live") == 0
    returned = await db.fetch(
        "SELECT from_status, to_status, reason_code FROM parcel_events WHERE kind = 'booked' AND occurred_at = $1",
        expires_at,
    )
    assert len(returned) == offered
    assert {(r["from_status"], r["to_status"], r["reason_code"]) for r in returned} == {
        ("offered", "booked", "offer_expired")
    }
    forbidden = {
        (r["trip_id"], r["parcel_id"])
        for r in await db.fetch("SELECT trip_id, parcel_id FROM forbidden_pairs WHERE reason = 'expired'")
    }
    assert len(forbidden) == offered
    assert await sweep(services) == 0  # nothing left to sweep

    # The next round may offer the parcels and trips again, but never an expired pair.
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    await services.rounds.run(seeded.area_id)
    again = await db.fetch(
        """
        SELECT o.trip_id, op.parcel_id FROM offers o JOIN offer_parcels op ON op.offer_id = o.id
        WHERE o.status = 'open'
        """
    )
    assert again, "the released parcels and trips are offered again"
    assert not {(r["trip_id"], r["parcel_id"]) for r in again} & forbidden
