"""Customers, test cards, SetupIntents, PaymentIntents with manual and partial capture, declines, refunds."""

from __future__ import annotations

import pytest
import stripe

from stripefake.api.payments import AUTHORISATION_DAYS
from stripefake.core import DAY_S
from tests.stripefake.conftest import Fake


def test_customer_gets_a_default_card_through_a_setup_intent(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        params={"email": "shop@example.com", "name": "Shop", "metadata": {"org": "o1"}}
    )
    assert customer.id.startswith("cus_")
    assert customer.livemode is False

    setup = client.v1.setup_intents.create(
        params={"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True, "usage": "off_session"}
    )
    assert setup.id.startswith("seti_")
    assert setup.status == "succeeded"
    assert setup.payment_method is not None
    assert str(setup.payment_method).startswith("pm_")

    updated = client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": str(setup.payment_method)}}
    )
    assert updated.invoice_settings is not None
    assert updated.invoice_settings.default_payment_method == setup.payment_method
    cards = client.v1.customers.payment_methods.list(customer.id)
    assert [pm.id for pm in cards.data] == [setup.payment_method]
    assert cards.data[0].card is not None
    assert cards.data[0].card.last4 == "4242"
    metadata = client.v1.customers.retrieve(customer.id).metadata
    assert metadata is not None
    assert metadata["org"] == "o1"


def test_default_payment_method_must_be_attached_to_that_customer(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    loose = client.v1.payment_methods.retrieve("pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": loose.id}})
    assert raised.value.param == "invoice_settings[default_payment_method]"


def test_declining_card_cannot_be_attached_and_fails_its_setup_intent(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    assert raised.value.code == "card_declined"
    assert raised.value.http_status == 402

    setup = client.v1.setup_intents.create(params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as raised:
        client.v1.setup_intents.confirm(setup.id, params={"payment_method": "pm_card_chargeDeclinedInsufficientFunds"})
    assert raised.value.error is not None
    assert raised.value.error.decline_code == "insufficient_funds"
    after = client.v1.setup_intents.retrieve(setup.id)
    assert after.status == "requires_payment_method"
    assert after.last_setup_error is not None
    assert after.last_setup_error.code == "card_declined"
    assert client.v1.customers.payment_methods.list(customer.id).data == []


def test_manual_capture_takes_part_of_the_authorisation(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    pm = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "EUR",
            "customer": customer.id,
            "payment_method": pm.id,
            "capture_method": "manual",
            "confirm": True,
            "transfer_group": "job_1",
            "metadata": {"job": "1"},
        }
    )
    assert (intent.status, intent.amount_capturable, intent.amount_received) == ("requires_capture", 2500, 0)
    assert intent.currency == "eur"

    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1800})
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 1800, 0)
    charge = client.v1.charges.retrieve(str(captured.latest_charge), params={"expand": ["balance_transaction"]})
    assert (charge.amount, charge.amount_captured, charge.captured) == (2500, 1800, True)
    assert charge.transfer_group == "job_1"
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    fee = (1800 * 150 + 5000) // 10000 + 25  # 1.5 % + 25 cents
    assert (txn.amount, txn.fee, txn.net, txn.type) == (1800, fee, 1800 - fee, "charge")

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_capture_above_the_authorisation_is_refused(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1001})
    assert raised.value.param == "amount_to_capture"
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"


def test_cancelled_authorisation_moves_no_money(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        }
    )
    cancelled = client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "requested_by_customer"})
    assert (cancelled.status, cancelled.cancellation_reason) == ("canceled", "requested_by_customer")
    assert client.v1.balance_transactions.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id)


def test_uncaptured_authorisation_expires_after_seven_days(client: stripe.StripeClient, fake: Fake) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        }
    )
    fake.advance(AUTHORISATION_DAYS * DAY_S - 60)
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_capture"
    fake.advance(60)
    expired = client.v1.payment_intents.retrieve(intent.id)
    assert (expired.status, expired.cancellation_reason) == ("canceled", "automatic")


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
    ],
)
def test_declined_card_raises_card_error_and_leaves_intent_awaiting_a_method(
    client: stripe.StripeClient, card: str, code: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "eur",
                "payment_method": card,
                "confirm": True,
                "capture_method": "manual",
            }
        )
    error = raised.value
    assert (error.code, error.http_status) == (code, 402)
    assert error.error is not None
    assert error.error.decline_code == decline_code
    assert error.error.payment_intent is not None
    intent = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None
    assert intent.last_payment_error.code == code
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (charge.status, charge.failure_code) == ("failed", code)
    assert client.v1.balance_transactions.list().data == []


def test_card_that_attaches_but_fails_every_charge(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    pm = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", params={"customer": customer.id})
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": pm.id,
                "confirm": True,
                "off_session": True,
            }
        )
    assert raised.value.code == "card_declined"


def test_refunds_full_and_partial_by_payment_intent(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 3000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert intent.status == "succeeded"
    first = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 1000, "reason": "requested_by_customer"}
    )
    assert (first.amount, first.status, first.charge) == (1000, "succeeded", intent.latest_charge)
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 2000
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (charge.amount_refunded, charge.refunded) == (3000, True)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert raised.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [rest.id, first.id]


def test_refund_larger_than_what_is_left_is_refused(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 600})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 401})
    assert (raised.value.code, raised.value.param) == ("amount_too_large", "amount")


def test_uncaptured_intent_cannot_be_refunded(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert raised.value.code == "charge_not_captured"


def test_lists_paginate_newest_first(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert first["object"] == "list"
    assert first.url == "/v1/customers"
    assert [c.id for c in first.data] == ids[::-1][:2]
    assert first.has_more
    second = client.v1.customers.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [c.id for c in second.data] == ids[::-1][2:4]
    assert second.has_more
    assert [c.id for c in first.auto_paging_iter()] == ids[::-1]
    back = client.v1.customers.list(params={"limit": 2, "ending_before": ids[2]})
    assert [c.id for c in back.data] == [ids[4], ids[3]]


def test_expand_replaces_ids_with_objects(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create()
    intent = client.v1.payment_intents.create(
        params={
            "amount": 700,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        },
    )
    expanded = client.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["customer", "latest_charge.balance_transaction"]}
    )
    assert isinstance(expanded.customer, stripe.Customer)
    assert expanded.customer.id == customer.id
    assert isinstance(expanded.latest_charge, stripe.Charge)
    assert isinstance(expanded.latest_charge.balance_transaction, stripe.BalanceTransaction)
    listed = client.v1.payment_intents.list(params={"expand": ["data.customer"]})
    assert isinstance(listed.data[0].customer, stripe.Customer)


def test_other_accounts_objects_are_not_found(client: stripe.StripeClient, fake: Fake) -> None:
    from tests.stripefake.conftest import onboarded_account

    account = onboarded_account(client, fake)
    customer = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve(customer.id, options={"stripe_account": account})
    assert raised.value.code == "resource_missing"
