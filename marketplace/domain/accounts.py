"""Accounts: who someone is, what role they play, and the rules for credentials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from email_validator import EmailNotValidError, validate_email

from marketplace.domain import validation
from marketplace.domain.errors import DomainError, ErrorCode, FieldError

EMAIL_MAX_LENGTH = 254
PASSWORD_MIN_LENGTH = 12
# argon2 hashes any length, but an unbounded password is a cheap way to burn our CPU.
PASSWORD_MAX_LENGTH = 128
NAME_MAX_LENGTH = 200
FIRST_NAME_MAX_LENGTH = 50  # the column allows 100; 50 fits a tracking page's line

# The handful of passwords attackers try first; length rules alone let these through.
_COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "passwordpassword",
        "password1234",
        "password12345",
        "qwertyuiopas",
        "qwerty123456",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator",
        "abc123456789",
        "changeme1234",
        "crowdship123",
        "crowdship1234",
    }
)


class Role(StrEnum):
    COURIER = "courier"
    RETAILER = "retailer"
    FINANCE = "finance"
    ADMIN = "admin"


SELF_SERVICE_ROLES = frozenset({Role.COURIER, Role.RETAILER})


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    role: Role
    organization_id: UUID | None
    created_at: datetime
    # What a recipient's tracking page calls the courier who brings the parcel; never a surname or phone.
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    organization_id: UUID
    created_by: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewUser:
    """An account as asked for; a retailer names the organisation it founds."""

    email: str
    password: str
    role: Role
    organization_name: str | None = None
    first_name: str | None = None


@dataclass(frozen=True, slots=True)
class NewColleague:
    """A retailer user's colleague, joining the same organisation."""

    email: str
    password: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user, or a retailer organisation through an API key."""

    role: Role
    user_id: UUID | None
    organization_id: UUID | None
    session_id: UUID | None = None
    api_key_id: UUID | None = None
    # When the access token presented expires (None for an API key): a live subscription ends there.
    expires_at: datetime | None = None

    @property
    def scope(self) -> str:
        """A stable name for the caller, used to namespace idempotency keys."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"org:{self.organization_id}"


def normalize_email(raw: str, field: str = "email") -> str:
    """Returns the address we store (domain lower-cased), or raises INVALID_EMAIL."""
    if len(raw) > EMAIL_MAX_LENGTH:
        raise DomainError.single(ErrorCode.INVALID_EMAIL, "email address is too long", field)
    if validation.unstorable(raw.strip()):
        raise DomainError.single(ErrorCode.INVALID_EMAIL, "email address must not contain control characters", field)
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError.single(ErrorCode.INVALID_EMAIL, str(exc), field) from None
    return result.normalized


def password_problems(password: str, email: str, field: str = "password") -> list[FieldError]:
    """The password policy: long enough, not absurdly long, not guessable from the email."""
    if len(password) > PASSWORD_MAX_LENGTH:
        return [
            FieldError(ErrorCode.PASSWORD_TOO_LONG, f"password must be at most {PASSWORD_MAX_LENGTH} characters", field)
        ]
    if len(password) < PASSWORD_MIN_LENGTH:
        return [
            FieldError(ErrorCode.WEAK_PASSWORD, f"password must be at least {PASSWORD_MIN_LENGTH} characters", field)
        ]
    if validation.unstorable(password):
        # A lone surrogate cannot even be hashed (UTF-8 has no encoding for it), and nobody types a NUL.
        return [FieldError(ErrorCode.INVALID, "password must not contain control characters", field)]
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if lowered in _COMMON_PASSWORDS or len(set(password)) < 5:
        return [FieldError(ErrorCode.WEAK_PASSWORD, "password is too easy to guess", field)]
    if len(local_part) >= 4 and local_part in lowered:
        return [FieldError(ErrorCode.WEAK_PASSWORD, "password must not contain the email address", field)]
    return []


def clean_first_name(raw: str | None, field: str = "firstName") -> str | None:
    """A first name as others will read it (a recipient sees their courier's): one short line, or None.

    Blank means none. Control characters (a line break included) are refused, not folded away: a
    first name is one line, and anything else in it was not typed as a name.
    """
    if raw is None or not raw.strip():
        return None
    problems: list[FieldError] = []
    if validation.unstorable(raw):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain control characters", field))
    else:
        name = validation.text(raw, field, problems, max_length=FIRST_NAME_MAX_LENGTH)
    if problems:
        raise DomainError(problems)
    return name


def clean_name(raw: str, field: str) -> str:
    """Organisation and API key names follow the shared text rules (domain/validation.py)."""
    problems: list[FieldError] = []
    name = validation.text(raw, field, problems, max_length=NAME_MAX_LENGTH)
    if problems:
        raise DomainError(problems)
    return name
