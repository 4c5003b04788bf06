"""Retailer webhooks: event types, endpoint URL rules, addresses we never call, the retry schedule.

Pure rules; resolving names and sending live in `marketplace/services/webhooks.py`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.errors import DomainError, ErrorCode, FieldError

# Parcel events are named after the status reached, or the happening without a status change.
PARCEL_HAPPENINGS = (
    "offer_withdrawn",
    "pin_locked",
    "pin_unlocked",
    "pin_replaced",
    "redirected",
    "running_late",
    "arriving_soon",
)
PARCEL_EVENT_TYPES = tuple(f"parcel.{s.value}" for s in ParcelStatus) + tuple(f"parcel.{k}" for k in PARCEL_HAPPENINGS)
JOB_STATUS_CHANGED = "job.status_changed"
TEST_EVENT = "webhook.test"
EVENT_TYPES = (*PARCEL_EVENT_TYPES, JOB_STATUS_CHANGED)

MAX_ENDPOINTS_PER_ORGANIZATION = 20
MAX_URL_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """When a failing delivery is tried again, when it is given up, when its endpoint is switched off."""

    initial_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(hours=2)
    give_up_after: timedelta = timedelta(hours=24)
    disable_endpoint_after: timedelta = timedelta(days=3)
    timeout_s: float = 10.0
    max_response_bytes: int = 64 * 1024
    allow_private_addresses: bool = False  # only outside production, for receivers on 127.0.0.1 in tests

    def next_delay(self, attempts: int) -> timedelta:
        """Exponential back-off after `attempts` failed attempts: 5 s, 10 s, 20 s ... capped at 2 h."""
        factor: int = 2 ** min(max(attempts - 1, 0), 30)
        delay: timedelta = self.initial_delay * factor
        return min(delay, self.max_delay)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: UUID
    organization_id: UUID
    url: str
    description: str | None
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: UUID
    endpoint_id: UUID
    message_id: UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    completed_at: datetime | None
    payload: str


def message_id(outbox_id: UUID) -> str:
    """The `webhook-id` of a message: the same for every attempt and every redelivery."""
    return f"msg_{outbox_id.hex}"


def check_event_types(event_types: list[str], field: str, problems: list[FieldError]) -> tuple[str, ...]:
    if not event_types:
        problems.append(FieldError(ErrorCode.REQUIRED, "name at least one event type", field))
    for i, name in enumerate(event_types):
        if name not in EVENT_TYPES:
            problems.append(FieldError(ErrorCode.INVALID, f"unknown event type {name!r}", f"{field}[{i}]"))
    return tuple(sorted(set(event_types)))


def check_url(raw: str, field: str, *, allow_insecure: bool) -> tuple[str, str]:
    """The URL as stored and its host. https only, no credentials, no fragment; http only when allowed."""
    url = raw.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DomainError.single(ErrorCode.INVALID, "not a URL", field) from None
    host = parts.hostname or ""
    if len(url) > MAX_URL_LENGTH:
        raise DomainError.single(ErrorCode.TOO_LONG, f"at most {MAX_URL_LENGTH} characters", field)
    if parts.scheme not in ("https", "http") or not host:
        raise DomainError.single(ErrorCode.INVALID, "an absolute https URL is needed", field)
    if parts.scheme == "http" and not allow_insecure:
        raise DomainError.single(ErrorCode.INSECURE_URL, "webhook URLs must use https", field)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DomainError.single(ErrorCode.INVALID, "a webhook URL may not carry credentials", field)
    if parts.fragment:
        raise DomainError.single(ErrorCode.INVALID, "a webhook URL may not carry a fragment", field)
    if port == 0:
        raise DomainError.single(ErrorCode.INVALID, "port 0 is not a port", field)
    return url, host


_EXTRA_BLOCKED = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("fd00:ec2::/32"),  # a cloud metadata service's IPv6 address
)


def address_allowed(address: str) -> bool:
    """A public unicast address: never loopback, private, link-local (169.254.169.254, the metadata
    service), multicast, reserved or unspecified; IPv4 mapped into IPv6 is judged as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _EXTRA_BLOCKED):
        return False
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )
