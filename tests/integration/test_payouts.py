"""The platform's payouts end to end: book, deliver, settle, Stripe's daily automatic payout paid and its
webhooks processed by the worker, reconciliation clean; the payout posted once per area whatever the
webhooks' order or repetition; the `payouts` and `courierPayouts` queries and who may read them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import stripe

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.payments.gateway import PayoutState
from marketplace.services.container import Services
from schema.types import global_id
from stripefake import RunningFake
from tests.conftest import STRIPE_WEBHOOK_SECRET, T0
from tests.helpers import PASSWORD, GraphQL, fresh_token
from tests.integration import payment_setup
from tests.integration.ops_delivery import Courier
from tests.integration.ops_jobs import Shop
from tests.integration.payment_setup import assert_ledger_balanced, control, payment_of, received, settled
from tests.integration.test_reconciliation import mismatches
from tests.integration.test_worker import eventually, worker
from tests.stripefake.conftest import Receiver

own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, payment_setup.settings, payment_setup.sdk
area, shop, courier = payment_setup.area, payment_setup.shop, payment_setup.courier

DAY = T0.date()
DAYS = 86400

PAYOUTS = """
query($from: Date, $until: Date, $status: PayoutStatus, $first: Int, $after: String) {
  payouts(from: $from, until: $until, status: $status, first: $first, after: $after) {
    edges { node {
      payoutId amount { amountMinor currency } status automatic createdAt postedAt
      lines { balanceTransactionId type sourceId amount { amountMinor } fee { amountMinor } net { amountMinor }
              areaId ledgerEntryId ledgerEntryKind feeEntryId }
      entries { entryId areaId amount { amountMinor currency } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
COURIER_PAYOUTS = """
query($c: ID, $status: PayoutStatus) {
  courierPayouts(courierId: $c, status: $status, first: 10) {
    edges { node { payoutId courierId courierEmail amount { amountMinor currency } status } }
  }
}
"""


async def paid_out(fake: RunningFake, clock: ManualClock) -> list[tuple[dict[str, Any], bytes, str]]:
    """Stripe's daily schedule pays the platform's balance out; the platform endpoint's deliveries, signed."""
    receiver = Receiver()
    try:
        await control(fake, "webhook_endpoints", {"url": receiver.url, "secret": STRIPE_WEBHOOK_SECRET})
        # Captured on the 24th at 08:00, available at midnight on the 26th: paid out then, arriving on the 27th.
        await control(fake, "clock", {"advance_s": 3 * DAYS})
        clock.at = T0 + timedelta(days=3)
        await control(fake, "webhooks/flush")
        return [e for e in received(receiver) if e[0]["type"].startswith("payout.")]
    finally:
        receiver.close()


async def post_webhooks(gql: GraphQL, deliveries: list[tuple[dict[str, Any], bytes, str]]) -> None:
    for _, body, signature in deliveries:
        response = await gql.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
        assert response.status_code == 200, response.text


async def bank_balance(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT COALESCE(sum(l.amount_minor), 0) FROM journal_lines l"
            " JOIN ledger_accounts a ON a.id = l.account_id WHERE a.kind = 'bank'"
        )
    )


async def test_book_deliver_settle_payout_paid_through_the_worker_then_reconcile_finds_nothing(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    clock: ManualClock,
    database_url: str,
) -> None:
    await control(fake, "payouts/schedule", {"interval": "daily"})
    await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    deliveries = await paid_out(fake, clock)
    (payout,) = sdk.v1.payouts.list().data
    assert (payout.automatic, payout.status) == (True, "paid")
    # The charge's net less the courier's transfer: what the platform keeps, before it pays its own fees.
    assert payout.amount == payment["captured_minor"] - payment["fee_minor"] - 450
    assert sorted(e["type"] for e, _, _ in deliveries) == ["payout.created", "payout.paid", "payout.updated"]

    async with worker(services, database_url):
        # Out of order and twice: the paid event, then the created one, then every event again.
        paid = [d for d in deliveries if d[0]["type"] == "payout.paid"]
        await post_webhooks(gql, paid + deliveries + deliveries)

        async def posted() -> bool:
            pending = await db.fetchval("SELECT count(*) FROM stripe_events WHERE processed_at IS NULL")
            done = await db.fetchval(
                "SELECT posted_at IS NOT NULL FROM platform_payouts WHERE payout_id = $1", payout.id
            )
            return bool(done) and pending == 0

        await eventually(posted, 30, "the payout posted")
    assert await db.fetchval("SELECT count(*) FROM stripe_events") == 3
    (entry,) = await db.fetch("SELECT * FROM journal_entries WHERE kind = 'payout'")
    assert entry["source_id"] == f"{payout.id}:{payment['area_id']}"
    assert entry["occurred_at"] == T0.replace(hour=0) + timedelta(days=2)  # when Stripe's balance paid it out
    assert await bank_balance(db) == payout.amount
    await assert_ledger_balanced(db)
    # Card clearing (our Stripe balance) is back to what Stripe still holds: nothing.
    clearing = await db.fetchval(
        "SELECT sum(l.amount_minor) FROM journal_lines l JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE a.kind = 'card_clearing'"
    )
    assert clearing == sum(b.amount for b in sdk.v1.balance.retrieve().available) == 0

    lines = {
        r["type"]: r for r in await db.fetch("SELECT * FROM platform_payout_lines WHERE payout_id = $1", payout.id)
    }
    assert set(lines) == {"charge", "transfer"}
    assert sum(r["net_minor"] for r in lines.values()) == payout.amount
    assert all(r["area_id"] == payment["area_id"] and r["entry_id"] is not None for r in lines.values())
    assert lines["charge"]["fee_entry_id"] is not None

    for day in range(4):
        run = await services.reconciliation.reconcile(DAY + timedelta(days=day))
        assert run.mismatch_count == 0, [dict(m) for m in await mismatches(db, run.id)]
        if day == 2:  # the payout's day: the payout, matched to its entry
            assert (run.stripe_objects, run.matched) == (1, 1)


async def test_a_payout_not_fully_explained_by_its_lines_is_a_mismatch_and_the_query_shows_its_lines(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    clock: ManualClock,
) -> None:
    await control(fake, "payouts/schedule", {"interval": "daily"})
    await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    account = str(await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id))
    # A transfer made at Stripe that the books never heard of: the payout carries it, no entry explains it.
    stray = await services.payments.gateway.transfer(
        amount_minor=25,
        currency="EUR",
        destination=account,
        transfer_group="manual",
        source_transaction=payment["charge_id"],
        metadata={},
        idempotency_key="stray",
    )
    await paid_out(fake, clock)
    (payout,) = sdk.v1.payouts.list().data
    # Two workers at once (the paid and the updated event), then a retry: posted once.
    await asyncio.gather(*(services.payouts.refresh_platform_payout(payout.id) for _ in range(2)))
    await services.payouts.refresh_platform_payout(payout.id)
    assert await db.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'payout'") == 1
    assert await bank_balance(db) == payout.amount + 25  # posted short of what the stray transfer took

    run = await services.reconciliation.reconcile(DAY + timedelta(days=2))
    found = {(m["kind"], m["object_id"]): m for m in await mismatches(db, run.id)}
    assert set(found) == {("amount_differs", payout.id)}
    m = found[("amount_differs", payout.id)]
    assert (m["stripe_amount_minor"], m["ledger_amount_minor"]) == (-payout.amount, -(payout.amount + 25))

    await services.accounts.create_user(email="books@example.com", password=PASSWORD, role=Role.FINANCE)
    finance = await fresh_token(gql, "books@example.com")
    body = await gql(PAYOUTS, {"from": "2026-11-26", "until": "2026-11-26", "status": "PAID"}, token=finance)
    assert "errors" not in body, body
    (edge,) = body["data"]["payouts"]["edges"]
    node = edge["node"]
    assert (node["payoutId"], node["amount"], node["automatic"]) == (
        payout.id,
        {"amountMinor": payout.amount, "currency": "EUR"},
        True,
    )
    assert sum(x["net"]["amountMinor"] for x in node["lines"]) == payout.amount
    by_source = {x["sourceId"]: x for x in node["lines"]}
    assert (by_source[stray]["ledgerEntryId"], by_source[stray]["areaId"]) == (None, None)
    assert by_source[payment["charge_id"]]["ledgerEntryKind"] == "charge_captured"
    assert by_source[payment["charge_id"]]["areaId"] == global_id("ServiceArea", payment["area_id"])
    (entry,) = node["entries"]
    assert entry["amount"]["amountMinor"] == payout.amount + 25
    # Filters: another day, another status.
    for variables in ({"from": "2026-11-27"}, {"until": "2026-11-25"}, {"status": "PENDING"}):
        assert (await gql(PAYOUTS, variables, token=finance))["data"]["payouts"]["edges"] == []


async def test_payouts_page_by_keyset_and_couriers_see_only_their_own_payouts(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    other = await gql.session("other@example.com", "COURIER")
    other_id = UUID(str(await db.fetchval("SELECT id FROM users WHERE email = 'other@example.com'")))
    async with services.db.uow() as uow:
        for n in range(3):  # three platform payouts, as their webhooks would record them
            state = PayoutState(f"po_Page{n}", "", 100 * (n + 1), "EUR", "paid", T0, True, T0 + timedelta(hours=n))
            await uow.repos.payouts.record_platform_payout(state, T0)
        await uow.commit()
    async with services.db.uow() as uow:
        for n, (who, status) in enumerate(
            ((courier.user_id, "paid"), (other_id, "paid"), (courier.user_id, "pending"))
        ):
            await uow.repos.payments.upsert_payout(
                f"po_Courier{n}", who, f"acct_{n}", 100 * (n + 1), "EUR", status, T0, T0 + timedelta(seconds=n)
            )
        await uow.commit()
    await services.accounts.create_user(email="books@example.com", password=PASSWORD, role=Role.FINANCE)
    finance = await fresh_token(gql, "books@example.com")

    seen, after = [], None
    while True:
        page = (await gql(PAYOUTS, {"first": 1, "after": after}, token=finance))["data"]["payouts"]
        seen += [e["node"]["payoutId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["po_Page0", "po_Page1", "po_Page2"]

    everyone = await gql(COURIER_PAYOUTS, {}, token=finance)
    assert [e["node"]["payoutId"] for e in everyone["data"]["courierPayouts"]["edges"]] == [
        "po_Courier0",
        "po_Courier1",
        "po_Courier2",
    ]
    assert everyone["data"]["courierPayouts"]["edges"][1]["node"]["courierEmail"] == "other@example.com"
    named = await gql(COURIER_PAYOUTS, {"c": global_id("User", courier.user_id), "status": "PAID"}, token=finance)
    assert [e["node"]["payoutId"] for e in named["data"]["courierPayouts"]["edges"]] == ["po_Courier0"]
    own = await gql(COURIER_PAYOUTS, {}, token=courier.token)
    assert [e["node"]["payoutId"] for e in own["data"]["courierPayouts"]["edges"]] == ["po_Courier0", "po_Courier2"]
    # Another courier's payouts read as an empty page, as a missing courier's.
    theirs = await gql(COURIER_PAYOUTS, {"c": global_id("User", courier.user_id)}, token=other["accessToken"])
    assert theirs["data"]["courierPayouts"]["edges"] == []
    refused = await gql(PAYOUTS, {}, token=courier.token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await gql(COURIER_PAYOUTS, {}, token=shop.token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
