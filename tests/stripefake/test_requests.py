"""What every endpoint shares: keys, unknown parameters and URLs, and the fake's persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe

from marketplace.clock import ManualClock
from stripefake import FakeStripe, RunningFake, Store
from tests.stripefake.conftest import API_KEY, T0, Fake


def test_unknown_parameter_is_refused_and_names_the_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"email": "a@example.com", "favourite_colour": "blue"})  # type: ignore[arg-type]
    assert (raised.value.code, raised.value.param, raised.value.http_status) == (
        "parameter_unknown",
        "favourite_colour",
        400,
    )
    assert client.v1.customers.list().data == []  # refused before anything happened


def test_unknown_nested_parameter_is_refused_in_bracket_notation(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"invoice_settings": {"default_pm": "x"}})  # type: ignore[arg-type]
    assert raised.value.param == "invoice_settings[default_pm]"


def test_missing_required_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params={"currency": "eur"})  # type: ignore[typeddict-item]
    assert (raised.value.code, raised.value.param) == ("parameter_missing", "amount")


def test_missing_or_live_key_is_an_authentication_error(fake: Fake) -> None:
    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": fake.url})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()


def test_a_failed_request_changes_nothing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params={"payment_method": "pm_doesnotexist"})
    assert client.v1.customers.list().data == []


def test_unknown_url_is_a_404_invalid_request(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.raw_request("get", "/v1/subscriptions_of_the_moon")
    assert raised.value.http_status == 404


def test_state_written_to_a_file_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "stripe.sqlite3"
    with RunningFake(FakeStripe(clock=ManualClock(T0), store=Store(path))) as first:
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": first.url})
        customer = sdk.v1.customers.create(params={"email": "kept@example.com"}, options={"idempotency_key": "c1"})
    with RunningFake(FakeStripe(clock=ManualClock(T0), store=Store(path))) as second:
        sdk = stripe.StripeClient(API_KEY, base_addresses={"api": second.url})
        assert sdk.v1.customers.retrieve(customer.id).email == "kept@example.com"
        again = sdk.v1.customers.create(params={"email": "kept@example.com"}, options={"idempotency_key": "c1"})
        assert again.id == customer.id
