"""Refunds by operations and retailers' claims, against the Stripe fake through the real SDK: a refund
in part and in full and never more than was captured; a claim filed within 14 days for at most the
declared value, upheld in part with the courier at fault (the retailer refunded, the courier's transfer
reversed, the policy recorded) or rejected; each money step run twice and with Stripe failing once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import stripe
from graphql import GraphQLSchema, build_schema

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.domain.areas import ServiceArea
from marketplace.payments import GatewayError
from marketplace.services.container import Services
from schema.export import printed_schema
from schema.types import decode_id, global_id
from stripefake import RunningFake
from tests.conftest import T0
from tests.helpers import PASSWORD, GraphQL, admin_token, fresh_token
from tests.integration import payment_setup
from tests.integration.ops_delivery import Courier, book
from tests.integration.ops_jobs import Shop, open_shop
from tests.integration.payment_setup import (
    account_sum,
    assert_ledger_balanced,
    control,
    entries,
    payable_of,
    payment_of,
    settled,
)
from tests.integration.test_fingerprints import Case, assert_every_field_counts
from tests.integration.test_worker import eventually, worker

# The payment tests' fixtures: a Stripe fake of this module's own, reset per test, a shop and a courier.
own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, payment_setup.settings, payment_setup.sdk
area, shop, courier = payment_setup.area, payment_setup.shop, payment_setup.courier

JPEG = b"\xff\xd8\xff\xe0" + b"claim photo" * 10

REFUND = """mutation($i: RefundPaymentInput!) { refundPayment(input: $i) {
  refund { id jobId amount { amountMinor currency } reason note status stripeRefundId }
  errors { field code message } } }"""
FILE = """mutation($i: FileClaimInput!) { fileClaim(input: $i) {
  claim { id status amount { amountMinor } photoUrls courierId } errors { field code message } } }"""
UPHOLD = """mutation($i: UpholdClaimInput!) { upholdClaim(input: $i) {
  claim { id status upheldAmount { amountMinor } courierAtFault courierId insurancePolicyId
          chargedToCourier { amountMinor } }
  errors { field code message } } }"""
REJECT = """mutation($i: RejectClaimInput!) { rejectClaim(input: $i) {
  claim { id status decisionReason } errors { field code message } } }"""
CLAIM = """query($id: ID!) { claim(id: $id) { id status upheldAmount { amountMinor } refundedAmount { amountMinor }
  stripeRefundId stripeTransferReversalId chargedToCourier { amountMinor } insurancePolicyId courierId paidAt } }"""
CLAIMS = """query($first: Int, $after: String, $status: ClaimStatus) {
  claims(first: $first, after: $after, status: $status) {
    edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }"""
REGISTER_POLICY = """mutation($i: RegisterInsurancePolicyInput!) {
  registerInsurancePolicy(input: $i) { policy { id } errors { field code } } }"""
VERIFY_POLICY = """mutation($i: VerifyInsurancePolicyInput!) {
  verifyInsurancePolicy(input: $i) { errors { field code } } }"""


async def upload(gql: GraphQL, token: str, body: bytes = JPEG) -> str:
    response = await gql.client.post("/uploads/photos", content=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    return str(response.json()["hash"])


async def refund(gql: GraphQL, token: str, **fields: Any) -> dict[str, Any]:
    return (await gql(REFUND, {"i": fields}, token=token))["data"]["refundPayment"]  # type: ignore[no-any-return]


async def file(gql: GraphQL, token: str, parcel_id: str, amount_minor: int, **fields: Any) -> dict[str, Any]:
    value = {
        "parcelId": parcel_id,
        "kind": "DAMAGED",
        "description": "The box arrived crushed; the vase inside is broken.",
        "amount": {"amountMinor": amount_minor, "currency": "EUR"},
        **fields,
    }
    return (await gql(FILE, {"i": value}, token=token))["data"]["fileClaim"]  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def outbox_of(db: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY created_at", event_type)
    return [json.loads(r["payload"]) if isinstance(r["payload"], str) else dict(r["payload"]) for r in rows]


# --- refunds by operations ----------------------------------------------------------------------------


async def test_operations_refund_in_part_then_the_rest_and_never_more_than_was_captured(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    captured = payment["captured_minor"]
    admin = await admin_token(gql, services)

    first = await refund(
        gql, admin, jobId=booked.job_id, amount={"amountMinor": 100, "currency": "EUR"}, reason="GOODWILL",
        note="late by an hour", idempotencyKey="r1",
    )  # fmt: skip
    assert first["errors"] == []
    assert (first["refund"]["status"], first["refund"]["amount"]["amountMinor"]) == ("SUCCEEDED", 100)
    stripe_id = first["refund"]["stripeRefundId"]
    assert stripe_id.startswith("re_")
    again = await refund(
        gql, admin, jobId=booked.job_id, amount={"amountMinor": 100, "currency": "EUR"}, reason="GOODWILL",
        note="late by an hour", idempotencyKey="r1",
    )  # fmt: skip
    assert again["refund"]["id"] == first["refund"]["id"]  # the retry: the same refund, nothing new
    (at_stripe,) = sdk.v1.refunds.list(params={"payment_intent": payment["payment_intent_id"]}).data
    assert (at_stripe.id, at_stripe.amount) == (stripe_id, 100)
    assert ("refund", stripe_id) in await entries(db)

    over = await refund(
        gql, admin, jobId=booked.job_id, amount={"amountMinor": captured - 100 + 1, "currency": "EUR"},
        reason="SERVICE_FAILURE",
    )  # fmt: skip
    assert codes(over) == [("amount.amountMinor", "REFUND_EXCEEDS_CAPTURED")]
    other = await refund(gql, admin, jobId=booked.job_id, reason="OTHER")
    assert codes(other) == [("note", "REQUIRED")]
    rest = await refund(gql, admin, jobId=booked.job_id, reason="REQUESTED_BY_CUSTOMER")
    assert rest["errors"] == []
    assert rest["refund"]["amount"]["amountMinor"] == captured - 100
    assert sdk.v1.refunds.retrieve(rest["refund"]["stripeRefundId"]).reason == "requested_by_customer"
    none_left = await refund(gql, admin, jobId=booked.job_id, reason="GOODWILL")
    assert codes(none_left) == [("amount", "REFUND_EXCEEDS_CAPTURED")]
    assert sdk.v1.charges.retrieve(payment["charge_id"]).amount_refunded == captured

    # The books: the whole capture refunded, out of our Stripe balance; the retailer heard of each.
    assert await account_sum(db, "refunds") == captured
    await assert_ledger_balanced(db)
    told = await outbox_of(db, "parcel.refunded")
    assert [t["data"]["amount"]["amountMinor"] for t in told] == [100, captured - 100]
    assert told[0]["data"]["refundId"] == first["refund"]["id"]
    listed = await gql("query($j: ID!) { refunds(jobId: $j) { id status } }", {"j": booked.job_id}, token=shop.token)
    assert sorted(r["id"] for r in listed["data"]["refunds"]) == sorted([first["refund"]["id"], rest["refund"]["id"]])


async def test_refunding_a_job_not_captured_or_unknown_is_refused(
    gql: GraphQL, services: Services, shop: Shop, db: asyncpg.Connection
) -> None:
    booked = await book(gql, shop)  # authorised, not captured
    admin = await admin_token(gql, services)
    assert codes(await refund(gql, admin, jobId=booked.job_id, reason="GOODWILL")) == [("jobId", "NOT_CAPTURED")]
    unknown = str(global_id("Job", UUID(int=7)))
    assert codes(await refund(gql, admin, jobId=unknown, reason="GOODWILL")) == [("jobId", "NOT_FOUND")]
    assert await db.fetchval("SELECT count(*) FROM refunds") == 0


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_a_refund_stripe_fails_once_is_finished_by_its_handler_run_twice_and_happens_once(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    database_url: str,
    mode: str,
) -> None:
    """`after`: Stripe refunded but the answer was lost; the request leaves the refund pending for the worker."""
    booked = await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    admin = await admin_token(gql, services)
    await control(fake, "fail_next", {"path_prefix": "/v1/refunds", "mode": mode})
    pending = await refund(gql, admin, jobId=booked.job_id, amount={"amountMinor": 250, "currency": "EUR"},
                           reason="SERVICE_FAILURE", idempotencyKey="r")  # fmt: skip
    assert pending["errors"] == []
    assert (pending["refund"]["status"], pending["refund"]["stripeRefundId"]) == ("PENDING", None)
    assert [k for k, _ in await entries(db)].count("refund") == 0
    (job,) = await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = 'refund_payment'")
    refund_id = UUID(json.loads(bytes(job["payload"]))["refund_id"])
    assert refund_id == decode_id(pending["refund"]["id"], "Refund")

    # The amount stays reserved: nothing more than captured minus 250 can be refunded meanwhile.
    over = await refund(gql, admin, jobId=booked.job_id, amount={"amountMinor": payment["captured_minor"] - 249,
                        "currency": "EUR"}, reason="GOODWILL")  # fmt: skip
    assert codes(over) == [("amount.amountMinor", "REFUND_EXCEEDS_CAPTURED")]

    # The worker's job (due a minute later; the queue runs on the database's clock) finishes it; run again,
    # the handler changes nothing.
    await db.execute("UPDATE pgqueuer SET execute_after = now() WHERE entrypoint = 'refund_payment'")
    async with worker(services, database_url):

        async def refunded() -> bool:
            return bool(await db.fetchval("SELECT status FROM refunds") == "succeeded")

        await eventually(refunded, 30, "the refund finished by the worker")
    done = await services.claims.execute_refund(refund_id)
    twice = await services.claims.execute_refund(refund_id)
    assert done == twice
    assert done is not None
    assert done.status.value == "succeeded"
    (at_stripe,) = sdk.v1.refunds.list(params={"payment_intent": payment["payment_intent_id"]}).data
    assert (at_stripe.id, at_stripe.amount) == (done.refund_id, 250)
    assert [s for k, s in await entries(db) if k == "refund"] == [done.refund_id]
    assert await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'refunded'") == len(booked.parcel_ids)
    await assert_ledger_balanced(db)


# --- claims -----------------------------------------------------------------------------------------------


async def insured(gql: GraphQL, courier: Courier, admin: str) -> str:
    policy = {
        "insurer": "Parcel Mutual",
        "policyNumber": "PM-123",
        "coverPerParcel": {"amountMinor": 100_000, "currency": "EUR"},
        "coverPerTrip": {"amountMinor": 500_000, "currency": "EUR"},
        "validFrom": (T0 - timedelta(days=30)).isoformat(),
        "validUntil": (T0 + timedelta(days=365)).isoformat(),
    }
    registered = (await gql(REGISTER_POLICY, {"i": policy}, token=courier.token))["data"]["registerInsurancePolicy"]
    assert registered["errors"] == [], registered
    policy_id = str(registered["policy"]["id"])
    verified = await gql(VERIFY_POLICY, {"i": {"policyId": policy_id}}, token=admin)
    assert verified["data"]["verifyInsurancePolicy"]["errors"] == []
    return policy_id


async def test_a_claim_upheld_in_part_with_the_courier_at_fault_refunds_the_retailer_and_reverses_the_transfer(
    gql: GraphQL,
    services: Services,
    area: ServiceArea,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    database_url: str,
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    admin = await admin_token(gql, services)
    policy_id = await insured(gql, courier, admin)
    photo = await upload(gql, shop.token)

    filed = await file(gql, shop.token, booked.parcel_ids[0], 300, photoHashes=[photo], idempotencyKey="c1")
    assert filed["errors"] == [], filed
    claim = filed["claim"]
    assert (claim["status"], claim["amount"]["amountMinor"], claim["courierId"]) == ("FILED", 300, None)
    assert len(claim["photoUrls"]) == 1
    photo_page = await gql.client.get(claim["photoUrls"][0])
    assert (photo_page.status_code, photo_page.content) == (200, JPEG)
    retried = await file(gql, shop.token, booked.parcel_ids[0], 300, photoHashes=[photo], idempotencyKey="c1")
    assert retried["claim"]["id"] == claim["id"]
    assert codes(await file(gql, shop.token, booked.parcel_ids[0], 300)) == [("parcelId", "CLAIM_EXISTS")]

    # Who sees it: the retailer and operations and finance; another retailer reads nothing; couriers are refused.
    other = await open_shop(gql, services, area, "other@example.com", "Other")
    assert (await gql(CLAIM, {"id": claim["id"]}, token=other.token))["data"] == {"claim": None}
    assert (await gql(CLAIMS, {}, token=other.token))["data"]["claims"]["edges"] == []
    refused = await gql(CLAIMS, {}, token=courier.token)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    queue = (await gql(CLAIMS, {"status": "FILED"}, token=admin))["data"]["claims"]["edges"]
    assert [e["node"]["id"] for e in queue] == [claim["id"]]

    upheld = (
        await gql(
            UPHOLD,
            {"i": {"claimId": claim["id"], "courierAtFault": True, "amount": {"amountMinor": 200, "currency": "EUR"}}},
            token=admin,
        )
    )["data"]["upholdClaim"]
    assert upheld["errors"] == [], upheld
    assert upheld["claim"] == {
        "id": claim["id"],
        "status": "UPHELD",
        "upheldAmount": {"amountMinor": 200},
        "courierAtFault": True,
        "courierId": str(global_id("User", courier.user_id)),
        "insurancePolicyId": policy_id,
        "chargedToCourier": {"amountMinor": 200},  # at most the 450 the courier was paid for the job
    }
    again = await gql(UPHOLD, {"i": {"claimId": claim["id"], "courierAtFault": False}}, token=admin)
    assert codes(again["data"]["upholdClaim"]) == [("claimId", "CLAIM_NOT_OPEN")]

    async with worker(services, database_url):

        async def paid() -> bool:
            return bool(await db.fetchval("SELECT status FROM claims") == "paid")

        await eventually(paid, 60, "the claim paid by the worker")
    seen = (await gql(CLAIM, {"id": claim["id"]}, token=admin))["data"]["claim"]
    assert seen["status"] == "PAID"
    assert seen["refundedAmount"] == {"amountMinor": 200}
    (at_stripe,) = sdk.v1.refunds.list(params={"payment_intent": payment["payment_intent_id"]}).data
    assert (at_stripe.id, at_stripe.amount) == (seen["stripeRefundId"], 200)
    transfer_id = await db.fetchval("SELECT transfer_id FROM payment_transfers")
    (reversal,) = sdk.v1.transfers.reversals.list(transfer_id).data
    assert (reversal.id, reversal.amount) == (seen["stripeTransferReversalId"], 200)
    assert reversal.id.startswith("trr_")
    # The retailer does not see the courier's side.
    mine = (await gql(CLAIM, {"id": claim["id"]}, token=shop.token))["data"]["claim"]
    assert (mine["courierId"], mine["insurancePolicyId"], mine["stripeTransferReversalId"]) == (None, None, None)

    kinds = await entries(db)
    assert ("claim_upheld", at_stripe.id) in kinds
    assert ("transfer_reversal", reversal.id) in kinds
    await assert_ledger_balanced(db)
    # Courier payable (credit negative): earned 450, charged 200 for the claim, transferred 450, reversed 200.
    earned, charged, transferred, reversed_ = 450, 200, 450, 200
    assert await payable_of(db, courier.user_id) == -(earned - charged - (transferred - reversed_)) == 0
    assert await account_sum(db, "claims_expense") == 200
    assert await account_sum(db, "claims_recoveries") == -200
    history = [
        r["kind"] for r in await db.fetch("SELECT kind FROM parcel_events WHERE kind LIKE 'claim%' ORDER BY seq")
    ]
    assert history == ["claim_filed", "claim_upheld", "claim_paid"]
    told = await outbox_of(db, "parcel.claim_paid")
    assert (told[0]["data"]["claimId"], told[0]["data"]["amount"]["amountMinor"]) == (claim["id"], 200)


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_paying_a_claim_run_twice_with_stripe_failing_once_refunds_and_reverses_once(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
    mode: str,
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    admin = await admin_token(gql, services)
    filed = await file(gql, shop.token, booked.parcel_ids[0], 4_999, kind="LOST")
    claim_id = decode_id(filed["claim"]["id"], "Claim")
    upheld = await gql(UPHOLD, {"i": {"claimId": filed["claim"]["id"], "courierAtFault": True}}, token=admin)
    assert upheld["data"]["upholdClaim"]["claim"]["chargedToCourier"] == {"amountMinor": 450}
    transfer_id = await db.fetchval("SELECT transfer_id FROM payment_transfers")

    await control(fake, "fail_next", {"path_prefix": "/v1/refunds", "mode": mode})
    with pytest.raises(GatewayError):
        await services.claims.pay_claim(claim_id)
    assert await db.fetchval("SELECT status FROM claims") == "upheld"
    assert [k for k, _ in await entries(db)].count("claim_upheld") == 0
    await control(fake, "fail_next", {"path_prefix": f"/v1/transfers/{transfer_id}/reversals", "mode": mode})
    with pytest.raises(GatewayError):
        await services.claims.pay_claim(claim_id)  # refunded and posted; the reversal failed
    assert [k for k, _ in await entries(db)].count("claim_upheld") == 1
    first = await services.claims.pay_claim(claim_id)
    second = await services.claims.pay_claim(claim_id)
    assert first == second
    assert first is not None
    assert first.status.value == "paid"

    # The claim (4,999, the declared value) is more than the card paid: the card gets all of it back,
    # the rest is owed to the retailer on its receivable.
    captured = payment["captured_minor"]
    assert first.refunded_minor == captured < 4_999
    assert len(sdk.v1.refunds.list(params={"payment_intent": payment["payment_intent_id"]}).data) == 1
    assert len(sdk.v1.transfers.reversals.list(transfer_id).data) == 1
    kinds = [k for k, _ in await entries(db)]
    assert (kinds.count("claim_upheld"), kinds.count("transfer_reversal")) == (1, 1)
    await assert_ledger_balanced(db)
    assert await account_sum(db, "retailer_receivable", organization_id=shop.organization_id) == -(4_999 - captured)
    assert await payable_of(db, courier.user_id) == 0  # 450 earned, transferred, charged and reversed
    assert await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'claim_paid'") == 1


async def test_a_claim_is_filed_within_14_days_for_at_most_the_declared_value(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, clock: ManualClock
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    parcel = booked.parcel_ids[0]
    admin = await admin_token(gql, services)
    over = await file(gql, shop.token, parcel, 5_000)  # declared 4,999
    assert codes(over) == [("amount.amountMinor", "EXCEEDS_DECLARED_VALUE")]
    unknown_photo = await file(gql, shop.token, parcel, 100, photoHashes=["0" * 64])
    assert codes(unknown_photo) == [("photoHashes[0]", "NOT_FOUND")]
    blank = await file(gql, shop.token, parcel, 100, description="  ")
    assert codes(blank) == [("description", "REQUIRED")]
    other_parcel = str(global_id("Parcel", UUID(int=3)))
    assert codes(await file(gql, shop.token, other_parcel, 100)) == [("parcelId", "NOT_FOUND")]
    not_settled = await book(gql, shop)
    assert codes(await file(gql, shop.token, not_settled.parcel_ids[0], 100)) == [("parcelId", "NOT_CAPTURED")]

    captured_at = await db.fetchval("SELECT captured_at FROM payments WHERE status = 'captured'")
    clock.advance(captured_at + timedelta(days=14) - clock.now())  # the last instant of the window
    token, admin = await fresh_token(gql, "shop@example.com"), await fresh_token(gql, "ops@example.com")
    filed = await file(gql, token, parcel, 4_999)
    assert filed["errors"] == []
    too_much = await gql(
        UPHOLD,
        {"i": {"claimId": filed["claim"]["id"], "courierAtFault": False,
               "amount": {"amountMinor": 5_000, "currency": "EUR"}}},
        token=admin,
    )  # fmt: skip
    assert codes(too_much["data"]["upholdClaim"]) == [("amount.amountMinor", "EXCEEDS_DECLARED_VALUE")]
    rejected = await gql(
        REJECT, {"i": {"claimId": filed["claim"]["id"], "reason": "photos show no damage"}}, token=admin
    )
    assert rejected["data"]["rejectClaim"]["claim"]["status"] == "REJECTED"
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'parcel.claim_rejected'") == 1
    assert codes(
        (await gql(UPHOLD, {"i": {"claimId": filed["claim"]["id"], "courierAtFault": False}}, token=admin))["data"][
            "upholdClaim"
        ]
    ) == [("claimId", "CLAIM_NOT_OPEN")]

    clock.advance(timedelta(seconds=1))  # a rejected claim may be filed again, but not after the window
    assert codes(await file(gql, token, parcel, 100)) == [("parcelId", "CLAIM_WINDOW_CLOSED")]
    assert await db.fetchval("SELECT count(*) FROM refunds") == 0
    assert await entries(db) == sorted(await entries(db))  # nothing but the settlement's entries
    assert {k for k, _ in await entries(db)} == {"charge_captured", "stripe_fee", "transfer"}


async def test_claims_are_listed_page_by_page_oldest_first(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, clock: ManualClock
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    admin = await admin_token(gql, services)
    ids = []
    for _ in range(3):  # filed, rejected, filed again: three claims on the one parcel
        filed = await file(gql, shop.token, booked.parcel_ids[0], 100)
        ids.append(filed["claim"]["id"])
        await gql(REJECT, {"i": {"claimId": ids[-1], "reason": "duplicate of an earlier claim"}}, token=admin)
        clock.advance(timedelta(minutes=1))
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(CLAIMS, {"first": 2, "after": after}, token=shop.token))["data"]["claims"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids
    finance_email = "books@example.com"
    await services.accounts.create_user(email=finance_email, password=PASSWORD, role=Role.FINANCE)
    finance = (await gql.login(finance_email))["session"]["accessToken"]
    assert len((await gql(CLAIMS, {"first": 10}, token=finance))["data"]["claims"]["edges"]) == 3


# --- idempotency fingerprints (as tests/integration/test_fingerprints.py does for the others) -----------


@pytest.fixture(scope="module")
def sdl() -> GraphQLSchema:
    return build_schema(printed_schema())


async def test_refund_payment_and_file_claim_retried_with_any_field_changed_are_refused(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, sdl: GraphQLSchema
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    admin = await admin_token(gql, services)
    refund_base = {
        "jobId": booked.job_id,
        "amount": {"amountMinor": 100, "currency": "EUR"},
        "reason": "GOODWILL",
        "note": "an hour late",
    }
    await assert_every_field_counts(gql, sdl, Case("refundPayment", "RefundPaymentInput", admin, refund_base, {}))
    claim_base = {
        "parcelId": booked.parcel_ids[0],
        "kind": "LOST",
        "description": "never arrived",
        "amount": {"amountMinor": 1_000, "currency": "EUR"},
        "photoHashes": [await upload(gql, shop.token)],
    }
    await assert_every_field_counts(gql, sdl, Case("fileClaim", "FileClaimInput", shop.token, claim_base, {}))
    assert await db.fetchval("SELECT count(*) FROM claims") == 1
    assert await db.fetchval("SELECT count(*) FROM refunds") == 1


async def test_a_courier_who_was_paid_out_already_keeps_owing_the_claim_when_stripe_refuses_the_reversal(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
) -> None:
    """The courier's balance went out in a payout: Stripe refuses the reversal (`balance_insufficient`), the
    claim is still paid to the retailer, and the charge stays on the courier's payable for recovery."""
    booked = await settled(gql, services, shop, courier, db)
    account = await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id)
    await control(fake, "clock", {"advance_s": 3 * 86400})  # the transfer is available on the courier's account
    sdk.v1.payouts.create(params={"amount": 450, "currency": "eur"}, options={"stripe_account": account})
    admin = await admin_token(gql, services)
    filed = await file(gql, shop.token, booked.parcel_ids[0], 450, kind="LOST")
    await gql(UPHOLD, {"i": {"claimId": filed["claim"]["id"], "courierAtFault": True}}, token=admin)

    paid = await services.claims.pay_claim(decode_id(filed["claim"]["id"], "Claim"))
    assert paid is not None
    assert (paid.status.value, paid.reversal_id, paid.reversal_error) == ("paid", None, "balance_insufficient")
    assert paid.refunded_minor == 450
    transfer_id = await db.fetchval("SELECT transfer_id FROM payment_transfers")
    assert sdk.v1.transfers.reversals.list(transfer_id).data == []
    assert [k for k, _ in await entries(db)].count("transfer_reversal") == 0
    await assert_ledger_balanced(db)
    # earned 450 - charged 450 - (transferred 450 - reversed 0): the courier owes us 450 (a debit).
    assert await payable_of(db, courier.user_id) == 450
    seen = (await gql(CLAIM, {"id": filed["claim"]["id"]}, token=admin))["data"]["claim"]
    assert seen["stripeTransferReversalId"] is None


async def test_a_retailers_api_key_uploads_the_photos_and_files_the_claim(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    booked = await settled(gql, services, shop, courier, db)
    created = await gql('mutation { createApiKey(input: {name: "claims"}) { secret } }', token=shop.token)
    key = created["data"]["createApiKey"]["secret"]
    photo = await upload(gql, key)
    uploader = await db.fetchrow(
        "SELECT uploaded_by_user_id, uploaded_by_organization_id FROM photos WHERE sha256 = $1", photo
    )
    assert uploader is not None
    assert tuple(uploader) == (None, shop.organization_id)
    filed = await file(gql, key, booked.parcel_ids[0], 500, photoHashes=[photo], idempotencyKey="k")
    assert filed["errors"] == []
    assert await db.fetchval("SELECT filed_by_user_id FROM claims") is None
    seen = await gql(CLAIMS, {}, token=key)
    assert [e["node"]["id"] for e in seen["data"]["claims"]["edges"]] == [filed["claim"]["id"]]


async def test_two_refunds_at_once_never_together_exceed_the_capture(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    """Each refund reserves its amount with the payment row locked: of two asking 60 % each, one is refused."""
    booked = await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    admin = await admin_token(gql, services)
    share = payment["captured_minor"] * 6 // 10
    ask = {"jobId": booked.job_id, "amount": {"amountMinor": share, "currency": "EUR"}, "reason": "GOODWILL"}
    answers = await asyncio.gather(refund(gql, admin, **ask), refund(gql, admin, **ask))
    assert sorted(codes(a) for a in answers) == [[], [("amount.amountMinor", "REFUND_EXCEEDS_CAPTURED")]]
    (at_stripe,) = sdk.v1.refunds.list(params={"payment_intent": payment["payment_intent_id"]}).data
    assert at_stripe.amount == share
    assert await db.fetchval("SELECT sum(amount_minor) FROM refunds") == share


async def test_a_day_with_a_refund_and_a_claim_paid_at_the_couriers_expense_reconciles_clean(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    """Reconciliation (i13-recon) matches the refund and claim entries to Stripe by their `re_` and `trr_` ids."""
    booked = await settled(gql, services, shop, courier, db)
    admin = await admin_token(gql, services)
    refunded = await refund(
        gql, admin, jobId=booked.job_id, amount={"amountMinor": 100, "currency": "EUR"}, reason="GOODWILL"
    )
    assert refunded["errors"] == []
    filed = await file(gql, shop.token, booked.parcel_ids[0], 300)
    await gql(UPHOLD, {"i": {"claimId": filed["claim"]["id"], "courierAtFault": True}}, token=admin)
    paid = await services.claims.pay_claim(decode_id(filed["claim"]["id"], "Claim"))
    assert paid is not None
    assert paid.reversal_id is not None

    run = await services.reconciliation.reconcile(T0.date())
    # The charge, its fee, the transfer, the refund, the claim's refund and the transfer's reversal.
    assert (run.stripe_objects, run.ledger_entries, run.matched, run.mismatch_count) == (6, 6, 6, 0)
