"""Payouts: the platform's Stripe balance paid out to its bank, posted per service area when paid; and the
payouts finance lists (the platform's with their lines, the couriers' with the courier).

`payout.*` events of the platform (no `account`) reach `refresh_platform_payout` through the
`stripe_event` job. As every webhook handler here it trusts neither the event's snapshot nor its order:
it retrieves the payout and the balance transactions it settles, records both with the ledger entries
each line matched, and once Stripe says `paid`, posts one `payout` entry per area (rules in
domain/payouts.py) in the same transaction, at most once (the payout row's lock and `posted_at`, and the
ledger's (kind, source_id) key `<po_ id>:<area id>`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.payouts import PayoutLine, object_of, postings, settled_by, split_by_area
from marketplace.logs import get_logger
from marketplace.payments import PaymentGateway
from marketplace.repositories.payouts import CourierPayout, PayoutEntry, PlatformPayout, StoredPayoutLine
from marketplace.services.ledger import LedgerService

log = get_logger("crowdship.payouts")

PAID = "paid"


def _range(first_day: date | None, last_day: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC dates, both included, as instants [from, until)."""
    if first_day is not None and last_day is not None and last_day < first_day:
        raise DomainError.single(ErrorCode.WINDOW_ORDER, "the range ends before it starts", "until")
    start = None if first_day is None else datetime.combine(first_day, time(0), tzinfo=UTC)
    end = None if last_day is None else datetime.combine(last_day, time(0), tzinfo=UTC) + timedelta(days=1)
    return start, end


class PayoutService:
    def __init__(self, db: Database, clock: Clock, gateway: PaymentGateway, ledger_service: LedgerService) -> None:
        self._db = db
        self._clock = clock
        self._gateway = gateway
        self._ledger = ledger_service

    async def refresh_platform_payout(self, payout_id: str) -> PlatformPayout:
        """The platform's payout as Stripe has it now, with its lines; posted per area once it is paid."""
        payout = await self._gateway.payout(payout_id, None)
        # Stripe lists the balance transactions of automatic payouts only; a manual one has no lines.
        txns = settled_by(payout_id, await self._gateway.payout_transactions(payout_id)) if payout.automatic else []
        async with self._db.uow() as uow:
            now = self._clock.now()
            repo = uow.repos.payouts
            row = await repo.record_platform_payout(payout, now)  # locks the row until commit
            wanted = [object_of(t) for t in txns] + [t.id for t in txns if t.fee_minor]
            refs = await repo.entries_recording(wanted)
            lines = [PayoutLine(t, refs.get(object_of(t)), refs.get(t.id) if t.fee_minor else None) for t in txns]
            await repo.save_lines(payout_id, lines)
            if payout.status == PAID and row.posted_at is None:
                split = split_by_area(lines)
                if split.unexplained:
                    log.warning(
                        "payout lines without a ledger entry; the payout is posted short",
                        payout_id=payout_id,
                        unexplained_minor=split.unexplained_minor,
                        balance_transactions=list(split.unexplained),
                    )
                # Dated when Stripe's balance (our card clearing) paid it out: the day reconciliation finds it.
                for posting in postings(payout_id, payout.currency, split, at=payout.created_at or now):
                    await self._ledger.post(uow, posting)
                await repo.mark_posted(payout_id, now)
            await uow.commit()
        return row

    # --- what finance reads ------------------------------------------------------------------------------

    async def platform_payouts(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        first_day: date | None = None,
        last_day: date | None = None,
        status: str | None = None,
    ) -> tuple[Page[PlatformPayout], dict[str, list[StoredPayoutLine]], dict[str, list[PayoutEntry]]]:
        """A page of the platform's payouts (created on UTC dates in the range), with their lines and entries."""
        Scope(principal).books()
        start, end = _range(first_day, last_day)
        async with self._db.read() as repos:
            found = await repos.payouts.platform_payouts(page, created_from=start, created_until=end, status=status)
            ids = [p.payout_id for p in found.items]
            return found, await repos.payouts.lines_of(ids), await repos.payouts.entries_of(ids)

    async def courier_payouts(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        courier_id: UUID | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        status: str | None = None,
    ) -> Page[CourierPayout]:
        """Couriers' payouts from their connected accounts: finance and operations read every courier's (or
        the one named), a courier only its own (another's reads as an empty page)."""
        scope = Scope(principal)
        if scope.reads_books:
            scope.books()
            owner = courier_id
        else:
            visible = scope.courier_statement_filter(courier_id)
            if visible.nothing or visible.owner is None:
                return Page((), False)
            owner = visible.owner
        start, end = _range(first_day, last_day)
        async with self._db.read() as repos:
            return await repos.payouts.courier_payouts(
                page, courier_id=owner, created_from=start, created_until=end, status=status
            )
