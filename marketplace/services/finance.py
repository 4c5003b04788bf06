"""What finance reads from the ledger: balances, statements, the day's totals and the CSV export.

Finance and operations read the books; a courier reads only its own statement and a retailer only its
own organisation's charges (another's reads as an empty page, like a missing one). Reads run in a
read-only snapshot, so a page or an export never mixes two moments of the books.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.ledger import AccountBalance, AccountKind, EntryKind, KindTotal, LedgerLine
from marketplace.domain.paging import Page, PageRequest

# An export covers at most this many days: a month of a busy city is some millions of lines.
EXPORT_MAX_DAYS = 93


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One area's day in one currency, in minor units, each figure positive in its usual sense."""

    area_id: UUID
    currency: str
    day: date
    captured_minor: int  # charged to retailers' cards (deliveries and attempts)
    revenue_minor: int  # the platform's margin on them
    cancellation_fees_minor: int
    courier_earnings_minor: int  # what couriers earned (credits to their payables from charges and fees)
    refunds_minor: int
    stripe_fees_minor: int
    claims_paid_minor: int
    claims_recovered_minor: int
    transfers_minor: int
    transfer_reversals_minor: int
    payouts_minor: int

    @property
    def net_revenue_minor(self) -> int:
        return (
            self.revenue_minor
            + self.cancellation_fees_minor
            - self.refunds_minor
            - self.stripe_fees_minor
            - self.claims_paid_minor
            + self.claims_recovered_minor
        )


def summarise(day: date, totals: list[KindTotal]) -> list[DaySummary]:
    """Folds the day's totals per (area, currency, account kind, entry kind) into one summary per area/currency."""
    groups: dict[tuple[UUID, str], dict[tuple[AccountKind, EntryKind], int]] = {}
    for t in totals:
        groups.setdefault((t.area_id, t.currency), {})[(t.account_kind, t.entry_kind)] = t.amount_minor

    out = []
    for (area_id, currency), g in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):

        def of(account: AccountKind, *entries: EntryKind, sums: dict[tuple[AccountKind, EntryKind], int] = g) -> int:
            return sum(v for (a, e), v in sums.items() if a is account and (not entries or e in entries))

        k, a = EntryKind, AccountKind
        out.append(
            DaySummary(
                area_id=area_id,
                currency=currency,
                day=day,
                captured_minor=of(a.CARD_CLEARING, k.CHARGE_CAPTURED),
                revenue_minor=-of(a.PLATFORM_REVENUE),
                cancellation_fees_minor=-of(a.CANCELLATION_FEE_REVENUE),
                courier_earnings_minor=-of(a.COURIER_PAYABLE, k.CHARGE_CAPTURED, k.CANCELLATION_FEE),
                refunds_minor=of(a.REFUNDS),
                stripe_fees_minor=of(a.STRIPE_FEES),
                claims_paid_minor=of(a.CLAIMS_EXPENSE),
                claims_recovered_minor=-of(a.CLAIMS_RECOVERIES),
                transfers_minor=of(a.COURIER_PAYABLE, k.TRANSFER),
                transfer_reversals_minor=-of(a.COURIER_PAYABLE, k.TRANSFER_REVERSAL),
                payouts_minor=of(a.BANK, k.PAYOUT),
            )
        )
    return out


CSV_HEADER = (
    "entry_id",
    "entry_kind",
    "source_id",
    "occurred_at",
    "recorded_at",
    "area_id",
    "line_no",
    "account_code",
    "account_kind",
    "organization_id",
    "courier_id",
    "currency",
    "debit_minor",
    "credit_minor",
    "corrects_entry_id",
    "description",
)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_row(line: LedgerLine) -> tuple[object, ...]:
    a = line.account
    return (
        line.entry_id,
        line.entry_kind.value,
        line.source_id,
        _utc(line.occurred_at),
        _utc(line.recorded_at),
        a.area_id,
        line.line_no,
        a.code,
        a.kind.value,
        a.organization_id or "",
        a.courier_id or "",
        a.currency,
        line.amount_minor if line.amount_minor > 0 else 0,
        -line.amount_minor if line.amount_minor < 0 else 0,
        line.corrects_entry_id or "",
        line.description,
    )


def _csv_text(rows: list[tuple[object, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


class FinanceService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def balances(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        as_of: datetime | None = None,
        area_id: UUID | None = None,
        kind: AccountKind | None = None,
    ) -> Page[AccountBalance]:
        """Every account's debits, credits and balance from the lines that occurred by `as_of` (default now)."""
        Scope(principal).books()
        problems: list[FieldError] = []
        if as_of is not None and not validation.instant(as_of, "asOf", problems):
            raise DomainError(problems)
        async with self._db.read() as repos:
            return await repos.ledger.balances(page, as_of=as_of or self._clock.now(), area_id=area_id, kind=kind)

    async def courier_statement(
        self, principal: Principal, page: PageRequest, *, courier_id: UUID | None
    ) -> Page[LedgerLine]:
        """The lines of a courier's payable accounts; a courier reads its own, finance names one."""
        scope = Scope(principal)
        if scope.reads_books and courier_id is None:
            raise DomainError.single(ErrorCode.REQUIRED, "name the courier", "courierId")
        visible = scope.courier_statement_filter(courier_id)
        if visible.nothing or visible.owner is None:
            return Page((), False)
        async with self._db.read() as repos:
            return await repos.ledger.statement(page, kind=AccountKind.COURIER_PAYABLE, courier_id=visible.owner)

    async def organization_charges(
        self, principal: Principal, page: PageRequest, *, organization_id: UUID | None
    ) -> Page[LedgerLine]:
        """An organisation's receivable: what it was charged, paid, refunded and compensated."""
        scope = Scope(principal)
        if scope.reads_books and organization_id is None:
            raise DomainError.single(ErrorCode.REQUIRED, "name the organisation", "organizationId")
        visible = scope.organization_statement_filter(organization_id)
        if visible.nothing or visible.owner is None:
            return Page((), False)
        async with self._db.read() as repos:
            return await repos.ledger.statement(
                page, kind=AccountKind.RETAILER_RECEIVABLE, organization_id=visible.owner
            )

    async def day_summary(self, principal: Principal, day: date, *, area_id: UUID | None = None) -> list[DaySummary]:
        """The area's local day: revenue, fees, refunds, claims and money moved, per area and currency."""
        Scope(principal).books()
        async with self._db.read() as repos:
            return summarise(day, await repos.ledger.day_totals(day, area_id=area_id))

    def require_reader(self, principal: Principal) -> None:
        """Refuses (FORBIDDEN) anyone who does not read the books, before any input is judged."""
        Scope(principal).books()

    def export_range(self, principal: Principal, first_day: date, last_day: date) -> tuple[datetime, datetime]:
        """The UTC instants an export of [first_day, last_day] covers, after checking who asks and the range."""
        Scope(principal).books()
        if last_day < first_day:
            raise DomainError.single(ErrorCode.WINDOW_ORDER, "the range ends before it starts", "until")
        if (last_day - first_day).days + 1 > EXPORT_MAX_DAYS:
            raise DomainError.single(ErrorCode.OUT_OF_RANGE, f"at most {EXPORT_MAX_DAYS} days per export", "until")
        start = datetime.combine(first_day, time(0), tzinfo=UTC)
        return start, datetime.combine(last_day, time(0), tzinfo=UTC) + timedelta(days=1)

    async def export_csv(self, start: datetime, end: datetime, *, area_id: UUID | None = None) -> AsyncIterator[str]:
        """Lines that occurred in [start, end) as CSV chunks, from one snapshot (check with export_range first)."""
        yield _csv_text([CSV_HEADER])
        async with self._db.snapshot() as uow:
            chunk: list[tuple[object, ...]] = []
            async for line in uow.repos.ledger.lines_between(start, end, area_id=area_id):
                chunk.append(csv_row(line))
                if len(chunk) >= 1000:
                    yield _csv_text(chunk)
                    chunk = []
            if chunk:
                yield _csv_text(chunk)
