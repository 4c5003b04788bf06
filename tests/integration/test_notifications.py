"""Recipient notifications through the outbox and the real worker, received by a local SMTP server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from marketplace.settings import EmailProvider, Settings
from tests.conftest import make_settings
from tests.dispatch_factories import make_offer
from tests.factories import make_area, uuid_of
from tests.helpers import GraphQL, fresh_token
from tests.integration.ops_delivery import (
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    CONFIRM_PICKUP,
    DELIVER,
    FAILED_ATTEMPT,
    HERE,
    Booked,
    Courier,
    accept,
    book,
    courier_with_trip,
    step,
)
from tests.integration.ops_jobs import Shop, open_shop
from tests.integration.ops_tracking import RECORD_PINGS, ping
from tests.integration.test_worker import eventually, worker
from tests.receivers import Inbox, smtp_server


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with smtp_server(box) as port:
        yield box, port


@pytest.fixture
def settings(database_url: str, inbox: tuple[Inbox, int]) -> Settings:
    return make_settings(
        database_url,
        email_provider=EmailProvider.SMTP,
        smtp_host="127.0.0.1",
        smtp_port=inbox[1],
        public_base_url="https://track.example.com",
    )


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


@pytest.fixture
async def shop(gql: GraphQL, services: Services, area: ServiceArea) -> Shop:
    return await open_shop(gql, services, area, "shop@example.com", "Corner Shop")


@pytest.fixture
async def courier(gql: GraphQL, services: Services, area: ServiceArea) -> Courier:
    return await courier_with_trip(gql, services, area, "courier@example.com")


async def settled(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) = 0 FROM notifications WHERE status IN ('pending', 'sending', 'handing_over')"
        )
    )


def mails_to(box: Inbox, address: str) -> list[Any]:
    return [m for m in box.messages if m["To"] == address]


async def test_each_recipient_hears_of_each_step_once_in_their_language_and_never_a_pin_after_delivery(
    gql: GraphQL,
    services: Services,
    database_url: str,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    inbox: tuple[Inbox, int],
) -> None:
    box = inbox[0]
    recipient = {"name": "Ada de Vries", "phone": "+31 6 1234 5678"}
    a: Booked = await book(gql, shop, recipient={**recipient, "email": "a@example.com", "language": "de"})
    b: Booked = await book(gql, shop, recipient={**recipient, "email": "b@example.com"})
    c: Booked = await book(gql, shop, recipient={**recipient, "email": "c@example.com"})
    offer = await make_offer(services, courier.trip, [*a.parcel_uuids, *b.parcel_uuids, *c.parcel_uuids])
    assert (await accept(gql, courier, offer))["errors"] == []

    async def hand_over(parcel: Booked) -> None:
        p = parcel.parcel_ids[0]
        payload = await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=p, position=HERE)
        assert payload["errors"] == []
        payload = await step(gql, courier.token, DELIVER, parcelId=p, position=HERE, proof={"pin": parcel.pins[0]})
        assert payload["errors"] == [], payload

    async def pick_up(parcel: Booked) -> None:
        p = parcel.parcel_ids[0]
        assert (await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=p, position=HERE))["errors"] == []
        payload = await step(gql, courier.token, CONFIRM_PICKUP, parcelId=p, labelCode=parcel.label_codes[0])
        assert payload["errors"] == []

    # C is delivered before the worker sends anything: its "booked" message goes out without the PIN.
    await pick_up(c)
    await hand_over(c)
    async with worker(services, database_url):
        await eventually(lambda: settled(db), 60, "the first notifications")
    tokens = {
        r["address"]: r["tracking_token"]
        for r in await db.fetch(
            "SELECT j.recipient_email AS address, p.tracking_token FROM parcels p JOIN jobs j ON j.id = p.job_id"
        )
    }
    (booked_a,) = mails_to(box, "a@example.com")
    assert booked_a["Subject"] == "Ihr Paket von Corner Shop ist unterwegs"  # the recipient's language
    body_a = booked_a.get_content()
    assert f"https://track.example.com/t/{tokens['a@example.com']}" in body_a
    assert re.fullmatch(r"[0-9a-f]{64}", tokens["a@example.com"])
    assert f"Ihre PIN für die Übergabe: {a.pins[0]}" in body_a
    (booked_b,) = mails_to(box, "b@example.com")
    assert booked_b["Subject"] == "Your parcel from Corner Shop is on its way"  # unknown: the area's (NL) -> en
    assert f"Your PIN for the hand-over: {b.pins[0]}" in booked_b.get_content()
    c_subjects = sorted(m["Subject"] for m in mails_to(box, "c@example.com"))
    assert c_subjects == sorted(
        [
            "Your parcel from Corner Shop is on its way",
            "Your parcel is out for delivery",
            "Your parcel has been delivered",
        ]
    )
    assert all(c.pins[0] not in m.get_content() for m in mails_to(box, "c@example.com"))

    # A and B go on board; A is handed over (B arrives soon), B's hand-over fails (back to the store).
    await pick_up(a)
    await pick_up(b)
    await hand_over(a)
    # The fallback (no live ETA) is an event like the live path's: in B's history and the outbox, once.
    told = await db.fetch("SELECT parcel_id, details FROM parcel_events WHERE kind = 'arriving_soon'")
    assert [r["parcel_id"] for r in told] == [b.parcel_uuids[0]]
    assert json.loads(told[0]["details"])["after_parcel_id"] == str(a.parcel_uuids[0])
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'parcel.arriving_soon'") == 1
    p = b.parcel_ids[0]
    assert (await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=p, position=HERE))["errors"] == []
    failed = await step(gql, courier.token, FAILED_ATTEMPT, parcelId=p, reason="RECIPIENT_ABSENT", position=HERE)
    assert failed["errors"] == []
    async with worker(services, database_url):
        await eventually(lambda: settled(db), 60, "the remaining notifications")
    assert [m["Subject"] for m in mails_to(box, "a@example.com")][1:] == [
        "Ihr Paket wird zugestellt",
        "Ihr Paket wurde zugestellt",
    ]
    b_mails = mails_to(box, "b@example.com")
    assert sorted(m["Subject"] for m in b_mails[1:]) == sorted(
        ["Your parcel is out for delivery", "Your parcel arrives soon", "We could not deliver your parcel"]
    )
    failed_mail = next(m for m in b_mails if m["Subject"] == "We could not deliver your parcel")
    assert "goes back to the sender" in failed_mail.get_content()
    out = next(m for m in b_mails if m["Subject"] == "Your parcel is out for delivery")
    assert re.search(r"arrives between \d\d:\d\d - \d\d:\d\d", out.get_content())
    # Once each, e-mail and SMS alike; no PIN is kept once sent.
    assert len(box.keys()) == len(set(box.keys())) == 10
    counts = await db.fetch("SELECT channel, count(*) AS n, count(pin) AS pins FROM notifications GROUP BY channel")
    assert {(r["channel"], r["n"], r["pins"]) for r in counts} == {("email", 10, 0), ("sms", 10, 0)}


async def send_pings(gql: GraphQL, courier: Courier, *points: tuple[float, float, datetime]) -> dict[str, Any]:
    pings = [ping(lat, lng, at) for lat, lng, at in points]
    body = await gql(RECORD_PINGS, {"input": {"pings": pings}}, token=courier.token)
    payload: dict[str, Any] = body["data"]["recordLocationPings"]
    assert payload["errors"] == [], payload
    return payload


async def test_arriving_soon_follows_the_live_eta_once_per_parcel_and_the_old_rule_only_without_one(
    gql: GraphQL,
    services: Services,
    database_url: str,
    shop: Shop,
    courier: Courier,
    clock: ManualClock,
    db: asyncpg.Connection,
    inbox: tuple[Inbox, int],
) -> None:
    """A and B on board; B has a live ETA, so A's hand-over tells B nothing: B hears when its ETA is near."""
    box = inbox[0]
    recipient = {"name": "Ada de Vries", "phone": "+31 6 1234 5678"}
    a: Booked = await book(gql, shop, recipient={**recipient, "email": "a@example.com"})
    b: Booked = await book(gql, shop, recipient={**recipient, "email": "b@example.com"})
    assert (await accept(gql, courier, await make_offer(services, courier.trip, [*a.parcel_uuids, *b.parcel_uuids])))[
        "errors"
    ] == []
    deliver_from = await db.fetchval("SELECT deliver_from FROM jobs WHERE id = $1", uuid_of(b.job_id, "Job"))
    clock.at = deliver_from + timedelta(hours=1)  # within the window: the ETA is not held back to its start
    courier.token = await fresh_token(gql, "courier@example.com")
    for parcel in (a, b):
        p = parcel.parcel_ids[0]
        assert (await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=p, position=HERE))["errors"] == []
        confirmed = await step(gql, courier.token, CONFIRM_PICKUP, parcelId=p, labelCode=parcel.label_codes[0])
        assert confirmed["errors"] == []
    arriving = "SELECT parcel_id, details FROM parcel_events WHERE kind = 'arriving_soon'"

    # Far north of the drop-off (ZUID): the ETAs are well beyond 10 minutes; nothing is told.
    far = await send_pings(gql, courier, (52.4300, 4.8900, clock.now()))
    assert all(
        datetime.fromisoformat(e["etaAt"]) - clock.now() > timedelta(minutes=10)
        for e in far["etas"]
        if e["kind"] == "DROPOFF"
    )
    assert await db.fetch(arriving) == []

    # A is handed over: with a live ETA for B, the old rule ("the stop before is done") stays silent.
    p = a.parcel_ids[0]
    assert (await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=p, position=HERE))["errors"] == []
    delivered = await step(gql, courier.token, DELIVER, parcelId=p, position=HERE, proof={"pin": a.pins[0]})
    assert delivered["errors"] == []

    # Near B's drop-off twenty minutes later: one event, however many pings follow.
    clock.advance(timedelta(minutes=20))
    courier.token = await fresh_token(gql, "courier@example.com")
    near = await send_pings(gql, courier, (52.3400, 4.8730, clock.now()))
    (eta,) = [e for e in near["etas"] if e["kind"] == "DROPOFF"]
    assert datetime.fromisoformat(eta["etaAt"]) - clock.now() <= timedelta(minutes=10)
    clock.advance(timedelta(seconds=30))
    await send_pings(gql, courier, (52.3395, 4.8726, clock.now()))
    rows = await db.fetch(arriving)
    assert [r["parcel_id"] for r in rows] == [b.parcel_uuids[0]]
    assert json.loads(rows[0]["details"])["eta_at"] == eta["etaAt"].replace("Z", "+00:00")
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'parcel.arriving_soon'") == 1

    async with worker(services, database_url):
        await eventually(lambda: settled(db), 60, "the notifications")
    assert [m["Subject"] for m in mails_to(box, "a@example.com")].count("Your parcel arrives soon") == 0
    (soon,) = [m for m in mails_to(box, "b@example.com") if m["Subject"] == "Your parcel arrives soon"]
    local = datetime.fromisoformat(eta["etaAt"]).astimezone(ZoneInfo("Europe/Amsterdam"))
    assert f"your parcel arrives at about {local:%H:%M}." in soon.get_content()
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE kind = 'arriving_soon'") == 2  # mail, SMS
