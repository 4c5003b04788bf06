"""Matching rounds: one per area at a time, read through the bridge, written in one transaction."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from marketplace.domain.rounds import RoundStatus, RoundTrigger
from marketplace.services.container import Services
from marketplace.services.rounds import RunOutcome
from tests.integration.dispatch_city import seed_city


async def counts(db: asyncpg.Connection) -> dict[str, int]:
    return {
        "offers": await db.fetchval("SELECT count(*) FROM offers"),
        "offer_parcels": await db.fetchval("SELECT count(*) FROM offer_parcels WHERE live"),
        "offered": await db.fetchval("SELECT count(*) FROM parcels WHERE status = 'offered'"),
        "events": await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'offered'"),
        "explained": await db.fetchval("SELECT count(*) FROM parcels WHERE placement_reasons IS NOT NULL"),
    }


async def test_a_round_writes_its_record_offers_parcels_and_events_together(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    seeded = await seed_city(database_url)
    request = await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    assert request.created
    assert request.round.status is RoundStatus.QUEUED
    # The request queued the round's job in its own transaction.
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'matching_round'") == 1

    outcome, done = await services.rounds.run(seeded.area_id)
    assert outcome is RunOutcome.RAN
    assert done is not None
    assert done.status is RoundStatus.SUCCEEDED
    assert done.result is not None
    result = done.result
    seen = await counts(db)
    assert result.offers_count == seen["offers"] > 0
    assert result.assigned_count == seen["offered"] == seen["offer_parcels"] == seen["events"] > 0
    assert result.unassigned_count == seen["explained"]
    assert result.parcels_count == 60
    assert result.trips_count == 20
    assert result.assigned_count + result.unassigned_count == 60
    assert result.cost_total_minor == result.cost_crowd_minor + result.cost_fallback_minor
    assert min(result.load_ms, result.solve_ms, result.write_ms) >= 0
    # Each offer pays the engine's cost in the area's currency and expires after the area's TTL.
    rows = await db.fetch("SELECT pay_minor, currency, expires_at - created_at AS ttl FROM offers")
    assert {r["currency"] for r in rows} == {"EUR"}
    assert {r["ttl"].total_seconds() for r in rows} == {180}
    assert sum(r["pay_minor"] for r in rows) == result.cost_crowd_minor

    # The next round finds nothing new to offer: offered parcels and offered trips are not read again.
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    _, again = await services.rounds.run(seeded.area_id)
    assert again is not None
    assert again.result is not None
    assert again.result.parcels_count == result.unassigned_count
    assert again.result.offers_count == 0


async def test_a_round_that_fails_while_writing_leaves_no_offer_and_no_offered_parcel(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    seeded = await seed_city(database_url)
    # The last insert of the write (the events) fails: everything before it in the transaction must go too.
    await db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
    )
    await db.execute("CREATE TRIGGER refuse BEFORE INSERT ON parcel_events FOR EACH ROW EXECUTE FUNCTION refuse()")
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    with pytest.raises(asyncpg.RaiseError):
        await services.rounds.run(seeded.area_id)
    assert await counts(db) == {"offers": 0, "offer_parcels": 0, "offered": 0, "events": 0, "explained": 0}
    row = await db.fetchrow("SELECT status, error FROM matching_rounds")
    assert row is not None
    assert row["status"] == "failed"
    assert "refused" in row["error"]


async def test_a_second_request_is_answered_with_the_live_round(services: Services, database_url: str) -> None:
    seeded = await seed_city(database_url)
    first, second = await asyncio.gather(
        services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS),
        services.rounds.request(seeded.area_id, RoundTrigger.SCHEDULE),
    )
    assert sorted([first.created, second.created]) == [False, True]
    assert first.round.id == second.round.id


async def test_two_workers_running_one_area_at_once_run_one_round(
    services: Services, database_url: str, db: asyncpg.Connection
) -> None:
    seeded = await seed_city(database_url)
    await services.rounds.request(seeded.area_id, RoundTrigger.OPERATIONS)
    outcomes = await asyncio.gather(services.rounds.run(seeded.area_id), services.rounds.run(seeded.area_id))
    assert sorted(o.value for o, _ in outcomes) in (["busy", "ran"], ["nothing", "ran"])
    assert await db.fetchval("SELECT count(*) FROM matching_rounds") == 1
    assert await db.fetchval("SELECT count(*) FROM matching_rounds WHERE status = 'succeeded'") == 1
