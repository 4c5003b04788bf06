"""What the money tests share: a Stripe fake of the test module's own, a shop with a card, a courier with
a trip and payouts enabled, a job delivered and settled (by the payment handler, or by the worker with
the courier's pay held), and the reads of Stripe's and the ledger's side they assert on.

A module uses the fixtures by naming them at its top (pytest finds fixtures by module attribute):

    own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import stripe

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from marketplace.settings import Settings
from schema.types import decode_id
from stripefake import FakeStripe, RunningFake
from tests.conftest import STRIPE_KEY, T0, make_settings
from tests.helpers import GraphQL
from tests.integration import ops_delivery
from tests.integration.ops_delivery import (
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    CONFIRM_PICKUP,
    DELIVER,
    HERE,
    Booked,
    Courier,
    accept,
    book,
    offered,
    step,
)
from tests.integration.ops_jobs import Shop
from tests.integration.test_worker import eventually, worker
from tests.stripefake.conftest import Receiver

PAY = 450  # the courier's share of a job booked by `shop` and delivered by `courier` (the offer's pay)


@pytest.fixture(scope="module")
def own_fake() -> Iterator[RunningFake]:
    """A fake of the module's own: these tests move its clock by days, which the session's must not see."""
    with RunningFake(FakeStripe(clock=ManualClock(T0))) as server:
        yield server


@pytest.fixture
def fake(own_fake: RunningFake) -> RunningFake:
    httpx.post(f"{own_fake.url}/_fake/reset", json={}, timeout=30).raise_for_status()
    return own_fake


@pytest.fixture
def settings(database_url: str, fake: RunningFake) -> Settings:
    return make_settings(database_url, stripe_api_base=fake.url)


@pytest.fixture
def sdk(fake: RunningFake) -> stripe.StripeClient:
    """The test's own look at Stripe's side, through the same SDK."""
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


area, shop, courier = ops_delivery.area, ops_delivery.shop, ops_delivery.courier  # the delivery tests' world


async def control(fake: RunningFake, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{fake.url}/_fake/{path}", json=body or {}, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def delivered(gql: GraphQL, services: Services, shop: Shop, courier: Courier) -> Booked:
    """Booked (authorised), offered, accepted and delivered at the door with the recipient's PIN."""
    booked = await book(gql, shop)
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    parcel = booked.parcel_ids[0]
    for document, extra in (
        (ARRIVE_AT_PICKUP, {}),
        (CONFIRM_PICKUP, {"labelCode": booked.label_codes[0]}),
        (ARRIVE_AT_DROPOFF, {}),
        (DELIVER, {"proof": {"pin": booked.pins[0]}}),
    ):
        payload = await step(gql, courier.token, document, parcelId=parcel, position=HERE, **extra)
        assert payload["errors"] == [], payload
    return booked


async def settled(gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection) -> Booked:
    """Delivered and settled by the payment handler, as the worker runs it: captured, fee, the courier paid."""
    booked = await delivered(gql, services, shop, courier)
    assert await services.payments.settle_job(decode_id(booked.job_id, "Job")) is not None
    assert await db.fetchval("SELECT count(*) FROM payment_transfers") == 1
    return booked


async def held_at_settlement(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, database_url: str
) -> Booked:
    """Delivered; the courier has no payout account (as for one matched before accounts were required), so
    the worker captures and holds its pay."""
    booked = await delivered(gql, services, shop, courier)
    await db.execute("DELETE FROM payout_accounts WHERE courier_id = $1", courier.user_id)
    async with worker(services, database_url):
        await eventually(lambda: settled_once(db), 30, "the settlement finished with the pay held")
    hold = await db.fetchrow("SELECT refusals, reason, released_at FROM transfer_holds")
    assert hold is not None
    assert (hold["refusals"], hold["reason"], hold["released_at"]) == (0, "no_payout_account", None)
    assert await payable_of(db, courier.user_id) == -PAY
    return booked


async def settled_once(db: asyncpg.Connection) -> bool:
    """The settlement job ran to its end (not failed, not held) and the payment left `authorized`."""
    done = await db.fetchval(
        "SELECT count(*) FROM pgqueuer_log WHERE entrypoint = 'settle_payment' AND status = 'successful'"
    )
    return bool(done >= 1 and (await payment_of(db))["status"] != "authorized")


async def payment_of(db: asyncpg.Connection) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM payments")
    assert row is not None
    return row


async def entries(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch("SELECT kind, source_id FROM journal_entries ORDER BY kind, source_id")
    return [(r["kind"], r["source_id"]) for r in rows]


async def account_sum(db: asyncpg.Connection, kind: str, **owner: UUID) -> int:
    """The balance of the ledger accounts of a kind, of one owner if named (`courier_id=...`)."""
    where = "".join(f" AND a.{column} = ${i + 2}" for i, column in enumerate(owner))
    return int(
        await db.fetchval(
            "SELECT COALESCE(sum(l.amount_minor), 0) FROM journal_lines l "
            f"JOIN ledger_accounts a ON a.id = l.account_id WHERE a.kind = $1{where}",
            kind,
            *owner.values(),
        )
    )


async def payable_of(db: asyncpg.Connection, courier_id: UUID) -> int:
    return await account_sum(db, "courier_payable", courier_id=courier_id)


async def assert_ledger_balanced(db: asyncpg.Connection) -> None:
    unbalanced = await db.fetch(
        "SELECT entry_id FROM journal_lines GROUP BY entry_id, currency HAVING sum(amount_minor) <> 0"
    )
    assert unbalanced == []


def received(receiver: Receiver) -> list[tuple[dict[str, Any], bytes, str]]:
    """The signed deliveries so far, each as (event, raw body, Stripe-Signature)."""
    found = []
    while not receiver.received.empty():
        r = receiver.received.get_nowait()
        found.append((json.loads(r.body), r.body, r.signature))
    return found
