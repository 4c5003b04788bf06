"""Webhook endpoints, signed asynchronous delivery with retries, and the events API."""

from __future__ import annotations

import pytest
import stripe

from tests.stripefake.conftest import Fake, Receiver


def _pay(client: stripe.StripeClient) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        },
        options={"idempotency_key": "pay-1"},
    )


def test_signed_events_verify_with_the_endpoint_secret_and_not_another(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={
            "url": receiver.url,
            "enabled_events": ["payment_intent.created", "payment_intent.amount_capturable_updated"],
        }
    )
    assert endpoint.id.startswith("we_")
    assert endpoint.secret is not None
    assert endpoint.secret.startswith("whsec_")
    intent = _pay(client)
    assert fake.flush()["pending"] == 0  # delivery is asynchronous; a flush waits until all were attempted

    received = []
    while not receiver.received.empty():
        received.append(receiver.received.get_nowait())
    events = [stripe.Webhook.construct_event(r.body, r.signature, endpoint.secret) for r in received]
    assert [e.type for e in events] == ["payment_intent.created", "payment_intent.amount_capturable_updated"]
    assert all(e.data.object["id"] == intent.id for e in events)
    assert events[1].data.object["status"] == "requires_capture"
    assert events[0].request is not None
    assert events[0].request.idempotency_key == "pay-1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(received[0].body, received[0].signature, "whsec_" + "0" * 32)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            received[0].body.replace(b"1200", b"1201"), received[0].signature, endpoint.secret
        )


def test_failed_delivery_is_retried_until_the_receiver_accepts(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["payment_intent.created"]})
    receiver.status = 500
    intent = _pay(client)
    assert fake.flush() == {"delivered": 0, "failed": 1, "pending": 1}
    event = client.v1.events.list(params={"type": "payment_intent.created"}).data[0]
    assert event.pending_webhooks == 1
    receiver.status = 200
    assert fake.flush() == {"delivered": 1, "failed": 0, "pending": 0}
    [delivered] = receiver.events()
    assert delivered["id"] == event.id
    assert delivered["data"]["object"]["id"] == intent.id
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0


def test_events_go_to_platform_or_connect_endpoints_by_origin(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    account = client.v1.accounts.create(params={"type": "express", "capabilities": {"transfers": {"requested": True}}})
    fake.onboard(account.id)  # account.updated is a Connect event: not for a platform endpoint
    client.v1.customers.create()
    fake.flush()
    assert [e["type"] for e in receiver.events()] == ["customer.created"]


def test_endpoint_lifecycle_and_disabled_endpoints_get_nothing(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id)  # shown only at creation
    client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    client.v1.customers.create()
    fake.flush()
    assert receiver.events() == []
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [endpoint.id]
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True
    assert client.v1.webhook_endpoints.list().data == []


def test_events_list_filters_and_retrieve(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 900, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
    )
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert types == ["payment_intent.succeeded", "charge.succeeded", "payment_intent.created"]
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
    charge_events = client.v1.events.list(params={"type": "charge.*"}).data
    assert [e.type for e in charge_events] == ["charge.refunded", "charge.succeeded"]
    picked = client.v1.events.list(params={"types": ["payment_intent.created", "refund.created"]}).data
    assert [e.type for e in picked] == ["refund.created", "payment_intent.created"]
    event = client.v1.events.retrieve(charge_events[0].id)
    assert event.data.object["payment_intent"] == intent.id
    assert event.livemode is False


def test_an_event_resent_later_arrives_again_after_newer_ones(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    """Duplicates and out-of-order deliveries, for receivers that must cope with both."""
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["customer.created", "customer.updated"]}
    )
    first = client.v1.customers.create(params={"email": "old@example.com"})
    client.v1.customers.update(first.id, params={"email": "new@example.com"})
    fake.flush()
    created, updated = client.v1.events.list().data[::-1]
    assert fake.control(f"events/{created.id}/resend") == {"queued": 1}
    fake.flush()
    assert [e["id"] for e in receiver.events()] == [created.id, updated.id, created.id]
