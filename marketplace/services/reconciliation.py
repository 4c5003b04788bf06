"""Reconciliation: a UTC day of Stripe's balance movements matched to the ledger, mismatches kept for finance.

Stripe is read first, outside any transaction (balance transactions, transfers and the platform's
payouts created in the day and an hour either side); then the ledger's side is read and the run written
in one transaction, superseding the day's previous run. Running a day again is safe and keeps history.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import reconciliation as rules
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.paging import Page, PageRequest, Position
from marketplace.domain.reconciliation import MismatchKind
from marketplace.payments import PaymentGateway, PayoutRecord
from marketplace.repositories.reconciliation import ReconciliationRun, StoredMismatch

RECONCILE_JOB = "reconcile_day"
# Connected accounts' payouts are listed account by account: a few lists in flight at once.
PAYOUT_LISTS_AT_ONCE = 8

CSV_HEADER = (
    "day",
    "run_id",
    "mismatch_id",
    "kind",
    "object_type",
    "object_id",
    "area_id",
    "stripe_balance_transaction_id",
    "stripe_amount_minor",
    "stripe_currency",
    "stripe_created_at",
    "ledger_entry_id",
    "ledger_entry_kind",
    "ledger_amount_minor",
    "ledger_currency",
    "ledger_occurred_at",
    "detail",
)


def _csv(rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def csv_row(m: StoredMismatch) -> tuple[object, ...]:
    return tuple(
        _cell(v)
        for v in (
            m.day.isoformat(),
            m.run_id,
            m.id,
            m.kind.value,
            m.object_type,
            m.object_id,
            m.area_id,
            m.stripe_balance_transaction_id,
            m.stripe_amount_minor,
            m.stripe_currency,
            m.stripe_created_at,
            m.ledger_entry_id,
            m.ledger_entry_kind,
            m.ledger_amount_minor,
            m.ledger_currency,
            m.ledger_occurred_at,
            m.detail,
        )
    )


class ReconciliationService:
    def __init__(self, db: Database, clock: Clock, gateway: PaymentGateway) -> None:
        self._db = db
        self._clock = clock
        self._gateway = gateway

    async def reconcile(self, day: date) -> ReconciliationRun:
        """Pulls Stripe's side of `day`, matches it to the ledger and stores the run (the worker, the CLI)."""
        started_at = self._clock.now()
        start, end = rules.day_bounds(day)
        since, until = start - rules.MARGIN, end + rules.MARGIN
        txns = await self._gateway.balance_transactions(created_from=since, created_until=until)
        transfers = await self._gateway.transfers(created_from=since, created_until=until)
        payouts = await self._gateway.payouts(created_from=since, created_until=until)
        stripe = rules.stripe_items(txns, transfers, payouts)
        async with self._db.read() as repos:
            accounts = await repos.reconciliation.payout_accounts()
        limit = asyncio.Semaphore(PAYOUT_LISTS_AT_ONCE)

        async def payouts_of(account: str) -> list[PayoutRecord]:
            async with limit:
                return await self._gateway.payouts(created_from=start, created_until=end, account_id=account)

        courier_payouts = [p for found in await asyncio.gather(*map(payouts_of, accounts)) for p in found]
        async with self._db.uow() as uow:
            ledger = await uow.repos.reconciliation.ledger_items(since, until, [s.object_id for s in stripe])
            recorded = await uow.repos.reconciliation.recorded_payouts([p.id for p in courier_payouts])
            matched, payout_mismatches = rules.reconcile_courier_payouts(day, courier_payouts, recorded)
            outcome = rules.combine(
                rules.reconcile(day, stripe, ledger), len(courier_payouts), matched, payout_mismatches
            )
            run = await uow.repos.reconciliation.save_run(day, outcome, started_at=started_at, at=self._clock.now())
            await uow.commit()
        return run

    def yesterday(self) -> date:
        return (self._clock.now() - timedelta(days=1)).date()

    async def runs(
        self, principal: Principal, page: PageRequest, *, day: date | None = None
    ) -> Page[ReconciliationRun]:
        Scope(principal).books()
        async with self._db.read() as repos:
            return await repos.reconciliation.runs(page, day=day)

    async def mismatches(
        self, principal: Principal, page: PageRequest, *, run_id: UUID, kind: MismatchKind | None = None
    ) -> Page[StoredMismatch]:
        """A run's mismatches; a run that does not exist has none (an empty page, as a list of its children)."""
        Scope(principal).books()
        async with self._db.read() as repos:
            return await repos.reconciliation.mismatches(page, run_ids=[run_id], kind=kind)

    async def export_csv(self, first_day: date, last_day: date) -> AsyncIterator[str]:
        """The current run's mismatches of each day in [first_day, last_day] (check who asks first)."""
        yield _csv([CSV_HEADER])
        async with self._db.snapshot() as uow:
            runs = await uow.repos.reconciliation.current_runs(first_day, last_day)
            for run in runs:
                page = PageRequest(first=1000)
                while True:
                    got = await uow.repos.reconciliation.mismatches(page, run_ids=[run.id])
                    if got.items:
                        yield _csv([csv_row(m) for m in got.items])
                    if not got.has_next:
                        break
                    last = got.items[-1]
                    page = PageRequest(first=1000, after=Position(last.created_at, last.id))
