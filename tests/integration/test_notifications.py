"""Recipient notifications through the outbox and the real worker, received by a local SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from marketplace.settings import EmailProvider, Settings
from tests.conftest import make_settings
from tests.dispatch_factories import make_offer
from tests.factories import make_area
from tests.helpers import GraphQL
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
