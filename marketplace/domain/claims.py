"""Refunds by operations and retailers' claims for lost or damaged parcels: pure rules, no I/O.

A refund gives back part or all of a job's captured payment, never more than was captured and not yet
refunded. A claim is filed within 14 days of its job's settlement (the capture), for at most the
parcel's declared value; operations uphold it (the claim or less) or reject it with a reason. An
upheld claim is paid back to the retailer's card as far as the card can still take it; the courier at
fault is charged at most what they were paid for the job (their transfer is reversed by that much),
and their insurance policy is recorded for recovering the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.domain import validation
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.money import Money

CLAIM_WINDOW = timedelta(days=14)
MAX_CLAIM_PHOTOS = 10
DESCRIPTION_MAX = 4000


class RefundReason(StrEnum):
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    SERVICE_FAILURE = "service_failure"
    GOODWILL = "goodwill"
    CLAIM = "claim"  # an upheld claim's refund; not for operations to pick
    OTHER = "other"

    @property
    def stripe_reason(self) -> str | None:
        """Stripe knows three reasons; the others are ours (kept in the refund's metadata)."""
        if self in (RefundReason.DUPLICATE, RefundReason.FRAUDULENT, RefundReason.REQUESTED_BY_CUSTOMER):
            return self.value
        return None


class RefundStatus(StrEnum):
    PENDING = "pending"  # reserved; Stripe not yet heard from (the worker retries)
    SUCCEEDED = "succeeded"


class ClaimKind(StrEnum):
    LOST = "lost"
    DAMAGED = "damaged"


class ClaimStatus(StrEnum):
    FILED = "filed"
    UPHELD = "upheld"  # decided; the worker pays it
    REJECTED = "rejected"
    PAID = "paid"  # refunded (and the courier's transfer reversed, where at fault)


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """What operations ask for; the whole object is the idempotency fingerprint."""

    job_id: UUID
    amount_minor: int | None  # None: everything still refundable
    currency: str | None
    reason: RefundReason
    note: str | None


@dataclass(frozen=True, slots=True)
class Refund:
    id: UUID
    payment_id: UUID
    job_id: UUID
    area_id: UUID
    organization_id: UUID
    claim_id: UUID | None
    amount: Money
    reason: RefundReason
    note: str | None
    status: RefundStatus
    refund_id: str | None  # Stripe's re_...
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def pending(
        cls,
        *,
        id: UUID,
        payment_id: UUID,
        job_id: UUID,
        area_id: UUID,
        organization_id: UUID,
        claim_id: UUID | None,
        amount: Money,
        reason: RefundReason,
        note: str | None,
        created_at: datetime,
    ) -> Refund:
        """A refund reserved before Stripe is asked: `pending`, no Stripe id yet (the worker finishes it)."""
        return cls(
            id=id,
            payment_id=payment_id,
            job_id=job_id,
            area_id=area_id,
            organization_id=organization_id,
            claim_id=claim_id,
            amount=amount,
            reason=reason,
            note=note,
            status=RefundStatus.PENDING,
            refund_id=None,
            created_at=created_at,
            succeeded_at=None,
        )


@dataclass(frozen=True, slots=True)
class NewClaim:
    """A retailer's claim as filed; the whole object is the idempotency fingerprint."""

    parcel_id: UUID
    kind: ClaimKind
    description: str
    amount_minor: int
    currency: str
    photo_hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    id: UUID
    parcel_id: UUID
    job_id: UUID
    payment_id: UUID
    area_id: UUID
    organization_id: UUID
    kind: ClaimKind
    description: str
    claimed: Money
    status: ClaimStatus
    photo_hashes: tuple[str, ...]
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    upheld_minor: int | None
    courier_at_fault: bool | None
    courier_id: UUID | None
    insurance_policy_id: UUID | None
    charged_to_courier_minor: int
    refund_id: str | None
    refunded_minor: int | None
    reversal_id: str | None
    reversal_error: str | None
    paid_at: datetime | None
    # The part of the charge taken out of the courier's held pay (None: not decided yet); the rest is reversed.
    held_deducted_minor: int | None = None

    @property
    def reversal_minor(self) -> int:
        """What is reversed at Stripe: the charge less what held pay covered (all of it until that is decided)."""
        return self.charged_to_courier_minor - (self.held_deducted_minor or 0)

    @property
    def upheld(self) -> Money | None:
        return None if self.upheld_minor is None else Money(self.upheld_minor, self.claimed.currency)


def refund_amount(request: RefundRequest, *, captured_minor: int, refunded_minor: int, currency: str) -> Money:
    """The refund's amount: what was asked, or everything still refundable; never more than that."""
    left = captured_minor - refunded_minor
    problems: list[FieldError] = []
    if request.reason is RefundReason.CLAIM:
        problems.append(FieldError(ErrorCode.INVALID, "claims are refunded by upholding them", "reason"))
    if request.currency is not None and request.currency != currency:
        problems.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"the payment is in {currency}", "amount.currency"))
    amount = left if request.amount_minor is None else request.amount_minor
    if request.amount_minor is not None and request.amount_minor <= 0:
        problems.append(FieldError(ErrorCode.INVALID, "a refund is more than zero", "amount.amountMinor"))
    elif left <= 0:
        problems.append(FieldError(ErrorCode.REFUND_EXCEEDS_CAPTURED, "the payment is fully refunded", "amount"))
    elif amount > left:
        problems.append(
            FieldError(
                ErrorCode.REFUND_EXCEEDS_CAPTURED,
                f"at most {left} minor units are left to refund ({captured_minor} captured, {refunded_minor} refunded)",
                "amount.amountMinor",
            )
        )
    if problems:
        raise DomainError(problems)
    return Money(amount, currency)


def check_note(raw: str | None, field: str, problems: list[FieldError], *, required: bool = False) -> str | None:
    note = validation.optional_text(raw, field, problems, max_length=validation.LONG_TEXT)
    if note is None and required:
        problems.append(FieldError(ErrorCode.REQUIRED, "give a reason", field))
    return note


def check_claim(
    new: NewClaim, *, declared_value: Money, captured_at: datetime | None, cancelled: bool, now: datetime
) -> tuple[str, list[FieldError]]:
    """The description cleaned, and every problem with the claim at once."""
    problems: list[FieldError] = []
    description = (new.description or "").strip()
    if not description:
        problems.append(FieldError(ErrorCode.REQUIRED, "describe what happened", "description"))
    elif len(description) > DESCRIPTION_MAX:
        problems.append(FieldError(ErrorCode.TOO_LONG, f"at most {DESCRIPTION_MAX} characters", "description"))
    elif validation.unstorable(description, allowed="\n\t"):
        problems.append(FieldError(ErrorCode.INVALID, "must not contain control characters", "description"))
    if len(new.photo_hashes) > MAX_CLAIM_PHOTOS:
        problems.append(FieldError(ErrorCode.INVALID, f"at most {MAX_CLAIM_PHOTOS} photos", "photoHashes"))
    if len(set(new.photo_hashes)) != len(new.photo_hashes):
        problems.append(FieldError(ErrorCode.INVALID, "a photo is given once", "photoHashes"))
    if new.currency != declared_value.currency:
        problems.append(
            FieldError(ErrorCode.CURRENCY_MISMATCH, f"the parcel is declared in {declared_value.currency}", "amount")
        )
    if new.amount_minor <= 0:
        problems.append(FieldError(ErrorCode.INVALID, "a claim is more than zero", "amount.amountMinor"))
    elif new.amount_minor > declared_value.amount_minor:
        problems.append(
            FieldError(
                ErrorCode.EXCEEDS_DECLARED_VALUE,
                f"at most the parcel's declared value, {declared_value.amount_minor}",
                "amount.amountMinor",
            )
        )
    if cancelled:
        problems.append(FieldError(ErrorCode.INVALID, "the parcel was cancelled before it was carried", "parcelId"))
    elif captured_at is None:
        problems.append(FieldError(ErrorCode.NOT_CAPTURED, "the job is not settled yet", "parcelId"))
    elif now > captured_at + CLAIM_WINDOW:
        problems.append(
            FieldError(ErrorCode.CLAIM_WINDOW_CLOSED, "claims are filed within 14 days of the settlement", "parcelId")
        )
    return description, problems


def check_upheld(amount_minor: int | None, claim: Claim, declared_value_minor: int) -> int:
    """The amount upheld: the claim itself by default, or less; never more than the declared value."""
    amount = claim.claimed.amount_minor if amount_minor is None else amount_minor
    if amount <= 0:
        raise DomainError.single(ErrorCode.INVALID, "an upheld claim pays more than zero", "amount.amountMinor")
    if amount > declared_value_minor:
        raise DomainError.single(
            ErrorCode.EXCEEDS_DECLARED_VALUE,
            f"at most the parcel's declared value, {declared_value_minor}",
            "amount.amountMinor",
        )
    if amount > claim.claimed.amount_minor:
        raise DomainError.single(ErrorCode.INVALID, "at most what the retailer claimed", "amount.amountMinor")
    return amount


def courier_charge(upheld_minor: int, *, earned_minor: int, already_charged_minor: int) -> int:
    """What the courier at fault gives back: the claim, at most what they earned on the job, transferred or
    still held (less what earlier claims on it took). The rest is for their insurer: the claim records the policy."""
    return max(0, min(upheld_minor, earned_minor - already_charged_minor))


@dataclass(frozen=True, slots=True)
class HeldPay:
    """A courier's pay for one job held while its account cannot take a transfer (a `transfer_holds` row)."""

    earned_minor: int  # the courier's share of the job
    deducted_minor: int  # taken by upheld claims on the job
    sending_minor: int | None  # the transfer in flight under the hold's key, if one was started
    released: bool  # transferred, or nothing left to transfer

    @property
    def remaining_minor(self) -> int:
        """What the held transfer still pays."""
        return self.earned_minor - self.deducted_minor


@dataclass(frozen=True, slots=True)
class ChargeSplit:
    """Where a courier's charge for a claim comes from: held pay (no Stripe call) and a reversal at Stripe."""

    from_held_minor: int
    reversed_minor: int


def split_charge(charged_minor: int, *, hold: HeldPay | None, transferred: bool) -> ChargeSplit | None:
    """The charge taken first from pay still held (the later transfer pays less, or nothing), the rest
    reversed from the transfer. None: wait, the courier's money is moving (a transfer in flight under the
    hold, or a settlement whose transfer is not recorded yet), and splitting now could pay it twice."""
    if charged_minor <= 0:
        return ChargeSplit(0, 0)
    if hold is not None and not hold.released:
        if hold.sending_minor is not None:
            return None
        from_held = min(charged_minor, hold.remaining_minor)
        rest = charged_minor - from_held
        if rest > 0 and not transferred:
            return None  # cannot happen while the charge is capped by what was earned; never reverse nothing
        return ChargeSplit(from_held, rest)
    if not transferred:
        return None
    return ChargeSplit(0, charged_minor)


def transfer_to_send(hold: HeldPay) -> int:
    """The amount a held transfer sends now: the amount already in flight under its key (Stripe must see the
    same request again), else what claims left of the courier's pay (0: nothing, the hold closes)."""
    if hold.released:
        return 0
    if hold.sending_minor is not None:
        return hold.sending_minor
    return max(0, hold.remaining_minor)


def refund_key(refund_id: UUID) -> str:
    return f"refund:{refund_id}"


def reversal_key(claim_id: UUID) -> str:
    return f"reversal:claim:{claim_id}"
