"""Courier verification levels with their audit history, and insurance policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.couriers import (
    CourierStanding,
    DocumentKind,
    InsurancePolicy,
    LevelChange,
    LevelGrant,
    NewPolicy,
    NewVerificationRequest,
    PolicyStatus,
    VerificationDocument,
    VerificationRequest,
    VerificationStatus,
    check_policy,
    check_verification_request,
    level_at,
    level_history,
    level_valid_until,
)
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories import Repositories
from marketplace.services.idempotency import Idempotency


@dataclass(frozen=True, slots=True)
class CourierVerification:
    """A courier's level as of `as_of`, how long it lasts, and how it got there."""

    courier_id: UUID
    as_of: datetime
    level: int
    level_valid_until: datetime | None
    history: tuple[LevelChange, ...]
    requests: Mapping[UUID, VerificationRequest]  # every request the history names


@dataclass(frozen=True, slots=True)
class CheckedPolicy:
    """A policy with whether it protects parcels right now, so readers need no clock of their own."""

    policy: InsurancePolicy
    counts_now: bool


def _request_to_json(request: VerificationRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "courier_id": str(request.courier_id),
        "level": request.level,
        "status": request.status.value,
        "documents": [
            {
                "kind": d.kind.value,
                "issuing_country": d.issuing_country,
                "expires_at": d.expires_at.isoformat(),
                "number_last4": d.number_last4,
            }
            for d in request.documents
        ],
        "created_at": request.created_at.isoformat(),
    }


def _request_from_json(data: dict[str, Any]) -> VerificationRequest:
    return VerificationRequest(
        id=UUID(data["id"]),
        courier_id=UUID(data["courier_id"]),
        level=data["level"],
        status=VerificationStatus(data["status"]),
        documents=tuple(
            VerificationDocument(
                kind=DocumentKind(d["kind"]),
                issuing_country=d["issuing_country"],
                expires_at=datetime.fromisoformat(d["expires_at"]),
                number_last4=d["number_last4"],
            )
            for d in data["documents"]
        ),
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def _policy_to_json(policy: InsurancePolicy) -> dict[str, Any]:
    return {
        "id": str(policy.id),
        "courier_id": str(policy.courier_id),
        "insurer": policy.insurer,
        "policy_number": policy.policy_number,
        "cover_per_parcel_minor": policy.cover_per_parcel.amount_minor,
        "cover_per_trip_minor": policy.cover_per_trip.amount_minor,
        "currency": policy.cover_per_parcel.currency,
        "valid_from": policy.valid_from.isoformat(),
        "valid_until": policy.valid_until.isoformat(),
        "status": policy.status.value,
        "created_at": policy.created_at.isoformat(),
    }


def _policy_from_json(data: dict[str, Any]) -> InsurancePolicy:
    return InsurancePolicy(
        id=UUID(data["id"]),
        courier_id=UUID(data["courier_id"]),
        insurer=data["insurer"],
        policy_number=data["policy_number"],
        cover_per_parcel=Money(data["cover_per_parcel_minor"], data["currency"]),
        cover_per_trip=Money(data["cover_per_trip_minor"], data["currency"]),
        valid_from=datetime.fromisoformat(data["valid_from"]),
        valid_until=datetime.fromisoformat(data["valid_until"]),
        status=PolicyStatus(data["status"]),
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def _reason(raw: str | None, problems: list[FieldError], *, required: bool) -> str | None:
    reason = validation.optional_text(raw, "reason", problems, max_length=validation.LONG_TEXT)
    if reason is None and required:
        problems.append(FieldError(ErrorCode.REQUIRED, "give the courier a reason", "reason"))
    return reason


NO_REQUEST = "no such verification request"
NO_POLICY = "no such insurance policy"
NO_COURIER = "no such courier"


class CourierService:
    def __init__(self, db: Database, clock: Clock, idempotency: Idempotency) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency

    # --- verification: the courier's side ----------------------------------------------------

    async def submit_verification(
        self, principal: Principal, new: NewVerificationRequest, *, idempotency_key: str | None = None
    ) -> VerificationRequest:
        """One pending request per courier; documents are references only (kind, country, expiry, last 4)."""
        courier_id = Scope(principal).courier()
        checked, problems = check_verification_request(new.level, new.documents, self._clock.now())
        async with self._db.uow() as uow:

            async def submit() -> VerificationRequest:
                # Checked inside the action: a retry after a document expired still gets its first answer.
                if problems:
                    raise DomainError(problems)
                request = VerificationRequest(
                    id=uuid4(),
                    courier_id=courier_id,
                    level=new.level,
                    status=VerificationStatus.PENDING,
                    documents=checked,
                    created_at=self._clock.now(),
                )
                if not await uow.repos.couriers.add_request(request):
                    raise DomainError.single(
                        ErrorCode.VERIFICATION_PENDING, "a verification request is already waiting for a decision"
                    )
                return request

            request = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="submitVerification",
                key=idempotency_key,
                request=new,
                action=submit,
                dump=_request_to_json,
                load=_request_from_json,
            )
            await uow.commit()
        return request

    # --- verification: operations' side -------------------------------------------------------

    async def approve_verification(
        self, principal: Principal, *, request_id: UUID, reason: str | None = None
    ) -> VerificationRequest:
        """Grants the requested level until the first of the request's documents expires."""
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean_reason = _reason(reason, problems, required=False)
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:
            request = await self._pending_request(uow.repos, request_id)
            now = self._clock.now()
            valid_until = request.documents_valid_until
            if valid_until <= now:
                raise DomainError.single(
                    ErrorCode.DOCUMENT_EXPIRED,
                    "a document of this request has expired since it was submitted; reject it instead",
                    "requestId",
                )
            decided = await uow.repos.couriers.decide_request(
                request_id, status=VerificationStatus.APPROVED, decided_at=now, decided_by=admin_id, reason=clean_reason
            )
            await uow.repos.couriers.add_grant(
                LevelGrant(
                    id=uuid4(),
                    courier_id=request.courier_id,
                    level=request.level,
                    request_id=request.id,
                    granted_at=now,
                    valid_until=valid_until,
                    granted_by=admin_id,
                )
            )
            await uow.commit()
        return decided

    async def reject_verification(self, principal: Principal, *, request_id: UUID, reason: str) -> VerificationRequest:
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean_reason = _reason(reason, problems, required=True)
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:
            await self._pending_request(uow.repos, request_id)
            decided = await uow.repos.couriers.decide_request(
                request_id,
                status=VerificationStatus.REJECTED,
                decided_at=self._clock.now(),
                decided_by=admin_id,
                reason=clean_reason,
            )
            await uow.commit()
        return decided

    async def _pending_request(self, repos: Repositories, request_id: UUID) -> VerificationRequest:
        """Locked, so two admins deciding at once cannot both succeed."""
        request = await repos.couriers.get_request(request_id, None, for_update=True)
        if request is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, NO_REQUEST, "requestId")
        if request.status is not VerificationStatus.PENDING:
            raise DomainError.single(
                ErrorCode.VERIFICATION_NOT_PENDING, f"the request was already {request.status.value}", "requestId"
            )
        return request

    async def revoke_verification(self, principal: Principal, *, courier_id: UUID, reason: str) -> CourierVerification:
        """Ends every grant the courier holds now; the level drops to 0 at this instant."""
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean_reason = _reason(reason, problems, required=True)
        if problems:
            raise DomainError(problems)
        assert clean_reason is not None
        async with self._db.uow() as uow:
            if not await self._is_courier(uow.repos, courier_id):
                raise DomainError.single(ErrorCode.NOT_FOUND, NO_COURIER, "courierId")
            now = self._clock.now()
            revoked = await uow.repos.couriers.revoke_grants(courier_id, at=now, by=admin_id, reason=clean_reason)
            if revoked == 0:
                raise DomainError.single(ErrorCode.NOT_VERIFIED, "the courier holds no level to revoke", "courierId")
            verification = await self._verification(uow.repos, courier_id, now)
            await uow.commit()
        return verification

    # --- verification: reads ------------------------------------------------------------------

    async def verification(self, principal: Principal, courier_id: UUID | None = None) -> CourierVerification | None:
        """None for another courier's id, exactly as for an id that names nobody."""
        visible = Scope(principal).courier_filter(courier_id)
        target = visible.owner
        if target is None or visible.nothing:
            return None
        async with self._db.read() as repos:
            if not await self._is_courier(repos, target):
                return None
            return await self._verification(repos, target, self._clock.now())

    async def _verification(self, repos: Repositories, courier_id: UUID, now: datetime) -> CourierVerification:
        grants = await repos.couriers.grants_of(courier_id)
        history = level_history(grants, now)
        requests = await repos.couriers.requests_by_id(sorted({c.request_id for c in history}))
        return CourierVerification(
            courier_id=courier_id,
            as_of=now,
            level=level_at(grants, now),
            level_valid_until=level_valid_until(grants, now),
            history=history,
            requests=requests,
        )

    @staticmethod
    async def _is_courier(repos: Repositories, user_id: UUID) -> bool:
        user = await repos.users.get(user_id)
        return user is not None and user.role is Role.COURIER

    async def verification_request(self, principal: Principal, request_id: UUID) -> VerificationRequest | None:
        async with self._db.read() as repos:
            return await repos.couriers.get_request(request_id, Scope(principal).courier_filter().owner)

    async def verification_requests(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        courier_id: UUID | None = None,
        status: VerificationStatus | None = None,
    ) -> Page[VerificationRequest]:
        """Oldest first; operations filtering on PENDING get the review queue."""
        visible = Scope(principal).courier_filter(courier_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            return await repos.couriers.list_requests(page, courier_id=visible.owner, status=status)

    # --- insurance ------------------------------------------------------------------------------

    async def register_insurance_policy(
        self, principal: Principal, new: NewPolicy, *, idempotency_key: str | None = None
    ) -> CheckedPolicy:
        """Covers are (amount_minor, currency). The policy counts only once operations verified it."""
        courier_id = Scope(principal).courier()
        terms, problems = check_policy(
            insurer=new.insurer,
            policy_number=new.policy_number,
            cover_per_parcel=new.cover_per_parcel,
            cover_per_trip=new.cover_per_trip,
            valid_from=new.valid_from,
            valid_until=new.valid_until,
            now=self._clock.now(),
        )
        async with self._db.uow() as uow:

            async def register() -> InsurancePolicy:
                if problems:
                    raise DomainError(problems)
                policy = InsurancePolicy(
                    id=uuid4(),
                    courier_id=courier_id,
                    insurer=terms.insurer,
                    policy_number=terms.policy_number,
                    cover_per_parcel=Money(terms.cover_per_parcel_minor, terms.currency),
                    cover_per_trip=Money(terms.cover_per_trip_minor, terms.currency),
                    valid_from=terms.valid_from,
                    valid_until=terms.valid_until,
                    status=PolicyStatus.PENDING,
                    created_at=self._clock.now(),
                )
                if not await uow.repos.couriers.add_policy(policy):
                    raise DomainError.single(
                        ErrorCode.DUPLICATE_POLICY, "this policy of this insurer is already registered", "policyNumber"
                    )
                return policy

            policy = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="registerInsurancePolicy",
                key=idempotency_key,
                request=new,
                action=register,
                dump=_policy_to_json,
                load=_policy_from_json,
            )
            await uow.commit()
        return self._checked(policy)

    async def verify_insurance_policy(self, principal: Principal, *, policy_id: UUID) -> CheckedPolicy:
        return await self._decide_policy(principal, policy_id, PolicyStatus.VERIFIED, None)

    async def reject_insurance_policy(self, principal: Principal, *, policy_id: UUID, reason: str) -> CheckedPolicy:
        return await self._decide_policy(principal, policy_id, PolicyStatus.REJECTED, reason)

    async def _decide_policy(
        self, principal: Principal, policy_id: UUID, status: PolicyStatus, reason: str | None
    ) -> CheckedPolicy:
        admin_id = Scope(principal).admin()
        problems: list[FieldError] = []
        clean_reason = _reason(reason, problems, required=status is PolicyStatus.REJECTED)
        if problems:
            raise DomainError(problems)
        async with self._db.uow() as uow:
            policy = await uow.repos.couriers.get_policy(policy_id, None, for_update=True)
            if policy is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, NO_POLICY, "policyId")
            if policy.status is not PolicyStatus.PENDING:
                raise DomainError.single(
                    ErrorCode.POLICY_NOT_PENDING, f"the policy was already {policy.status.value}", "policyId"
                )
            decided = await uow.repos.couriers.decide_policy(
                policy_id, status=status, decided_at=self._clock.now(), decided_by=admin_id, reason=clean_reason
            )
            await uow.commit()
        return self._checked(decided)

    async def insurance_policy(self, principal: Principal, policy_id: UUID) -> CheckedPolicy | None:
        async with self._db.read() as repos:
            policy = await repos.couriers.get_policy(policy_id, Scope(principal).courier_filter().owner)
        return None if policy is None else self._checked(policy)

    async def insurance_policies(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        courier_id: UUID | None = None,
        status: PolicyStatus | None = None,
    ) -> Page[CheckedPolicy]:
        visible = Scope(principal).courier_filter(courier_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            found = await repos.couriers.list_policies(page, courier_id=visible.owner, status=status)
        now = self._clock.now()
        return Page(items=tuple(CheckedPolicy(p, p.counts_at(now)) for p in found.items), has_next=found.has_next)

    def _checked(self, policy: InsurancePolicy) -> CheckedPolicy:
        return CheckedPolicy(policy, policy.counts_at(self._clock.now()))

    # --- for the matching bridge --------------------------------------------------------------

    async def standings(self, courier_ids: Sequence[UUID], at: datetime) -> dict[UUID, CourierStanding]:
        """Every id asked for is in the result (level 0 and no policies when nothing counts at `at`)."""
        async with self._db.read() as repos:
            return await repos.couriers.standings(courier_ids, at)
