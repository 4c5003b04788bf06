"""Live subscriptions: a parcel's status, position and ETA; a courier's offers; an organisation's events.

Each subscription registers its topics with the process's one listener before it reads anything, so
no change falls between its first read and its first notice. A notice only says what changed (ids
and sequence numbers); the subscription reads the rows, checks the caller may see them, and yields
what is new. After the listener reconnects (RESYNC) it reads back what it missed by sequence number.

A subscription ends with its credential: a revoked session or API key (announced by a trigger on
revocation, on every replica) or the access token's `exp`. `watch_parcel` takes who may see the
parcel and when the credential ends as arguments, so a recipient's tracking token can subscribe to
its one parcel the same way as a signed-in retailer (a third kind of credential, with its own
revocation topic).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.listener import RESYNC, Listener, Notice, Subscription
from marketplace.db.uow import Database
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.delivery import ParcelEvent
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.offers import Offer, OfferStatus
from marketplace.domain.paging import PageRequest
from marketplace.repositories.tracking import ParcelLive
from marketplace.services.tokens import InvalidTokenError, TokenProblem

# A subscription wakes at least this often to look at its credential's expiry.
WAKE_S = 30.0
# How many recent sequence numbers an organisation's subscription remembers, to read back after a
# reconnect events that committed out of sequence order.
SEEN_WINDOW = 2_000
REPLAY_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Credential:
    """What a subscription lives by: the topics that announce its revocation, and when it expires."""

    topics: tuple[str, ...]
    expires_at: datetime | None
    session_id: UUID | None = None
    user_id: UUID | None = None
    api_key_id: UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Credential:
        topics = []
        if principal.session_id is not None:
            topics.append(f"s:{principal.session_id}")
        if principal.api_key_id is not None:
            topics.append(f"k:{principal.api_key_id}")
        return cls(
            tuple(topics),
            principal.expires_at,
            session_id=principal.session_id,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
        )


@dataclass(frozen=True, slots=True)
class ParcelUpdate:
    live: ParcelLive
    events: tuple[tuple[int, ParcelEvent], ...]


@dataclass(frozen=True, slots=True)
class OfferUpdate:
    change: OfferStatus  # OPEN: a new offer; otherwise what became of one announced open
    offer: Offer


@dataclass
class _Seen:
    """Sequence numbers recently yielded: duplicates are skipped, and a resync reads back from the oldest."""

    last: int
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=SEEN_WINDOW))
    members: set[int] = field(default_factory=set)

    def add(self, seq: int) -> bool:
        if seq in self.members:
            return False
        if len(self.recent) == self.recent.maxlen:
            self.members.discard(self.recent[0])
        self.recent.append(seq)
        self.members.add(seq)
        self.last = max(self.last, seq)
        return True

    @property
    def floor(self) -> int:
        return min(self.recent) - 1 if self.recent else self.last


class LiveService:
    def __init__(self, db: Database, clock: Clock, listener: Listener | None) -> None:
        self._db = db
        self._clock = clock
        self._listener = listener

    def _subscribe(self, topics: list[str]) -> Subscription:
        if self._listener is None:
            raise RuntimeError("live subscriptions need the application's listener (create_app starts it)")
        return self._listener.subscribe(topics)

    async def _still_valid(self, credential: Credential) -> bool:
        async with self._db.read() as repos:
            if credential.session_id is not None and credential.user_id is not None:
                return await repos.sessions.active(credential.session_id, credential.user_id) is not None
            if credential.api_key_id is not None:
                return await repos.api_keys.is_active(credential.api_key_id)
        return True

    async def _next(self, subscription: Subscription, credential: Credential) -> list[Notice]:
        """The next notices (all that are queued); raises InvalidTokenError once the credential has ended."""
        while True:
            timeout = WAKE_S
            if credential.expires_at is not None:
                remaining = (credential.expires_at - self._clock.now()).total_seconds()
                if remaining <= 0:
                    raise InvalidTokenError(TokenProblem.EXPIRED)
                timeout = min(timeout, remaining)
            try:
                first = await asyncio.wait_for(subscription.queue.get(), timeout)
            except TimeoutError:
                continue
            notices = [first]
            while not subscription.queue.empty():
                notices.append(subscription.queue.get_nowait())
            if any(n.kind == "s" for n in notices):
                raise InvalidTokenError(TokenProblem.REVOKED)
            if any(n.kind == "k" for n in notices):
                raise InvalidTokenError(TokenProblem.UNKNOWN_API_KEY)
            if credential.expires_at is not None and self._clock.now() >= credential.expires_at:
                raise InvalidTokenError(TokenProblem.EXPIRED)
            # A revocation announced while the listener was reconnecting was missed: ask the database.
            if any(n.kind == RESYNC for n in notices) and not await self._still_valid(credential):
                raise InvalidTokenError(
                    TokenProblem.REVOKED if credential.api_key_id is None else TokenProblem.UNKNOWN_API_KEY
                )
            return notices

    # --- a parcel ---------------------------------------------------------------------------------

    def parcel_updates(self, principal: Principal, parcel_id: UUID) -> AsyncIterator[ParcelUpdate]:
        """For the retailer that booked it and operations; anyone else's answer is NOT_FOUND."""
        scope = Scope(principal)
        scope.require_role(Role.RETAILER, Role.ADMIN)
        return self.watch_parcel(
            parcel_id, Credential.of(principal), lambda live: scope.sees_organization(live.organization_id)
        )

    async def watch_parcel(
        self, parcel_id: UUID, credential: Credential, visible: Callable[[ParcelLive], bool]
    ) -> AsyncIterator[ParcelUpdate]:
        subscription = self._subscribe([f"e:{parcel_id}", *credential.topics])
        try:
            async with self._db.read() as repos:
                live = await repos.tracking.parcel_live(parcel_id)
            if live is None or not visible(live):
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such parcel", "parcelId")
            if live.courier_id is not None:
                subscription.add(f"c:{live.courier_id}")
            yield ParcelUpdate(live, ())
            seen = _Seen(live.last_seq)
            while True:
                await self._next(subscription, credential)
                async with self._db.read() as repos:
                    current = await repos.tracking.parcel_live(parcel_id)
                    events = await repos.parcel_events.since(seen.floor, parcel_id=parcel_id, limit=REPLAY_LIMIT)
                if current is None:
                    return
                if current.courier_id is not None and f"c:{current.courier_id}" not in subscription.topics:
                    subscription.add(f"c:{current.courier_id}")
                fresh = tuple((seq, e) for seq, e in events if seen.add(seq))
                if fresh or _moved(live, current):
                    yield ParcelUpdate(current, fresh)
                live = current
        finally:
            subscription.close()

    # --- a courier's offers -----------------------------------------------------------------------

    async def offer_updates(self, principal: Principal) -> AsyncIterator[OfferUpdate]:
        """The courier's open offers first, then each new one and what becomes of each (withdrawn, expired...)."""
        courier_id = Scope(principal).courier()
        credential = Credential.of(principal)
        subscription = self._subscribe([f"o:{courier_id}", *credential.topics])
        announced: set[UUID] = set()
        try:
            while True:
                async with self._db.read() as repos:
                    page = await repos.offer_decisions.list_for_courier(
                        PageRequest(first=100, after=None),
                        courier_id=courier_id,
                        status=OfferStatus.OPEN,
                        now=self._clock.now(),
                    )
                    open_now = {o.id: o for o in page.items}
                    gone = [await repos.offers.get(i) for i in sorted(announced - open_now.keys())]
                now = self._clock.now()
                for offer in gone:
                    if offer is not None:
                        announced.discard(offer.id)
                        yield OfferUpdate(offer.status_at(now), offer)
                for offer_id, offer in open_now.items():
                    if offer_id not in announced:
                        announced.add(offer_id)
                        yield OfferUpdate(OfferStatus.OPEN, offer)
                await self._next(subscription, credential)
        finally:
            subscription.close()

    # --- an organisation's events -----------------------------------------------------------------

    async def organization_events(
        self, principal: Principal, organization_id: UUID | None, after_seq: int | None
    ) -> AsyncIterator[tuple[int, ParcelEvent]]:
        """Every event of the organisation's parcels from now (or after `after_seq`, to resume)."""
        scope = Scope(principal)
        if scope.is_admin and organization_id is None:
            raise DomainError.single(ErrorCode.REQUIRED, "operations name the organisation", "organizationId")
        visible = scope.organization_filter(organization_id)
        if visible.nothing or visible.owner is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such organisation", "organizationId")
        org = visible.owner
        if after_seq is not None and after_seq < 0:
            raise DomainError.single(ErrorCode.OUT_OF_RANGE, "must be 0 or more", "afterSeq")
        credential = Credential.of(principal)
        subscription = self._subscribe([f"e:{org}", *credential.topics])
        try:
            async with self._db.read() as repos:
                start = after_seq if after_seq is not None else await repos.parcel_events.latest_seq(org)
            seen = _Seen(start)
            floor: int | None = start
            while True:
                while floor is not None:
                    async with self._db.read() as repos:
                        rows = await repos.parcel_events.since(floor, organization_id=org, limit=REPLAY_LIMIT)
                    for seq, e in rows:
                        if seen.add(seq):
                            yield seq, e
                    floor = rows[-1][0] if len(rows) == REPLAY_LIMIT else None
                notices = await self._next(subscription, credential)
                if any(n.kind == RESYNC for n in notices):
                    floor = seen.floor
                    continue
                seqs = [int(n.ids[0]) for n in notices if n.kind == "e" and n.ids]
                async with self._db.read() as repos:
                    rows = await repos.parcel_events.since(0, organization_id=org, seqs=seqs, limit=REPLAY_LIMIT)
                for seq, e in rows:
                    if seen.add(seq):
                        yield seq, e
        finally:
            subscription.close()


def _moved(before: ParcelLive, after: ParcelLive) -> bool:
    return (before.status, before.position, before.position_at, before.pickup_eta_at, before.dropoff_eta_at) != (
        after.status,
        after.position,
        after.position_at,
        after.pickup_eta_at,
        after.dropoff_eta_at,
    )
