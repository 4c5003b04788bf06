"""Retried mutations return their first result: the generic mechanism every retryable mutation uses.

A retry is recognised by its key and its fingerprint, and the fingerprint is made from the whole
input object the service was given (a dataclass: `dataclasses.asdict`), never from a dict built by
hand: a field left out of such a dict makes a changed retry silently return the old result, and a
field added to the input later would be left out the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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

    def fingerprint(self, request: DataclassInstance) -> bytes:
        """Every field of the input, recursively; keyed, so a stored fingerprint of an input holding a
        password cannot be brute-forced offline."""
        canonical = json.dumps(dataclasses.asdict(request), sort_keys=True, separators=(",", ":"), default=_json)
        return hmac.new(self._fingerprint_key, canonical.encode(), hashlib.sha256).digest()

    async def run(
        self,
        uow: UnitOfWork,
        *,
        scope: str,
        operation: str,
        key: str | None,
        request: DataclassInstance,
        action: Callable[[], Awaitable[T]],
        dump: Callable[[T], dict[str, Any]],
        load: Callable[[dict[str, Any]], T],
        planned: T | None = None,
    ) -> T:
        """Runs `action` once per key inside the caller's transaction; the caller commits.

        `request` is the whole input object of the operation, as the caller gave it.

        The key row is written in the same transaction as the action's effects, so both land or
        neither does, and a concurrent duplicate waits for the first and then reads its result.
        `planned`: the result the action will return when it succeeds (the ID it is about to create),
        stored with the key in the same statement; the action must then return exactly it.
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
        response = None if planned is None else dump(planned)
        stored = await uow.repos.idempotency.claim(
            scope, operation, key, fingerprint, now, now - self._ttl, response=response
        )
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
        if planned is None:
            await uow.repos.idempotency.complete(scope, operation, key, dump(result))
        elif result != planned:
            raise RuntimeError(f"{operation}: the action returned another result than planned")
        return result


def _json(value: object) -> str:
    """Instants as UTC, so the same instant written with another offset is the same input.

    An instant UTC cannot hold (year 1 at +14:00) is kept as sent: the input rules refuse it later,
    and a fingerprint must never be where a request fails.
    """
    if isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            return value.astimezone(UTC).isoformat()
        except OverflowError:
            return value.isoformat()
    return str(value)
