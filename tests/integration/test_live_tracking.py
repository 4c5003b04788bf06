"""Live tracking end to end: pings and ETAs, subscriptions across two replicas, logout, expiry, and a
listener that loses its connection; the ping purge through the real worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.delivery import Actor, ActorKind, ParcelStatus
from marketplace.repositories import Repositories
from marketplace.services.container import Services
from marketplace.services.dispatch_common import move
from marketplace.settings import Settings
from marketplace.worker import MAINTENANCE_PURGE
from schema.types import global_id
from tests.conftest import T0
from tests.factories import make_area
from tests.helpers import LOGOUT, GraphQL, fresh_token
from tests.integration.ops_delivery import (
    ARRIVE_AT_PICKUP,
    CANCEL_JOB,
    Booked,
    Courier,
    accept,
    book,
    courier_with_trip,
    offered,
    step,
)
from tests.integration.ops_jobs import Shop, open_shop
from tests.integration.ops_tracking import OFFER_UPDATES, ORGANIZATION_EVENTS, PARCEL_UPDATES, RECORD_PINGS, ping
from tests.integration.test_worker import enqueue, eventually, worker
from tests.live import Live, live, replica

SECOND = timedelta(seconds=1)


@dataclass
class World:
    shop: Shop
    courier: Courier
    booked: Booked

    @property
    def parcel(self) -> str:
        return self.booked.parcel_ids[0]


async def assigned_world(gql: GraphQL, services: Services) -> World:
    """A shop on Dam Square, a courier with a car trip, and one parcel the courier accepted."""
    area = await make_area(services)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    courier = await courier_with_trip(gql, services, area, "courier@example.com")
    booked = await book(gql, shop)
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    return World(shop, courier, booked)


async def send_pings(gql: GraphQL, token: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    body = await gql(RECORD_PINGS, {"input": {"pings": points}}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["recordLocationPings"]
    return payload


async def until(check: Callable[[], bool]) -> None:
    async def holds() -> bool:
        return check()

    await eventually(holds, seconds=15)


async def subscribed(conn: Live, listener_count: Callable[[], int], query: str, variables: dict[str, Any]) -> str:
    """Subscribes and returns once the replica's listener holds the subscription."""
    before = listener_count()
    op_id = await conn.subscribe(query, variables)
    await until(lambda: listener_count() > before)
    return op_id


# --- two replicas ---------------------------------------------------------------------------------


async def test_pings_posted_to_one_replica_reach_a_subscriber_on_the_other_with_the_updated_eta(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    async with replica(settings, clock) as a, replica(settings, clock) as b:
        world = await assigned_world(a.gql, services)
        async with live(b, world.shop.token) as conn:
            op = await conn.subscribe(PARCEL_UPDATES, {"parcelId": world.parcel})
            first = (await conn.next_data(op))["parcelUpdates"]
            assert (first["status"], first["courierPosition"], first["dropoffEtaAt"]) == ("ASSIGNED", None, None)
            assert [e["event"]["kind"] for e in first["events"]] == []

            sent = await send_pings(
                a.gql,
                world.courier.token,
                [ping(52.3600, 4.9000, T0, headingDeg=90.0), ping(52.3604, 4.9004, T0 + 5 * SECOND)],
            )
            assert (sent["kept"], sent["dropped"], sent["flagged"], sent["errors"]) == (2, 0, 0, [])
            etas = {e["kind"]: e["etaAt"] for e in sent["etas"]}
            assert set(etas) == {"PICKUP", "DROPOFF"}

            update = (await conn.next_data(op))["parcelUpdates"]
            assert update["courierPosition"]["position"] == {"lat": 52.3604, "lng": 4.9004}
            assert (update["pickupEtaAt"], update["dropoffEtaAt"]) == (etas["PICKUP"], etas["DROPOFF"])

            # A status change on replica A reaches replica B too, with its event and sequence number.
            arrived = await step(a.gql, world.courier.token, ARRIVE_AT_PICKUP, parcelId=world.parcel)
            assert arrived["errors"] == []
            moved = (await conn.next_data(op))["parcelUpdates"]
            assert moved["status"] == "AT_PICKUP"
            assert [e["event"]["kind"] for e in moved["events"]] == ["at_pickup"]
            assert moved["seq"] == moved["events"][0]["seq"] > first["seq"]


async def test_another_tenants_parcel_is_not_found_over_the_socket(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    async with replica(settings, clock) as a:
        world = await assigned_world(a.gql, services)
        area = await make_area(services, name="Elsewhere")
        other = await open_shop(a.gql, services, area, "other@example.com", "Other")
        async with live(a, other.token) as conn:
            op = await conn.subscribe(PARCEL_UPDATES, {"parcelId": world.parcel})
            message = await conn.receive()
            assert message["id"] == op
            assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["NOT_FOUND"]
            assert await conn.receive() == {"id": op, "type": "complete"}


async def test_logout_on_one_replica_ends_an_open_subscription_on_the_other(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    async with replica(settings, clock) as a, replica(settings, clock) as b:
        world = await assigned_world(a.gql, services)
        async with live(b, world.shop.token) as conn:
            op = await conn.subscribe(PARCEL_UPDATES, {"parcelId": world.parcel})
            await conn.next_data(op)
            out = await a.gql(LOGOUT, {"input": {}}, token=world.shop.token)
            assert out["data"]["logout"]["ok"] is True
            ended = await conn.receive()
            assert ended["id"] == op
            assert ended["payload"]["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_REVOKED"}
            assert await conn.receive() == {"id": op, "type": "complete"}
            await until(lambda: b.listener.subscribers == 0)


async def test_a_subscription_ends_when_its_access_token_expires(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    async with replica(settings, clock) as a:
        world = await assigned_world(a.gql, services)
        async with live(a, world.shop.token) as conn:
            op = await subscribed(conn, lambda: a.listener.subscribers, ORGANIZATION_EVENTS, {})
            clock.advance(timedelta(seconds=settings.access_token_ttl_s))
            courier = await fresh_token(a.gql, "courier@example.com")
            assert (await step(a.gql, courier, ARRIVE_AT_PICKUP, parcelId=world.parcel))["errors"] == []
            ended = await conn.receive()
            assert ended["id"] == op
            assert ended["payload"]["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}


async def test_the_listener_reconnects_after_its_backend_is_terminated_and_the_subscriber_gets_what_it_missed(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection, admin_dsn: str
) -> None:
    server = await asyncpg.connect(admin_dsn)
    async with replica(settings, clock) as a:
        world = await assigned_world(a.gql, services)
        async with live(a, world.shop.token) as conn:
            op = await subscribed(conn, lambda: a.listener.subscribers, ORGANIZATION_EVENTS, {})
            generation = a.listener.generation
            # Like a database restart: the listener's backend is terminated and it cannot reconnect
            # until connections are allowed again; a step committed meanwhile announces to nobody.
            name = await db.fetchval("SELECT current_database()")
            await server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                terminated = await db.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'crowdship-listener'"
                )
                assert terminated == 1
                async with db.transaction():
                    repos = Repositories(db)
                    parcel = await repos.delivery.parcel(world.booked.parcel_uuids[0], for_update=True)
                    assert parcel is not None
                    courier = Actor(ActorKind.COURIER, world.courier.user_id)
                    await move(repos, parcel, ParcelStatus.AT_PICKUP, clock.now(), courier, position=None)
                assert a.listener.generation == generation
                assert not a.listener.connected.is_set()
            finally:
                await server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                await server.close()
            missed = (await conn.next_data(op))["organizationParcelEvents"]
            assert (missed["parcelId"], missed["event"]["kind"]) == (world.parcel, "at_pickup")
            assert a.listener.generation == generation + 1

            # Listening again: the next change arrives the ordinary way.
            courier_token = world.courier.token
            sent = await send_pings(a.gql, courier_token, [ping(52.36, 4.9, T0)])
            assert sent["kept"] == 1
            confirm = await step(
                a.gql, courier_token, _CONFIRM, parcelId=world.parcel, labelCode=world.booked.label_codes[0]
            )
            assert confirm["errors"] == []
            after = (await conn.next_data(op))["organizationParcelEvents"]
            assert after["event"]["kind"] == "picked_up"
            assert after["seq"] > missed["seq"]


_CONFIRM = """
mutation($input: ConfirmPickupInput!) { confirmPickup(input: $input) { parcel { id } errors { field code message } } }
"""


async def test_a_courier_hears_of_new_and_withdrawn_offers_on_another_replica(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    async with replica(settings, clock) as a, replica(settings, clock) as b:
        area = await make_area(services)
        shop = await open_shop(a.gql, services, area, "shop@example.com", "Shop")
        courier = await courier_with_trip(a.gql, services, area, "courier@example.com")
        booked = await book(a.gql, shop)
        async with live(b, courier.token) as conn:
            op = await subscribed(conn, lambda: b.listener.subscribers, OFFER_UPDATES, {})
            offer = await offered(services, courier, booked)
            new = (await conn.next_data(op))["offerUpdates"]
            assert (new["change"], new["offer"]["status"]) == ("OPEN", "OPEN")
            cancelled = await a.gql(CANCEL_JOB, {"input": {"jobId": booked.job_id}}, token=shop.token)
            assert cancelled["data"]["cancelJob"]["errors"] == []
            gone = (await conn.next_data(op))["offerUpdates"]
            assert (gone["change"], gone["offer"]["id"]) == ("WITHDRAWN", new["offer"]["id"])
            assert new["offer"]["id"] == str(global_id("Offer", offer.id))


async def test_revoking_an_api_key_ends_its_subscription(
    settings: Settings, clock: ManualClock, services: Services
) -> None:
    create = 'mutation { createApiKey(input: {name: "dispatch screen"}) { secret apiKey { id } errors { code } } }'
    revoke = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { errors { code } } }"
    async with replica(settings, clock) as a, replica(settings, clock) as b:
        world = await assigned_world(a.gql, services)
        created = (await a.gql(create, token=world.shop.token))["data"]["createApiKey"]
        async with live(b, created["secret"]) as conn:
            op = await subscribed(conn, lambda: b.listener.subscribers, ORGANIZATION_EVENTS, {})
            revoked = await a.gql(revoke, {"id": created["apiKey"]["id"]}, token=world.shop.token)
            assert revoked["data"]["revokeApiKey"]["errors"] == []
            ended = await conn.receive()
            assert ended["id"] == op
            assert ended["payload"]["errors"][0]["extensions"] == {
                "code": "UNAUTHENTICATED",
                "reason": "API_KEY_UNKNOWN",
            }


async def test_a_change_is_announced_at_its_commit_and_never_when_it_rolls_back(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection, database_url: str
) -> None:
    world = await assigned_world(gql, services)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listening = await asyncpg.connect(database_url)
    try:
        await listening.add_listener("crowdship_live", lambda *args: heard.put_nowait(str(args[3])))
        courier = Actor(ActorKind.COURIER, world.courier.user_id)
        parcel_id = world.booked.parcel_uuids[0]
        for commit in (False, True):
            tx = db.transaction()
            await tx.start()
            repos = Repositories(db)
            parcel = await repos.delivery.parcel(parcel_id, for_update=True)
            assert parcel is not None
            await move(repos, parcel, ParcelStatus.AT_PICKUP, clock.now(), courier, position=None)
            assert heard.empty()  # nothing before the commit
            await (tx.commit() if commit else tx.rollback())
        payload = await asyncio.wait_for(heard.get(), 15)
        seq = await db.fetchval("SELECT seq FROM parcel_events WHERE kind = 'at_pickup'")
        organization = await db.fetchval("SELECT organization_id FROM parcel_events WHERE kind = 'at_pickup'")
        assert payload == f"e {seq} {parcel_id} {organization}"
        assert await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'at_pickup'") == 1
    finally:
        await listening.close()


# --- pings: throttled, flagged, refused, late -----------------------------------------------------


async def test_pings_keep_one_point_per_second_and_a_retried_batch_keeps_nothing(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    world = await assigned_world(gql, services)
    batch = [
        ping(52.3600, 4.9000, T0),
        ping(52.3601, 4.9001, T0 + 0.3 * SECOND),
        ping(52.3602, 4.9002, T0 + 1.0 * SECOND),
        ping(52.3603, 4.9003, T0 + 1.9 * SECOND),
        ping(52.3604, 4.9004, T0 + 2.0 * SECOND),
    ]
    first = await send_pings(gql, world.courier.token, batch)
    assert (first["kept"], first["dropped"], first["flagged"]) == (3, 2, 0)
    again = await send_pings(gql, world.courier.token, batch)
    assert (again["kept"], again["dropped"]) == (0, 5)
    kept = await db.fetch("SELECT lat, area_id FROM courier_pings ORDER BY recorded_at")
    assert [r["lat"] for r in kept] == [52.3600, 52.3602, 52.3604]
    assert {r["area_id"] for r in kept} == {world.courier.trip.area_id}


async def test_an_implausible_jump_is_flagged_and_moves_neither_the_position_nor_the_eta(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    world = await assigned_world(gql, services)
    start = await send_pings(gql, world.courier.token, [ping(52.3600, 4.9000, T0)])
    # Utrecht, 30 km away, 10 s later: 10,800 km/h for a car.
    jump = await send_pings(gql, world.courier.token, [ping(52.0907, 5.1214, T0 + 10 * SECOND)])
    assert (jump["kept"], jump["flagged"], jump["etas"]) == (1, 1, [])
    # 100 m in 10 s (36 km/h) is a car's pace: plausible, judged from the last plausible point.
    onward = await send_pings(gql, world.courier.token, [ping(52.3609, 4.9000, T0 + 20 * SECOND)])
    assert (onward["kept"], onward["flagged"]) == (1, 0)
    assert await db.fetchval("SELECT lat FROM courier_pings WHERE implausible") == 52.0907
    assert await db.fetchval("SELECT lat FROM courier_positions") == 52.3609
    assert len(start["etas"]) == len(onward["etas"]) == 2


async def test_pings_are_refused_without_an_accepted_parcel_and_beyond_fifty(
    gql: GraphQL, services: Services, db: asyncpg.Connection
) -> None:
    world = await assigned_world(gql, services)
    idle = await gql.session("idle@example.com", "COURIER")
    refused = await send_pings(gql, idle["accessToken"], [ping(52.36, 4.9, T0)])
    assert [e["code"] for e in refused["errors"]] == ["NO_ACTIVE_DELIVERY"]
    many = [ping(52.36, 4.9, T0 - i * SECOND) for i in range(51)]
    too_many = await send_pings(gql, world.courier.token, many)
    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [("pings", "TOO_MANY_ROWS")]
    future = await send_pings(gql, world.courier.token, [ping(52.36, 4.9, T0 + timedelta(minutes=5))])
    assert [(e["field"], e["code"]) for e in future["errors"]] == [("pings[0].recordedAt", "OUT_OF_RANGE")]
    assert await db.fetchval("SELECT count(*) FROM courier_pings") == 0


async def test_an_eta_past_its_window_writes_running_late_once(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    world = await assigned_world(gql, services)
    on_time = await send_pings(gql, world.courier.token, [ping(52.3600, 4.9000, T0)])
    assert [e["late"] for e in on_time["etas"]] == [False, False]
    # The pickup window closes at 12:00; at 12:30 the courier is still 2 km away.
    clock.advance(timedelta(hours=4, minutes=30))
    token = await fresh_token(gql, "courier@example.com")
    late = await send_pings(gql, token, [ping(52.3600, 4.9000, clock.now())])
    assert [(e["kind"], e["late"]) for e in late["etas"]] == [("PICKUP", True), ("DROPOFF", False)]
    again = await send_pings(gql, token, [ping(52.3601, 4.9000, clock.now() + SECOND)])
    assert again["etas"][0]["late"] is True
    rows = await db.fetch("SELECT kind, from_status, to_status, details FROM parcel_events WHERE kind = 'running_late'")
    assert len(rows) == 1
    assert (rows[0]["from_status"], rows[0]["to_status"]) == (None, None)
    assert '"stop": "pickup"' in rows[0]["details"]
    assert await db.fetchval("SELECT status FROM parcels") == "assigned"


async def test_the_worker_purges_pings_older_than_thirty_days(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection, database_url: str
) -> None:
    world = await assigned_world(gql, services)
    assert (await send_pings(gql, world.courier.token, [ping(52.36, 4.9, T0)]))["kept"] == 1
    clock.advance(timedelta(days=30, minutes=1))
    token = await fresh_token(gql, "courier@example.com")
    assert (await send_pings(gql, token, [ping(52.36, 4.9, clock.now())]))["kept"] == 1
    assert await db.fetchval("SELECT count(*) FROM courier_pings") == 2
    async with worker(services, database_url):
        await enqueue(services, MAINTENANCE_PURGE, {})

        async def purged() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM courier_pings") == 1)

        await eventually(purged, what="the purge")
    assert await db.fetchval("SELECT recorded_at FROM courier_pings") == clock.now()
