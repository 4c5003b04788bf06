"""Refunds by operations and retailers' claims: filing, deciding, and paying them out through Stripe.

Money moves as settlement does (services/payments.py): "call Stripe with an idempotency key derived
from our ids, then record the answer in one transaction". A refund is first reserved (a `pending`
refunds row, its amount counted against what was captured, the payment row locked while it is
checked), so two refunds can never together exceed the capture; then Stripe refunds under
`refund:<refund id>`; then the row becomes `succeeded` with Stripe's `re_...` id in the transaction
that posts its ledger entry under that id and tells the retailer (a parcel event, hence a webhook).
A handler that dies anywhere is retried by the worker: Stripe replays its answer for the key, the
row's state guard and the ledger's (kind, source_id) key record it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database, UnitOfWork
from marketplace.domain import ledger
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.claims import (
    Claim,
    ClaimStatus,
    NewClaim,
    Refund,
    RefundReason,
    RefundRequest,
    RefundStatus,
    check_claim,
    check_note,
    check_upheld,
    courier_charge,
    refund_amount,
    refund_key,
    reversal_key,
    split_charge,
)
from marketplace.domain.delivery import SYSTEM, Actor, ActorKind
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.proof import is_content_hash
from marketplace.logs import get_logger
from marketplace.payments import GatewayError, PaymentGateway, RequestRefusedError
from marketplace.services.dispatch_common import event
from marketplace.services.idempotency import Idempotency
from marketplace.services.ledger import LedgerService

log = get_logger("crowdship.claims")

# Worker jobs (pgqueuer entrypoints).
REFUND_JOB = "refund_payment"
PAY_CLAIM_JOB = "pay_claim"
# The worker's retry of a refund the request could not finish (Stripe down, the process gone).
REFUND_RETRY_AFTER = timedelta(seconds=60)

NO_JOB = "no such job"
NO_CLAIM = "no such claim"
NO_PARCEL = "no such parcel"


@dataclass(frozen=True, slots=True)
class _Subject:
    """A parcel as an event names it."""

    id: UUID
    job_id: UUID
    organization_id: UUID
    area_id: UUID


def _id_json(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_load(data: dict[str, Any]) -> UUID:
    return UUID(str(data["id"]))


def _money_details(amount: Money) -> dict[str, Any]:
    return {"amount": {"amountMinor": amount.amount_minor, "currency": amount.currency}}


class ClaimService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        gateway: PaymentGateway,
        ledger_service: LedgerService,
        idempotency: Idempotency,
    ) -> None:
        self._db = db
        self._clock = clock
        self.gateway = gateway
        self._ledger = ledger_service
        self._idempotency = idempotency

    # --- refunds by operations --------------------------------------------------------------------

    async def refund_payment(
        self, principal: Principal, request: RefundRequest, *, idempotency_key: str | None = None
    ) -> Refund:
        """Reserves the refund, then refunds at Stripe and records it; if Stripe cannot be reached the
        refund stays `pending` and the worker finishes it (the same key: it happens once)."""
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        note = check_note(request.note, "note", problems, required=request.reason is RefundReason.OTHER)
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:

            async def reserve() -> UUID:
                payment = await uow.repos.claims.refundable(request.job_id, for_update=True)
                if payment is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, NO_JOB, "jobId")
                if payment.status != "captured" or payment.payment_intent_id is None:
                    raise DomainError.single(
                        ErrorCode.NOT_CAPTURED, f"the job's payment is {payment.status}, nothing was charged", "jobId"
                    )
                amount = refund_amount(
                    request,
                    captured_minor=payment.captured_minor,
                    refunded_minor=payment.refunded_minor,
                    currency=payment.currency,
                )
                refund = Refund.pending(
                    id=uuid4(),
                    payment_id=payment.payment_id,
                    job_id=payment.job_id,
                    area_id=payment.area_id,
                    organization_id=payment.organization_id,
                    claim_id=None,
                    amount=amount,
                    reason=request.reason,
                    note=note,
                    created_at=self._clock.now(),
                )
                await uow.repos.claims.add_refund(refund, admin_id)
                await uow.repos.job_queue.enqueue(
                    REFUND_JOB,
                    {"refund_id": str(refund.id)},
                    dedupe_key=refund_key(refund.id),
                    execute_after=REFUND_RETRY_AFTER,
                )
                return refund.id

            refund_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="refundPayment",
                key=idempotency_key,
                request=request,
                action=reserve,
                dump=_id_json,
                load=_id_load,
            )
            await uow.commit()
        try:
            await self.execute_refund(refund_id)
        except GatewayError as exc:
            log.warning("refund left to the worker", refund_id=str(refund_id), error=str(exc))
        async with self._db.read() as repos:
            found = await repos.claims.refund(refund_id)
        assert found is not None
        return found

    async def execute_refund(self, refund_id: UUID) -> Refund | None:
        """The worker's (and the request's) step: Stripe refunds, then one transaction records it. Idempotent."""
        async with self._db.read() as repos:
            refund = await repos.claims.refund(refund_id)
            payment = None if refund is None else await repos.payments.payment_of_job(refund.job_id)
        if refund is None or refund.status is RefundStatus.SUCCEEDED or refund.claim_id is not None:
            return refund  # a claim's refund is paid by pay_claim, with the claim's own entry
        assert payment is not None
        assert payment.payment_intent_id is not None
        stripe_id = await self.gateway.refund(
            payment_intent_id=payment.payment_intent_id,
            amount_minor=refund.amount.amount_minor,
            reason=refund.reason.stripe_reason,
            metadata={"refund": str(refund.id), "job_id": str(refund.job_id), "reason": refund.reason.value},
            idempotency_key=refund_key(refund.id),
        )
        async with self._db.uow() as uow:
            now = self._clock.now()
            if await uow.repos.claims.set_refund_succeeded(refund.id, stripe_id, now):
                await self._ledger.post(
                    uow,
                    ledger.refund(
                        source_id=stripe_id,
                        area_id=refund.area_id,
                        organization_id=refund.organization_id,
                        amount=refund.amount,
                        at=now,
                        description=f"refund ({refund.reason.value}) of job {refund.job_id}",
                    ),
                )
                parcels = await uow.repos.delivery.parcels_of_job(refund.job_id)
                await uow.repos.parcel_events.append(
                    [
                        event(
                            p,
                            SYSTEM,
                            now,
                            kind="refunded",
                            reason_code=refund.reason.value,
                            details={"refund_id": str(refund.id), "stripe_refund": stripe_id}
                            | _money_details(refund.amount),
                        )
                        for p in parcels
                    ]
                )
            await uow.commit()
        log.info("refunded", refund_id=str(refund.id), stripe_refund=stripe_id, amount=refund.amount.amount_minor)
        async with self._db.read() as repos:
            return await repos.claims.refund(refund_id)

    async def refunds_of_job(self, principal: Principal, job_id: UUID) -> list[Refund]:
        """Operations and finance read any job's refunds; a retailer its own jobs'."""
        scope = Scope(principal)
        async with self._db.read() as repos:
            refunds = await repos.claims.refunds_of_job(job_id)
        if scope.reads_books:
            return refunds
        mine = scope.organization()
        return [r for r in refunds if r.organization_id == mine]

    # --- claims: filed by retailers ------------------------------------------------------------------

    async def file_claim(self, principal: Principal, new: NewClaim, *, idempotency_key: str | None = None) -> Claim:
        """A lost or damaged parcel, within 14 days of its job's settlement, for at most its declared value."""
        organization_id = Scope(principal).organization()
        filed_by = principal.user_id if principal.api_key_id is None else None
        async with self._db.uow() as uow:

            async def file() -> UUID:
                now = self._clock.now()
                parcel = await uow.repos.claims.claimable_parcel(new.parcel_id, organization_id)
                if parcel is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, NO_PARCEL, "parcelId")
                description, problems = check_claim(
                    new,
                    declared_value=parcel.declared_value,
                    captured_at=parcel.captured_at if parcel.payment_status == "captured" else None,
                    cancelled=parcel.status == "cancelled",
                    now=now,
                )
                known = await uow.repos.claims.known_photos([h for h in new.photo_hashes if is_content_hash(h)])
                problems += [
                    FieldError(ErrorCode.NOT_FOUND, "no such photo; upload it first", f"photoHashes[{i}]")
                    for i, h in enumerate(new.photo_hashes)
                    if h not in known
                ]
                if problems:
                    raise DomainError(problems)
                assert parcel.payment_id is not None
                claim = Claim(
                    id=uuid4(),
                    parcel_id=parcel.parcel_id,
                    job_id=parcel.job_id,
                    payment_id=parcel.payment_id,
                    area_id=parcel.area_id,
                    organization_id=parcel.organization_id,
                    kind=new.kind,
                    description=description,
                    claimed=Money(new.amount_minor, new.currency),
                    status=ClaimStatus.FILED,
                    photo_hashes=new.photo_hashes,
                    created_at=now,
                    decided_at=None,
                    decision_reason=None,
                    upheld_minor=None,
                    courier_at_fault=None,
                    courier_id=None,
                    insurance_policy_id=None,
                    charged_to_courier_minor=0,
                    refund_id=None,
                    refunded_minor=None,
                    reversal_id=None,
                    reversal_error=None,
                    paid_at=None,
                )
                if not await uow.repos.claims.add_claim(claim, filed_by):
                    raise DomainError.single(ErrorCode.CLAIM_EXISTS, "the parcel already has a claim", "parcelId")
                await self._tell(uow, claim, "claim_filed", Actor(ActorKind.RETAILER, filed_by), claim.claimed)
                return claim.id

            claim_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="fileClaim",
                key=idempotency_key,
                request=new,
                action=file,
                dump=_id_json,
                load=_id_load,
            )
            await uow.commit()
        found = await self.claim(principal, claim_id)
        assert found is not None
        return found

    async def claim(self, principal: Principal, claim_id: UUID) -> Claim | None:
        """None for a claim the caller may not see (another organisation's): as if there were none."""
        visible = Scope(principal).claims_filter()
        async with self._db.read() as repos:
            return await repos.claims.claim(claim_id, visible.owner)

    async def claims(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        organization_id: UUID | None = None,
        status: ClaimStatus | None = None,
    ) -> Page[Claim]:
        visible = Scope(principal).claims_filter(organization_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            return await repos.claims.list_claims(page, organization_id=visible.owner, status=status)

    # --- claims: decided by operations --------------------------------------------------------------

    async def reject_claim(self, principal: Principal, *, claim_id: UUID, reason: str) -> Claim:
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean = check_note(reason, "reason", problems, required=True)
        if problems:
            raise DomainError(problems)
        assert clean is not None
        async with self._db.uow() as uow:
            claim = await self._open_claim(uow, claim_id)
            now = self._clock.now()
            await uow.repos.claims.reject(claim.id, by=admin_id, reason=clean, at=now)
            await self._tell(uow, claim, "claim_rejected", Actor(ActorKind.ADMIN, admin_id), claim.claimed)
            await uow.commit()
        return await self._reread(claim.id)

    async def uphold_claim(
        self,
        principal: Principal,
        *,
        claim_id: UUID,
        amount_minor: int | None,
        courier_at_fault: bool,
        reason: str | None = None,
    ) -> Claim:
        """Decides the claim and queues its payment (the refund, and the reversal of the courier at fault)."""
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean = check_note(reason, "reason", problems)
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:
            claim = await self._open_claim(uow, claim_id)
            parcel = await uow.repos.claims.claimable_parcel(claim.parcel_id, None)
            assert parcel is not None
            amount = check_upheld(amount_minor, claim, parcel.declared_value.amount_minor)
            now = self._clock.now()
            courier_id = parcel.courier_id if courier_at_fault else None
            if courier_at_fault and courier_id is None:
                raise DomainError.single(ErrorCode.INVALID, "no courier carried this parcel", "courierAtFault")
            charged, policy_id = 0, None
            if courier_id is not None:
                charged = courier_charge(
                    amount,
                    earned_minor=await uow.repos.claims.earned_on(claim.payment_id, courier_id),
                    already_charged_minor=await uow.repos.claims.charged_before(claim.payment_id, courier_id),
                )
                policy_id = await uow.repos.claims.policy_at(courier_id, parcel.captured_at or now)
            await uow.repos.claims.uphold(
                claim.id,
                by=admin_id,
                at=now,
                reason=clean,
                upheld_minor=amount,
                courier_at_fault=courier_at_fault,
                courier_id=courier_id,
                insurance_policy_id=policy_id,
                charged_to_courier_minor=charged,
            )
            await self._tell(
                uow, claim, "claim_upheld", Actor(ActorKind.ADMIN, admin_id), Money(amount, claim.claimed.currency)
            )
            await uow.repos.job_queue.enqueue(
                PAY_CLAIM_JOB, {"claim_id": str(claim.id)}, dedupe_key=f"pay_claim:{claim.id}"
            )
            await uow.commit()
        return await self._reread(claim.id)

    async def _open_claim(self, uow: UnitOfWork, claim_id: UUID) -> Claim:
        claim = await uow.repos.claims.claim(claim_id, None, for_update=True)
        if claim is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, NO_CLAIM, "claimId")
        if claim.status is not ClaimStatus.FILED:
            raise DomainError.single(ErrorCode.CLAIM_NOT_OPEN, f"the claim was already {claim.status.value}", "claimId")
        return claim

    async def _reread(self, claim_id: UUID) -> Claim:
        async with self._db.read() as repos:
            claim = await repos.claims.claim(claim_id)
        assert claim is not None
        return claim

    async def _tell(self, uow: UnitOfWork, claim: Claim, kind: str, actor: Actor, amount: Money) -> None:
        """A claim's change in its parcel's history: the outbox turns it into the retailer's webhook."""
        subject = _Subject(claim.parcel_id, claim.job_id, claim.organization_id, claim.area_id)
        await uow.repos.parcel_events.append(
            [
                event(
                    subject,
                    actor,
                    self._clock.now(),
                    kind=kind,
                    reason_code=claim.kind.value,
                    details={"claim_id": str(claim.id)} | _money_details(amount),
                )
            ]
        )

    # --- claims: paid by the worker -----------------------------------------------------------------

    async def pay_claim(self, claim_id: UUID) -> Claim | None:
        """Refunds the retailer, reverses the at-fault courier's transfer, marks the claim paid; each step
        "call Stripe, then record", each safe to run again."""
        claim = await self._reread(claim_id)
        if claim.status is not ClaimStatus.UPHELD:
            return claim
        if claim.refunded_minor is None:
            await self._refund_claim(claim)
            claim = await self._reread(claim_id)
        if claim.charged_to_courier_minor > 0 and claim.held_deducted_minor is None:
            await self._charge_held_pay(claim)
            claim = await self._reread(claim_id)
        if claim.reversal_minor > 0 and claim.reversal_id is None and claim.reversal_error is None:
            await self._reverse_for_claim(claim)
        async with self._db.uow() as uow:
            claim = await uow.repos.claims.claim(claim_id, None, for_update=True) or claim
            if await uow.repos.claims.set_claim_paid(claim_id, self._clock.now()):
                await self._tell(uow, claim, "claim_paid", SYSTEM, claim.upheld or claim.claimed)
            await uow.commit()
        return await self._reread(claim_id)

    async def _refund_claim(self, claim: Claim) -> None:
        assert claim.upheld is not None
        async with self._db.uow() as uow:  # reserve what the card can still take back (once per claim)
            refund = await uow.repos.claims.refund_of_claim(claim.id)
            if refund is None:
                payment = await uow.repos.claims.refundable(claim.job_id, for_update=True)
                assert payment is not None
                left = min(claim.upheld.amount_minor, payment.captured_minor - payment.refunded_minor)
                if left > 0:
                    refund = Refund.pending(
                        id=uuid4(),
                        payment_id=payment.payment_id,
                        job_id=claim.job_id,
                        area_id=claim.area_id,
                        organization_id=claim.organization_id,
                        claim_id=claim.id,
                        amount=Money(left, claim.upheld.currency),
                        reason=RefundReason.CLAIM,
                        note=None,
                        created_at=self._clock.now(),
                    )
                    await uow.repos.claims.add_refund(refund, None)
            await uow.commit()
        stripe_id: str | None = None if refund is None else refund.refund_id
        if refund is not None and stripe_id is None:
            async with self._db.read() as repos:
                payment_row = await repos.payments.payment_of_job(claim.job_id)
            assert payment_row is not None
            assert payment_row.payment_intent_id is not None
            stripe_id = await self.gateway.refund(
                payment_intent_id=payment_row.payment_intent_id,
                amount_minor=refund.amount.amount_minor,
                reason=None,
                metadata={"refund": str(refund.id), "claim_id": str(claim.id), "reason": RefundReason.CLAIM.value},
                idempotency_key=refund_key(refund.id),
            )
        async with self._db.uow() as uow:
            now = self._clock.now()
            if await uow.repos.claims.set_claim_refunded(
                claim.id, stripe_id, 0 if refund is None else refund.amount.amount_minor, now
            ):
                if refund is not None and stripe_id is not None:
                    await uow.repos.claims.set_refund_succeeded(refund.id, stripe_id, now)
                cur = claim.upheld.currency
                charged = claim.charged_to_courier_minor
                await self._ledger.post(
                    uow,
                    ledger.claim_upheld(
                        source_id=stripe_id or f"claim:{claim.id}",
                        area_id=claim.area_id,
                        organization_id=claim.organization_id,
                        amount=claim.upheld,
                        courier_id=claim.courier_id if charged > 0 else None,
                        charged_to_courier=Money(charged, cur) if charged > 0 else None,
                        refunded=Money(0 if refund is None else refund.amount.amount_minor, cur),
                        at=now,
                        description=f"claim {claim.id} ({claim.kind.value}) on parcel {claim.parcel_id}",
                    ),
                )
            await uow.commit()

    async def _charge_held_pay(self, claim: Claim) -> None:
        """Takes the courier's charge out of its pay still held for the job (no Stripe call: the held transfer
        later pays less, or nothing and its hold closes); the rest is left to the reversal. Under the hold's
        row lock, which the held transfer's start takes too, so the two never both count the same cents.
        While the courier's money is moving (a transfer in flight) it raises and the worker retries."""
        assert claim.courier_id is not None
        async with self._db.uow() as uow:
            hold = await uow.repos.payments.hold(claim.payment_id, claim.courier_id, for_update=True)
            transferred = await uow.repos.claims.transferred_to(claim.payment_id, claim.courier_id) is not None
            split = split_charge(claim.charged_to_courier_minor, hold=hold, transferred=transferred)
            if split is None:
                raise GatewayError(f"claim {claim.id}: the courier's transfer for the job is in flight; retried")
            now = self._clock.now()
            if await uow.repos.claims.set_held_deducted(claim.id, split.from_held_minor, now) and split.from_held_minor:
                await uow.repos.payments.deduct_held(claim.payment_id, claim.courier_id, split.from_held_minor, now)
                log.info(
                    "claim charged to held pay",
                    claim_id=str(claim.id),
                    courier_id=str(claim.courier_id),
                    amount=split.from_held_minor,
                )
            await uow.commit()

    async def _reverse_for_claim(self, claim: Claim) -> None:
        assert claim.courier_id is not None
        async with self._db.read() as repos:
            transfer = await repos.claims.transferred_to(claim.payment_id, claim.courier_id)
        reversal_id: str | None = None
        error: str | None = None
        if transfer is None:
            error = "no_transfer"
        else:
            try:
                reversal_id = await self.gateway.reverse_transfer(
                    transfer_id=transfer[0],
                    amount_minor=claim.reversal_minor,
                    metadata={"claim_id": str(claim.id), "courier_id": str(claim.courier_id)},
                    idempotency_key=reversal_key(claim.id),
                )
            except RequestRefusedError as exc:  # the courier's balance cannot cover it: recovery stays open
                error = exc.code or "refused"
                log.warning("transfer reversal refused", claim_id=str(claim.id), code=exc.code)
        async with self._db.uow() as uow:
            now = self._clock.now()
            if await uow.repos.claims.set_claim_reversed(claim.id, reversal_id, error, now) and reversal_id:
                await self._ledger.post(
                    uow,
                    ledger.transfer_reversal(
                        source_id=reversal_id,
                        area_id=claim.area_id,
                        courier_id=claim.courier_id,
                        amount=Money(claim.reversal_minor, claim.claimed.currency),
                        at=now,
                        description=f"claim {claim.id}: transfer {transfer[0] if transfer else ''} reversed",
                    ),
                )
            await uow.commit()
