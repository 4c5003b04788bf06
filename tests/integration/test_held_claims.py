"""A claim upheld against a courier at fault whose pay for the job is still held (no usable payout account, so
no transfer yet): the charge comes out of the held pay, with no Stripe call; once the courier onboards, one
transfer of what is left (or none), the courier's payable exact. And held pay in `payoutAccount`: the courier
sees its own, operations any courier's; another courier's is null.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import stripe

from marketplace.domain.accounts import Role
from marketplace.payments import GatewayError
from marketplace.services.container import Services
from schema.types import decode_id, global_id
from tests.factories import enable_payouts
from tests.helpers import PASSWORD, GraphQL, admin_token, fresh_token
from tests.integration import payment_setup
from tests.integration.ops_delivery import Booked, Courier, courier_with_trip
from tests.integration.ops_jobs import Shop
from tests.integration.payment_setup import (
    PAY,
    account_sum,
    assert_ledger_balanced,
    entries,
    held_at_settlement,
    payable_of,
    payment_of,
)
from tests.integration.test_claims import UPHOLD, file
from tests.integration.test_worker import eventually, worker

own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, payment_setup.settings, payment_setup.sdk
area, shop, courier = payment_setup.area, payment_setup.shop, payment_setup.courier

HELD = """query($c: ID) { payoutAccount(courierId: $c) { courierId onboarded
  heldPay { jobId earned { amountMinor currency } deducted { amountMinor } remaining { amountMinor currency }
            reason refusals heldAt } } }"""
HELD_TRANSFERS = """query($c: ID, $first: Int, $after: String) {
  heldTransfers(courierId: $c, first: $first, after: $after) {
    edges { cursor node { id courierId jobId remaining { amountMinor currency } reason } }
    pageInfo { hasNextPage endCursor } } }"""


async def finance_token(gql: GraphQL, services: Services) -> str:
    await services.accounts.create_user(email="finance@example.com", password=PASSWORD, role=Role.FINANCE)
    return await fresh_token(gql, "finance@example.com")


async def uphold_at_fault(gql: GraphQL, services: Services, shop: Shop, booked: Booked, amount: int) -> str:
    filed = await file(gql, shop.token, booked.parcel_ids[0], amount)
    assert filed["errors"] == [], filed
    admin = await admin_token(gql, services)
    upheld = (await gql(UPHOLD, {"i": {"claimId": filed["claim"]["id"], "courierAtFault": True}}, token=admin))["data"][
        "upholdClaim"
    ]
    assert upheld["errors"] == [], upheld
    # Charged what it earned on the job (held, not transferred), at most the claim.
    assert upheld["claim"]["chargedToCourier"] == {"amountMinor": min(amount, PAY)}
    return str(filed["claim"]["id"])


def stripe_net(sdk: stripe.StripeClient, transfer_group: str) -> tuple[int, int]:
    """(transfers, reversals) Stripe made for the job, in minor units."""
    transfers = sdk.v1.transfers.list(params={"transfer_group": transfer_group}).data
    reversed_ = sum(r.amount for t in transfers for r in sdk.v1.transfers.reversals.list(t.id).data)
    return sum(t.amount for t in transfers), reversed_


@pytest.mark.parametrize("claimed", [200, 4999])
async def test_a_claim_on_held_pay_is_deducted_and_the_transfer_after_onboarding_pays_only_the_rest(
    claimed: int,
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    booked = await held_at_settlement(gql, services, shop, courier, db, database_url)
    claim_id = await uphold_at_fault(gql, services, shop, booked, claimed)
    charged = min(claimed, PAY)
    remainder = PAY - charged
    async with worker(services, database_url):

        async def paid() -> bool:
            return bool(await db.fetchval("SELECT status FROM claims") == "paid")

        await eventually(paid, 60, "the claim paid by the worker")
        claim = await db.fetchrow("SELECT held_deducted_minor, reversal_id, reversal_error FROM claims")
        assert claim is not None
        # All of the charge out of the held pay: no reversal asked of Stripe, none failed.
        assert (claim["held_deducted_minor"], claim["reversal_id"], claim["reversal_error"]) == (charged, None, None)
        hold = await db.fetchrow("SELECT deducted_minor, released_at FROM transfer_holds")
        assert hold is not None
        assert hold["deducted_minor"] == charged
        assert (hold["released_at"] is not None) == (remainder == 0)  # nothing left: the hold closes
        mine = (await gql(HELD, {}, token=courier.token))["data"]["payoutAccount"]["heldPay"]
        if remainder:
            assert [(h["earned"]["amountMinor"], h["deducted"]["amountMinor"], h["remaining"]) for h in mine] == [
                (PAY, charged, {"amountMinor": remainder, "currency": "EUR"})
            ]
        else:
            assert mine == []
        # Payable: earned 450, charged for the claim, nothing transferred yet.
        assert await payable_of(db, courier.user_id) == -(PAY - charged)

        account_id = await enable_payouts(services, courier.user_id)  # the courier onboards: held pay queued
        if remainder:

            async def transferred() -> bool:
                return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

            await eventually(transferred, 30, "the held transfer of what the claim left")
    payment = await payment_of(db)
    assert stripe_net(sdk, payment["transfer_group"]) == (remainder, 0)
    if remainder:
        (transfer,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
        assert transfer.destination == account_id
        assert await db.fetchval("SELECT amount_minor FROM payment_transfers") == remainder
    else:  # nothing queued, and the held transfer's own step finds nothing to send (no error, no retry)
        assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'transfer_pay'") == 0
        assert await services.payments.transfer_outstanding(payment["job_id"], courier.user_id) is False
        assert await db.fetchval("SELECT count(*) FROM payment_transfers") == 0
        async with services.db.read() as repos:
            assert await repos.payments.untransferred_pay(courier.user_id) == []
    kinds = [k for k, _ in await entries(db)]
    assert "transfer_reversal" not in kinds
    assert kinds.count("transfer") == (1 if remainder else 0)
    await assert_ledger_balanced(db)
    # payable = earned - charged for claims - (transfers - reversals) = 450 - charged - (remainder - 0) = 0
    assert await payable_of(db, courier.user_id) == -(PAY - charged - (remainder - 0)) == 0
    assert await account_sum(db, "claims_recoveries") == -charged
    assert (await gql(HELD, {}, token=courier.token))["data"]["payoutAccount"]["heldPay"] == []
    assert (await gql(HELD, {}, token=courier.token))["data"]["payoutAccount"]["courierId"] != claim_id


@pytest.mark.parametrize("order", ["together", "claim_first", "transfer_first"])
async def test_the_claims_payment_racing_the_held_transfer_never_pays_more_than_the_remainder(
    order: str,
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    """The claim's payment and the held transfer run at once (or one after the other either way): the courier
    ends with 450 - 200 = 250 of Stripe's money, whether the claim took it from the held pay (a transfer of
    250) or the transfer went first (450, then 200 reversed), and its payable is zero."""
    booked = await held_at_settlement(gql, services, shop, courier, db, database_url)
    claim_id = decode_id(await uphold_at_fault(gql, services, shop, booked, 200), "Claim")
    job_id = decode_id(booked.job_id, "Job")
    await enable_payouts(services, courier.user_id)  # queues transfer_pay; no worker runs it: the test does

    async def transfer_recorded() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

    async def pay_claim() -> Any:
        try:
            return await services.claims.pay_claim(claim_id)
        except GatewayError:  # the courier's transfer is in flight: the worker's retry runs once it is recorded
            await eventually(transfer_recorded, 30, "the transfer in flight recorded")
            return await services.claims.pay_claim(claim_id)

    if order == "together":
        await asyncio.gather(pay_claim(), services.payments.transfer_outstanding(job_id, courier.user_id))
    elif order == "claim_first":
        await pay_claim()
        await services.payments.transfer_outstanding(job_id, courier.user_id)
    else:
        await services.payments.transfer_outstanding(job_id, courier.user_id)
        await pay_claim()
    # Everything run again, as retries would: nothing more moves.
    await services.payments.transfer_outstanding(job_id, courier.user_id)
    await pay_claim()

    assert await db.fetchval("SELECT status FROM claims") == "paid"
    payment = await payment_of(db)
    transferred, reversed_ = stripe_net(sdk, payment["transfer_group"])
    assert transferred - reversed_ == PAY - 200
    if order == "claim_first":
        assert (transferred, reversed_) == (250, 0)
    if order == "transfer_first":
        assert (transferred, reversed_) == (450, 200)
    assert await db.fetchval("SELECT count(*) FROM payment_transfers") == 1
    await assert_ledger_balanced(db)
    assert await payable_of(db, courier.user_id) == 0


async def test_held_pay_is_shown_to_its_courier_and_operations_and_to_no_other_courier(
    gql: GraphQL,
    services: Services,
    area: Any,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    database_url: str,
) -> None:
    booked = await held_at_settlement(gql, services, shop, courier, db, database_url)
    courier_gid = str(global_id("User", courier.user_id))
    expected = [
        {
            "jobId": booked.job_id,
            "earned": {"amountMinor": PAY, "currency": "EUR"},
            "deducted": {"amountMinor": 0},
            "remaining": {"amountMinor": PAY, "currency": "EUR"},
            "reason": "no_payout_account",
            "refusals": 0,
            "heldAt": (await db.fetchval("SELECT held_at FROM transfer_holds")).isoformat(),
        }
    ]
    own = (await gql(HELD, {}, token=courier.token))["data"]["payoutAccount"]
    assert (own["courierId"], own["onboarded"], own["heldPay"]) == (courier_gid, False, expected)
    admin = await admin_token(gql, services)
    seen = (await gql(HELD, {"c": courier_gid}, token=admin))["data"]["payoutAccount"]
    assert seen["heldPay"] == expected
    other = await courier_with_trip(gql, services, area, "other-courier@example.com")
    assert (await gql(HELD, {"c": courier_gid}, token=other.token))["data"] == {"payoutAccount": None}
    assert (await gql(HELD, {}, token=other.token))["data"]["payoutAccount"]["heldPay"] == []
    # Finance and operations list every courier's held pay, keyset-paged; a courier is refused the list.
    finance = await finance_token(gql, services)
    for token in (admin, finance):
        listed = (await gql(HELD_TRANSFERS, {"first": 1}, token=token))["data"]["heldTransfers"]
        (edge,) = listed["edges"]
        assert edge["node"]["courierId"] == courier_gid
        assert (edge["node"]["jobId"], edge["node"]["remaining"]["amountMinor"]) == (booked.job_id, PAY)
        assert listed["pageInfo"]["hasNextPage"] is False
        after = await gql(HELD_TRANSFERS, {"first": 1, "after": edge["cursor"]}, token=token)
        assert after["data"]["heldTransfers"]["edges"] == []
    other_gid = str(global_id("User", other.user_id))
    named = await gql(HELD_TRANSFERS, {"c": other_gid}, token=finance)
    assert named["data"]["heldTransfers"]["edges"] == []
    refused = await gql(HELD_TRANSFERS, {}, token=courier.token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Once transferred it is no longer held.
    async with worker(services, database_url):
        await enable_payouts(services, courier.user_id)

        async def transferred() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM payment_transfers") == 1)

        await eventually(transferred, 30, "the held transfer made")
    assert (await gql(HELD, {"c": courier_gid}, token=admin))["data"]["payoutAccount"]["heldPay"] == []
    assert (await gql(HELD_TRANSFERS, {}, token=finance))["data"]["heldTransfers"]["edges"] == []


async def test_a_claim_paid_while_the_held_transfer_is_in_flight_waits_and_then_reverses_it(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    """Stripe has made the held transfer of the whole 4.50 but it is not recorded yet (the test holds the
    table its record writes): the claim must not take its 2.00 from the held pay (the courier would keep
    4.50 and owe nothing at Stripe); it waits, and once the transfer is recorded it reverses 2.00."""
    booked = await held_at_settlement(gql, services, shop, courier, db, database_url)
    claim_id = decode_id(await uphold_at_fault(gql, services, shop, booked, 200), "Claim")
    job_id = decode_id(booked.job_id, "Job")
    await enable_payouts(services, courier.user_id)
    payment = await payment_of(db)
    holder = await asyncpg.connect(database_url)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE payment_transfers IN EXCLUSIVE MODE")  # plain reads still pass
        transfer = asyncio.create_task(services.payments.transfer_outstanding(job_id, courier.user_id))

        async def sent_at_stripe() -> bool:
            return bool(sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data)

        await eventually(sent_at_stripe, 30, "the held transfer made at Stripe, its record waiting")
        assert await db.fetchval("SELECT sending_minor FROM transfer_holds") == PAY
        with pytest.raises(GatewayError, match="in flight"):
            await services.claims.pay_claim(claim_id)
        assert await db.fetchval("SELECT held_deducted_minor FROM claims") is None
        assert await db.fetchval("SELECT deducted_minor FROM transfer_holds") == 0
        await lock.rollback()
        assert await transfer is True
    finally:
        await holder.close()
    paid = await services.claims.pay_claim(claim_id)  # the worker's retry
    assert paid is not None
    assert paid.held_deducted_minor == 0
    assert stripe_net(sdk, payment["transfer_group"]) == (PAY, 200)
    assert await db.fetchval("SELECT status FROM claims") == "paid"
    await assert_ledger_balanced(db)
    assert await payable_of(db, courier.user_id) == 0
