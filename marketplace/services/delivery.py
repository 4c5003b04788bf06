"""The delivery lifecycle after acceptance: the courier's steps with their proof, locker collection,
uncollected parcels going back, PIN resets, cancellation by the retailer, photos, and parcel histories.

Every step is one unit of work: the parcel row is locked, the step checked against the transition
table (INVALID_TRANSITION names the current state), its events appended, the job's status
recomputed and the trip moved on, all in the same transaction. Courier steps take idempotency keys,
so a retry moves nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from marketplace.blobs import BlobStore, UrlSigner
from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import proof as rules
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.delivery import (
    ARRIVING_SOON,
    SYSTEM,
    Actor,
    ActorKind,
    CancellationRequest,
    OperationsParcelRequest,
    ParcelEvent,
    ParcelStatus,
    StepRequest,
    transition,
)
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, point_problems
from marketplace.domain.jobs import DropoffKind, FailureAction, Job, JobView, view_for
from marketplace.domain.money import Money
from marketplace.domain.proof import HandoverProof
from marketplace.domain.settlement import (
    LOCKER_HOLD,
    FailureReason,
    ParcelState,
    cancellation_fee_minor,
    cancelled_status,
)
from marketplace.repositories import Repositories
from marketplace.services.dispatch_common import event, move, refresh_jobs, settle_trips, start_trip
from marketplace.services.idempotency import Idempotency
from marketplace.services.offers_release import withdraw_from_offers

S = ParcelStatus
UNCOLLECTED_BATCH = 500


async def _arriving_after(repos: Repositories, parcel: ParcelState, now: datetime) -> list[ParcelEvent]:
    """ "Arriving soon" for the trip's other parcels on board that have no live ETA (an app that sends
    no positions), now that the stop before theirs is done: events like the live path's, so webhooks,
    the history and the notification all follow from the one event writer."""
    told = await repos.tracking.mark_arriving_after_stop(parcel.id, now)
    details = {"after_parcel_id": str(parcel.id), "trip_id": str(parcel.assigned_trip_id)}
    return [event(p, SYSTEM, now, kind=ARRIVING_SOON, details=details) for p in told]


def _id_to_json(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_from_json(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


def _parcel_not_found(field: str = "parcelId") -> DomainError:
    return DomainError.single(ErrorCode.NOT_FOUND, "no such parcel", field)


def _position(position: Point | None, *, required: bool = False) -> Point | None:
    if position is None:
        if required:
            raise DomainError.single(ErrorCode.REQUIRED, "give the position where it happened", "position")
        return None
    problems = point_problems(position.lat, position.lng, "position")
    if problems:
        raise DomainError(problems)
    return position


@dataclass(frozen=True, slots=True)
class ParcelView:
    """A parcel with its job, as one caller may see them."""

    view: JobView
    parcel_id: UUID


@dataclass(frozen=True, slots=True)
class Cancellation:
    view: JobView
    fee: Money


@dataclass(frozen=True, slots=True)
class PinReset:
    view: ParcelView
    pin: str | None


class _WrongPinError(Exception):
    def __init__(self, parcel: ParcelState) -> None:
        self.parcel = parcel


Step = Callable[[Repositories, ParcelState, datetime, Actor], Awaitable[None]]


class DeliveryService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        idempotency: Idempotency,
        *,
        pin_key: bytes,
        blobs: BlobStore,
        signer: UrlSigner,
    ) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
        self._pin_key = pin_key
        self.blobs = blobs
        self.signer = signer

    # --- the courier's steps --------------------------------------------------------------------

    async def _courier_step(
        self,
        principal: Principal,
        *,
        operation: str,
        parcel_id: UUID,
        idempotency_key: str | None,
        position: Point | None,
        fields: dict[str, Any],
        step: Step,
    ) -> ParcelView:
        """Only the courier the parcel is assigned to; to anyone else it does not exist."""
        courier_id = Scope(principal).courier()
        actor = Actor(ActorKind.COURIER, courier_id)
        try:
            async with self._db.uow() as uow:
                repos = uow.repos

                async def act() -> UUID:
                    parcel = await repos.delivery.parcel(parcel_id, for_update=True)
                    if parcel is None or parcel.assigned_courier_id != courier_id:
                        raise _parcel_not_found()
                    now = self._clock.now()
                    await step(repos, parcel, now, actor)
                    await refresh_jobs(repos, [parcel.job_id], now)
                    return parcel.id

                await self._idempotency.run(
                    uow,
                    scope=principal.scope,
                    operation=operation,
                    key=idempotency_key,
                    request=StepRequest(operation, parcel_id, position, tuple(sorted(fields.items()))),
                    action=act,
                    dump=_id_to_json,
                    load=_id_from_json,
                )
                job = await self._job_of(repos, parcel_id)
                await uow.commit()
        except _WrongPinError as wrong:
            # The refused step wrote nothing (and kept its key unused); the count is its own transaction.
            raise await self._count_wrong_pin(wrong.parcel, actor) from None
        return self._view(job, parcel_id, principal)

    async def arrive_at_pickup(
        self, principal: Principal, *, parcel_id: UUID, position: Point | None, idempotency_key: str | None
    ) -> ParcelView:
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            await move(repos, parcel, S.AT_PICKUP, now, actor, position=at)

        return await self._courier_step(
            principal,
            operation="arriveAtPickup",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={},
            step=step,
        )

    async def confirm_pickup(
        self,
        principal: Principal,
        *,
        parcel_id: UUID,
        label_code: str,
        position: Point | None,
        idempotency_key: str | None,
    ) -> ParcelView:
        """The label code on the parcel proves the courier holds it; the first pickup starts the trip."""
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            change = transition(parcel.status, S.PICKED_UP, "parcelId")
            if not rules.label_matches(parcel.label_code, label_code):
                raise DomainError.single(
                    ErrorCode.WRONG_LABEL_CODE, "that is not this parcel's label code", "labelCode"
                )
            await repos.delivery.apply([(parcel.id, change)], now)
            await repos.parcel_events.append(
                [event(parcel, actor, now, change=change, position=at, details={"label_code_checked": True})]
            )
            await start_trip(repos, parcel.assigned_trip_id, now)

        return await self._courier_step(
            principal,
            operation="confirmPickup",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={"label_code": label_code},
            step=step,
        )

    async def arrive_at_dropoff(
        self, principal: Principal, *, parcel_id: UUID, position: Point | None, idempotency_key: str | None
    ) -> ParcelView:
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            await move(repos, parcel, S.AT_DROPOFF, now, actor, position=at)

        return await self._courier_step(
            principal,
            operation="arriveAtDropoff",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={},
            step=step,
        )

    async def _known_photo(self, repos: Repositories, sha256: str | None, field: str) -> None:
        if sha256 is not None and (
            not rules.is_content_hash(sha256) or await repos.delivery.photo_type(sha256) is None
        ):
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such photo; upload it first", field)

    async def deliver_parcel(
        self,
        principal: Principal,
        *,
        parcel_id: UUID,
        proof: HandoverProof,
        position: Point | None,
        idempotency_key: str | None,
    ) -> ParcelView:
        """Hand-over at the door against the recipient's PIN (and an ID / 18+ check where the job needs one)."""
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            change = transition(parcel.status, S.DELIVERED, "parcelId")
            if parcel.dropoff_kind is DropoffKind.LOCKER:
                raise DomainError.single(
                    ErrorCode.WRONG_FAILURE_ACTION, "this parcel goes into its locker (depositInLocker)", "parcelId"
                )
            rules.require(rules.handover_problems(proof, needs_id_check=parcel.needs_id_check))
            await self._known_photo(repos, proof.photo_sha256, "proof.photoHash")
            if parcel.pin_locked:
                raise DomainError.single(
                    ErrorCode.PIN_LOCKED,
                    "the PIN is locked after five wrong tries; operations can reset it",
                    "proof.pin",
                )
            assert proof.pin is not None
            if not rules.pin_matches(self._pin_key, parcel.id, parcel.pin_hash, proof.pin):
                raise _WrongPinError(parcel)
            await repos.delivery.apply([(parcel.id, change)], now)
            await repos.delivery.reset_pin(parcel.id, None)
            await repos.delivery.add_proof(uuid4(), parcel, "handover", proof, pin_verified=True, position=at, at=now)
            await repos.delivery.set_reservations([parcel.id], "released", now)  # a fallback compartment not used
            details: dict[str, Any] = {"pin_verified": True, "photo": proof.photo_sha256 is not None}
            details["signature"] = proof.signature is not None
            if proof.id_check is not None:
                details["id_check"] = {
                    "document_kind": proof.id_check.document_kind.value,
                    "result": proof.id_check.result.value,
                }
            handed = event(parcel, actor, now, change=change, position=at, details=details)
            await repos.parcel_events.append([handed, *await _arriving_after(repos, parcel, now)])
            await settle_trips(repos, [parcel.assigned_trip_id], now)

        return await self._courier_step(
            principal,
            operation="deliverParcel",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={
                "pin": None if proof.pin is None else rules.pin_hash(self._pin_key, parcel_id, proof.pin).hex(),
                "photo": proof.photo_sha256,
                "signature": proof.signature,
                "id_check": None if proof.id_check is None else [proof.id_check.document_kind, proof.id_check.result],
            },
            step=step,
        )

    async def _count_wrong_pin(self, parcel: ParcelState, actor: Actor) -> DomainError:
        async with self._db.uow() as uow:
            now = self._clock.now()
            failures, locked = await uow.repos.delivery.record_pin_failure(parcel.id, rules.PIN_MAX_FAILURES, now)
            if locked and failures == rules.PIN_MAX_FAILURES and not parcel.pin_locked:
                await uow.repos.parcel_events.append(
                    [event(parcel, actor, now, kind="pin_locked", reason_code="too_many_wrong_pins")]
                )
            await uow.commit()
        if locked:
            return DomainError.single(
                ErrorCode.PIN_LOCKED, "five wrong PINs: the PIN is locked until operations reset it", "proof.pin"
            )
        left = rules.PIN_MAX_FAILURES - failures
        return DomainError.single(ErrorCode.WRONG_PIN, f"wrong PIN; {left} tries left", "proof.pin")

    async def report_failed_attempt(
        self,
        principal: Principal,
        *,
        parcel_id: UUID,
        reason: FailureReason,
        position: Point | None,
        idempotency_key: str | None,
    ) -> ParcelView:
        """The hand-over failed; the job's failure action follows at once: to the locker, or back to the
        store. A safe-place job waits in failed_attempt for `deliverToSafePlace`."""
        at = _position(position, required=True)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            failed = transition(parcel.status, S.FAILED_ATTEMPT, "parcelId")
            events = [event(parcel, actor, now, change=failed, reason_code=reason.value, position=at)]
            changes = [(parcel.id, failed)]
            follow = {FailureAction.LOCKER: S.TO_LOCKER, FailureAction.RETURN_TO_PICKUP: S.RETURNING}
            target = follow.get(parcel.failure_action)
            if target is not None:
                then = transition(S.FAILED_ATTEMPT, target, "parcelId")
                changes.append((parcel.id, then))
                events.append(
                    event(parcel, actor, now, change=then, reason_code=parcel.failure_action.value, position=at)
                )
                if target is S.RETURNING:
                    await repos.delivery.set_reservations([parcel.id], "released", now)
            for change in changes:
                await repos.delivery.apply([change], now)
            await repos.parcel_events.append([*events, *await _arriving_after(repos, parcel, now)])

        return await self._courier_step(
            principal,
            operation="reportFailedAttempt",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={"reason": reason.value},
            step=step,
        )

    async def deposit_in_locker(
        self, principal: Principal, *, parcel_id: UUID, position: Point | None, idempotency_key: str | None
    ) -> ParcelView:
        """Into the compartment held since acceptance; the recipient gets a pickup code (via the retailer)."""
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            change = transition(parcel.status, S.IN_LOCKER, "parcelId")
            if parcel.status is S.AT_DROPOFF and parcel.dropoff_kind is not DropoffKind.LOCKER:
                raise DomainError.single(
                    ErrorCode.WRONG_FAILURE_ACTION, "this parcel goes to an address, not a locker", "parcelId"
                )
            held = await repos.delivery.reservation_of(parcel.id)
            if held is None:
                raise DomainError.single(ErrorCode.LOCKER_FULL, "no compartment is held for this parcel", "parcelId")
            locker_id, _ = held
            await repos.delivery.apply([(parcel.id, change)], now)
            await repos.delivery.set_reservations([parcel.id], "occupied", now)
            await repos.delivery.set_deposit(parcel.id, locker_id, rules.new_locker_code(), now)
            details = {"locker_id": str(locker_id)}
            deposited = event(parcel, actor, now, change=change, position=at, details=details)
            await repos.parcel_events.append([deposited, *await _arriving_after(repos, parcel, now)])
            await settle_trips(repos, [parcel.assigned_trip_id], now)

        return await self._courier_step(
            principal,
            operation="depositInLocker",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={},
            step=step,
        )

    async def deliver_to_safe_place(
        self,
        principal: Principal,
        *,
        parcel_id: UUID,
        photo_sha256: str | None,
        position: Point | None,
        idempotency_key: str | None,
    ) -> ParcelView:
        """After a failed attempt, where the job's failure action is the recipient's safe place: with a photo."""
        at = _position(position, required=True)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            change = transition(parcel.status, S.DELIVERED, "parcelId")
            if parcel.status is not S.FAILED_ATTEMPT or parcel.failure_action is not FailureAction.SAFE_PLACE:
                raise DomainError.single(
                    ErrorCode.WRONG_FAILURE_ACTION, "this job does not allow leaving it at a safe place", "parcelId"
                )
            if photo_sha256 is None:
                raise DomainError.single(ErrorCode.PHOTO_REQUIRED, "a safe-place delivery needs a photo", "photoHash")
            await self._known_photo(repos, photo_sha256, "photoHash")
            left = HandoverProof(photo_sha256=photo_sha256)
            await repos.delivery.apply([(parcel.id, change)], now)
            await repos.delivery.add_proof(uuid4(), parcel, "safe_place", left, pin_verified=False, position=at, at=now)
            await repos.delivery.set_reservations([parcel.id], "released", now)
            left_at = event(
                parcel, actor, now, change=change, reason_code="safe_place", position=at, details={"photo": True}
            )
            await repos.parcel_events.append([left_at, *await _arriving_after(repos, parcel, now)])
            await settle_trips(repos, [parcel.assigned_trip_id], now)

        return await self._courier_step(
            principal,
            operation="deliverToSafePlace",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={"photo": photo_sha256},
            step=step,
        )

    async def confirm_return(
        self, principal: Principal, *, parcel_id: UUID, position: Point | None, idempotency_key: str | None
    ) -> ParcelView:
        at = _position(position)

        async def step(repos: Repositories, parcel: ParcelState, now: datetime, actor: Actor) -> None:
            change = transition(parcel.status, S.RETURNED, "parcelId")
            await repos.delivery.apply([(parcel.id, change)], now)
            await repos.delivery.set_reservations([parcel.id], "released", now)
            await repos.parcel_events.append([event(parcel, actor, now, change=change, position=at)])
            await settle_trips(repos, [parcel.assigned_trip_id], now)

        return await self._courier_step(
            principal,
            operation="confirmReturn",
            parcel_id=parcel_id,
            idempotency_key=idempotency_key,
            position=at,
            fields={},
            step=step,
        )

    # --- lockers after the deposit --------------------------------------------------------------

    async def record_locker_collection(
        self, principal: Principal, *, parcel_id: UUID, pickup_code: str, idempotency_key: str | None = None
    ) -> ParcelView:
        """Operations record that the recipient opened the compartment with the pickup code."""
        actor = Actor(ActorKind.ADMIN, Scope(principal).admin())
        async with self._db.uow() as uow:
            repos = uow.repos

            async def act() -> UUID:
                parcel = await repos.delivery.parcel(parcel_id, for_update=True)
                if parcel is None:
                    raise _parcel_not_found()
                now = self._clock.now()
                change = transition(parcel.status, S.COLLECTED, "parcelId")
                if parcel.locker_pickup_code is None or parcel.locker_pickup_code != pickup_code.strip():
                    raise DomainError.single(ErrorCode.WRONG_PICKUP_CODE, "that is not the pickup code", "pickupCode")
                await repos.delivery.apply([(parcel.id, change)], now)
                await repos.delivery.set_reservations([parcel.id], "released", now)
                await repos.parcel_events.append([event(parcel, actor, now, change=change, reason_code="pickup_code")])
                await refresh_jobs(repos, [parcel.job_id], now)
                return parcel.id

            await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="recordLockerCollection",
                key=idempotency_key,
                request=OperationsParcelRequest("recordLockerCollection", parcel_id, pickup_code, False),
                action=act,
                dump=_id_to_json,
                load=_id_from_json,
            )
            job = await self._job_of(repos, parcel_id)
            await uow.commit()
        return self._view(job, parcel_id, principal)

    async def return_uncollected(self, now: datetime | None = None) -> int:
        """For the worker (or cron): parcels left in a locker longer than LOCKER_HOLD go back (returned).

        Batches of UNCOLLECTED_BATCH, each its own transaction, with SKIP LOCKED so two sweeps share the work.
        """
        moved = 0
        while True:
            async with self._db.uow() as uow:
                repos = uow.repos
                at = now or self._clock.now()
                ids = await repos.delivery.uncollected(at - LOCKER_HOLD, UNCOLLECTED_BATCH)
                if not ids:
                    return moved
                parcels = await repos.delivery.parcels(ids)
                changes = [(p.id, transition(p.status, S.RETURNED)) for p in parcels]
                await repos.delivery.apply(changes, at)
                await repos.delivery.set_reservations(ids, "released", at)
                await repos.parcel_events.append(
                    [
                        event(p, SYSTEM, at, change=c, reason_code="not_collected_in_time")
                        for p, (_, c) in zip(parcels, changes, strict=True)
                    ]
                )
                await refresh_jobs(repos, [p.job_id for p in parcels], at)
                await uow.commit()
                moved += len(ids)

    # --- PINs -----------------------------------------------------------------------------------

    async def reset_pin(
        self, principal: Principal, *, parcel_id: UUID, new_pin: bool, idempotency_key: str | None = None
    ) -> PinReset:
        """Operations unlock a locked PIN; with `new_pin`, a fresh one replaces it.

        The new PIN is shown once, in this answer: it is stored hashed, so a retry with the same key
        replaces nothing again and answers without it.
        """
        actor = Actor(ActorKind.ADMIN, Scope(principal).admin())
        issued: list[str] = []
        async with self._db.uow() as uow:
            repos = uow.repos

            async def act() -> UUID:
                parcel = await repos.delivery.parcel(parcel_id, for_update=True)
                if parcel is None:
                    raise _parcel_not_found()
                now = self._clock.now()
                pin = rules.new_pin() if new_pin else None
                await repos.delivery.reset_pin(
                    parcel.id, None if pin is None else rules.pin_hash(self._pin_key, parcel.id, pin)
                )
                kind = "pin_replaced" if pin is not None else "pin_unlocked"
                await repos.parcel_events.append([event(parcel, actor, now, kind=kind)])
                issued.extend([] if pin is None else [pin])
                return parcel.id

            await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="resetRecipientPin",
                key=idempotency_key,
                request=OperationsParcelRequest("resetRecipientPin", parcel_id, None, new_pin),
                action=act,
                dump=_id_to_json,
                load=_id_from_json,
            )
            job = await self._job_of(repos, parcel_id)
            await uow.commit()
        return PinReset(view=self._view(job, parcel_id, principal), pin=issued[0] if issued else None)

    # --- cancellation ---------------------------------------------------------------------------

    async def cancel(
        self,
        principal: Principal,
        *,
        job_id: UUID | None = None,
        reference: str | None = None,
        parcel_id: UUID | None = None,
        idempotency_key: str | None,
    ) -> Cancellation:
        """A retailer cancels a job (by id or its own reference) or one parcel; the fee follows the table.

        All or nothing: one parcel past cancelling refuses the whole request (NOT_CANCELLABLE). An open
        or accepted offer loses the cancelled parcels, is withdrawn when none are left, and the courier
        is told through the parcels' history; a parcel already picked up goes back to the store.
        """
        organization_id = Scope(principal).organization()
        actor = Actor(ActorKind.RETAILER, principal.user_id)
        reference = None if reference is None else " ".join(reference.split())
        async with self._db.uow() as uow:
            repos = uow.repos

            async def act() -> UUID:
                found_job = await self._job_to_cancel(repos, organization_id, job_id, reference, parcel_id)
                now = self._clock.now()
                wanted = [p.id for p in found_job.parcels if parcel_id is None or p.id == parcel_id]
                # Offers first, then parcels: the order acceptance locks them in, so the two never deadlock.
                offers = await repos.offer_decisions.live_offers_of(wanted)
                parcels = await repos.delivery.parcels(wanted, for_update=True)
                targets = [p for p in parcels if parcel_id is not None or p.status is not S.CANCELLED]
                if not targets:
                    raise DomainError.single(ErrorCode.NOT_CANCELLABLE, "the job is already cancelled", "jobId")
                fees = {p.id: cancellation_fee_minor(p.status, p.currency) for p in targets}
                events: list[ParcelEvent] = []
                gone: list[UUID] = []
                for p in targets:
                    change = transition(p.status, cancelled_status(p.status), "parcelId")
                    await repos.delivery.apply([(p.id, change)], now)
                    await repos.delivery.set_cancellation(p.id, fees[p.id], now)
                    details = {"fee_minor": fees[p.id], "currency": p.currency}
                    events.append(
                        event(p, actor, now, change=change, reason_code="cancelled_by_retailer", details=details)
                    )
                    if change.target is S.CANCELLED:
                        gone.append(p.id)
                await repos.delivery.set_reservations(gone, "released", now)
                by_id = {p.id: p for p in targets}
                events += await withdraw_from_offers(
                    repos, offers, {pid: by_id[pid] for pid in gone}, actor, now, "cancelled_by_retailer"
                )
                trips = {by_id[pid].assigned_trip_id for pid in gone}
                await repos.delivery.assign(gone, None, None)
                await repos.parcel_events.append(events)
                await settle_trips(repos, trips, now)
                await refresh_jobs(repos, [found_job.id], now)
                return found_job.id

            cancelled_job_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="cancel",
                key=idempotency_key,
                request=CancellationRequest(job_id=job_id, reference=reference, parcel_id=parcel_id),
                action=act,
                dump=_id_to_json,
                load=_id_from_json,
            )
            job = await repos.jobs.get_job(cancelled_job_id)
            assert job is not None
            fee = await repos.delivery.cancellation_fee(job.id)
            await uow.commit()
        view = view_for(job, principal)
        assert view is not None
        return Cancellation(view=view, fee=Money(fee, job.price.currency))

    async def _job_to_cancel(
        self,
        repos: Repositories,
        organization_id: UUID,
        job_id: UUID | None,
        reference: str | None,
        parcel_id: UUID | None,
    ) -> Job:
        if parcel_id is not None:
            parcel = await repos.delivery.parcel(parcel_id)
            found = None if parcel is None else await repos.jobs.get_job(parcel.job_id)
            field = "parcelId"
        elif job_id is not None:
            found = await repos.jobs.get_job(job_id)
            field = "jobId"
        elif reference is not None and reference.strip():
            found_id = await repos.delivery.job_by_reference(organization_id, " ".join(reference.split()))
            found = None if found_id is None else await repos.jobs.get_job(found_id)
            field = "reference"
        else:
            raise DomainError([FieldError(ErrorCode.REQUIRED, "give the job's id or its reference", "jobId")])
        if found is None or found.organization_id != organization_id:
            raise DomainError.single(
                ErrorCode.NOT_FOUND, "no such job" if field != "parcelId" else "no such parcel", field
            )
        return found

    # --- reads ----------------------------------------------------------------------------------

    async def _job_of(self, repos: Repositories, parcel_id: UUID) -> Job:
        parcel = await repos.delivery.parcel(parcel_id)
        assert parcel is not None
        job = await repos.jobs.get_job(parcel.job_id)
        assert job is not None
        return job

    def _view(self, job: Job, parcel_id: UUID, principal: Principal) -> ParcelView:
        view = view_for(job, principal)
        if view is None:  # pragma: no cover - the caller was just allowed to act on it
            raise _parcel_not_found()
        return ParcelView(view=view, parcel_id=parcel_id)

    async def get_parcel(self, principal: Principal, parcel_id: UUID) -> ParcelView | None:
        """The booking organisation and operations; a courier only a parcel assigned to them."""
        async with self._db.read() as repos:
            parcel = await repos.delivery.parcel(parcel_id)
            if parcel is None:
                return None
            job = await repos.jobs.get_job(parcel.job_id)
        if job is None:
            return None
        view = view_for(job, principal)
        if view is None or not may_follow(view, parcel_id, principal):
            return None
        return ParcelView(view=view, parcel_id=parcel_id)

    async def history_of(self, parcel_ids: list[UUID]) -> list[ParcelEvent]:
        """The events of many parcels in one read, in the order they were written, with no access
        check: for dataloaders serving nested fields of parcels the caller may already follow."""
        async with self._db.read() as repos:
            return await repos.parcel_events.for_parcels(parcel_ids)

    async def events_of(self, parcel_ids: list[UUID]) -> dict[UUID, list[ParcelEvent]]:
        """`history_of` by parcel: every asked parcel has a list, oldest first, empty if it has none."""
        out: dict[UUID, list[ParcelEvent]] = {pid: [] for pid in parcel_ids}
        for e in await self.history_of(parcel_ids):
            out[e.parcel_id].append(e)
        return out

    async def extras(self, parcel_ids: list[UUID]) -> dict[UUID, Any]:
        async with self._db.read() as repos:
            return await repos.delivery.parcel_extras(parcel_ids)

    async def proofs(self, parcel_ids: list[UUID]) -> dict[UUID, Any]:
        async with self._db.read() as repos:
            return await repos.delivery.proofs(parcel_ids)

    def photo_url(self, sha256: str) -> str:
        return self.signer.url(sha256, self._clock.now())

    # --- photos ---------------------------------------------------------------------------------

    async def upload_photo(self, principal: Principal, data: bytes) -> str:
        """Checked by its bytes (JPEG or PNG, at most 10 MB), stored by content hash; the hash is its name.

        Couriers upload proof of delivery, retailers (a user or an API key) the photos of a claim."""
        scope = Scope(principal)
        scope.require_role(Role.COURIER, Role.RETAILER, Role.ADMIN)
        machine = principal.api_key_id is not None
        uploader = None if machine else scope.person()
        organization = scope.organization() if machine else None
        rules.require(rules.photo_problems(data))
        content_type = rules.image_type(data)
        assert content_type is not None
        sha256 = rules.content_hash(data)
        await self.blobs.put(sha256, data)
        async with self._db.uow() as uow:
            await uow.repos.delivery.add_photo(
                sha256, content_type, len(data), uploader, self._clock.now(), organization_id=organization
            )
            await uow.commit()
        return sha256

    async def read_photo(self, sha256: str, expires: int, signature: str) -> tuple[bytes, str] | None:
        """The photo behind a signed URL while it is valid; None otherwise (answered 404 or 403)."""
        if not rules.is_content_hash(sha256) or not self.signer.valid(sha256, expires, signature, self._clock.now()):
            return None
        async with self._db.read() as repos:
            content_type = await repos.delivery.photo_type(sha256)
        data = None if content_type is None else await self.blobs.get(sha256)
        return None if data is None or content_type is None else (data, content_type)


def may_follow(view: JobView, parcel_id: UUID, principal: Principal) -> bool:
    """A parcel's history: the booking organisation and operations; a courier only for their own parcels."""
    if view.owner:
        return True
    scope = Scope(principal)
    return any(
        p.id == parcel_id and p.assigned_courier_id is not None and scope.sees_courier(p.assigned_courier_id)
        for p in view.job.parcels
    )
