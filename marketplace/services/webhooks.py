"""Retailer webhooks: endpoints (a secret shown once, rotation with an overlap), and delivering them.

A delivery is one outbox message for one endpoint (`repositories/outbox.py` writes both with the
change). The worker's `deliver_webhook` job makes one attempt through `marketplace/webhook_http.py`
(address checked and connected to, signed, no redirects, 64 KB, 10 s). A failure queues the next
attempt with exponential back-off until the delivery is 24 hours old, then the delivery is failed;
an endpoint failing for 3 days is switched off and its organisation told.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.notifications import NotificationKind
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.webhooks import (
    MAX_ENDPOINTS_PER_ORGANIZATION,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookPolicy,
    check_event_types,
    check_url,
    message_id,
)
from marketplace.logs import get_logger
from marketplace.repositories.outbox import DELIVER_WEBHOOK_JOB, SEND_NOTIFICATION_JOB
from marketplace.repositories.webhooks import DeliveryToSend
from marketplace.services.idempotency import Idempotency
from marketplace.webhook_http import AddressRefusedError, AttemptResult, WebhookSender, resolve_allowed

if TYPE_CHECKING:
    from marketplace.db.uow import UnitOfWork

log = get_logger("crowdship.webhooks")


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class NewWebhookEndpoint:
    url: str
    event_types: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class SecretRotation:
    endpoint_id: UUID
    overlap_s: int


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str | None  # shown once; a retry with the same idempotency key answers None


class WebhookService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        idempotency: Idempotency,
        policy: WebhookPolicy,
        sender: WebhookSender | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
        self.policy = policy
        self.sender = sender or WebhookSender(policy)

    def with_policy(self, policy: WebhookPolicy) -> WebhookService:
        """The same service under another policy (and its own HTTP client)."""
        return WebhookService(self._db, self._clock, self._idempotency, policy)

    # Endpoints

    async def _checked_url(self, raw: str, field: str) -> str:
        url, host = check_url(raw, field, allow_insecure=self.policy.allow_private_addresses)
        if not self.policy.allow_private_addresses:
            port = urlsplit(url).port or 443
            try:
                await asyncio.wait_for(resolve_allowed(host, port, allow_private=False), self.policy.timeout_s)
            except AddressRefusedError as exc:
                raise DomainError.single(ErrorCode.ADDRESS_NOT_ALLOWED, str(exc), field) from None
            except (OSError, TimeoutError):
                pass  # a name that does not resolve yet is checked again at every delivery
        return url

    async def create_endpoint(
        self, principal: Principal, request: NewWebhookEndpoint, *, idempotency_key: str | None
    ) -> EndpointWithSecret:
        organization_id = Scope(principal).organization()
        secret = new_secret()
        shown: list[str] = []
        async with self._db.uow() as uow:

            async def create() -> UUID:
                # Checked after the key is claimed: a retry with another input is told its key was used.
                problems: list[FieldError] = []
                event_types = check_event_types(list(request.event_types), "eventTypes", problems)
                description = validation.optional_text(request.description, "description", problems)
                if validation.unstorable(request.url):
                    raise DomainError.single(ErrorCode.INVALID, "not a URL", "url")
                url = await self._checked_url(request.url, "url")
                if problems:
                    raise DomainError(problems)
                if await uow.repos.webhooks.count_for_organization(organization_id) >= MAX_ENDPOINTS_PER_ORGANIZATION:
                    raise DomainError.single(
                        ErrorCode.TOO_MANY_ROWS, f"at most {MAX_ENDPOINTS_PER_ORGANIZATION} endpoints", "url"
                    )
                now = self._clock.now()
                endpoint = WebhookEndpoint(
                    id=uuid4(),
                    organization_id=organization_id,
                    url=url,
                    description=description,
                    event_types=event_types,
                    enabled=True,
                    disabled_reason=None,
                    failing_since=None,
                    previous_secret_until=None,
                    created_at=now,
                    updated_at=now,
                )
                await uow.repos.webhooks.add_endpoint(endpoint, secret)
                shown.append(secret)
                return endpoint.id

            endpoint_id = await self._run(uow, principal, "createWebhookEndpoint", idempotency_key, request, create)
            endpoint = await uow.repos.webhooks.get_endpoint(endpoint_id, organization_id)
            assert endpoint is not None
            await uow.commit()
        return EndpointWithSecret(endpoint, shown[0] if shown else None)

    async def update_endpoint(
        self,
        principal: Principal,
        *,
        endpoint_id: UUID,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        """Setting the same values again changes nothing, so a retry is harmless without a key."""
        organization_id = Scope(principal).organization()
        problems: list[FieldError] = []
        types = None if event_types is None else check_event_types(event_types, "eventTypes", problems)
        clean_description = validation.optional_text(description, "description", problems)
        if url is not None and validation.unstorable(url):
            raise DomainError.single(ErrorCode.INVALID, "not a URL", "url")
        checked = None if url is None else await self._checked_url(url, "url")
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:
            endpoint = await uow.repos.webhooks.get_endpoint(endpoint_id, organization_id, for_update=True)
            if endpoint is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such webhook endpoint", "id")
            changed = replace(
                endpoint,
                url=checked or endpoint.url,
                event_types=types or endpoint.event_types,
                description=endpoint.description if description is None else clean_description,
                updated_at=self._clock.now(),
            )
            if enabled is not None and enabled != endpoint.enabled:
                changed = replace(
                    changed,
                    enabled=enabled,
                    disabled_reason=None if enabled else "by_user",
                    failing_since=None if enabled else endpoint.failing_since,
                )
            await uow.repos.webhooks.update_endpoint(changed)
            await uow.commit()
        return changed

    async def rotate_secret(
        self, principal: Principal, request: SecretRotation, *, idempotency_key: str | None
    ) -> EndpointWithSecret:
        """A new secret; the old one keeps signing (a second signature) for `overlap_s`, at most 7 days."""
        organization_id = Scope(principal).organization()
        secret = new_secret()
        shown: list[str] = []
        async with self._db.uow() as uow:

            async def rotate() -> UUID:
                if not 0 <= request.overlap_s <= 7 * 86400:
                    raise DomainError.single(ErrorCode.OUT_OF_RANGE, "0 to 604800 seconds", "overlapS")
                endpoint = await uow.repos.webhooks.get_endpoint(request.endpoint_id, organization_id, for_update=True)
                if endpoint is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, "no such webhook endpoint", "id")
                now = self._clock.now()
                await uow.repos.webhooks.rotate_secret(
                    endpoint.id, secret, now + timedelta(seconds=request.overlap_s), now
                )
                shown.append(secret)
                return endpoint.id

            endpoint_id = await self._run(uow, principal, "rotateWebhookSecret", idempotency_key, request, rotate)
            endpoint = await uow.repos.webhooks.get_endpoint(endpoint_id, organization_id)
            assert endpoint is not None
            await uow.commit()
        return EndpointWithSecret(endpoint, shown[0] if shown else None)

    async def _run(
        self, uow: UnitOfWork, principal: Principal, operation: str, key: str | None, request: Any, action: Any
    ) -> UUID:
        result: UUID = await self._idempotency.run(
            uow,
            scope=principal.scope,
            operation=operation,
            key=key,
            request=request,
            action=action,
            dump=lambda i: {"id": str(i)},
            load=lambda d: UUID(d["id"]),
        )
        return result

    async def endpoints(self, principal: Principal, page: PageRequest) -> Page[WebhookEndpoint]:
        visible = Scope(principal).organization_filter()
        async with self._db.read() as repos:
            return await repos.webhooks.list_endpoints(visible.owner, page)

    async def endpoint(self, principal: Principal, endpoint_id: UUID) -> WebhookEndpoint | None:
        visible = Scope(principal).organization_filter()
        async with self._db.read() as repos:
            return await repos.webhooks.get_endpoint(endpoint_id, visible.owner)

    async def deliveries(self, principal: Principal, endpoint_id: UUID, page: PageRequest) -> Page[WebhookDelivery]:
        visible = Scope(principal).organization_filter()
        async with self._db.read() as repos:
            if await repos.webhooks.get_endpoint(endpoint_id, visible.owner) is None:
                return Page(items=(), has_next=False)
            return await repos.webhooks.deliveries(endpoint_id, page)

    async def attempts(self, delivery_ids: list[UUID]) -> dict[UUID, list[WebhookAttempt]]:
        async with self._db.read() as repos:
            return await repos.webhooks.attempts(delivery_ids)

    async def redeliver(self, principal: Principal, *, delivery_id: UUID) -> WebhookDelivery:
        """The same message (same `webhook-id`) again, with a fresh 24-hour retry window."""
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:
            current = await uow.repos.webhooks.get_delivery(delivery_id, organization_id)
            if current is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such webhook delivery", "deliveryId")
            if current.status == "pending":
                raise DomainError.single(ErrorCode.DELIVERY_PENDING, "this delivery is still being tried", "deliveryId")
            delivery = await uow.repos.webhooks.reopen(delivery_id, organization_id, self._clock.now())
            assert delivery is not None
            await uow.repos.job_queue.enqueue(
                DELIVER_WEBHOOK_JOB, {"id": str(delivery_id), "attempt": delivery.attempts}
            )
            await uow.commit()
        return delivery

    async def send_test(self, principal: Principal, *, endpoint_id: UUID) -> WebhookDelivery:
        """A `webhook.test` message to one endpoint, delivered and logged like any other."""
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:
            endpoint = await uow.repos.webhooks.get_endpoint(endpoint_id, organization_id)
            if endpoint is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such webhook endpoint", "endpointId")
            delivery_id = uuid4()
            await uow.repos.webhooks.add_test_message(uuid4(), delivery_id, endpoint, self._clock.now())
            await uow.repos.job_queue.enqueue(DELIVER_WEBHOOK_JOB, {"id": str(delivery_id), "attempt": 0})
            delivery = await uow.repos.webhooks.get_delivery(delivery_id, organization_id)
            assert delivery is not None
            await uow.commit()
        return delivery

    # Delivering (the worker)

    async def deliver(self, delivery_id: UUID, attempt: int | None = None) -> str:
        """One attempt of a delivery; its outcome: succeeded, pending (retry queued), failed or skipped.

        `attempt` is the number of attempts made when the job was queued: a job whose attempt has
        been made since (a redelivery raced a retry) does nothing, so each job is one attempt.
        """
        async with self._db.read() as repos:
            todo = await repos.webhooks.delivery_to_send(delivery_id, self._clock.now())
        if todo is None or todo.delivery.status != "pending":
            return "skipped"
        if attempt is not None and todo.delivery.attempts != attempt:
            return "skipped"
        if not todo.endpoint.enabled:
            result = AttemptResult(None, 0, "endpoint disabled", None)
        else:
            result = await self.sender.post(
                todo.endpoint.url, message_id(todo.delivery.message_id), todo.delivery.payload, todo.secrets
            )
        return await self._record(todo, result)

    async def _record(self, todo: DeliveryToSend, result: AttemptResult) -> str:
        now = self._clock.now()
        endpoint = todo.endpoint
        if result.ok:
            outcome = "succeeded"
        elif not endpoint.enabled or now - todo.window_started_at >= self.policy.give_up_after:
            outcome = "failed"
        else:
            outcome = "pending"
        async with self._db.uow() as uow:
            repos = uow.repos
            attempts = await repos.webhooks.record_attempt(
                todo.delivery.id,
                at=now,
                status_code=result.status_code,
                latency_ms=result.latency_ms,
                error=result.error,
                excerpt=result.excerpt,
                outcome=outcome,
            )
            if result.ok:
                await repos.webhooks.endpoint_succeeded(endpoint.id)
            elif endpoint.enabled:
                since = await repos.webhooks.endpoint_failed(endpoint.id, now)
                if now - since >= self.policy.disable_endpoint_after and await repos.webhooks.disable_failing(
                    endpoint.id, now
                ):
                    days = self.policy.disable_endpoint_after.days
                    ids = await repos.notifications.tell_organization(
                        endpoint.organization_id,
                        NotificationKind.ENDPOINT_DISABLED.value,
                        {"url": endpoint.url, "days": days},
                        now,
                    )
                    await repos.job_queue.enqueue_many(
                        [SEND_NOTIFICATION_JOB] * len(ids), [{"id": str(i)} for i in ids]
                    )
                    log.warning("webhook endpoint disabled", endpoint_id=str(endpoint.id), failing_since=str(since))
                if outcome == "pending":
                    await repos.job_queue.enqueue(
                        DELIVER_WEBHOOK_JOB,
                        {"id": str(todo.delivery.id), "attempt": attempts},
                        execute_after=self.policy.next_delay(attempts),
                    )
            await uow.commit()
        log.info(
            "webhook attempt",
            delivery_id=str(todo.delivery.id),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            outcome=outcome,
            error=result.error,
        )
        return outcome
