"""Payments end to end against the Stripe fake through the real SDK: authorise at booking, capture and pay
the courier when the job is delivered (in the real worker), payouts and account state from signed webhooks,
and the faults a payment handler must survive (run twice, Stripe answering 500, events twice and out of order).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest
import stripe

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.payments import GatewayError
from marketplace.services.container import Services
from schema.types import decode_id
from stripefake import RunningFake
from tests.conftest import STRIPE_KEY, STRIPE_WEBHOOK_SECRET, T0
from tests.dispatch_factories import make_offer
from tests.factories import enable_payouts
from tests.helpers import GraphQL, admin_token
from tests.integration import payment_setup
from tests.integration.ops_delivery import (
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    CANCEL_JOB,
    CONFIRM_PICKUP,
    CONFIRM_RETURN,
    DELIVER,
    HERE,
    Courier,
    accept,
    book,
    offered,
    step,
)
from tests.integration.ops_jobs import (
    BOOK_JOBS,
    BOOK_QUOTE,
    Shop,
    add_card,
    open_shop,
    parcel,
    request_quote,
    window,
)
from tests.integration.payment_setup import (
    account_sum,
    assert_ledger_balanced,
    control,
    delivered,
    entries,
    held_at_settlement,
    payable_of,
    payment_of,
    received,
    settled_once,
)
from tests.integration.test_worker import eventually, worker
from tests.integration.test_worker_killed import worker_process
from tests.stripefake.conftest import Receiver

own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, payment_setup.settings, payment_setup.sdk
area, shop, courier = payment_setup.area, payment_setup.shop, payment_setup.courier

PAYOUT_ACCOUNT = "query($id: ID) { payoutAccount(courierId: $id) { courierId onboarded payoutsEnabled requirements } }"
ONBOARD = "mutation { startPayoutOnboarding { url errors { field code message } } }"


# --- booking --------------------------------------------------------------------------------------


async def test_a_booking_authorises_the_quoted_price_on_the_card_and_a_declined_card_leaves_no_job(
    gql: GraphQL, services: Services, area: ServiceArea, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    shop = await open_shop(gql, services, area, "decline@example.com", "Declines", card="pm_card_chargeCustomerFail")
    quote = await request_quote(gql, shop.token, shop.request())
    quote_id = quote["quote"]["id"]
    refused = (await gql(BOOK_QUOTE, {"input": {"quoteId": quote_id, "idempotencyKey": "b1"}}, token=shop.token))[
        "data"
    ]["bookQuote"]
    assert [e["code"] for e in refused["errors"]] == ["CARD_DECLINED"]
    assert "(generic_decline)" in refused["errors"][0]["message"]  # Stripe's decline code
    assert await db.fetchval("SELECT count(*) FROM jobs") == 0
    assert await db.fetchval("SELECT count(*) FROM payments") == 0

    # Another card, the same idempotency key: the key was not used up by the refusal.
    assert (await add_card(gql, shop.token, "pm_card_mastercard"))["errors"] == []
    booked = (await gql(BOOK_QUOTE, {"input": {"quoteId": quote_id, "idempotencyKey": "b1"}}, token=shop.token))[
        "data"
    ]["bookQuote"]
    assert booked["errors"] == [], booked
    payment = await payment_of(db)
    intent = sdk.v1.payment_intents.retrieve(payment["payment_intent_id"])
    assert (intent.status, intent.capture_method) == ("requires_capture", "manual")
    assert intent.amount == payment["amount_minor"] == quote["quote"]["price"]["amountMinor"]
    assert intent.transfer_group == payment["transfer_group"]


async def test_a_booking_without_a_card_is_refused(
    gql: GraphQL, services: Services, area: ServiceArea, db: asyncpg.Connection
) -> None:
    shop = await open_shop(gql, services, area, "nocard@example.com", "No card", card=None)
    quote = await request_quote(gql, shop.token, shop.request())
    refused = (await gql(BOOK_QUOTE, {"input": {"quoteId": quote["quote"]["id"]}}, token=shop.token))["data"][
        "bookQuote"
    ]
    assert [e["code"] for e in refused["errors"]] == ["PAYMENT_METHOD_REQUIRED"]
    assert await db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_cancelled_job_without_a_fee_releases_its_authorisation(
    gql: GraphQL, services: Services, shop: Shop, db: asyncpg.Connection, sdk: stripe.StripeClient, database_url: str
) -> None:
    booked = await book(gql, shop)
    cancel = "mutation($input: CancelJobInput!) { cancelJob(input: $input) { errors { code } } }"
    assert (await gql(cancel, {"input": {"jobId": booked.job_id}}, token=shop.token))["data"]["cancelJob"] == {
        "errors": []
    }
    async with worker(services, database_url):

        async def released() -> bool:
            return bool((await payment_of(db))["status"] == "cancelled")

        await eventually(released, 30, "the authorisation released")
    intent = sdk.v1.payment_intents.retrieve((await payment_of(db))["payment_intent_id"])
    assert intent.status == "canceled"
    assert await entries(db) == []


# --- delivery: capture, fee, transfer, payout ------------------------------------------------------------


async def test_book_deliver_and_payout_settle_once_with_a_balanced_ledger(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    database_url: str,
) -> None:
    booked = await delivered(gql, services, shop, courier)
    async with worker(services, database_url):

        async def settled() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(settled, 30, "the delivery settled")
    payment = await payment_of(db)
    assert payment["job_id"] == UUID(str(await db.fetchval("SELECT id FROM jobs")))
    intent = sdk.v1.payment_intents.retrieve(payment["payment_intent_id"])
    assert intent.status == "succeeded"
    assert intent.amount_received == payment["amount_minor"] == payment["captured_minor"]
    charge = sdk.v1.charges.retrieve(payment["charge_id"])
    assert charge.balance_transaction == payment["balance_transaction_id"]
    fee = sdk.v1.balance_transactions.retrieve(payment["balance_transaction_id"]).fee
    assert payment["fee_minor"] == fee > 0

    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    account = await db.fetchrow("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id)
    assert account is not None
    assert (transfer.amount, transfer.destination, transfer.source_transaction) == (
        450,  # the offer's pay
        account["account_id"],
        payment["charge_id"],
    )
    row = await db.fetchrow("SELECT transfer_id, amount_minor FROM payment_transfers")
    assert row is not None
    assert (row["transfer_id"], row["amount_minor"]) == (transfer.id, 450)

    assert await entries(db) == sorted(
        [
            ("charge_captured", payment["payment_intent_id"]),
            ("stripe_fee", payment["balance_transaction_id"]),
            ("transfer", transfer.id),
        ]
    )
    await assert_ledger_balanced(db)
    # Earned 450 at capture, 450 transferred, nothing reversed: the courier is owed nothing.
    assert await payable_of(db, courier.user_id) == 0
    transferred = await db.fetchval(
        "SELECT sum(l.amount_minor) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id "
        "JOIN ledger_accounts a ON a.id = l.account_id WHERE e.kind = 'transfer' AND a.kind = 'courier_payable'"
    )
    assert transferred == transfer.amount

    # The courier's Stripe balance pays out (Stripe's payout schedule; here the test asks for it); the
    # payout.paid webhook reaches /webhooks/stripe and the worker records it for the courier.
    receiver = Receiver()
    try:
        await control(
            fake, "webhook_endpoints", {"url": receiver.url, "secret": STRIPE_WEBHOOK_SECRET, "connect": True}
        )
        await control(fake, "clock", {"advance_s": 3 * 86400})  # the charge has settled, the transfer is available
        payout = sdk.v1.payouts.create(
            params={"amount": 450, "currency": "eur"}, options={"stripe_account": account["account_id"]}
        )
        await control(fake, "clock", {"advance_s": 3 * 86400})  # arrival: paid
        await control(fake, "webhooks/flush")
        events = received(receiver)
    finally:
        receiver.close()
    paid = [e for e in events if e[0]["type"] == "payout.paid"]
    assert len(paid) == 1
    async with worker(services, database_url):
        for _, body, signature in events:
            response = await gql.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
            assert response.status_code == 200, response.text

        async def recorded() -> bool:
            status = await db.fetchval("SELECT status FROM courier_payouts WHERE payout_id = $1", payout.id)
            return bool(status == "paid")

        await eventually(recorded, 30, "the payout recorded")
    assert await db.fetchval("SELECT amount_minor FROM courier_payouts") == 450
    assert booked.job_id


async def test_the_settlement_handler_run_twice_moves_money_once(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    await delivered(gql, services, shop, courier)
    job_id = UUID(str(await db.fetchval("SELECT id FROM jobs")))
    first = await services.payments.settle_job(job_id)
    again = await services.payments.settle_job(job_id)
    assert first == again
    payment = await payment_of(db)
    assert len(sdk.v1.charges.list(params={"payment_intent": payment["payment_intent_id"]}).data) == 1
    assert len(sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data) == 1
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee", "transfer"]


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_stripe_answering_500_then_succeeding_captures_and_transfers_once(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    mode: str,
) -> None:
    """`after`: Stripe did the capture but the answer was lost; the retry replays it under the same key."""
    await delivered(gql, services, shop, courier)
    job_id = UUID(str(await db.fetchval("SELECT id FROM jobs")))
    payment = await payment_of(db)
    await control(
        fake, "fail_next", {"path_prefix": f"/v1/payment_intents/{payment['payment_intent_id']}/capture", "mode": mode}
    )
    with pytest.raises(GatewayError):
        await services.payments.settle_job(job_id)
    assert (await payment_of(db))["status"] == "authorized"
    assert await entries(db) == []
    await control(fake, "fail_next", {"path_prefix": "/v1/transfers", "mode": mode})
    with pytest.raises(GatewayError):
        await services.payments.settle_job(job_id)  # captured and posted; the transfer failed
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee"]
    await services.payments.settle_job(job_id)

    payment = await payment_of(db)
    intent = sdk.v1.payment_intents.retrieve(payment["payment_intent_id"])
    assert (intent.status, intent.amount_received) == ("succeeded", payment["amount_minor"])
    assert len(sdk.v1.charges.list(params={"payment_intent": payment["payment_intent_id"]}).data) == 1
    assert len(sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data) == 1
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee", "transfer"]
    await assert_ledger_balanced(db)


# --- onboarding and webhooks -----------------------------------------------------------------------------


async def test_account_webhooks_twice_and_out_of_order_leave_the_state_stripe_has_now(
    gql: GraphQL, services: Services, db: asyncpg.Connection, fake: RunningFake, database_url: str
) -> None:
    session = await gql.session("newcomer@example.com")
    token = session["accessToken"]
    started = (await gql(ONBOARD, token=token))["data"]["startPayoutOnboarding"]
    assert started["errors"] == []
    assert started["url"].startswith(fake.url)
    before = (await gql(PAYOUT_ACCOUNT, token=token))["data"]["payoutAccount"]
    assert (before["onboarded"], before["payoutsEnabled"]) == (True, False)
    account_id = await db.fetchval("SELECT account_id FROM payout_accounts")

    receiver = Receiver()
    try:
        await control(
            fake, "webhook_endpoints", {"url": receiver.url, "secret": STRIPE_WEBHOOK_SECRET, "connect": True}
        )
        async with httpx.AsyncClient() as client:  # the courier completes Stripe's form
            await client.get(started["url"], timeout=30, follow_redirects=False)
        await control(
            fake, f"accounts/{account_id}/requirements", {"currently_due": ["individual.verification.document"]}
        )
        await control(fake, "webhooks/flush")
        events = [(body, sig) for e, body, sig in received(receiver) if e["type"] == "account.updated"]
    finally:
        receiver.close()
    assert len(events) == 2
    (enabled_body, enabled_sig), (disabled_body, disabled_sig) = events
    async with worker(services, database_url):
        # The newer event first, then the older one, then the newer one again.
        for body, signature in (
            (disabled_body, disabled_sig),
            (enabled_body, enabled_sig),
            (disabled_body, disabled_sig),
        ):
            response = await gql.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
            assert response.status_code == 200

        async def processed() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM stripe_events WHERE processed_at IS NOT NULL") == 2)

        await eventually(processed, 30, "both events processed")
    assert await db.fetchval("SELECT count(*) FROM stripe_events") == 2
    after = (await gql(PAYOUT_ACCOUNT, token=token))["data"]["payoutAccount"]
    assert (after["payoutsEnabled"], after["requirements"]) == (False, ["individual.verification.document"])

    forged = await gql.client.post("/webhooks/stripe", content=enabled_body, headers={"Stripe-Signature": "t=1,v1=00"})
    assert forged.status_code == 400


async def test_a_courier_sees_only_its_own_payout_state(gql: GraphQL, services: Services) -> None:
    mine = await gql.session("mine@example.com")
    other = await gql.session("other@example.com")
    denied = await gql(PAYOUT_ACCOUNT, {"id": other["user"]["id"]}, token=mine["accessToken"])
    assert denied == {"data": {"payoutAccount": None}}  # as if there were no such courier
    own = await gql(PAYOUT_ACCOUNT, {"id": mine["user"]["id"]}, token=mine["accessToken"])
    assert own["data"]["payoutAccount"]["courierId"] == mine["user"]["id"]
    admin = await admin_token(gql, services)
    seen = await gql(PAYOUT_ACCOUNT, {"id": other["user"]["id"]}, token=admin)
    assert seen["data"]["payoutAccount"] == {
        "courierId": other["user"]["id"],
        "onboarded": False,
        "payoutsEnabled": False,
        "requirements": [],
    }


async def test_the_release_job_cancels_an_authorisation_no_booking_took(
    services: Services, shop: Shop, gql: GraphQL, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    """A crash after the authorisation and before the booking's commit: the worker's release job cancels it."""
    quote = await request_quote(gql, shop.token, shop.request())
    async with services.db.read() as repos:
        found = await repos.jobs.get_quote_and_card(decode_id(quote["quote"]["id"], "Quote"), shop.organization_id)
    assert found is not None
    auth = await services.payments.authorize_quote(*found)  # ... and the process dies here
    assert auth.payment_intent_id is not None
    (job,) = await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = 'release_authorization'")
    request = json.loads(bytes(job["payload"]))["request"]
    assert await services.payments.release_request(request) is True
    assert sdk.v1.payment_intents.retrieve(auth.payment_intent_id).status == "canceled"
    assert await services.payments.release_request(request) is True  # again: nothing more happens
    assert sdk.v1.payment_intents.retrieve(auth.payment_intent_id).status == "canceled"


async def test_a_worker_killed_between_the_capture_and_its_ledger_entry_settles_once_after_recovery(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    database_url: str,
    tmp_path: Path,
) -> None:
    """A real worker process captures at Stripe, then waits for the payment row (held by the test) and is
    SIGKILLed there. The next worker retries the job: Stripe replays the capture under its key, and the
    capture, the transfer and each ledger entry exist once."""
    await delivered(gql, services, shop, courier)
    payment = await payment_of(db)
    env = {
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake.url,
    }
    log = tmp_path / "worker.log"
    holder = await asyncpg.connect(database_url)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM payments FOR UPDATE")
        with worker_process(database_url, log, env) as first:

            async def waiting_after_capture() -> bool:
                blocked = await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                return bool(blocked)

            await eventually(waiting_after_capture, 240, "the worker waiting to record its capture")
            # Stripe has captured; our books have not heard of it yet.
            assert sdk.v1.payment_intents.retrieve(payment["payment_intent_id"]).status == "succeeded"
            assert await entries(db) == []
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        await lock.rollback()
    finally:
        await holder.close()
    assert (await payment_of(db))["status"] == "authorized"

    with worker_process(database_url, log, env):

        async def settled() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(settled, 240, "the settlement finished by the next worker")
    payment = await payment_of(db)
    assert payment["status"] == "captured"
    assert len(sdk.v1.charges.list(params={"payment_intent": payment["payment_intent_id"]}).data) == 1
    assert len(sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data) == 1
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee", "transfer"]
    await assert_ledger_balanced(db)
    assert await payable_of(db, courier.user_id) == 0
    # Stripe and the books agree on the day: the charge, its fee and the transfer, each once.
    run = await services.reconciliation.reconcile(T0.date())
    assert (run.stripe_objects, run.matched, run.mismatch_count) == (3, 3, 0)


@pytest.mark.parametrize(
    ("card", "outcome"), [("pm_card_visa", "authorized"), ("pm_card_chargeCustomerFail", "failed")]
)
async def test_a_pickup_more_than_7_days_out_is_authorised_by_the_worker_6_days_before(
    gql: GraphQL,
    services: Services,
    area: ServiceArea,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
    card: str,
    outcome: str,
) -> None:
    """Stripe holds an authorisation 7 days. A declined later authorisation keeps the parcel out of rounds
    and tells the retailer in the parcel's history."""
    shop = await open_shop(gql, services, area, "far@example.com", "Far", card=card)
    pickup = T0 + timedelta(days=10)
    booked = await book(
        gql,
        shop,
        pickupWindow=window(pickup, 2),
        deliveryWindow=window(pickup + timedelta(hours=2), 6),
    )
    payment = await payment_of(db)
    assert (payment["status"], payment["payment_intent_id"]) == ("pending", None)
    assert payment["authorize_at"] == pickup - timedelta(days=6)
    (due,) = await db.fetch("SELECT id, execute_after FROM pgqueuer WHERE entrypoint = 'authorize_payment'")
    # The queue runs on the database's clock: due in (pickup - 6 days) - now of the test's clock.
    await db.execute("UPDATE pgqueuer SET execute_after = now() WHERE id = $1", due["id"])

    async with worker(services, database_url):

        async def decided() -> bool:
            return bool((await payment_of(db))["status"] != "pending")

        await eventually(decided, 30, "the later authorisation")
    payment = await payment_of(db)
    assert payment["status"] == outcome
    instance = await services.matching.instance(
        area_id=area.id, start=pickup - timedelta(hours=1), end=pickup + timedelta(days=1), now=T0
    )
    events = await db.fetch("SELECT kind, reason_code FROM parcel_events WHERE kind = 'payment_failed'")
    if outcome == "authorized":
        intent = sdk.v1.payment_intents.retrieve(payment["payment_intent_id"])
        assert (intent.status, intent.amount) == ("requires_capture", payment["amount_minor"])
        assert [p.id for p in instance.parcels] == [str(p) for p in booked.parcel_uuids]
        assert events == []
    else:
        assert payment["payment_intent_id"] is None
        assert instance.parcels == ()  # out of rounds
        assert [(e["kind"], e["reason_code"]) for e in events] == [("payment_failed", "generic_decline")]


async def test_a_bulk_booking_is_authorised_job_by_job_by_the_worker_right_after_its_commit(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    rows = [shop.request(reference=f"B-{i}") for i in range(3)]
    booked = (await gql(BOOK_JOBS, {"input": {"jobs": rows}}, token=shop.token))["data"]["bookJobs"]
    assert booked["errors"] == []
    assert await db.fetchval("SELECT count(*) FROM payments WHERE status = 'pending'") == 3
    async with worker(services, database_url):

        async def authorised() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payments WHERE status = 'authorized'") == 3)

        await eventually(authorised, 30, "every job authorised")
    for row in await db.fetch("SELECT payment_intent_id, amount_minor, transfer_group FROM payments"):
        intent = sdk.v1.payment_intents.retrieve(row["payment_intent_id"])
        assert (intent.status, intent.amount, intent.transfer_group) == (
            "requires_capture",
            row["amount_minor"],
            row["transfer_group"],
        )


# --- the fleet, a courier's share of a fee, pay held for an account that cannot take it -------------------


async def hand_remaining_to_fleet(services: Services, db: asyncpg.Connection, clock: ManualClock) -> int:
    """The clock at the job's fleet cut-off (30 minutes before its pickup closes); the hand-off runs."""
    pickup_until = await db.fetchval("SELECT pickup_until FROM jobs")
    clock.at = pickup_until - timedelta(minutes=30)
    return await services.fleet.hand_off_due()


async def test_a_job_handed_to_the_fleet_is_captured_by_the_worker_with_no_courier_transfer(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    clock: ManualClock,
    database_url: str,
) -> None:
    await book(gql, shop)
    assert await hand_remaining_to_fleet(services, db, clock) == 1
    # The hand-off made the job final and queued its settlement in its own transaction.
    assert await db.fetchval("SELECT status FROM jobs") == "handed_to_fleet"
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'settle_payment'") == 1
    async with worker(services, database_url):
        await eventually(lambda: settled_once(db), 30, "the fleet's job settled")
    payment = await payment_of(db)
    # The retailer pays the job's full price (the fleet carries it); no courier earned anything.
    assert payment["status"] == "captured"
    assert payment["captured_minor"] == payment["amount_minor"] > 0
    intent = sdk.v1.payment_intents.retrieve(payment["payment_intent_id"])
    assert (intent.status, intent.amount_received) == ("succeeded", payment["amount_minor"])
    assert sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data == []
    assert await db.fetchval("SELECT count(*) FROM payment_transfers") == 0
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee"]
    assert await account_sum(db, "platform_revenue") == -payment["amount_minor"]
    assert await account_sum(db, "courier_payable") == 0
    await assert_ledger_balanced(db)


async def test_a_job_part_delivered_and_part_handed_to_the_fleet_settles_once(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    clock: ManualClock,
    database_url: str,
) -> None:
    booked = await book(gql, shop, parcels=[parcel(), parcel()])
    first, second = booked.parcel_uuids
    offer = await make_offer(services, courier.trip, [first])
    assert (await accept(gql, courier, offer))["errors"] == []
    index = booked.parcel_uuids.index(first)
    for document, extra in (
        (ARRIVE_AT_PICKUP, {}),
        (CONFIRM_PICKUP, {"labelCode": booked.label_codes[index]}),
        (ARRIVE_AT_DROPOFF, {}),
        (DELIVER, {"proof": {"pin": booked.pins[index]}}),
    ):
        payload = await step(gql, courier.token, document, parcelId=booked.parcel_ids[index], position=HERE, **extra)
        assert payload["errors"] == [], payload
    # One parcel delivered, the other still waiting: not final, nothing to settle yet.
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'settle_payment'") == 0
    assert await hand_remaining_to_fleet(services, db, clock) == 1
    assert await db.fetchval("SELECT status FROM parcels WHERE id = $1", second) == "handed_to_fleet"
    assert await db.fetchval("SELECT status FROM jobs") == "delivered"
    async with worker(services, database_url):

        async def transferred() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(transferred, 30, "the mixed job settled")
        await eventually(lambda: settled_once(db), 30, "the settlement job finished")
    payment = await payment_of(db)
    assert payment["captured_minor"] == payment["amount_minor"]
    assert len(sdk.v1.charges.list(params={"payment_intent": payment["payment_intent_id"]}).data) == 1
    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    assert transfer.amount == 450  # the whole offer's pay: the offer held only the delivered parcel
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee", "transfer"]
    assert await payable_of(db, courier.user_id) == 0
    await assert_ledger_balanced(db)


async def test_a_cancellation_after_acceptance_pays_the_courier_half_the_fee(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    booked = await book(gql, shop)
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    cancelled = await gql(CANCEL_JOB, {"input": {"jobId": booked.job_id}}, token=shop.token)
    assert cancelled["data"]["cancelJob"]["fee"] == {"amountMinor": 250, "currency": "EUR"}
    async with worker(services, database_url):

        async def transferred() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(transferred, 30, "the fee settled and the courier's share transferred")
    payment = await payment_of(db)
    assert (payment["status"], payment["captured_minor"]) == ("captured", 250)
    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    account_id = await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id)
    assert (transfer.amount, transfer.destination, transfer.source_transaction) == (
        125,
        account_id,
        payment["charge_id"],
    )
    assert [k for k, _ in await entries(db)] == ["cancellation_fee", "stripe_fee", "transfer"]
    fee_lines = await db.fetch(
        "SELECT a.kind, l.amount_minor FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id "
        "JOIN ledger_accounts a ON a.id = l.account_id WHERE e.kind = 'cancellation_fee'"
    )
    assert sorted((r["kind"], r["amount_minor"]) for r in fee_lines) == [
        ("cancellation_fee_revenue", -125),
        ("card_clearing", 250),
        ("courier_payable", -125),
        ("retailer_receivable", -250),
        ("retailer_receivable", 250),
    ]
    assert await payable_of(db, courier.user_id) == 0  # earned 125, transferred 125
    await assert_ledger_balanced(db)


@pytest.mark.parametrize("race", [False, True])
async def test_pay_held_for_an_account_that_cannot_take_transfers_goes_out_once_onboarding_completes(
    race: bool,
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    database_url: str,
) -> None:
    await delivered(gql, services, shop, courier)
    job_id = UUID(str(await db.fetchval("SELECT id FROM jobs")))
    account_id = str(await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id))
    # Stripe wants more of the courier: the account's transfers capability goes inactive.
    await control(fake, f"accounts/{account_id}/requirements", {"currently_due": ["individual.verification.document"]})
    async with worker(services, database_url):
        await eventually(lambda: settled_once(db), 30, "the settlement finished without its transfer")
    payment = await payment_of(db)
    assert payment["status"] == "captured"  # the capture is recorded; the job did not fail
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE status = 'failed'") == 0
    assert sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data == []
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee"]
    assert await payable_of(db, courier.user_id) == -450  # owed to the courier (a credit)

    receiver = Receiver()
    try:
        await control(
            fake, "webhook_endpoints", {"url": receiver.url, "secret": STRIPE_WEBHOOK_SECRET, "connect": True}
        )
        await control(fake, f"accounts/{account_id}/onboard")  # the courier gives what Stripe asked
        await control(fake, "webhooks/flush")
        events = [(body, sig) for e, body, sig in received(receiver) if e["type"] == "account.updated"]
    finally:
        receiver.close()
    assert events
    async with worker(services, database_url):
        for body, signature in events * 2:  # delivered twice
            response = await gql.client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
            assert response.status_code == 200
        if race:  # both paths at once: the settlement retried by hand, the held transfer by the webhook's job
            await asyncio.gather(
                services.payments.settle_job(job_id),
                services.payments.transfer_outstanding(job_id, courier.user_id),
            )

        async def cleared() -> bool:
            processed = await db.fetchval("SELECT count(*) FROM stripe_events WHERE processed_at IS NOT NULL")
            busy = await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'transfer_pay'")
            made = await db.fetchval("SELECT count(*) FROM payment_transfers")
            return bool(processed == len(events) and busy == 0 and made == 1)

        await eventually(cleared, 30, "the held transfer made")
    if not race:  # the webhook's path alone: account.updated queued the held transfer, its job made it
        ran = await db.fetchval(
            "SELECT count(*) FROM pgqueuer_log WHERE entrypoint = 'transfer_pay' AND status = 'successful'"
        )
        assert ran >= 1
    hold = await db.fetchrow("SELECT refusals, reason, released_at FROM transfer_holds")
    assert hold is not None
    assert (hold["refusals"], hold["reason"]) == (1, "insufficient_capabilities_for_transfer")
    assert hold["released_at"] is not None
    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    assert (transfer.amount, transfer.destination) == (450, account_id)
    assert await db.fetchval("SELECT count(*) FROM payment_transfers") == 1
    assert [k for k, _ in await entries(db)] == ["charge_captured", "stripe_fee", "transfer"]
    assert await payable_of(db, courier.user_id) == 0
    await assert_ledger_balanced(db)
    # Nothing left to queue: another account.updated finds no held pay.
    async with services.db.read() as repos:
        assert await repos.payments.untransferred_pay(courier.user_id) == []


async def test_a_cancellation_after_pickup_pays_the_courier_half_the_fee_once_the_parcel_is_back(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    booked = await book(gql, shop)
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    parcel_id = booked.parcel_ids[0]
    for document, extra in ((ARRIVE_AT_PICKUP, {}), (CONFIRM_PICKUP, {"labelCode": booked.label_codes[0]})):
        assert (await step(gql, courier.token, document, parcelId=parcel_id, position=HERE, **extra))["errors"] == []
    cancelled = await gql(CANCEL_JOB, {"input": {"jobId": booked.job_id}}, token=shop.token)
    assert cancelled["data"]["cancelJob"]["fee"] == {"amountMinor": 600, "currency": "EUR"}
    assert (await step(gql, courier.token, CONFIRM_RETURN, parcelId=parcel_id))["errors"] == []
    async with worker(services, database_url):

        async def transferred() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(transferred, 30, "the fee settled once the parcel was back")
    payment = await payment_of(db)
    # Settled as a cancellation (not as a failed attempt): the fee, half of it the courier's.
    assert payment["captured_minor"] == 600
    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    assert transfer.amount == 300
    assert [k for k, _ in await entries(db)] == ["cancellation_fee", "stripe_fee", "transfer"]
    assert await payable_of(db, courier.user_id) == 0
    await assert_ledger_balanced(db)


async def test_pay_held_for_a_courier_without_a_payout_account_goes_out_once_it_has_one(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    await held_at_settlement(gql, services, shop, courier, db, database_url)
    async with worker(services, database_url):
        # The courier onboards; the account's state is brought in as the account.updated job does.
        account_id = await enable_payouts(services, courier.user_id)

        async def cleared() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(cleared, 30, "the held transfer made")
    payment = await payment_of(db)
    (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    assert (transfer.amount, transfer.destination) == (450, account_id)
    assert await payable_of(db, courier.user_id) == 0
    assert await db.fetchval("SELECT released_at IS NOT NULL FROM transfer_holds")
    await assert_ledger_balanced(db)
