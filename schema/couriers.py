"""Courier verification and insurance in GraphQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

from marketplace.domain import couriers as domain
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from marketplace.services import couriers as service
from marketplace.services.couriers import CheckedPolicy
from schema.access import allow, mutation, query
from schema.common import Money, MoneyInput, not_found, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import Connection, User, decode_id, global_id

COURIERS_AND_OPERATIONS = allow(DomainRole.COURIER, DomainRole.ADMIN)
COURIERS = allow(DomainRole.COURIER)
OPERATIONS = allow(DomainRole.ADMIN)

DocumentKind = strawberry.enum(
    domain.DocumentKind,
    name="DocumentKind",
    description="PASSPORT, NATIONAL_ID, DRIVING_LICENCE and RESIDENCE_PERMIT prove identity; "
    "BACKGROUND_CHECK is a certificate of conduct.",
)
VerificationStatus = strawberry.enum(domain.VerificationStatus, name="VerificationStatus")
PolicyStatus = strawberry.enum(domain.PolicyStatus, name="InsurancePolicyStatus")
LevelChangeCause = strawberry.enum(domain.LevelChangeCause, name="LevelChangeCause")


async def _user(info: Info, user_id: UUID | None) -> User | None:
    if user_id is None:
        return None
    user = await info.context.loaders.users.load(user_id)
    return None if user is None else User.from_domain(user)


async def _staff(info: Info, user_id: UUID | None) -> User | None:
    if not domain.sees_decider((await info.context.principal()).role):
        return None
    return await _user(info, user_id)


# --- types ---------------------------------------------------------------------------------------


@strawberry.type(description="A reference to a document the courier showed; no image or full number is kept.")
class VerificationDocument:
    kind: DocumentKind  # type: ignore[valid-type]
    issuing_country: str
    expires_at: datetime
    number_last4: str


@strawberry.type(description="A courier's request for a verification level, and operations' decision on it.")
class VerificationRequest:
    id: strawberry.ID
    level: int
    status: VerificationStatus  # type: ignore[valid-type]
    documents: list[VerificationDocument]
    valid_until: datetime = strawberry.field(
        description="When an approval of this request would lapse: the first of its documents to expire."
    )
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    courier_id: strawberry.Private[UUID]
    decided_by_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        return await _user(info, self.courier_id)

    @strawberry.field
    async def decided_by(self, info: Info) -> User | None:
        return await _staff(info, self.decided_by_id)

    @classmethod
    def from_domain(cls, request: domain.VerificationRequest) -> VerificationRequest:
        return cls(
            id=global_id("VerificationRequest", request.id),
            level=request.level,
            status=request.status,
            documents=[
                VerificationDocument(
                    kind=d.kind, issuing_country=d.issuing_country, expires_at=d.expires_at, number_last4=d.number_last4
                )
                for d in request.documents
            ],
            valid_until=request.documents_valid_until,
            created_at=request.created_at,
            decided_at=request.decided_at,
            reason=request.reason,
            courier_id=request.courier_id,
            decided_by_id=request.decided_by,
        )


@strawberry.type(
    description="One change of a courier's level: approved or revoked by `actor` (an operations user), "
    "or lapsed because a document expired (no actor)."
)
class LevelChange:
    at: datetime
    from_level: int
    to_level: int
    cause: LevelChangeCause  # type: ignore[valid-type]
    reason: str | None
    request: VerificationRequest | None
    actor_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        return await _staff(info, self.actor_id)


@strawberry.type(description="A courier's verification level now, until when it holds, and its history.")
class CourierVerification:
    level: int = strawberry.field(description="0 unverified, 1 identity checked, 2 background checked.")
    level_valid_until: datetime | None = strawberry.field(
        description="When the current level lapses unless renewed; null at level 0."
    )
    history: list[LevelChange] = strawberry.field(description="Oldest first, up to now.")
    courier_id: strawberry.Private[UUID]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        return await _user(info, self.courier_id)

    @classmethod
    def from_service(cls, verification: service.CourierVerification) -> CourierVerification:
        requests = {k: VerificationRequest.from_domain(v) for k, v in verification.requests.items()}
        return cls(
            level=verification.level,
            level_valid_until=verification.level_valid_until,
            history=[
                LevelChange(
                    at=c.at,
                    from_level=c.from_level,
                    to_level=c.to_level,
                    cause=c.cause,
                    reason=c.reason,
                    request=requests.get(c.request_id),
                    actor_id=c.actor,
                )
                for c in verification.history
            ],
            courier_id=verification.courier_id,
        )


@strawberry.type(description="A courier's liability insurance; only verified policies inside their validity count.")
class InsurancePolicy:
    id: strawberry.ID
    insurer: str
    policy_number: str
    cover_per_parcel: Money
    cover_per_trip: Money
    valid_from: datetime
    valid_until: datetime
    status: PolicyStatus  # type: ignore[valid-type]
    counts_now: bool = strawberry.field(description="Verified, and now is within [validFrom, validUntil).")
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    courier_id: strawberry.Private[UUID]
    decided_by_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def courier(self, info: Info) -> User | None:
        return await _user(info, self.courier_id)

    @strawberry.field
    async def decided_by(self, info: Info) -> User | None:
        return await _staff(info, self.decided_by_id)

    @classmethod
    def from_service(cls, checked: CheckedPolicy) -> InsurancePolicy:
        policy = checked.policy
        return cls(
            id=global_id("InsurancePolicy", policy.id),
            insurer=policy.insurer,
            policy_number=policy.policy_number,
            cover_per_parcel=Money.from_domain(policy.cover_per_parcel),
            cover_per_trip=Money.from_domain(policy.cover_per_trip),
            valid_from=policy.valid_from,
            valid_until=policy.valid_until,
            status=policy.status,
            counts_now=checked.counts_now,
            created_at=policy.created_at,
            decided_at=policy.decided_at,
            reason=policy.reason,
            courier_id=policy.courier_id,
            decided_by_id=policy.decided_by,
        )


def _request_position(request: domain.VerificationRequest) -> Position:
    return Position(created_at=request.created_at, id=request.id)


def _policy_position(checked: CheckedPolicy) -> Position:
    return Position(created_at=checked.policy.created_at, id=checked.policy.id)


# --- inputs and payloads ---------------------------------------------------------------------------


@strawberry.input(description="A document reference: no image and never the full number, only its last 4 characters.")
class VerificationDocumentInput:
    kind: DocumentKind  # type: ignore[valid-type]
    issuing_country: str = strawberry.field(description="ISO 3166 alpha-2 code of the issuing country.")
    expires_at: datetime = strawberry.field(description="Must be in the future; the level lapses at this instant.")
    number_last4: str = strawberry.field(description="The last 4 letters or digits of the document number.")


@strawberry.input
class SubmitVerificationInput:
    level: int = strawberry.field(description="1 (identity) or 2 (identity and background check).")
    documents: list[VerificationDocumentInput] = strawberry.field(description="1 to 5 documents.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first result comes back and nothing is created twice."
    )

    def to_domain(self) -> domain.NewVerificationRequest:
        return domain.NewVerificationRequest(
            level=self.level,
            documents=tuple(
                domain.DocumentClaim(
                    kind=d.kind, issuing_country=d.issuing_country, expires_at=d.expires_at, number_last4=d.number_last4
                )
                for d in self.documents
            ),
        )


@strawberry.input
class ApproveVerificationInput:
    request_id: strawberry.ID
    reason: str | None = None


@strawberry.input
class RejectVerificationInput:
    request_id: strawberry.ID
    reason: str = strawberry.field(description="Shown to the courier.")


@strawberry.input
class RevokeVerificationInput:
    courier_id: strawberry.ID
    reason: str


@strawberry.type
class VerificationRequestPayload:
    request: VerificationRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeVerificationPayload:
    verification: CourierVerification | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RegisterInsurancePolicyInput:
    insurer: str
    policy_number: str
    cover_per_parcel: MoneyInput
    cover_per_trip: MoneyInput = strawberry.field(description="At least the cover per parcel, in the same currency.")
    valid_from: datetime
    valid_until: datetime = strawberry.field(description="Exclusive: the policy stops counting at this instant.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first result comes back and nothing is created twice."
    )

    def to_domain(self) -> domain.NewPolicy:
        return domain.NewPolicy(
            insurer=self.insurer,
            policy_number=self.policy_number,
            cover_per_parcel=(self.cover_per_parcel.amount_minor, self.cover_per_parcel.currency),
            cover_per_trip=(self.cover_per_trip.amount_minor, self.cover_per_trip.currency),
            valid_from=self.valid_from,
            valid_until=self.valid_until,
        )


@strawberry.input
class VerifyInsurancePolicyInput:
    policy_id: strawberry.ID


@strawberry.input
class RejectInsurancePolicyInput:
    policy_id: strawberry.ID
    reason: str = strawberry.field(description="Shown to the courier.")


@strawberry.type
class InsurancePolicyPayload:
    policy: InsurancePolicy | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- root fields -----------------------------------------------------------------------------------


@strawberry.type
class CourierQuery:
    @query(COURIERS_AND_OPERATIONS, description="A courier's level now, when it lapses, and how it changed.")
    async def verification(self, info: Info, courier_id: strawberry.ID | None = None) -> CourierVerification | None:
        """Couriers omit `courierId` (or pass their own); operations name the courier."""
        found = await info.context.services.couriers.verification(
            await info.context.principal(), decode_id(courier_id, "User", field="courierId", what="courier")
        )
        if found is None:
            raise not_found("courier")
        return CourierVerification.from_service(found)

    @query(COURIERS_AND_OPERATIONS)
    async def verification_request(self, info: Info, id: strawberry.ID) -> VerificationRequest | None:
        found = await info.context.services.couriers.verification_request(
            await info.context.principal(), decode_id(id, "VerificationRequest")
        )
        if found is None:
            raise not_found("verification request")
        return VerificationRequest.from_domain(found)

    @query(COURIERS_AND_OPERATIONS, description="Oldest first; operations filtering on PENDING see the review queue.")
    async def verification_requests(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: VerificationStatus | None = None,  # type: ignore[valid-type]
        courier_id: strawberry.ID | None = None,
    ) -> Connection[VerificationRequest]:
        page = await info.context.services.couriers.verification_requests(
            await info.context.principal(),
            page_or_error(first, after),
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
            status=status,
        )
        return Connection[VerificationRequest].from_page(
            page, VerificationRequest.from_domain, _request_position, has_previous=after is not None
        )

    @query(COURIERS_AND_OPERATIONS)
    async def insurance_policy(self, info: Info, id: strawberry.ID) -> InsurancePolicy | None:
        found = await info.context.services.couriers.insurance_policy(
            await info.context.principal(), decode_id(id, "InsurancePolicy")
        )
        if found is None:
            raise not_found("insurance policy")
        return InsurancePolicy.from_service(found)

    @query(COURIERS_AND_OPERATIONS, description="Oldest first; operations filtering on PENDING see the review queue.")
    async def insurance_policies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: PolicyStatus | None = None,  # type: ignore[valid-type]
        courier_id: strawberry.ID | None = None,
    ) -> Connection[InsurancePolicy]:
        page = await info.context.services.couriers.insurance_policies(
            await info.context.principal(),
            page_or_error(first, after),
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
            status=status,
        )
        return Connection[InsurancePolicy].from_page(
            page, InsurancePolicy.from_service, _policy_position, has_previous=after is not None
        )


@strawberry.type
class CourierMutation:
    @mutation(COURIERS)
    async def submit_verification(self, info: Info, input: SubmitVerificationInput) -> VerificationRequestPayload:
        try:
            request = await info.context.services.couriers.submit_verification(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return VerificationRequestPayload(errors=user_errors(exc))
        return VerificationRequestPayload(request=VerificationRequest.from_domain(request))

    @mutation(OPERATIONS)
    async def approve_verification(self, info: Info, input: ApproveVerificationInput) -> VerificationRequestPayload:
        try:
            request_id = decode_id(input.request_id, "VerificationRequest", field="requestId")
            request = await info.context.services.couriers.approve_verification(
                await info.context.principal(), request_id=request_id, reason=input.reason
            )
        except DomainError as exc:
            return VerificationRequestPayload(errors=user_errors(exc))
        return VerificationRequestPayload(request=VerificationRequest.from_domain(request))

    @mutation(OPERATIONS)
    async def reject_verification(self, info: Info, input: RejectVerificationInput) -> VerificationRequestPayload:
        try:
            request_id = decode_id(input.request_id, "VerificationRequest", field="requestId")
            request = await info.context.services.couriers.reject_verification(
                await info.context.principal(), request_id=request_id, reason=input.reason
            )
        except DomainError as exc:
            return VerificationRequestPayload(errors=user_errors(exc))
        return VerificationRequestPayload(request=VerificationRequest.from_domain(request))

    @mutation(OPERATIONS, description="Ends every level the courier holds, now.")
    async def revoke_verification(self, info: Info, input: RevokeVerificationInput) -> RevokeVerificationPayload:
        try:
            courier_id = decode_id(input.courier_id, "User", field="courierId", what="courier")
            verification = await info.context.services.couriers.revoke_verification(
                await info.context.principal(), courier_id=courier_id, reason=input.reason
            )
        except DomainError as exc:
            return RevokeVerificationPayload(errors=user_errors(exc))
        return RevokeVerificationPayload(verification=CourierVerification.from_service(verification))

    @mutation(COURIERS)
    async def register_insurance_policy(
        self, info: Info, input: RegisterInsurancePolicyInput
    ) -> InsurancePolicyPayload:
        try:
            policy = await info.context.services.couriers.register_insurance_policy(
                await info.context.principal(), input.to_domain(), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return InsurancePolicyPayload(errors=user_errors(exc))
        return InsurancePolicyPayload(policy=InsurancePolicy.from_service(policy))

    @mutation(OPERATIONS)
    async def verify_insurance_policy(self, info: Info, input: VerifyInsurancePolicyInput) -> InsurancePolicyPayload:
        try:
            policy_id = decode_id(input.policy_id, "InsurancePolicy", field="policyId")
            policy = await info.context.services.couriers.verify_insurance_policy(
                await info.context.principal(), policy_id=policy_id
            )
        except DomainError as exc:
            return InsurancePolicyPayload(errors=user_errors(exc))
        return InsurancePolicyPayload(policy=InsurancePolicy.from_service(policy))

    @mutation(OPERATIONS)
    async def reject_insurance_policy(self, info: Info, input: RejectInsurancePolicyInput) -> InsurancePolicyPayload:
        try:
            policy_id = decode_id(input.policy_id, "InsurancePolicy", field="policyId")
            policy = await info.context.services.couriers.reject_insurance_policy(
                await info.context.principal(), policy_id=policy_id, reason=input.reason
            )
        except DomainError as exc:
            return InsurancePolicyPayload(errors=user_errors(exc))
        return InsurancePolicyPayload(policy=InsurancePolicy.from_service(policy))
