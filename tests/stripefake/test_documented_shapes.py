"""Responses carry every field of Stripe's documented examples, with the same JSON types.

The expected shapes are the example objects of Stripe's API reference (docs.stripe.com/api: the PaymentIntent,
Transfer, Account, Balance Transaction and Event objects), reduced to their keys and the JSON type of each
value (None where the example shows null, so any type is accepted there).
"""

from __future__ import annotations

import json
from typing import Any

import stripe

from tests.stripefake.conftest import Fake, Receiver, funded_charge, onboarded_account

STR, INT, BOOL, OBJ, ARR, ANY = str, int, bool, dict, list, None

PAYMENT_INTENT = {
    "id": STR,
    "object": STR,
    "amount": INT,
    "amount_capturable": INT,
    "amount_details": OBJ,
    "amount_received": INT,
    "application": ANY,
    "application_fee_amount": ANY,
    "automatic_payment_methods": ANY,
    "canceled_at": ANY,
    "cancellation_reason": ANY,
    "capture_method": STR,
    "client_secret": STR,
    "confirmation_method": STR,
    "created": INT,
    "currency": STR,
    "customer": ANY,
    "description": ANY,
    "last_payment_error": ANY,
    "latest_charge": ANY,
    "livemode": BOOL,
    "metadata": OBJ,
    "next_action": ANY,
    "on_behalf_of": ANY,
    "payment_method": ANY,
    "payment_method_options": OBJ,
    "payment_method_types": ARR,
    "processing": ANY,
    "receipt_email": ANY,
    "review": ANY,
    "setup_future_usage": ANY,
    "shipping": ANY,
    "source": ANY,
    "statement_descriptor": ANY,
    "statement_descriptor_suffix": ANY,
    "status": STR,
    "transfer_data": ANY,
    "transfer_group": ANY,
}
TRANSFER = {
    "id": STR,
    "object": STR,
    "amount": INT,
    "amount_reversed": INT,
    "balance_transaction": STR,
    "created": INT,
    "currency": STR,
    "description": ANY,
    "destination": STR,
    "destination_payment": STR,
    "livemode": BOOL,
    "metadata": OBJ,
    "reversals": OBJ,
    "reversed": BOOL,
    "source_transaction": ANY,
    "source_type": STR,
    "transfer_group": STR,
}
BALANCE_TRANSACTION = {
    "id": STR,
    "object": STR,
    "amount": INT,
    "available_on": INT,
    "created": INT,
    "currency": STR,
    "description": ANY,
    "exchange_rate": ANY,
    "fee": INT,
    "fee_details": ARR,
    "net": INT,
    "reporting_category": STR,
    "source": STR,
    "status": STR,
    "type": STR,
}
ACCOUNT = {
    "id": STR,
    "object": STR,
    "business_profile": OBJ,
    "business_type": ANY,
    "capabilities": OBJ,
    "charges_enabled": BOOL,
    "controller": OBJ,
    "country": STR,
    "created": INT,
    "default_currency": STR,
    "details_submitted": BOOL,
    "email": STR,
    "external_accounts": OBJ,
    "future_requirements": OBJ,
    "login_links": OBJ,
    "metadata": OBJ,
    "payouts_enabled": BOOL,
    "requirements": OBJ,
    "settings": OBJ,
    "tos_acceptance": OBJ,
    "type": STR,
}
EVENT = {
    "id": STR,
    "object": STR,
    "api_version": STR,
    "created": INT,
    "data": OBJ,
    "livemode": BOOL,
    "pending_webhooks": INT,
    "request": OBJ,
    "type": STR,
}
LIST = {"object": STR, "data": ARR, "has_more": BOOL, "url": STR}


def _raw(obj: stripe.StripeObject) -> dict[str, Any]:
    assert obj.last_response is not None
    body: dict[str, Any] = json.loads(obj.last_response.body)
    return body


def assert_shape(actual: dict[str, Any], documented: dict[str, Any], prefix: str | None = None) -> None:
    missing = sorted(set(documented) - set(actual))
    assert not missing, f"missing documented fields: {missing}"
    wrong = {
        key: type(actual[key]).__name__
        for key, kind in documented.items()
        if kind is not None and actual[key] is not None and not isinstance(actual[key], kind)
    }
    assert not wrong, f"fields of another type than documented: {wrong}"
    if prefix is not None:
        assert actual["id"].startswith(prefix + "_")


def test_payment_intent_matches_the_documented_example(client: stripe.StripeClient) -> None:
    created = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    raw = _raw(created)
    assert_shape(raw, PAYMENT_INTENT, "pi")
    assert (raw["object"], raw["status"], raw["livemode"]) == ("payment_intent", "requires_payment_method", False)
    assert raw["client_secret"].startswith(raw["id"] + "_secret_")


def test_transfer_and_its_balance_transaction_match_the_documented_examples(
    client: stripe.StripeClient, fake: Fake
) -> None:
    account = onboarded_account(client, fake)
    funded_charge(client, 1000)
    transfer = client.v1.transfers.create(
        params={"amount": 400, "currency": "eur", "destination": account, "transfer_group": "ORDER_95"}
    )
    raw = _raw(transfer)
    assert_shape(raw, TRANSFER, "tr")
    assert_shape(raw["reversals"], {**LIST, "total_count": INT})
    assert raw["reversals"]["url"] == f"/v1/transfers/{raw['id']}/reversals"
    txn = _raw(client.v1.balance_transactions.retrieve(raw["balance_transaction"]))
    assert_shape(txn, BALANCE_TRANSACTION, "txn")
    assert (txn["amount"], txn["net"], txn["type"], txn["reporting_category"], txn["status"]) == (
        -400,
        -400,
        "transfer",
        "transfer",
        "available",
    )


def test_account_matches_the_documented_example(client: stripe.StripeClient) -> None:
    raw = _raw(
        client.v1.accounts.create(params={"type": "express", "country": "US", "email": "jenny.rosen@example.com"})
    )
    assert_shape(raw, ACCOUNT, "acct")
    assert raw["default_currency"] == "usd"
    assert_shape(raw["external_accounts"], {**LIST, "total_count": INT})
    assert set(raw["requirements"]) >= {"currently_due", "eventually_due", "past_due", "disabled_reason", "errors"}


def test_event_matches_the_documented_example_as_listed_and_as_delivered(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["setup_intent.created"]})
    client.v1.setup_intents.create()
    listed = _raw(client.v1.events.list())
    assert_shape(listed, LIST)
    [event] = listed["data"]
    assert_shape(event, EVENT, "evt")
    assert set(event["request"]) == {"id", "idempotency_key"}
    assert event["data"]["object"]["object"] == "setup_intent"
    fake.flush()
    [delivered] = receiver.events()
    assert_shape(delivered, EVENT, "evt")
    assert delivered["id"] == event["id"]
