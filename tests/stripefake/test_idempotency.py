"""Idempotency keys: replay, conflict, and the SDK's own retries across injected 500s moving money once."""

from __future__ import annotations

import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from tests.stripefake.conftest import Fake, funded_charge, onboarded_account

CHARGE: PaymentIntentCreateParams = {
    "amount": 1500,
    "currency": "eur",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "capture_method": "manual",
}


def test_same_key_and_params_replays_the_first_answer(client: stripe.StripeClient) -> None:
    first = client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "book-job-1"})
    again = client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "book-job-1"})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(client.v1.payment_intents.list().data) == 1


def test_same_key_with_other_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "book-job-2"})
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.payment_intents.create(
            params=PaymentIntentCreateParams(**{**CHARGE, "amount": 1600}), options={"idempotency_key": "book-job-2"}
        )
    assert raised.value.http_status == 400
    assert len(client.v1.payment_intents.list().data) == 1


def test_keys_are_scoped_per_account(client: stripe.StripeClient, fake: Fake) -> None:
    account = onboarded_account(client, fake)
    platform = client.v1.customers.create(options={"idempotency_key": "k"})
    connected = client.v1.customers.create(options={"idempotency_key": "k", "stripe_account": account})
    assert platform.id != connected.id


def test_a_declined_attempt_is_replayed_as_the_same_card_error(client: stripe.StripeClient) -> None:
    params = PaymentIntentCreateParams(**{**CHARGE, "payment_method": "pm_card_chargeDeclined"})
    with pytest.raises(stripe.CardError) as first:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "declined"})
    with pytest.raises(stripe.CardError) as again:
        client.v1.payment_intents.create(params=params, options={"idempotency_key": "declined"})
    assert first.value.error is not None
    assert again.value.error is not None
    assert first.value.error.payment_intent is not None
    assert again.value.error.payment_intent is not None
    assert again.value.error.payment_intent.id == first.value.error.payment_intent.id
    assert again.value.headers is not None
    assert again.value.headers.get("Idempotent-Replayed") == "true"


def test_injected_500_surfaces_as_api_error_without_retries(client: stripe.StripeClient, fake: Fake) -> None:
    fake.control("fail_next", {"count": 1})
    with pytest.raises(stripe.APIError) as raised:
        client.v1.payment_intents.create(params=CHARGE, options={"idempotency_key": "once"})
    assert raised.value.http_status == 500
    assert client.v1.payment_intents.list().data == []  # "before": the request never ran


@pytest.mark.parametrize("mode", ["before", "after"])
def test_sdk_retry_after_a_500_moves_money_once(
    client: stripe.StripeClient, retrying_client: stripe.StripeClient, fake: Fake, mode: str
) -> None:
    """`after`: the capture happened and only the answer was lost; the SDK's retry (same key) must replay it."""
    account = onboarded_account(client, fake)
    funded_charge(client, 5000)
    before = client.v1.balance.retrieve().available[0].amount
    fake.control("fail_next", {"count": 2, "mode": mode, "path_prefix": "/v1/transfers"})
    transfer = retrying_client.v1.transfers.create(
        params={"amount": 1200, "currency": "eur", "destination": account, "transfer_group": "job_9"}
    )
    assert transfer.amount == 1200
    assert transfer.last_response is not None
    replayed = transfer.last_response.headers.get("Idempotent-Replayed") == "true"
    assert replayed is (mode == "after")
    assert [t.id for t in client.v1.transfers.list().data] == [transfer.id]
    assert client.v1.balance.retrieve().available[0].amount == before - 1200
    assert client.v1.balance.retrieve(options={"stripe_account": account}).available[0].amount == 1200


def test_keys_are_forgotten_after_24_hours(client: stripe.StripeClient, fake: Fake) -> None:
    first = client.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "day-key"})
    fake.advance(24 * 3600 - 1)
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "day-key"})
    fake.advance(1)
    second = client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "day-key"})
    assert second.id != first.id
