"""The recipient's tracking token: one parcel only, 14 days after settlement, rate limited; the redirect.

Over a real replica (uvicorn, its listener), so the page, the subscription and the mutation are
tried as a recipient's browser reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from marketplace.clock import ManualClock
from marketplace.domain.delivery import Actor, ActorKind, ParcelStatus
from marketplace.domain.places import CompartmentSize, Locker
from marketplace.domain.rounds import RoundTrigger
from marketplace.services.container import Services
from marketplace.services.dispatch_common import move
from marketplace.settings import Settings
from schema.types import global_id
from tests.conftest import T0, make_settings
from tests.factories import make_area, make_locker, uuid_of
from tests.helpers import GraphQL
from tests.integration.ops_delivery import CANCEL_JOB, Booked, accept, book, courier_with_trip, offered, step
from tests.integration.ops_jobs import Shop, open_shop
from tests.integration.ops_recipient_tracking import REDIRECT, TRACKED_PARCEL
from tests.integration.ops_tracking import OFFER_UPDATES
from tests.live import Live, Replica, live, replica

SYSTEM = Actor(ActorKind.SYSTEM)


@dataclass
class World:
    shop: Shop
    mine: Booked
    other: Booked
    my_token: str
    other_token: str
    locker: Locker


async def token_of(db: asyncpg.Connection, parcel_id: UUID) -> str:
    return str(await db.fetchval("SELECT tracking_token FROM parcels WHERE id = $1", parcel_id))


async def two_parcels(gql: GraphQL, services: Services, db: asyncpg.Connection) -> World:
    """One shop, two recipients' parcels (each its own job), a locker with room in the area."""
    area = await make_area(services)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    mine, other = await book(gql, shop), await book(gql, shop)
    locker = await make_locker(services, area)
    return World(
        shop,
        mine,
        other,
        await token_of(db, mine.parcel_uuids[0]),
        await token_of(db, other.parcel_uuids[0]),
        locker,
    )


async def set_status(services: Services, parcel_id: UUID, target: ParcelStatus) -> None:
    """Moves a parcel the way a step does: the transition table, the event writer, one transaction."""
    async with services.db.uow() as uow:
        state = await uow.repos.delivery.parcel(parcel_id, for_update=True)
        assert state is not None
        await move(uow.repos, state, target, services.clock.now(), SYSTEM, position=None)
        await uow.commit()


async def redirect(gql: GraphQL, token: str, **input: Any) -> dict[str, Any]:
    body = await gql(REDIRECT, {"input": {"token": token, **input}})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["redirectTrackedParcel"]
    return payload


def refusal(message: dict[str, Any], op: str) -> str:
    """A subscription's refusal: its error's code (a stream refused before its first item)."""
    assert message["id"] == op, message
    errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
    assert errors, message
    extensions = errors[0]["extensions"]
    # A refusal other than NOT_FOUND is a bad argument, with the domain's code inside (GraphQL conventions).
    return str(extensions["errors"][0]["code"] if extensions["code"] == "BAD_USER_INPUT" else extensions["code"])


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def page(server: Replica, token: str, **headers: str) -> httpx.Response:
    return await server.http.get(f"/t/{token}", headers=headers)


# --- the page ------------------------------------------------------------------------------------


async def test_the_page_shows_its_parcel_and_never_another(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        # The other recipient's parcel moves on and is sent to the locker: none of it shows on my page.
        assert (await redirect(server.gql, world.other_token, lockerId=str(global_id("Locker", world.locker.id))))[
            "errors"
        ] == []
        response = await page(server, world.my_token)
        assert response.status_code == 200
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        html = response.text.split('<script id="tracking-data"')[0]  # what shows, before the script's labels
        assert 'data-status="BOOKED"' in html
        assert "You changed the delivery" not in html  # the other parcel's redirect
        assert "To your address" in html
        assert html.count("<li data-seq=") == 1  # my parcel's one event: booked
        assert '<script src="/t/static/tracking.js">' in response.text
        assert "http" not in html.split("<body", 1)[1]

        theirs = (await page(server, world.other_token)).text.split('<script id="tracking-data"')[0]
        assert "You changed the delivery" in theirs
        assert "To the locker Oost station locker" in theirs

        script = await server.http.get("/t/static/tracking.js")
        assert script.status_code == 200
        assert "graphql-transport-ws" in script.text


async def test_unknown_malformed_and_expired_tokens_get_the_same_plain_404(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        unknown = await page(server, "f" * 64)
        malformed = await page(server, "not-a-token")
        assert unknown.status_code == malformed.status_code == 404
        assert unknown.text == malformed.text

        # Settled (cancelled) now: the token works for 14 days, not a second longer.
        cancelled = await step(server.gql, world.shop.token, CANCEL_JOB, jobId=world.mine.job_id)
        assert cancelled["errors"] == []
        clock.advance(timedelta(days=14) - timedelta(seconds=1))
        assert (await page(server, world.my_token)).status_code == 200
        clock.advance(timedelta(seconds=1))
        expired = await page(server, world.my_token)
        assert expired.status_code == 404
        assert expired.text == unknown.text
        # ... and the subscription and the mutation refuse it as a missing parcel too.
        async with live(server, None) as conn:
            op = await conn.subscribe(TRACKED_PARCEL, {"token": world.my_token})
            assert refusal(await conn.receive(), op) == "NOT_FOUND"
        assert codes(await redirect(server.gql, world.my_token, allowNeighbour=True)) == ["NOT_FOUND"]
        # A parcel still under way is never expired, however old.
        assert (await page(server, world.other_token)).status_code == 200


async def test_the_rate_limit_answers_429_per_token_and_per_address(
    database_url: str, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    settings = make_settings(database_url, tracking_max_per_token=3, tracking_max_per_address=5)
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        assert [(await page(server, world.my_token)).status_code for _ in range(4)] == [200, 200, 200, 429]
        limited = await page(server, world.my_token)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "60"
        # Per address: the other token has its own count, but this address has used up its five.
        assert (await page(server, world.other_token)).status_code == 429
        # The subscription and the mutation count too, and say RATE_LIMITED.
        assert codes(await redirect(server.gql, world.other_token, allowNeighbour=True)) == ["RATE_LIMITED"]
        async with live(server, None) as conn:
            op = await conn.subscribe(TRACKED_PARCEL, {"token": world.other_token})
            assert refusal(await conn.receive(), op) == "RATE_LIMITED"
        # A minute later the window has passed.
        clock.advance(timedelta(seconds=61))
        assert (await page(server, world.other_token)).status_code == 200


# --- the subscription ----------------------------------------------------------------------------


async def test_the_subscription_follows_its_parcel_and_never_another(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        async with live(server, None) as conn:
            op = await conn.subscribe(TRACKED_PARCEL, {"token": world.my_token})
            first = (await conn.next_data(op))["trackedParcel"]
            assert first["parcel"]["status"] == "BOOKED"
            assert first["parcel"]["redirectable"] is True
            assert [e["kind"] for e in first["events"]] == ["booked"]

            # The other parcel changes first: nothing of it reaches my subscription.
            await set_status(services, world.other.parcel_uuids[0], ParcelStatus.OFFERED)
            await set_status(services, world.mine.parcel_uuids[0], ParcelStatus.OFFERED)
            update = (await conn.next_data(op))["trackedParcel"]
            assert update["parcel"]["status"] == "OFFERED"
            assert [(e["kind"], e["status"]) for e in update["events"]] == [("offered", "OFFERED")]
            assert update["events"][0]["seq"] > first["events"][0]["seq"]
            await expect_silence(conn)


async def expect_silence(conn: Live) -> None:
    """Nothing more is queued for the subscriber (a short receive timeout, not a sleep)."""
    try:
        message = await conn.receive(0.3)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {message}")


# --- the redirect --------------------------------------------------------------------------------


async def test_a_redirect_to_a_locker_is_checked_recorded_and_planned_by_the_next_round(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        locker_id = str(global_id("Locker", world.locker.id))
        done = await redirect(server.gql, world.my_token, lockerId=locker_id, idempotencyKey="k1")
        assert done["errors"] == []
        assert (done["parcel"]["dropoffLockerId"], done["parcel"]["dropoffLockerName"]) == (
            locker_id,
            "Oost station locker",
        )
        again = await redirect(server.gql, world.my_token, lockerId=locker_id, idempotencyKey="k1")
        assert again["errors"] == []
        kinds = await db.fetch(
            "SELECT parcel_id, kind, actor_kind FROM parcel_events WHERE kind = 'redirected' ORDER BY seq"
        )
        # Once, on my parcel only, by the recipient, with its outbox message for webhooks.
        assert [(r["parcel_id"], r["actor_kind"]) for r in kinds] == [(world.mine.parcel_uuids[0], "recipient")]
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'parcel.redirected'") == 1
        # The bridge reads the locker as the drop-off, for the next round; the other job keeps its address.
        instance = await services.matching.instance(
            area_id=world.locker.area_id, start=T0, end=T0 + timedelta(days=2), now=clock.now()
        )
        dropoffs = {p.id: p.dropoff for p in instance.parcels}
        assert dropoffs[str(world.mine.parcel_uuids[0])] == (world.locker.point.lat, world.locker.point.lng)
        assert dropoffs[str(world.other.parcel_uuids[0])] != (world.locker.point.lat, world.locker.point.lng)
        # Another key with other input: a fresh change (neighbour consent on the other parcel is untouched).
        consent = await redirect(server.gql, world.my_token, allowNeighbour=True, idempotencyKey="k2")
        assert consent["errors"] == []
        assert consent["parcel"]["neighbourAllowed"] is True
        assert await db.fetchval("SELECT bool_or(neighbour_consent) FROM jobs WHERE id <> $1", UUID(int=0)) is True
        assert (
            await db.fetchval(
                "SELECT neighbour_consent FROM jobs j JOIN parcels p ON p.job_id = j.id WHERE p.id = $1",
                world.other.parcel_uuids[0],
            )
            is False
        )


async def test_a_redirect_is_refused_like_a_booking_and_after_planning(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        full = await make_locker(
            services, await area_of(services, world.locker), compartments=((CompartmentSize.M, 1),)
        )
        # The other parcel holds the full locker's one compartment.
        async with services.db.uow() as uow:
            await uow.repos.delivery.reserve(
                UUID(int=1), full.id, world.other.parcel_uuids[0], full.area_id, CompartmentSize.M, clock.now()
            )
            await uow.commit()
        assert codes(await redirect(server.gql, world.my_token, lockerId=str(global_id("Locker", full.id)))) == [
            "LOCKER_FULL"
        ]
        assert codes(await redirect(server.gql, world.my_token, lockerId=str(global_id("Locker", UUID(int=5))))) == [
            "NOT_FOUND"
        ]
        assert codes(await redirect(server.gql, world.my_token)) == ["REQUIRED"]
        # Once its courier is at the store, the drop-off no longer changes.
        for status in (ParcelStatus.OFFERED, ParcelStatus.ASSIGNED, ParcelStatus.AT_PICKUP):
            await set_status(services, world.mine.parcel_uuids[0], status)
        locker_id = str(global_id("Locker", world.locker.id))
        assert codes(await redirect(server.gql, world.my_token, lockerId=locker_id)) == ["INVALID_TRANSITION"]
        assert codes(await redirect(server.gql, world.my_token, allowNeighbour=True)) == ["INVALID_TRANSITION"]
        assert await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'redirected'") == 0


async def area_of(services: Services, locker: Locker) -> Any:
    async with services.db.read() as repos:
        return await repos.areas.get(locker.area_id)


# --- a redirect once a courier is planned ---------------------------------------------------------


async def events_of(db: asyncpg.Connection, parcel_id: UUID) -> list[tuple[str, str | None, str | None]]:
    rows = await db.fetch(
        "SELECT kind, to_status, reason_code FROM parcel_events WHERE parcel_id = $1 ORDER BY seq", parcel_id
    )
    return [(r["kind"], r["to_status"], r["reason_code"]) for r in rows]


async def test_a_redirect_withdraws_the_open_offer_the_courier_hears_and_the_next_round_plans_it(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        courier = await courier_with_trip(server.gql, services, await area_of(services, world.locker), "c@example.com")
        parcel_id = world.mine.parcel_uuids[0]
        async with live(server, courier.token) as conn:
            op = await conn.subscribe(OFFER_UPDATES, {})
            offer = await offered(services, courier, world.mine)
            new = (await conn.next_data(op))["offerUpdates"]
            assert (new["change"], new["offer"]["id"]) == ("OPEN", str(global_id("Offer", offer.id)))

            locker_id = str(global_id("Locker", world.locker.id))
            done = await redirect(server.gql, world.my_token, lockerId=locker_id)
            assert done["errors"] == []
            assert done["parcel"]["status"] == "BOOKED"
            assert done["parcel"]["redirectable"] is True

            gone = (await conn.next_data(op))["offerUpdates"]
            assert (gone["change"], gone["offer"]["id"]) == ("WITHDRAWN", new["offer"]["id"])

        # One transaction, in the history: out of the offer, back to booked, redirected.
        assert (await events_of(db, parcel_id))[1:] == [
            ("offered", "offered", None),
            ("offer_withdrawn", None, "redirected_by_recipient"),
            ("booked", "booked", "redirected_by_recipient"),
            ("redirected", None, None),
        ]
        assert await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.id) == "withdrawn"
        assert await db.fetchval("SELECT count(*) FROM offer_parcels WHERE live") == 0
        assert await db.fetchval("SELECT count(*) FROM forbidden_pairs") == 0
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'parcel.offer_withdrawn'") == 1

        # The next round plans it again, to the locker: the engine's instance holds it with its new drop-off
        # (and the same trip: the pair is not ruled out), and the round records its placement.
        instance = await services.matching.instance(
            area_id=world.locker.area_id, start=T0, end=T0 + timedelta(days=2), now=clock.now()
        )
        assert {p.id: p.dropoff for p in instance.parcels}[str(parcel_id)] == (
            world.locker.point.lat,
            world.locker.point.lng,
        )
        assert str(courier.trip.id) in {t.id for t in instance.trips}
        await services.rounds.request(world.locker.area_id, RoundTrigger.OPERATIONS)
        _, planned = await services.rounds.run(world.locker.area_id)
        assert planned is not None
        assert planned.result is not None
        assert planned.result.parcels_count == 2
        assert await db.fetchval("SELECT placement_round_id FROM parcels WHERE id = $1", parcel_id) == planned.id


async def test_a_redirect_releases_an_accepted_offer_its_trip_and_its_locker_compartment(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        area = await make_area(services)
        shop = await open_shop(server.gql, services, area, "shop@example.com", "Shop")
        fallback = await make_locker(services, area)
        target = await make_locker(services, area)
        booked = await book(
            server.gql, shop, onFailure="LOCKER", fallbackLockerId=str(global_id("Locker", fallback.id))
        )
        token = await token_of(db, booked.parcel_uuids[0])
        courier = await courier_with_trip(server.gql, services, area, "c@example.com")
        offer = await offered(services, courier, booked)
        assert (await accept(server.gql, courier, offer))["errors"] == []
        held = "SELECT count(*) FROM locker_reservations WHERE parcel_id = $1 AND status <> 'released'"
        assert await db.fetchval(held, booked.parcel_uuids[0]) == 1
        assert await db.fetchval("SELECT status FROM trips WHERE id = $1", courier.trip.id) == "matched"

        # A consent changes no route: the courier keeps the parcel.
        consent = await redirect(server.gql, token, allowNeighbour=True)
        assert (consent["errors"], consent["parcel"]["status"]) == ([], "ASSIGNED")
        assert await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.id) == "accepted"

        done = await redirect(server.gql, token, lockerId=str(global_id("Locker", target.id)))
        assert done["errors"] == []
        assert (done["parcel"]["status"], done["parcel"]["courierFirstName"]) == ("BOOKED", None)
        assert await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.id) == "withdrawn"
        assert await db.fetchval(held, booked.parcel_uuids[0]) == 0
        row = await db.fetchrow(
            "SELECT status, assigned_courier_id, assigned_trip_id FROM parcels WHERE id = $1", booked.parcel_uuids[0]
        )
        assert row is not None
        assert (row["status"], row["assigned_courier_id"], row["assigned_trip_id"]) == ("booked", None, None)
        assert await db.fetchval("SELECT status FROM trips WHERE id = $1", courier.trip.id) == "open"
        assert await db.fetchval("SELECT status FROM jobs WHERE id = $1", uuid_of(booked.job_id, "Job")) == "booked"
        kinds = [k for k, _, _ in await events_of(db, booked.parcel_uuids[0])]
        assert kinds[-4:] == ["redirected", "offer_withdrawn", "booked", "redirected"]


async def test_the_page_offers_the_locker_whose_last_free_compartment_is_the_parcels_own_fallback(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    """An accepted parcel holds its fallback locker's one compartment; choosing that locker withdraws the
    offer and frees it, so the page lists it, and the redirect to it goes through."""
    async with replica(settings, clock) as server:
        area = await make_area(services)
        shop = await open_shop(server.gql, services, area, "shop@example.com", "Shop")
        fallback = await make_locker(services, area, compartments=((CompartmentSize.M, 1),))
        booked = await book(
            server.gql, shop, onFailure="LOCKER", fallbackLockerId=str(global_id("Locker", fallback.id))
        )
        token = await token_of(db, booked.parcel_uuids[0])
        courier = await courier_with_trip(server.gql, services, area, "c@example.com")
        assert (await accept(server.gql, courier, await offered(services, courier, booked)))["errors"] == []
        held = "SELECT count(*) FROM locker_reservations WHERE locker_id = $1 AND status <> 'released'"
        assert await db.fetchval(held, fallback.id) == 1

        html = (await page(server, token)).text
        assert f'<option value="{global_id("Locker", fallback.id)}">' in html
        done = await redirect(server.gql, token, lockerId=str(global_id("Locker", fallback.id)))
        assert done["errors"] == []
        assert await db.fetchval("SELECT dropoff_locker_id FROM jobs WHERE id = $1", uuid_of(booked.job_id, "Job")) == (
            fallback.id
        )
        # The withdrawal released the hold; the next acceptance reserves the locker as the drop-off.
        assert await db.fetchval(held, fallback.id) == 0


async def test_a_redirect_is_refused_once_the_courier_has_the_parcel(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        courier = await courier_with_trip(server.gql, services, await area_of(services, world.locker), "c@example.com")
        offer = await offered(services, courier, world.mine)
        assert (await accept(server.gql, courier, offer))["errors"] == []
        for status in (ParcelStatus.AT_PICKUP, ParcelStatus.PICKED_UP):
            await set_status(services, world.mine.parcel_uuids[0], status)
        before = await events_of(db, world.mine.parcel_uuids[0])
        refused = await redirect(server.gql, world.my_token, lockerId=str(global_id("Locker", world.locker.id)))
        assert codes(refused) == ["INVALID_TRANSITION"]
        assert refused["parcel"] is None
        assert await events_of(db, world.mine.parcel_uuids[0]) == before
        assert await db.fetchval("SELECT status FROM offers WHERE id = $1", offer.id) == "accepted"


UPDATE_PROFILE = "mutation($n: String) { updateProfile(input: {firstName: $n}) { errors { code } } }"


async def test_the_page_and_the_subscription_show_the_couriers_first_name_and_nothing_else_of_them(
    settings: Settings, clock: ManualClock, services: Services, db: asyncpg.Connection
) -> None:
    async with replica(settings, clock) as server:
        world = await two_parcels(server.gql, services, db)
        courier = await courier_with_trip(server.gql, services, await area_of(services, world.locker), "c@example.com")
        assert (await server.gql(UPDATE_PROFILE, {"n": "Anna"}, token=courier.token))["data"]["updateProfile"][
            "errors"
        ] == []
        async with live(server, None) as conn:
            op = await conn.subscribe(TRACKED_PARCEL, {"token": world.my_token})
            assert (await conn.next_data(op))["trackedParcel"]["parcel"]["courierFirstName"] is None
            assert (await accept(server.gql, courier, await offered(services, courier, world.mine)))["errors"] == []
            while (update := (await conn.next_data(op))["trackedParcel"]["parcel"])["status"] != "ASSIGNED":
                pass
            assert update["courierFirstName"] == "Anna"
            assert update["vehicleKind"] is not None

        # A change of name shows from then on; the page names the courier and nothing else of them
        # (no account holds a surname or a phone).
        assert (await server.gql(UPDATE_PROFILE, {"n": "Anne"}, token=courier.token))["data"]["updateProfile"][
            "errors"
        ] == []
        html = (await page(server, world.my_token)).text
        assert "Anne" in html
        assert "c@example.com" not in html
