"""Retailer webhooks in GraphQL: endpoints, their secrets, the delivery log, redelivery and a test ping."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from marketplace.domain import webhooks as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Page, Position
from marketplace.services.webhooks import EndpointWithSecret, NewWebhookEndpoint, SecretRotation
from schema.access import allow, mutation, query
from schema.common import IDEMPOTENCY_KEY, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, decode_id, global_id

RETAILERS = allow(DomainRole.RETAILER, api_keys=True)
RETAILERS_AND_OPERATIONS = allow(DomainRole.RETAILER, DomainRole.ADMIN, api_keys=True)


@strawberry.enum(description="What became of a delivery.")
class WebhookDeliveryStatus(Enum):
    PENDING = "pending"  # being tried, with back-off
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    FAILED = "failed"  # 24 hours of attempts failed, or the endpoint is disabled


@strawberry.type(description="One HTTP attempt of a delivery.")
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None = strawberry.field(description="Null when no answer came (refused address, timeout).")
    latency_ms: int
    error: str | None


@strawberry.type(description="One event (message) for one endpoint, with every attempt made.")
class WebhookDelivery:
    id: strawberry.ID
    message_id: str = strawberry.field(description="The `webhook-id` header: the same on every attempt.")
    event_type: str
    status: WebhookDeliveryStatus
    attempt_count: int
    created_at: datetime
    last_attempt_at: datetime | None
    completed_at: datetime | None
    payload: JSON = strawberry.field(description="The body sent, exactly as signed.")
    delivery_id: strawberry.Private[UUID]

    @strawberry.field
    async def attempts(self, info: Info) -> list[WebhookAttempt]:
        """Every attempt, oldest first: status code, latency, error."""
        found = await info.context.loaders.webhook_attempts.load(self.delivery_id)
        return [
            WebhookAttempt(
                attempted_at=a.attempted_at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error
            )
            for a in found or []
        ]

    @classmethod
    def from_domain(cls, d: domain.WebhookDelivery) -> WebhookDelivery:
        payload: Any = json.loads(d.payload)
        return cls(
            id=global_id("WebhookDelivery", d.id),
            message_id=domain.message_id(d.message_id),
            event_type=d.event_type,
            status=WebhookDeliveryStatus(d.status),
            attempt_count=d.attempts,
            created_at=d.created_at,
            last_attempt_at=d.last_attempt_at,
            completed_at=d.completed_at,
            payload=payload,
            delivery_id=d.id,
        )


@strawberry.type(description="Where an organisation's systems hear of its parcels and jobs.")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = strawberry.field(description="by_user, or failing (3 days of failures).")
    failing_since: datetime | None
    previous_secret_valid_until: datetime | None = strawberry.field(
        description="While set and in the future, deliveries carry a second signature made with the old secret."
    )
    created_at: datetime
    updated_at: datetime
    endpoint_id: strawberry.Private[UUID]

    @strawberry.field
    async def deliveries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookDelivery]:
        """The delivery log, newest first."""
        page = await info.context.services.webhooks.deliveries(
            await info.context.principal(), self.endpoint_id, page_or_error(first, after)
        )
        return delivery_connection(page, has_previous=after is not None)

    @classmethod
    def from_domain(cls, e: domain.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=global_id("WebhookEndpoint", e.id),
            url=e.url,
            description=e.description,
            event_types=list(e.event_types),
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            failing_since=e.failing_since,
            previous_secret_valid_until=e.previous_secret_until,
            created_at=e.created_at,
            updated_at=e.updated_at,
            endpoint_id=e.id,
        )


def _position(item: domain.WebhookEndpoint | domain.WebhookDelivery) -> Position:
    return Position(created_at=item.created_at, id=item.id)


def delivery_connection(page: Page[domain.WebhookDelivery], *, has_previous: bool) -> Connection[WebhookDelivery]:
    return Connection[WebhookDelivery].from_page(
        page, WebhookDelivery.from_domain, _position, has_previous=has_previous
    )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https, no credentials; never a private or loopback address.")
    event_types: list[str] = strawberry.field(description="See `webhookEventTypes`.")
    description: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> NewWebhookEndpoint:
        return NewWebhookEndpoint(url=self.url, event_types=tuple(self.event_types), description=self.description)


@strawberry.type
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (whsec_...), shown once: a retry with the same key answers null.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, created: EndpointWithSecret) -> WebhookEndpointSecretPayload:
        return cls(endpoint=WebhookEndpoint.from_domain(created.endpoint), secret=created.secret)


@strawberry.input
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = strawberry.field(
        default=None, description="false switches it off; true switches it on again (and forgets its failures)."
    )


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RotateWebhookSecretInput:
    id: strawberry.ID
    overlap_s: int = strawberry.field(
        default=86400, description="How long the old secret keeps signing too (0 to 604800 s)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class RedeliverWebhookEventInput:
    delivery_id: strawberry.ID


@strawberry.input
class SendWebhookTestEventInput:
    endpoint_id: strawberry.ID


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookQuery:
    @query(RETAILERS_AND_OPERATIONS)
    async def webhook_endpoints(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        page = await info.context.services.webhooks.endpoints(
            await info.context.principal(), page_or_error(first, after)
        )
        return Connection[WebhookEndpoint].from_page(
            page, WebhookEndpoint.from_domain, _position, has_previous=after is not None
        )

    @query(RETAILERS_AND_OPERATIONS)
    async def webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookEndpoint | None:
        endpoint = await info.context.services.webhooks.endpoint(
            await info.context.principal(), decode_id(id, "WebhookEndpoint")
        )
        if endpoint is None:
            raise not_found("webhook endpoint")
        return WebhookEndpoint.from_domain(endpoint)

    @query(RETAILERS_AND_OPERATIONS, description="Every event type an endpoint may ask for.")
    def webhook_event_types(self) -> list[str]:
        return list(domain.EVENT_TYPES)


@strawberry.type
class WebhookMutation:
    @mutation(RETAILERS)
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointSecretPayload:
        try:
            created = await info.context.services.webhooks.create_endpoint(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return WebhookEndpointSecretPayload(errors=user_errors(exc))
        return WebhookEndpointSecretPayload.of(created)

    @mutation(RETAILERS)
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointInput) -> WebhookEndpointPayload:
        try:
            endpoint = await info.context.services.webhooks.update_endpoint(
                await info.context.principal(),
                endpoint_id=decode_id(input.id, "WebhookEndpoint"),
                url=input.url,
                event_types=input.event_types,
                description=input.description,
                enabled=input.enabled,
            )
        except DomainError as exc:
            return WebhookEndpointPayload(errors=user_errors(exc))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_domain(endpoint))

    @mutation(RETAILERS)
    async def rotate_webhook_secret(self, info: Info, input: RotateWebhookSecretInput) -> WebhookEndpointSecretPayload:
        try:
            rotated = await info.context.services.webhooks.rotate_secret(
                await info.context.principal(),
                SecretRotation(endpoint_id=decode_id(input.id, "WebhookEndpoint"), overlap_s=input.overlap_s),
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return WebhookEndpointSecretPayload(errors=user_errors(exc))
        return WebhookEndpointSecretPayload.of(rotated)

    @mutation(RETAILERS)
    async def redeliver_webhook_event(self, info: Info, input: RedeliverWebhookEventInput) -> WebhookDeliveryPayload:
        """The same message, same `webhook-id`, sent again; refused while the delivery is still being tried."""
        try:
            delivery = await info.context.services.webhooks.redeliver(
                await info.context.principal(),
                delivery_id=decode_id(input.delivery_id, "WebhookDelivery", field="deliveryId"),
            )
        except DomainError as exc:
            return WebhookDeliveryPayload(errors=user_errors(exc))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_domain(delivery))

    @mutation(RETAILERS)
    async def send_webhook_test_event(self, info: Info, input: SendWebhookTestEventInput) -> WebhookDeliveryPayload:
        try:
            delivery = await info.context.services.webhooks.send_test(
                await info.context.principal(),
                endpoint_id=decode_id(input.endpoint_id, "WebhookEndpoint", field="endpointId"),
            )
        except DomainError as exc:
            return WebhookDeliveryPayload(errors=user_errors(exc))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_domain(delivery))
