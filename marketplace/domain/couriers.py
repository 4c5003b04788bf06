"""Courier verification levels and insurance: what a courier has proven, and as of which instant it counts.

Levels are never stored as a number on the courier: they are derived from grants, each valid from
its approval until the earliest expiry of the documents behind it (or until revoked). That makes
"the level at instant t" a pure function, a lapse needs no job to run at the moment of expiry, and
the audit history is the same grants read in time order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from uuid import UUID

from marketplace.domain import validation
from marketplace.domain.accounts import Role
from marketplace.domain.errors import ErrorCode, FieldError
from marketplace.domain.money import Money


class Level(IntEnum):
    UNVERIFIED = 0
    IDENTITY_CHECKED = 1
    BACKGROUND_CHECKED = 2


REQUESTABLE_LEVELS = (Level.IDENTITY_CHECKED, Level.BACKGROUND_CHECKED)

MAX_DOCUMENTS = 5
POLICY_NUMBER_MAX_LENGTH = 100


class DocumentKind(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"
    BACKGROUND_CHECK = "background_check"  # a certificate of conduct


IDENTITY_DOCUMENTS = frozenset(
    {DocumentKind.PASSPORT, DocumentKind.NATIONAL_ID, DocumentKind.DRIVING_LICENCE, DocumentKind.RESIDENCE_PERMIT}
)

_LAST4 = re.compile(r"[A-Za-z0-9]{4}")


class VerificationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class PolicyStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class LevelChangeCause(StrEnum):
    APPROVED = "approved"
    LAPSED = "lapsed"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class DocumentClaim:
    """A document reference as the courier typed it, before it is checked."""

    kind: DocumentKind
    issuing_country: str
    expires_at: datetime
    number_last4: str


@dataclass(frozen=True, slots=True)
class VerificationDocument:
    """A reference to a document the courier showed: never an image, never the full number."""

    kind: DocumentKind
    issuing_country: str
    expires_at: datetime
    number_last4: str


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    id: UUID
    courier_id: UUID
    level: int
    status: VerificationStatus
    documents: tuple[VerificationDocument, ...]
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: UUID | None = None
    reason: str | None = None

    @property
    def documents_valid_until(self) -> datetime:
        """A level is only as good as the first of its documents to expire."""
        return min(d.expires_at for d in self.documents)


@dataclass(frozen=True, slots=True)
class LevelGrant:
    """An approved level, counting over [granted_at, valid_until) unless revoked before its end."""

    id: UUID
    courier_id: UUID
    level: int
    request_id: UUID
    granted_at: datetime
    valid_until: datetime
    granted_by: UUID
    approval_reason: str | None = None
    revoked_at: datetime | None = None
    revoked_by: UUID | None = None
    revoke_reason: str | None = None

    @property
    def revoked_early(self) -> bool:
        """A revocation after the grant had already lapsed changed nothing."""
        return self.revoked_at is not None and self.revoked_at < self.valid_until

    @property
    def ends_at(self) -> datetime:
        if self.revoked_at is not None and self.revoked_early:
            return max(self.revoked_at, self.granted_at)
        return self.valid_until

    def counts_at(self, at: datetime) -> bool:
        return self.granted_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class InsurancePolicy:
    id: UUID
    courier_id: UUID
    insurer: str
    policy_number: str
    cover_per_parcel: Money
    cover_per_trip: Money
    valid_from: datetime
    valid_until: datetime
    status: PolicyStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: UUID | None = None
    reason: str | None = None

    def counts_at(self, at: datetime) -> bool:
        """Only a verified policy inside its own validity protects a parcel; the end instant is excluded."""
        return self.status is PolicyStatus.VERIFIED and self.valid_from <= at < self.valid_until


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One entry of a courier's audit history; `actor` is the admin, None when a document expired."""

    at: datetime
    from_level: int
    to_level: int
    cause: LevelChangeCause
    actor: UUID | None
    reason: str | None
    request_id: UUID


@dataclass(frozen=True, slots=True)
class CourierStanding:
    """What the matching engine needs to know about a courier at one instant."""

    level: int
    level_valid_until: datetime | None
    policies: tuple[InsurancePolicy, ...]
    grants: tuple[LevelGrant, ...] = ()  # those counting at the instant

    def level_through(self, end: datetime) -> int:
        """The level held from the instant until `end`, judged by the grants in force at the instant.

        Those grants began by then and only end afterwards, so the level can only fall: the lowest
        it reaches before `end` is the best grant still running just before `end`.
        """
        return max((g.level for g in self.grants if g.ends_at >= end), default=int(Level.UNVERIFIED))

    def policies_covering(self, start: datetime, end: datetime) -> tuple[InsurancePolicy, ...]:
        """Policies valid over all of [start, end]: the engine insures a trip only with one of these."""
        return tuple(p for p in self.policies if p.valid_from <= start and end <= p.valid_until)


UNVERIFIED = CourierStanding(level=int(Level.UNVERIFIED), level_valid_until=None, policies=())


# --- levels ---------------------------------------------------------------------------------


def level_at(grants: Sequence[LevelGrant], at: datetime) -> int:
    return max((g.level for g in grants if g.counts_at(at)), default=int(Level.UNVERIFIED))


def level_valid_until(grants: Sequence[LevelGrant], at: datetime) -> datetime | None:
    """Until when the level held at `at` lasts; the grants counting at `at` overlap, so their ends chain up."""
    level = level_at(grants, at)
    if level == Level.UNVERIFIED:
        return None
    return max(g.ends_at for g in grants if g.counts_at(at) and g.level == level)


def standing(grants: Sequence[LevelGrant], policies: Sequence[InsurancePolicy], at: datetime) -> CourierStanding:
    counting = sorted((p for p in policies if p.counts_at(at)), key=lambda p: (p.created_at, p.id))
    return CourierStanding(
        level=level_at(grants, at),
        level_valid_until=level_valid_until(grants, at),
        policies=tuple(counting),
        grants=tuple(sorted((g for g in grants if g.counts_at(at)), key=lambda g: (g.granted_at, g.id))),
    )


def level_history(grants: Sequence[LevelGrant], now: datetime) -> tuple[LevelChange, ...]:
    """The level's timeline up to `now`, oldest first, derived from the grants alone.

    One entry per instant at which an admin acted (an approval, even one that renews the same
    level, or a revocation) or a lapse changed the level. A lapse that leaves the level where it
    was (another grant still holds it) is not a change and gets no entry. When several things
    happen at the same instant, a revocation explains the entry before an approval before a lapse.
    """
    instants = sorted({g.granted_at for g in grants} | {g.ends_at for g in grants})
    history: list[LevelChange] = []
    before = int(Level.UNVERIFIED)
    for at in instants:
        if at > now:
            break
        after = level_at(grants, at)
        revoked = [g for g in grants if g.revoked_early and g.ends_at == at]
        approved = [g for g in grants if g.granted_at == at]
        lapsed = [g for g in grants if not g.revoked_early and g.valid_until == at]
        if revoked:
            cause = max(revoked, key=lambda g: (g.level, g.id))
            entry = LevelChange(
                at, before, after, LevelChangeCause.REVOKED, cause.revoked_by, cause.revoke_reason, cause.request_id
            )
        elif approved:
            cause = max(approved, key=lambda g: (g.level, g.id))
            entry = LevelChange(
                at, before, after, LevelChangeCause.APPROVED, cause.granted_by, cause.approval_reason, cause.request_id
            )
        elif after != before and lapsed:
            cause = max(lapsed, key=lambda g: (g.level, g.id))
            entry = LevelChange(at, before, after, LevelChangeCause.LAPSED, None, None, cause.request_id)
        else:
            before = after
            continue
        history.append(entry)
        before = after
    return tuple(history)


# --- verification requests ------------------------------------------------------------------


def documents_suffice(level: int, kinds: Sequence[DocumentKind]) -> bool:
    """Level 1 needs proof of identity; level 2 needs that and a background check, in one request."""
    has_identity = any(k in IDENTITY_DOCUMENTS for k in kinds)
    if level == Level.IDENTITY_CHECKED:
        return has_identity
    if level == Level.BACKGROUND_CHECKED:
        return has_identity and DocumentKind.BACKGROUND_CHECK in kinds
    return False


def check_verification_request(
    level: int, claims: Sequence[DocumentClaim], now: datetime
) -> tuple[tuple[VerificationDocument, ...], list[FieldError]]:
    """Normalised documents and every problem of the request (empty when it may be submitted)."""
    problems: list[FieldError] = []
    if level not in REQUESTABLE_LEVELS:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "the level requested must be 1 or 2", "level"))
    if len(claims) > MAX_DOCUMENTS:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, f"at most {MAX_DOCUMENTS} documents", "documents"))
    documents: list[VerificationDocument] = []
    seen: set[tuple[DocumentKind, str, str]] = set()
    for i, claim in enumerate(claims):
        field = f"documents[{i}]"
        country = validation.issuing_country(claim.issuing_country, f"{field}.issuingCountry", problems)
        raw_last4 = claim.number_last4.strip()
        if not _LAST4.fullmatch(raw_last4):
            problems.append(
                FieldError(ErrorCode.INVALID, "must be exactly the last 4 letters or digits", f"{field}.numberLast4")
            )
        last4 = raw_last4.upper()
        if validation.instant(claim.expires_at, f"{field}.expiresAt", problems) and claim.expires_at <= now:
            problems.append(FieldError(ErrorCode.DOCUMENT_EXPIRED, "the document has expired", f"{field}.expiresAt"))
        identity = (claim.kind, country, last4)
        if identity in seen:
            problems.append(FieldError(ErrorCode.INVALID, "the same document is listed twice", field))
        seen.add(identity)
        documents.append(VerificationDocument(claim.kind, country, claim.expires_at, last4))
    if level in REQUESTABLE_LEVELS and not documents_suffice(level, [c.kind for c in claims]):
        needed = (
            "an identity document" if level == Level.IDENTITY_CHECKED else "an identity document and a background check"
        )
        problems.append(FieldError(ErrorCode.DOCUMENTS_INSUFFICIENT, f"level {level} needs {needed}", "documents"))
    return tuple(documents), problems


# --- insurance ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyTerms:
    """A policy as registered, normalised."""

    insurer: str
    policy_number: str
    cover_per_parcel_minor: int
    cover_per_trip_minor: int
    currency: str
    valid_from: datetime
    valid_until: datetime


def check_policy(
    *,
    insurer: str,
    policy_number: str,
    cover_per_parcel: tuple[int, str],
    cover_per_trip: tuple[int, str],
    valid_from: datetime,
    valid_until: datetime,
    now: datetime,
) -> tuple[PolicyTerms, list[FieldError]]:
    """Normalised terms and every problem of them; covers are (amount_minor, currency)."""
    problems: list[FieldError] = []
    clean_insurer = validation.text(insurer, "insurer", problems)
    number = validation.text(policy_number, "policyNumber", problems, max_length=POLICY_NUMBER_MAX_LENGTH).upper()
    parcel_minor, parcel_currency = cover_per_parcel
    trip_minor, trip_currency = cover_per_trip
    parcel_currency = validation.currency(parcel_currency, "coverPerParcel.currency", problems)
    trip_currency = validation.currency(trip_currency, "coverPerTrip.currency", problems)
    if (
        parcel_currency in validation.SUPPORTED_CURRENCIES
        and trip_currency in validation.SUPPORTED_CURRENCIES
        and parcel_currency != trip_currency
    ):
        problems.append(
            FieldError(ErrorCode.CURRENCY_MISMATCH, "both covers must be in the same currency", "coverPerTrip.currency")
        )
    if parcel_minor <= 0:
        problems.append(FieldError(ErrorCode.OUT_OF_RANGE, "must be greater than zero", "coverPerParcel.amountMinor"))
    elif trip_minor < parcel_minor:
        problems.append(
            FieldError(ErrorCode.OUT_OF_RANGE, "must be at least the cover per parcel", "coverPerTrip.amountMinor")
        )
    from_ok = validation.instant(valid_from, "validFrom", problems)
    until_ok = validation.instant(valid_until, "validUntil", problems)
    if from_ok and until_ok and valid_until <= valid_from:
        problems.append(FieldError(ErrorCode.WINDOW_ORDER, "must be after validFrom", "validUntil"))
    elif until_ok and valid_until <= now:
        problems.append(FieldError(ErrorCode.IN_THE_PAST, "the policy has already ended", "validUntil"))
    terms = PolicyTerms(
        insurer=clean_insurer,
        policy_number=number,
        cover_per_parcel_minor=parcel_minor,
        cover_per_trip_minor=trip_minor,
        currency=parcel_currency,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    return terms, problems


def matching_cover(policies: Sequence[InsurancePolicy]) -> InsurancePolicy | None:
    """The one policy the matching engine sees for a courier: the most cover per parcel, then per trip,
    then the longest-lasting; the id breaks remaining ties so the choice is deterministic.

    Amounts are compared as minor units whatever their currency: callers that mix currencies
    should pass only the policies in the currency they match in.
    """
    if not policies:
        return None
    return max(
        policies,
        key=lambda p: (p.cover_per_parcel.amount_minor, p.cover_per_trip.amount_minor, p.valid_until, p.id),
    )


def sees_decider(role: Role) -> bool:
    """Operations staff are named to operations only: a courier learns the decision, not the decider."""
    return role is Role.ADMIN
