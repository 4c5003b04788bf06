"""The delivery lifecycle in GraphQL: the courier's steps with proof, operations' locker and PIN
mutations, cancellation by the retailer, and reading one parcel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import strawberry

from marketplace.domain import proof as proof_rules
from marketplace.domain import settlement
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.geo import Point
from marketplace.services.delivery import ParcelView
from schema.access import allow, mutation, query
from schema.common import IDEMPOTENCY_KEY, GeoPointInput, Money, not_found
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.jobs import JOB_READERS, RETAILERS, Job, Parcel
from schema.parcel_history import FailureReason, IdCheckResult, IdDocumentKind
from schema.types import decode_id

COURIERS = allow(DomainRole.COURIER)
ADMINS = allow(DomainRole.ADMIN)


def _parcel_id(value: str) -> UUID:
    return decode_id(value, "Parcel", field="parcelId")


def _point(value: GeoPointInput | None) -> Point | None:
    return None if value is None else value.to_domain()


def _parcel(found: ParcelView, viewer: UUID | None) -> Parcel:
    parcel = next(p for p in found.view.job.parcels if p.id == found.parcel_id)
    return Parcel.from_view(parcel, found.view, viewer)


# --- inputs ---------------------------------------------------------------------------------------


@strawberry.input(description="A step with nothing to prove but where it happened.")
class DeliveryStepInput:
    parcel_id: strawberry.ID
    position: GeoPointInput | None = None
    idempotency_key: str | None = None


@strawberry.input
class ConfirmPickupInput:
    parcel_id: strawberry.ID
    label_code: str = strawberry.field(description="The code on the parcel's label.")
    position: GeoPointInput | None = None
    idempotency_key: str | None = None


@strawberry.input(description="Document kind and result only: never a number or an image.")
class IdCheckInput:
    document_kind: IdDocumentKind  # type: ignore[valid-type]
    result: IdCheckResult  # type: ignore[valid-type]


@strawberry.input(
    description="Proof of hand-over: the recipient's PIN, and optionally a photo, a signature, an ID check."
)
class HandoverProofInput:
    pin: str
    photo_hash: str | None = strawberry.field(default=None, description="From POST /uploads/photos.")
    signature: list[list[list[float]]] | None = strawberry.field(
        default=None, description="Strokes of [x, y] points, each 0 to 1 of the pad."
    )
    id_check: IdCheckInput | None = strawberry.field(default=None, description="Required for ID-check and 18+ parcels.")

    def to_domain(self) -> proof_rules.HandoverProof:
        signature = None
        if self.signature is not None:
            signature = tuple(tuple((p[0], p[1]) if len(p) == 2 else (-1.0, -1.0) for p in s) for s in self.signature)
        return proof_rules.HandoverProof(
            pin=self.pin,
            photo_sha256=self.photo_hash,
            signature=signature,
            id_check=None
            if self.id_check is None
            else proof_rules.IdCheck(
                proof_rules.IdDocumentKind(self.id_check.document_kind),
                proof_rules.IdCheckResult(self.id_check.result),
            ),
        )


@strawberry.input
class DeliverParcelInput:
    parcel_id: strawberry.ID
    proof: HandoverProofInput
    position: GeoPointInput | None = None
    idempotency_key: str | None = None


@strawberry.input
class ReportFailedAttemptInput:
    parcel_id: strawberry.ID
    reason: FailureReason  # type: ignore[valid-type]
    position: GeoPointInput
    idempotency_key: str | None = None


@strawberry.input
class DeliverToSafePlaceInput:
    parcel_id: strawberry.ID
    photo_hash: str = strawberry.field(description="From POST /uploads/photos.")
    position: GeoPointInput
    idempotency_key: str | None = None


@strawberry.input
class RecordLockerCollectionInput:
    parcel_id: strawberry.ID
    pickup_code: str
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class ResetRecipientPinInput:
    parcel_id: strawberry.ID
    new_pin: bool = strawberry.field(default=False, description="Also replace the PIN; the new one is returned once.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="The job by its id or by your own order reference.")
class CancelJobInput:
    job_id: strawberry.ID | None = None
    reference: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CancelParcelInput:
    parcel_id: strawberry.ID
    idempotency_key: str | None = None


# --- payloads -------------------------------------------------------------------------------------


@strawberry.type
class DeliveryStepPayload:
    parcel: Parcel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResetRecipientPinPayload:
    parcel: Parcel | None = None
    pin: str | None = strawberry.field(default=None, description="The new PIN, shown this once.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CancellationPayload:
    job: Job | None = None
    fee: Money | None = strawberry.field(default=None, description="The job's cancellation fees so far, in total.")
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _step(info: Info, run: Callable[[], Awaitable[ParcelView]]) -> DeliveryStepPayload:
    try:
        found = await run()
    except DomainError as exc:
        return DeliveryStepPayload(errors=user_errors(exc))
    return DeliveryStepPayload(parcel=_parcel(found, (await info.context.principal()).user_id))


# --- operations -----------------------------------------------------------------------------------


@strawberry.type
class DeliveryQuery:
    @query(JOB_READERS, description="The booking organisation and operations; a courier only its own parcels.")
    async def parcel(self, info: Info, id: strawberry.ID) -> Parcel | None:
        parcel_id = decode_id(id, "Parcel")
        principal = await info.context.principal()
        found = None if parcel_id is None else await info.context.services.delivery.get_parcel(principal, parcel_id)
        if found is None:
            raise not_found("parcel")
        return _parcel(found, principal.user_id)


@strawberry.type
class DeliveryMutation:
    @mutation(COURIERS, description="assigned -> at_pickup.")
    async def arrive_at_pickup(self, info: Info, input: DeliveryStepInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.arrive_at_pickup(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="at_pickup -> picked_up, against the label code; the first pickup starts the trip.")
    async def confirm_pickup(self, info: Info, input: ConfirmPickupInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.confirm_pickup(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                label_code=input.label_code,
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="picked_up -> at_dropoff.")
    async def arrive_at_dropoff(self, info: Info, input: DeliveryStepInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.arrive_at_dropoff(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="at_dropoff -> delivered, against the recipient's PIN; five wrong PINs lock it.")
    async def deliver_parcel(self, info: Info, input: DeliverParcelInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.deliver_parcel(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                proof=input.proof.to_domain(),
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="at_dropoff -> failed_attempt, then the job's failure action (locker or return).")
    async def report_failed_attempt(self, info: Info, input: ReportFailedAttemptInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.report_failed_attempt(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                reason=settlement.FailureReason(input.reason),
                position=input.position.to_domain(),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="to_locker (or a locker drop-off at_dropoff) -> in_locker; gives a pickup code.")
    async def deposit_in_locker(self, info: Info, input: DeliveryStepInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.deposit_in_locker(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="failed_attempt -> delivered at the recipient's safe place, with a photo.")
    async def deliver_to_safe_place(self, info: Info, input: DeliverToSafePlaceInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.deliver_to_safe_place(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                photo_sha256=input.photo_hash,
                position=input.position.to_domain(),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(COURIERS, description="returning -> returned, at the pickup location.")
    async def confirm_return(self, info: Info, input: DeliveryStepInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.confirm_return(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                position=_point(input.position),
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(ADMINS, description="in_locker -> collected: the recipient opened the compartment with the pickup code.")
    async def record_locker_collection(self, info: Info, input: RecordLockerCollectionInput) -> DeliveryStepPayload:
        async def run() -> ParcelView:
            return await info.context.services.delivery.record_locker_collection(
                await info.context.principal(),
                parcel_id=_parcel_id(input.parcel_id),
                pickup_code=input.pickup_code,
                idempotency_key=input.idempotency_key,
            )

        return await _step(info, run)

    @mutation(ADMINS, description="Unlocks a PIN locked by wrong tries; `newPin` also replaces it.")
    async def reset_recipient_pin(self, info: Info, input: ResetRecipientPinInput) -> ResetRecipientPinPayload:
        principal = await info.context.principal()
        try:
            reset = await info.context.services.delivery.reset_pin(
                principal,
                parcel_id=_parcel_id(input.parcel_id),
                new_pin=input.new_pin,
                idempotency_key=input.idempotency_key,
            )
        except DomainError as exc:
            return ResetRecipientPinPayload(errors=user_errors(exc))
        return ResetRecipientPinPayload(parcel=_parcel(reset.view, principal.user_id), pin=reset.pin)

    @mutation(RETAILERS, description="Cancels every parcel of a job; the fee follows the cancellation table.")
    async def cancel_job(self, info: Info, input: CancelJobInput) -> CancellationPayload:
        principal = await info.context.principal()
        try:
            job_id = None
            if input.job_id is not None:
                job_id = decode_id(input.job_id, "Job")
                if job_id is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, "no such job", "jobId")
            done = await info.context.services.delivery.cancel(
                principal, job_id=job_id, reference=input.reference, idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return CancellationPayload(errors=user_errors(exc))
        return CancellationPayload(job=Job.from_view(done.view), fee=Money.from_domain(done.fee))

    @mutation(RETAILERS, description="Cancels one parcel; the fee follows the cancellation table.")
    async def cancel_parcel(self, info: Info, input: CancelParcelInput) -> CancellationPayload:
        principal = await info.context.principal()
        try:
            done = await info.context.services.delivery.cancel(
                principal, parcel_id=_parcel_id(input.parcel_id), idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return CancellationPayload(errors=user_errors(exc))
        return CancellationPayload(job=Job.from_view(done.view), fee=Money.from_domain(done.fee))
