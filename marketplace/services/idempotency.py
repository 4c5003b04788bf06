"""Retried mutations return their first result: the generic mechanism every retryable mutation uses."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from marketplace.clock import Clock
from marketplace.db.uow import UnitOfWork
from marketplace.domain.errors import DomainError, ErrorCode

T = TypeVar("T")

KEY_MAX_LENGTH = 255


class Idempotency:
    def __init__(self, clock: Clock, *, ttl_s: int, fingerprint_key: bytes) -> None:
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._fingerprint_key = fingerprint_key

    def fingerprint(self, request: Mapping[str, Any]) -> bytes:
        """Keyed, so a stored fingerprint of a request holding a password cannot be brute-forced offline."""
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self._fingerprint_key, canonical.encode(), hashlib.sha256).digest()

    async def run(
        self,
        uow: UnitOfWork,
        *,
        scope: str,
        operation: str,
        key: str | None,
        request: Mapping[str, Any],
        action: Callable[[], Awaitable[T]],
        dump: Callable[[T], dict[str, Any]],
        load: Callable[[dict[str, Any]], T],
    ) -> T:
        """Runs `action` once per key inside the caller's transaction; the caller commits.

        The key row is written in the same transaction as the action's effects, so both land or
        neither does, and a concurrent duplicate waits for the first and then reads its result.
        """
        if key is None:
            return await action()
        if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
            raise DomainError.single(
                ErrorCode.INVALID_IDEMPOTENCY_KEY,
                f"idempotency key must be 1 to {KEY_MAX_LENGTH} printable characters",
                "idempotencyKey",
            )
        fingerprint = self.fingerprint(request)
        now = self._clock.now()
        stored = await uow.repos.idempotency.claim(scope, operation, key, fingerprint, now, now - self._ttl)
        if stored is not None:
            if not hmac.compare_digest(stored.request_hash, fingerprint):
                raise DomainError.single(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this idempotency key was already used with a different input",
                    "idempotencyKey",
                )
            if stored.response is None:  # pragma: no cover - the owner commits key and response together
                raise RuntimeError("idempotency key committed without a response")
            return load(stored.response)
        result = await action()
        await uow.repos.idempotency.complete(scope, operation, key, dump(result))
        return result
