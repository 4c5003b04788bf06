"""Quotes, booking them into jobs (one at a time or in bulk), and what retailers see of their jobs."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.delivery import Actor, ActorKind, ParcelEvent, ParcelStatus
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.geo import Point, point_problems
from marketplace.domain.jobs import (
    MAX_BULK_JOBS,
    BulkBooking,
    Job,
    JobStatus,
    JobView,
    Lookups,
    Quote,
    QuoteBooking,
    QuoteRequest,
    batch_duplicates,
    book,
    booking_problems,
    check_request,
    new_quote,
    reference_key,
    view_for,
)
from marketplace.domain.paging import Page, PageRequest
from marketplace.payments import GatewayError
from marketplace.repositories import Repositories
from marketplace.services.idempotency import Idempotency
from marketplace.services.payments import Authorization, PaymentService


def _id_to_json(value: UUID) -> dict[str, Any]:
    return {"id": str(value)}


def _id_from_json(data: dict[str, Any]) -> UUID:
    return UUID(data["id"])


def _ids_to_json(values: list[UUID]) -> dict[str, Any]:
    return {"ids": [str(v) for v in values]}


def _ids_from_json(data: dict[str, Any]) -> list[UUID]:
    return [UUID(v) for v in data["ids"]]


async def _lookups(
    repos: Repositories,
    organization_id: UUID,
    requests: Sequence[QuoteRequest],
    now: datetime,
    *,
    for_share: bool = False,
) -> Lookups:
    """Everything a batch names, in four queries whatever its size.

    `for_share` (booking): the stores, lockers and areas stay locked until the booking commits, so an
    archiving, a locker switched off or an area paused in flight is waited for and then seen.
    """
    locations = await repos.pickup_locations.get_many(
        [r.pickup_location_id for r in requests], organization_id, for_share=for_share
    )
    locker_ids = [r.dropoff.locker_id for r in requests if r.dropoff.locker_id is not None]
    locker_ids += [r.fallback_locker_id for r in requests if r.fallback_locker_id is not None]
    lockers = await repos.lockers.get_many(locker_ids, for_share=for_share)
    points: set[Point] = {loc.point for loc in locations.values()} | {lk.point for lk in lockers.values()}
    for r in requests:
        p = r.dropoff.point
        if p is not None and not point_problems(p.lat, p.lng, "point"):
            points.add(p)
    areas = await repos.areas.containing(sorted(points, key=lambda p: (p.lat, p.lng)), for_share=for_share)
    references = [key for key in (reference_key(r.reference) for r in requests) if key is not None]
    taken = await repos.jobs.references_taken(organization_id, references)
    return Lookups(now=now, pickup_locations=locations, lockers=lockers, areas=areas, taken_references=taken)


def booked_events(jobs: Sequence[Job], principal: Principal) -> list[ParcelEvent]:
    """The first line of every parcel's history, written with the booking."""
    actor = Actor(ActorKind.RETAILER, principal.user_id)
    return [
        ParcelEvent(
            id=uuid4(),
            parcel_id=p.id,
            job_id=j.id,
            organization_id=j.organization_id,
            area_id=p.area_id,
            kind=ParcelStatus.BOOKED.value,
            actor=actor,
            occurred_at=j.created_at,
            to_status=ParcelStatus.BOOKED,
            details={} if principal.api_key_id is None else {"api_key_id": str(principal.api_key_id)},
        )
        for j in jobs
        for p in j.parcels
    ]


class JobService:
    def __init__(
        self, db: Database, clock: Clock, idempotency: Idempotency, payments: PaymentService, *, pin_key: bytes
    ) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
        self._payments = payments
        self._pin_key = pin_key

    # --- quotes -------------------------------------------------------------------------------------

    async def request_quote(
        self, principal: Principal, request: QuoteRequest, *, idempotency_key: str | None = None
    ) -> Quote:
        """Checks the request in full and prices it; a request nobody could serve is refused, never priced at zero."""
        organization_id = Scope(principal).organization()
        made: list[Quote] = []
        async with self._db.uow() as uow:

            async def create() -> UUID:
                now = self._clock.now()
                lookups = await _lookups(uow.repos, organization_id, [request], now)
                order, problems = check_request(request, lookups, organization_id=organization_id)
                if order is None:
                    raise DomainError(problems)
                quote = new_quote(planned, organization_id, order, now)
                await uow.repos.jobs.add_quotes([quote])
                made.append(quote)
                return quote.id

            planned = uuid4()
            quote_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="requestQuote",
                key=idempotency_key,
                request=request,
                action=create,
                dump=_id_to_json,
                load=_id_from_json,
                planned=planned,
            )
            # Only a retry reads the quote back: a new one is as it was just written.
            quote = made[0] if made else await uow.repos.jobs.get_quote(quote_id, organization_id)
            assert quote is not None
            await uow.commit()
        return quote

    async def get_quote(self, principal: Principal, quote_id: UUID) -> Quote | None:
        """Retailers see their organisation's quotes, admins all; anyone else's reads as missing."""
        owner = Scope(principal).organization_filter().owner
        async with self._db.read() as repos:
            return await repos.jobs.get_quote(quote_id, owner)

    # --- booking ------------------------------------------------------------------------------------

    async def book_quote(
        self, principal: Principal, booking: QuoteBooking, *, idempotency_key: str | None = None
    ) -> JobView:
        """Turns a live quote into a job, once: the quote row stays locked until the booking commits.

        The card is authorised first, outside any transaction (payments.authorize_quote); the job and
        its payment row are then written together. A booking refused after the authorisation releases
        it at once; one that never commits (a crash) is released by the worker's release job.
        """
        organization_id = Scope(principal).organization()
        quote_id = booking.quote_id
        pins: dict[UUID, str] = {}
        async with self._db.read() as repos:
            found = await repos.jobs.get_quote_and_card(quote_id, organization_id)
        quoted, card = (None, None) if found is None else found
        auth = None
        if quoted is not None and quoted.job_id is None and not quoted.expired(self._clock.now()):
            auth = await self._payments.authorize_quote(quoted, card)
        try:
            return await self._book_quote(principal, booking, quoted, auth, pins, idempotency_key)
        except DomainError:
            if auth is not None and auth.payment_intent_id is not None:
                with contextlib.suppress(GatewayError):
                    await self._payments.release_if_orphaned(auth.payment_intent_id)
            raise

    async def _book_quote(
        self,
        principal: Principal,
        booking: QuoteBooking,
        quoted: Quote | None,
        auth: Authorization | None,
        pins: dict[UUID, str],
        idempotency_key: str | None,
    ) -> JobView:
        async with self._db.uow() as uow:

            async def create() -> UUID:
                if quoted is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, "no such quote", "quoteId")
                order = quoted.order
                # The quote locked, so a second booking with another key waits here and then finds it
                # booked; its store, lockers and area shared-locked until the booking commits, so an
                # archiving, a locker switched off or an area paused in flight is waited for and then
                # seen here, never booked past. One statement: the ids are the quote's, read above.
                locked = await uow.repos.jobs.lock_for_booking(
                    quoted.id,
                    quoted.organization_id,
                    pickup_location_id=order.pickup_location_id,
                    area_id=order.area_id,
                    locker_ids=[i for i in (order.dropoff.locker_id, order.fallback_locker_id) if i is not None],
                )
                quote = locked.quote
                if quote is None:
                    raise DomainError.single(ErrorCode.NOT_FOUND, "no such quote", "quoteId")
                if quote.job_id is not None:
                    raise DomainError.single(ErrorCode.QUOTE_ALREADY_BOOKED, "this quote is already booked", "quoteId")
                now = self._clock.now()
                if quote.expired(now):
                    raise DomainError.single(
                        ErrorCode.QUOTE_EXPIRED, "the quote has expired; ask for a new one", "quoteId"
                    )
                problems = booking_problems(quote, now, locked.location, locked.lockers, locked.area)
                if problems:
                    raise DomainError(problems)
                if auth is None:  # the quote became bookable since it was read: authorise it again
                    raise DomainError.single(ErrorCode.QUOTE_EXPIRED, "the quote changed; book it again", "quoteId")
                parcel_ids = [uuid4() for _ in quote.order.parcels]
                job = book(quote, planned, parcel_ids, principal, now, pin_key=self._pin_key, pins=pins)
                # A reference already taken is refused by the unique index (no look-up first): the
                # insert fails and the whole booking rolls back. The payment row is in the same statement.
                payment = self._payments.payment_of_booking(auth, quote, job.id)
                if not await uow.repos.jobs.add_jobs([job], booked_quote_id=quote.id, payment=payment):
                    raise DomainError.single(
                        ErrorCode.DUPLICATE_REFERENCE, "a job with this reference exists", "quoteId"
                    )
                await self._payments.after_booking(uow, auth, job.id)
                await uow.repos.parcel_events.append(booked_events([job], principal), pins=pins)
                made.append(job)
                return job.id

            planned = uuid4()
            made: list[Job] = []
            job_id = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="bookQuote",
                key=idempotency_key,
                request=booking,
                action=create,
                dump=_id_to_json,
                load=_id_from_json,
                planned=planned,
            )
            # Only a retry reads the job back: a new one is as it was just written.
            job = made[0] if made else await uow.repos.jobs.get_job(job_id)
            assert job is not None
            await uow.commit()
        view = view_for(job, principal)
        assert view is not None
        # A retry with the same key finds no PINs: they were shown once and are kept only hashed.
        return dataclasses.replace(view, pins=pins)

    async def book_jobs(
        self, principal: Principal, requests: Sequence[QuoteRequest], *, idempotency_key: str | None
    ) -> list[JobView]:
        """Quotes and books a whole batch, all or nothing, in a fixed handful of statements.

        Every row is checked against lookups made once for the batch; any problem in any row
        (each named `jobs[i]....`) refuses the whole batch and writes nothing.
        """
        organization_id = Scope(principal).organization()
        if not requests:
            raise DomainError.single(ErrorCode.REQUIRED, "give at least one job", "jobs")
        if len(requests) > MAX_BULK_JOBS:
            raise DomainError.single(ErrorCode.TOO_MANY_ROWS, f"at most {MAX_BULK_JOBS} jobs per call", "jobs")
        pins: dict[UUID, str] = {}
        await self._payments.require_card(organization_id)
        async with self._db.uow() as uow:

            async def create() -> list[UUID]:
                now = self._clock.now()
                lookups = await _lookups(uow.repos, organization_id, requests, now, for_share=True)
                problems: list[FieldError] = batch_duplicates(requests)
                quotes: list[Quote] = []
                for i, request in enumerate(requests):
                    order, row_problems = check_request(
                        request, lookups, organization_id=organization_id, prefix=f"jobs[{i}]."
                    )
                    problems.extend(row_problems)
                    if order is not None:
                        quotes.append(new_quote(uuid4(), organization_id, order, now))
                if problems:
                    # A reference both repeated in the batch and already booked is one problem, told once.
                    unique = {(p.field, p.code): p for p in problems}
                    raise DomainError(sorted(unique.values(), key=_row_order))
                jobs = [
                    book(
                        q, uuid4(), [uuid4() for _ in q.order.parcels], principal, now, pin_key=self._pin_key, pins=pins
                    )
                    for q in quotes
                ]
                booked = [dataclasses.replace(q, job_id=j.id) for q, j in zip(quotes, jobs, strict=True)]
                await uow.repos.jobs.add_quotes(booked)
                if not await uow.repos.jobs.add_jobs(jobs):
                    raise DomainError.single(
                        ErrorCode.DUPLICATE_REFERENCE, "a job with one of these references was just booked", "jobs"
                    )
                await self._payments.record_bulk(uow, booked)
                await uow.repos.parcel_events.append(booked_events(jobs, principal), pins=pins)
                return [j.id for j in jobs]

            job_ids = await self._idempotency.run(
                uow,
                scope=principal.scope,
                operation="bookJobs",
                key=idempotency_key,
                request=BulkBooking(jobs=tuple(requests)),
                action=create,
                dump=_ids_to_json,
                load=_ids_from_json,
            )
            jobs = await uow.repos.jobs.get_jobs(job_ids)
            await uow.commit()
        views = [view_for(job, principal) for job in jobs]
        return [dataclasses.replace(v, pins=pins) for v in views if v is not None]

    # --- reads --------------------------------------------------------------------------------------

    async def get_job(self, principal: Principal, job_id: UUID) -> JobView | None:
        """None (NOT_FOUND) for another tenant's job, and for a courier not carrying any of its parcels."""
        async with self._db.read() as repos:
            job = await repos.jobs.get_job(job_id)
        return None if job is None else view_for(job, principal)

    async def get_job_by_reference(
        self, principal: Principal, reference: str, *, organization_id: UUID | None = None
    ) -> JobView | None:
        """A job by the retailer's own order reference, as stored (whitespace collapsed).

        References are unique only within an organisation: retailers look in their own (naming
        another one finds nothing), admins must name the organisation. None reads as NOT_FOUND.
        """
        scope = Scope(principal)
        if scope.is_admin and organization_id is None:
            raise DomainError.single(
                ErrorCode.REQUIRED, "references are unique per organisation: name it", "organizationId"
            )
        visible = scope.organization_filter(organization_id)
        if visible.nothing or visible.owner is None:
            return None
        key = reference_key(reference)
        if key is None:
            return None
        async with self._db.read() as repos:
            job = await repos.jobs.get_job_by_reference(visible.owner, key)
        return None if job is None else view_for(job, principal)

    async def list_jobs(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        status: JobStatus | None = None,
        pickup_from: datetime | None = None,
        pickup_until: datetime | None = None,
        area_id: UUID | None = None,
        organization_id: UUID | None = None,
    ) -> Page[JobView]:
        """A retailer's own organisation's jobs; admins all, or one organisation's."""
        problems: list[FieldError] = []
        for value, field in ((pickup_from, "pickupFrom"), (pickup_until, "pickupUntil")):
            if value is not None:
                validation.instant(value, field, problems)
        if problems:
            raise DomainError(problems)
        visible = Scope(principal).organization_filter(organization_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            page_of_jobs = await repos.jobs.list_jobs(
                page,
                organization_id=visible.owner,
                status=status,
                pickup_from=pickup_from,
                pickup_until=pickup_until,
                area_id=area_id,
            )
        views = [view_for(job, principal) for job in page_of_jobs.items]
        return Page(items=tuple(v for v in views if v is not None), has_next=page_of_jobs.has_next)


def _row_order(error: FieldError) -> tuple[int, str]:
    """Errors of a batch in row order, then by field, so `jobs[2]` comes before `jobs[10]`."""
    path = error.field or ""
    if path.startswith("jobs[") and "]" in path:
        return int(path[5 : path.index("]")]), path
    return -1, path
