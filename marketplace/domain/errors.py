"""Error codes every layer shares; GraphQL re-exports them as one enum."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    INVALID_EMAIL = "INVALID_EMAIL"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"


@dataclass(frozen=True, slots=True)
class FieldError:
    code: ErrorCode
    message: str
    field: str | None = None


class DomainError(Exception):
    """An expected failure: the caller gets it back as data, and nothing is written."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        if not self.errors:
            raise ValueError("DomainError needs at least one error")
        super().__init__("; ".join(e.message for e in self.errors))

    @classmethod
    def single(cls, code: ErrorCode, message: str, field: str | None = None) -> DomainError:
        return cls([FieldError(code, message, field)])
