"""The balance is what the money movements add up to, worked out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime

import stripe

from stripefake.core import DAY_S
from tests.stripefake.conftest import Fake, onboarded_account


def _amounts(balance: stripe.Balance) -> tuple[int, int]:
    [available] = [a.amount for a in balance.available if a.currency == "eur"]
    [pending] = [p.amount for p in balance.pending if p.currency == "eur"]
    return available, pending


def test_balance_after_a_charge_a_transfer_and_a_refund_matches_a_hand_computation(
    client: stripe.StripeClient, fake: Fake
) -> None:
    courier = onboarded_account(client, fake)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 10000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 8000})
    # By hand: 8000 captured; fee 1.5 % of 8000 = 120, plus 25 = 145; net 7855, pending for two days.
    assert _amounts(client.v1.balance.retrieve()) == (0, 7855)

    fake.advance(2 * DAY_S)
    assert _amounts(client.v1.balance.retrieve()) == (7855, 0)

    client.v1.transfers.create(
        params={"amount": 5000, "currency": "eur", "destination": courier, "transfer_group": "job"}
    )
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000})
    # 7855 - 5000 (transfer) - 1000 (refund; Stripe keeps the fee) = 1855.
    assert _amounts(client.v1.balance.retrieve()) == (1855, 0)
    assert _amounts(client.v1.balance.retrieve(options={"stripe_account": courier})) == (5000, 0)

    txns = client.v1.balance_transactions.list().data
    assert [(t.type, t.amount, t.fee, t.net, t.reporting_category) for t in txns] == [
        ("refund", -1000, 0, -1000, "refund"),
        ("transfer", -5000, 0, -5000, "transfer"),
        ("charge", 8000, 145, 7855, "charge"),
    ]
    assert sum(t.net for t in txns) == 1855
    charge_txn = txns[2]
    assert charge_txn.status == "available"
    # Captured 2026-11-24 08:00 UTC: available at midnight UTC two days later.
    assert charge_txn.available_on == int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())
    assert charge_txn.fee_details[0].type == "stripe_fee"
    assert charge_txn.fee_details[0].amount == 145


def test_balance_transactions_filter_by_day_and_type(client: stripe.StripeClient, fake: Fake) -> None:
    first = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": "pm_card_bypassPending", "confirm": True}
    )
    fake.advance(DAY_S)
    second = client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "eur", "payment_method": "pm_card_bypassPending", "confirm": True}
    )
    day_two = fake.state.now() - fake.state.now() % DAY_S
    on_day_two = client.v1.balance_transactions.list(params={"created": {"gte": day_two, "lt": day_two + DAY_S}})
    assert [t.source for t in on_day_two.data] == [second.latest_charge]
    charges = client.v1.balance_transactions.list(params={"type": "charge"})
    assert [t.source for t in charges.data] == [second.latest_charge, first.latest_charge]
    # pm_card_bypassPending: available at once.
    assert _amounts(client.v1.balance.retrieve()) == (1000 - 40 + 2000 - 55, 0)
