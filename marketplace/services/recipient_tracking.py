"""The recipient's tracking token: the page, its live updates, and the drop-off changes it allows.

The token is the recipient's only credential. Each use is counted per token and per client address
in PostgreSQL (every replica shares the limit) before the parcel is read, and an unknown, expired or
over-limit token is refused the same way whoever asks, so the answer tells nothing about tokens that
exist. A token sees one parcel: its lookups go by token, and its subscription is `watch_parcel` with
a visibility rule that admits that parcel's id only.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.delivery import Actor, ActorKind, ParcelEvent, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.jobs import Window, open_windows
from marketplace.domain.paging import PageRequest
from marketplace.domain.places import COMPARTMENT_MAX_WEIGHT_G, CompartmentSize, Locker, LockerKind, fits
from marketplace.domain.recipient_tracking import (
    REDIRECTABLE,
    WITHDRAWN_ON_REDIRECT,
    Redirect,
    TrackedParcel,
    TrackingLimits,
    well_formed,
)
from marketplace.repositories import Repositories
from marketplace.services.accounts import address_bucket
from marketplace.services.dispatch_common import event, refresh_jobs, settle_trips
from marketplace.services.idempotency import Idempotency
from marketplace.services.live import Credential, LiveService, ParcelUpdate
from marketplace.services.offers_release import withdraw_from_offers

RECIPIENT = Actor(ActorKind.RECIPIENT)
MAX_LOCKERS_LISTED = 100


class TrackingRefusedError(Exception):
    """Unknown, expired (404) or over the rate limit (429): the page says no more than that."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code

    def as_domain_error(self) -> DomainError:
        if self.status_code == 429:
            return DomainError.single(ErrorCode.RATE_LIMITED, "too many requests; try again in a minute", "token")
        return DomainError.single(ErrorCode.NOT_FOUND, "no such parcel", "token")


@dataclass(frozen=True, slots=True)
class LockerChoice:
    id: UUID
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class TrackingPage:
    parcel: TrackedParcel
    events: tuple[tuple[int, ParcelEvent], ...]
    lockers: tuple[LockerChoice, ...]


class RecipientTrackingService:
    def __init__(
        self, db: Database, clock: Clock, idempotency: Idempotency, live: LiveService, limits: TrackingLimits
    ) -> None:
        self._db = db
        self._clock = clock
        self._idempotency = idempotency
        self._live = live
        self._limits = limits

    async def _admit(self, token: str, client_address: str | None) -> None:
        """Counts the use before anything is read; a malformed token still counts against its address."""
        now = self._clock.now()
        # A lone surrogate cannot be encoded strictly: such a string is no token, but it is still counted.
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        buckets = [(f"track:token:{digest}", self._limits.per_token)]
        if client_address:
            buckets.append((f"track:address:{address_bucket(client_address)}", self._limits.per_address))
        over = False
        async with self._db.uow() as uow:
            for bucket, limit in buckets:
                hits, _ = await uow.repos.rate_limits.hit(bucket, now, self._limits.window_s)
                over = over or hits > limit
            await uow.commit()
        if over:
            raise TrackingRefusedError(429)

    async def _find(self, repos: Repositories, token: str, *, for_update: bool = False) -> TrackedParcel:
        parcel = await repos.recipient_tracking.by_token(token, for_update=for_update) if well_formed(token) else None
        if parcel is None or parcel.expired(self._clock.now()):
            raise TrackingRefusedError(404)
        return parcel

    async def page(self, token: str, client_address: str | None) -> TrackingPage:
        await self._admit(token, client_address)
        async with self._db.read() as repos:
            parcel = await self._find(repos, token)
            events = await repos.parcel_events.since(0, parcel_id=parcel.parcel_id, limit=500)
            lockers = await self._lockers(repos, parcel) if parcel.redirectable else []
        return TrackingPage(parcel, tuple(events), tuple(lockers))

    async def watch(self, token: str, client_address: str | None) -> AsyncIterator[ParcelUpdate]:
        """The parcel's live updates; ends when the token expires (14 days after settlement)."""
        await self._admit(token, client_address)
        async with self._db.read() as repos:
            parcel = await self._find(repos, token)
        parcel_id = parcel.parcel_id
        credential = Credential((), parcel.expires_at())
        return self._live.watch_parcel(parcel_id, credential, lambda live: live.parcel_id == parcel_id)

    async def current(self, token: str) -> TrackedParcel:
        """Read again at every change the subscription hears of (not counted: the subscription was)."""
        async with self._db.read() as repos:
            return await self._find(repos, token)

    async def history(self, token: str) -> list[tuple[int, ParcelEvent]]:
        """The whole timeline (a subscription's first update: nothing falls between page and socket)."""
        async with self._db.read() as repos:
            parcel = await self._find(repos, token)
            return await repos.parcel_events.since(0, parcel_id=parcel.parcel_id, limit=500)

    async def _lockers(self, repos: Repositories, parcel: TrackedParcel) -> list[LockerChoice]:
        """Active lockers of the parcel's area with a free compartment for every parcel of the job."""
        page = await repos.lockers.list_page(
            PageRequest(first=MAX_LOCKERS_LISTED, after=None), area_id=parcel.area_id, active=True
        )
        parcels = await repos.recipient_tracking.job_parcel_sizes(parcel.job_id)
        # The job's own holds (a fallback compartment held since acceptance) do not count: choosing a
        # locker withdraws the offer first, which releases them (`_change`).
        taken = await repos.delivery.live_reservations_at(
            [lk.id for lk in page.items], except_parcels=[p for p, _, _, _ in parcels]
        )
        choices = []
        for locker in page.items:
            if locker.id == parcel.locker_id:
                continue
            if not _locker_problems(locker, parcels, parcel, taken.get(locker.id, {})):
                a = locker.address
                choices.append(
                    LockerChoice(locker.id, locker.name, f"{a.street} {a.house_number}, {a.postal_code} {a.city}")
                )
        return choices

    async def redirect(
        self, token: str, client_address: str | None, request: Redirect, idempotency_key: str | None
    ) -> TrackedParcel:
        """A locker of the area, or consent to a safe place or a neighbour, before the parcel is out for delivery.

        Checked like a booking (the area, the locker's hours in the delivery window, a compartment that
        fits each parcel and is free, no ID-check parcel to an unstaffed locker or a safe place); the
        job's drop-off changes, so the next round plans the new one, and each of its parcels gets a
        `redirected` event through the one event writer (webhooks and subscribers hear of it). A parcel
        already offered to or accepted by a courier (not yet at the store) is taken out of that offer
        when it goes to a locker, in this transaction (see `_withdraw`); a consent changes no route, so
        the courier keeps it. Once the courier is at the store or has the parcel: INVALID_TRANSITION.
        """
        await self._admit(token, client_address)
        safe_place = None
        problems: list[FieldError] = []
        if request.safe_place is not None:
            safe_place = validation.optional_text(request.safe_place, "safePlace", problems)
        if request.locker_id is None and safe_place is None and not request.allow_neighbour:
            problems.append(FieldError(ErrorCode.REQUIRED, "choose a locker, a safe place or a neighbour", None))
        if request.locker_id is not None and (safe_place is not None or request.allow_neighbour):
            problems.append(FieldError(ErrorCode.INVALID, "a locker, or a safe place and neighbour, not both", None))
        if problems:
            raise DomainError(problems)
        now = self._clock.now()
        async with self._db.uow() as uow:
            repos = uow.repos
            # Offers before parcels, the order acceptance and cancellation lock them in (no deadlock).
            unlocked = await self._find(repos, token)
            job_parcels = [pid for pid, _, _, _ in await repos.recipient_tracking.job_parcel_sizes(unlocked.job_id)]
            await repos.offer_decisions.live_offers_of(job_parcels)
            parcel = await self._find(repos, token, for_update=True)

            async def change() -> UUID:
                await self._change(repos, parcel, request, safe_place, now)
                return parcel.parcel_id

            await self._idempotency.run(
                uow,
                scope=f"tracking:{parcel.parcel_id}",
                operation="redirectTrackedParcel",
                key=idempotency_key,
                request=request,
                action=change,
                dump=lambda v: {"id": str(v)},
                load=lambda d: UUID(d["id"]),
            )
            await uow.commit()
        async with self._db.read() as repos:
            return await self._find(repos, token)

    async def _change(
        self, repos: Repositories, parcel: TrackedParcel, request: Redirect, safe_place: str | None, now: datetime
    ) -> None:
        parcels = await repos.recipient_tracking.job_parcel_sizes(parcel.job_id)
        live = [p for p in parcels if p[1] is not ParcelStatus.CANCELLED]
        if not parcel.redirectable or any(status not in REDIRECTABLE for _, status, _, _ in live):
            raise DomainError.single(
                ErrorCode.INVALID_TRANSITION,
                f"the parcel is {parcel.status.value}: its drop-off can change only before it is out for delivery",
                "token",
            )
        subjects = {pid: _Subject(pid, parcel) for pid, _, _, _ in live}
        withdrawn: list[ParcelEvent] = []
        if request.locker_id is not None:
            # First out of the offer, so the compartment it held is free again for the checks below.
            withdrawn = await _withdraw(repos, subjects, now)
        details: dict[str, Any]
        if request.locker_id is not None:
            locker = await repos.lockers.get(request.locker_id, for_update=True)
            if locker is None or locker.area_id != parcel.area_id:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such locker", "lockerId")
            problem = _locker_problems(locker, live, parcel, await repos.delivery.live_reservations(locker.id))
            if problem is not None:
                raise DomainError.single(problem[0], problem[1], "lockerId")
            area = await repos.areas.get(parcel.area_id)
            assert area is not None
            pickup_from, pickup_until, deliver_from, deliver_until = await repos.recipient_tracking.job_windows(
                parcel.job_id
            )
            _, delivery_open = open_windows(
                Window(pickup_from, pickup_until),
                Window(deliver_from, deliver_until),
                store_hours=None,
                locker_hours=locker.opening_hours,
                time_zone=area.time_zone,
                now=now,
            )
            if delivery_open is None:
                raise DomainError.single(
                    ErrorCode.LOCATION_CLOSED,
                    "the locker is closed throughout the rest of the delivery window",
                    "lockerId",
                )
            await repos.recipient_tracking.redirect_to_locker(
                parcel.job_id, locker.id, locker.point, delivery_open.start_at, delivery_open.end_at
            )
            details = {"dropoff": "locker", "lockerId": str(locker.id), "lockerName": locker.name}
        else:
            if safe_place is not None and parcel.id_check:
                raise DomainError.single(
                    ErrorCode.INVALID, "a parcel that needs an ID check is never left at a safe place", "safePlace"
                )
            await repos.recipient_tracking.allow_leaving(
                parcel.job_id, safe_place=safe_place, neighbour=request.allow_neighbour
            )
            details = {"safePlace": safe_place is not None, "neighbour": request.allow_neighbour}
        redirected = [event(s, RECIPIENT, now, kind="redirected", details=details) for s in subjects.values()]
        await repos.parcel_events.append(withdrawn + redirected)
        if withdrawn:
            await refresh_jobs(repos, [parcel.job_id], now)


async def _withdraw(repos: Repositories, subjects: dict[UUID, _Subject], now: datetime) -> list[ParcelEvent]:
    """The job's parcels leave their offer (withdrawn if nothing else is in it) and go back to `booked`.

    Through the one offer-withdrawal path (`withdraw_from_offers`, as a cancellation): the courier hears
    of a withdrawn offer on `offerUpdates`; the parcels lose their courier, trip and any locker
    compartment held for them, a trip left with nothing is open again, and the next round plans them
    with the new drop-off. The pair is not forbidden: the same courier may well get them again.
    """
    offers = await repos.offer_decisions.live_offers_of(list(subjects))
    states = await repos.delivery.parcels(list(subjects), for_update=True)
    back = [p for p in states if p.status in WITHDRAWN_ON_REDIRECT]
    if not back:
        return []
    events = await withdraw_from_offers(
        repos, offers, {p.id: subjects[p.id] for p in back}, RECIPIENT, now, "redirected_by_recipient"
    )
    for p in back:
        change = transition(p.status, ParcelStatus.BOOKED, "token")
        await repos.delivery.apply([(p.id, change)], now)
        events.append(event(p, RECIPIENT, now, change=change, reason_code="redirected_by_recipient"))
    ids = [p.id for p in back]
    await repos.delivery.set_reservations(ids, "released", now)
    await repos.delivery.assign(ids, None, None)
    await settle_trips(repos, {p.assigned_trip_id for p in back}, now)
    return events


@dataclass(frozen=True, slots=True)
class _Subject:
    """A parcel of the tracked job, as the event writer names it."""

    id: UUID
    of: TrackedParcel

    @property
    def job_id(self) -> UUID:
        return self.of.job_id

    @property
    def organization_id(self) -> UUID:
        return self.of.organization_id

    @property
    def area_id(self) -> UUID:
        return self.of.area_id


_SIZES = tuple(CompartmentSize)


def _locker_problems(
    locker: Locker,
    parcels: Sequence[tuple[UUID, ParcelStatus, tuple[int, int, int], int]],
    tracked: TrackedParcel,
    used: dict[CompartmentSize, int],
) -> tuple[ErrorCode, str] | None:
    """The booking's locker rules (in service, in the area, fits, no ID check unstaffed), plus a free compartment."""
    if not locker.active or locker.area_id != tracked.area_id:
        return ErrorCode.LOCKER_UNAVAILABLE, "the locker is not in service here"
    if any(not locker.compartments.accepts(dims, weight) for _, _, dims, weight in parcels):
        return ErrorCode.LOCKER_UNAVAILABLE, "no compartment of the locker fits the parcel"
    if locker.kind is LockerKind.LOCKER and tracked.id_check:
        return ErrorCode.LOCKER_UNAVAILABLE, "an unstaffed locker cannot check ID or age; choose a pickup point"
    free = {s: locker.compartments.count_of(s) - used.get(s, 0) for s in _SIZES}
    for _, _, dims, weight in parcels:
        size = next((s for s in _SIZES if fits(s, dims) and weight <= COMPARTMENT_MAX_WEIGHT_G and free[s] > 0), None)
        if size is None:
            return ErrorCode.LOCKER_FULL, "no compartment of the locker is free for the parcel"
        free[size] -= 1
    return None
