"""Sample calls of the webhook operations for the authorization table (test_authorization.py)."""

from __future__ import annotations

from typing import Any

_NOBODY_ENDPOINT = "V2ViaG9va0VuZHBvaW50OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # WebhookEndpoint:0...
_NOBODY_DELIVERY = "V2ViaG9va0RlbGl2ZXJ5OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # WebhookDelivery:0...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.webhookEndpoints": ("query { webhookEndpoints(first: 1) { edges { node { id } } } }", {}),
    "Query.webhookEndpoint": ("query($id: ID!) { webhookEndpoint(id: $id) { id } }", {"id": _NOBODY_ENDPOINT}),
    "Query.webhookEventTypes": ("query { webhookEventTypes }", {}),
    "Mutation.createWebhookEndpoint": (
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { errors { code } } }",
        {"i": {"url": "ftp://nowhere", "eventTypes": []}},
    ),
    "Mutation.updateWebhookEndpoint": (
        "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { errors { code } } }",
        {"i": {"id": _NOBODY_ENDPOINT, "enabled": False}},
    ),
    "Mutation.rotateWebhookSecret": (
        "mutation($i: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $i) { errors { code } } }",
        {"i": {"id": _NOBODY_ENDPOINT}},
    ),
    "Mutation.redeliverWebhookEvent": (
        "mutation($i: RedeliverWebhookEventInput!) { redeliverWebhookEvent(input: $i) { errors { code } } }",
        {"i": {"deliveryId": _NOBODY_DELIVERY}},
    ),
    "Mutation.sendWebhookTestEvent": (
        "mutation($i: SendWebhookTestEventInput!) { sendWebhookTestEvent(input: $i) { errors { code } } }",
        {"i": {"endpointId": _NOBODY_ENDPOINT}},
    ),
}
