"""Refunds by operations and retailers' claims in GraphQL: thin resolvers over services/claims.py."""

from __future__ import annotations

from datetime import datetime

import strawberry

from marketplace.domain import claims as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from schema.access import allow, mutation, query
from schema.common import IDEMPOTENCY_KEY, Money, MoneyInput, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, decode_id, global_id

OPERATIONS = allow(DomainRole.ADMIN)
RETAILERS = allow(DomainRole.RETAILER, api_keys=True)
CLAIM_READERS = allow(DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN, api_keys=True)

RefundReason = strawberry.enum(domain.RefundReason, name="RefundReason")
RefundStatus = strawberry.enum(domain.RefundStatus, name="RefundStatus")
ClaimKind = strawberry.enum(domain.ClaimKind, name="ClaimKind")
ClaimStatus = strawberry.enum(domain.ClaimStatus, name="ClaimStatus")


@strawberry.type(description="Money given back on a job's captured payment, by operations or for an upheld claim.")
class Refund:
    id: strawberry.ID
    job_id: strawberry.ID
    claim_id: strawberry.ID | None
    amount: Money
    reason: RefundReason  # type: ignore[valid-type]
    note: str | None
    status: RefundStatus = strawberry.field(  # type: ignore[valid-type]
        description="PENDING until Stripe has refunded (the worker retries); then SUCCEEDED."
    )
    stripe_refund_id: str | None = strawberry.field(description="Stripe's refund (re_...), as in the ledger.")
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def from_domain(cls, r: domain.Refund) -> Refund:
        return cls(
            id=global_id("Refund", r.id),
            job_id=global_id("Job", r.job_id),
            claim_id=None if r.claim_id is None else global_id("Claim", r.claim_id),
            amount=Money.from_domain(r.amount),
            reason=r.reason,
            note=r.note,
            status=r.status,
            stripe_refund_id=r.refund_id,
            created_at=r.created_at,
            succeeded_at=r.succeeded_at,
        )


@strawberry.type(description="A retailer's claim for a lost or damaged parcel, and how operations decided it.")
class Claim:
    id: strawberry.ID
    parcel_id: strawberry.ID
    job_id: strawberry.ID
    kind: ClaimKind  # type: ignore[valid-type]
    description: str
    amount: Money = strawberry.field(description="What the retailer claimed: at most the parcel's declared value.")
    status: ClaimStatus  # type: ignore[valid-type]
    photo_urls: list[str] = strawberry.field(description="Signed, short-lived URLs of the claim's photos.")
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    upheld_amount: Money | None = strawberry.field(description="What operations upheld (the claim or less).")
    refunded_amount: Money | None = strawberry.field(
        description="What went back to the card; the rest of an upheld claim is owed to the retailer as a credit."
    )
    stripe_refund_id: str | None
    courier_at_fault: bool | None
    paid_at: datetime | None
    courier_id: strawberry.ID | None = strawberry.field(
        description="Operations and finance only: the courier at fault."
    )
    insurance_policy_id: strawberry.ID | None = strawberry.field(
        description="Operations and finance only: the at-fault courier's policy in force, for recovery."
    )
    charged_to_courier: Money | None = strawberry.field(
        description="Operations and finance only: what the courier at fault gives back (their transfer reversed)."
    )
    stripe_transfer_reversal_id: str | None = strawberry.field(description="Operations and finance only (trr_...).")
    reversal_error: str | None = strawberry.field(
        description="Operations and finance only: why Stripe refused the reversal; recovery stays open."
    )

    @classmethod
    def from_domain(cls, c: domain.Claim, info: Info, *, internal: bool) -> Claim:
        cur = c.claimed.currency
        photos = info.context.services.delivery
        return cls(
            id=global_id("Claim", c.id),
            parcel_id=global_id("Parcel", c.parcel_id),
            job_id=global_id("Job", c.job_id),
            kind=c.kind,
            description=c.description,
            amount=Money.from_domain(c.claimed),
            status=c.status,
            photo_urls=[photos.photo_url(h) for h in c.photo_hashes],
            created_at=c.created_at,
            decided_at=c.decided_at,
            decision_reason=c.decision_reason,
            upheld_amount=None if c.upheld_minor is None else Money.of(c.upheld_minor, cur),
            refunded_amount=None if c.refunded_minor is None else Money.of(c.refunded_minor, cur),
            stripe_refund_id=c.refund_id,
            courier_at_fault=c.courier_at_fault,
            paid_at=c.paid_at,
            courier_id=global_id("User", c.courier_id) if internal and c.courier_id else None,
            insurance_policy_id=(
                global_id("InsurancePolicy", c.insurance_policy_id) if internal and c.insurance_policy_id else None
            ),
            charged_to_courier=Money.of(c.charged_to_courier_minor, cur) if internal and c.upheld_minor else None,
            stripe_transfer_reversal_id=c.reversal_id if internal else None,
            reversal_error=c.reversal_error if internal else None,
        )


async def _internal(info: Info) -> bool:
    return (await info.context.principal()).role in (DomainRole.ADMIN, DomainRole.FINANCE)


def _claim_position(c: domain.Claim) -> Position:
    return Position(created_at=c.created_at, id=c.id)


# --- inputs and payloads ---------------------------------------------------------------------------


@strawberry.input
class RefundPaymentInput:
    job_id: strawberry.ID
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Left out: everything captured and not yet refunded."
    )
    reason: RefundReason  # type: ignore[valid-type]
    note: str | None = strawberry.field(default=None, description="Free text; required with OTHER.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> domain.RefundRequest:
        return domain.RefundRequest(
            job_id=decode_id(self.job_id, "Job", field="jobId"),
            amount_minor=None if self.amount is None else self.amount.amount_minor,
            currency=None if self.amount is None else self.amount.currency,
            reason=domain.RefundReason(self.reason),
            note=self.note,
        )


@strawberry.type
class RefundPaymentPayload:
    refund: Refund | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class FileClaimInput:
    parcel_id: strawberry.ID
    kind: ClaimKind  # type: ignore[valid-type]
    description: str
    amount: MoneyInput = strawberry.field(description="At most the parcel's declared value.")
    photo_hashes: list[str] = strawberry.field(
        default_factory=list, description="Hashes from POST /uploads/photos (at most 10)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def to_domain(self) -> domain.NewClaim:
        return domain.NewClaim(
            parcel_id=decode_id(self.parcel_id, "Parcel", field="parcelId"),
            kind=domain.ClaimKind(self.kind),
            description=self.description,
            amount_minor=self.amount.amount_minor,
            currency=self.amount.currency,
            photo_hashes=tuple(self.photo_hashes),
        )


@strawberry.input
class UpholdClaimInput:
    claim_id: strawberry.ID
    courier_at_fault: bool
    amount: MoneyInput | None = strawberry.field(
        default=None, description="Left out: the whole claim; less for a partial decision."
    )
    reason: str | None = None


@strawberry.input
class RejectClaimInput:
    claim_id: strawberry.ID
    reason: str = strawberry.field(description="Shown to the retailer.")


@strawberry.type
class ClaimPayload:
    claim: Claim | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- root fields -----------------------------------------------------------------------------------


@strawberry.type
class ClaimQuery:
    @query(CLAIM_READERS, description="A retailer's own claim; operations and finance any. Another's is NOT_FOUND.")
    async def claim(self, info: Info, id: strawberry.ID) -> Claim | None:
        found = await info.context.services.claims.claim(await info.context.principal(), decode_id(id, "Claim"))
        if found is None:
            raise not_found("claim")
        return Claim.from_domain(found, info, internal=await _internal(info))

    @query(CLAIM_READERS, description="Oldest first; operations filtering on FILED see the queue to decide.")
    async def claims(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: ClaimStatus | None = None,  # type: ignore[valid-type]
        organization_id: strawberry.ID | None = None,
    ) -> Connection[Claim]:
        page = await info.context.services.claims.claims(
            await info.context.principal(),
            page_or_error(first, after),
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
            status=None if status is None else domain.ClaimStatus(status),
        )
        internal = await _internal(info)
        return Connection[Claim].from_page(
            page,
            lambda c: Claim.from_domain(c, info, internal=internal),
            _claim_position,
            has_previous=after is not None,
        )

    @query(CLAIM_READERS, description="A job's refunds: a retailer's own job, or (operations, finance) any.")
    async def refunds(self, info: Info, job_id: strawberry.ID) -> list[Refund]:
        found = await info.context.services.claims.refunds_of_job(
            await info.context.principal(), decode_id(job_id, "Job", field="jobId")
        )
        return [Refund.from_domain(r) for r in found]


@strawberry.type
class ClaimMutation:
    @mutation(OPERATIONS, description="Refunds a job's captured payment, in full or in part, with a reason.")
    async def refund_payment(self, info: Info, input: RefundPaymentInput) -> RefundPaymentPayload:
        try:
            refund = await info.context.services.claims.refund_payment(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return RefundPaymentPayload(errors=user_errors(exc))
        return RefundPaymentPayload(refund=Refund.from_domain(refund))

    @mutation(RETAILERS, description="A claim for a lost or damaged parcel, within 14 days of its job's settlement.")
    async def file_claim(self, info: Info, input: FileClaimInput) -> ClaimPayload:
        try:
            claim = await info.context.services.claims.file_claim(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return ClaimPayload(errors=user_errors(exc))
        return ClaimPayload(claim=Claim.from_domain(claim, info, internal=False))

    @mutation(OPERATIONS, description="Upholds a claim: the retailer is refunded, the courier at fault charged.")
    async def uphold_claim(self, info: Info, input: UpholdClaimInput) -> ClaimPayload:
        try:
            claim = await info.context.services.claims.uphold_claim(
                await info.context.principal(),
                claim_id=decode_id(input.claim_id, "Claim", field="claimId"),
                amount_minor=None if input.amount is None else input.amount.amount_minor,
                courier_at_fault=input.courier_at_fault,
                reason=input.reason,
            )
        except DomainError as exc:
            return ClaimPayload(errors=user_errors(exc))
        return ClaimPayload(claim=Claim.from_domain(claim, info, internal=True))

    @mutation(OPERATIONS)
    async def reject_claim(self, info: Info, input: RejectClaimInput) -> ClaimPayload:
        try:
            claim = await info.context.services.claims.reject_claim(
                await info.context.principal(),
                claim_id=decode_id(input.claim_id, "Claim", field="claimId"),
                reason=input.reason,
            )
        except DomainError as exc:
            return ClaimPayload(errors=user_errors(exc))
        return ClaimPayload(claim=Claim.from_domain(claim, info, internal=True))
