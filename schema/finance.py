"""Finance in GraphQL: the ledger's balances, statements and the day's totals.

Finance and operations read the books; a courier reads its own statement, a retailer its own
organisation's charges. Amounts are signed the ledger's way: a debit positive, a credit negative.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.ledger import Account as DomainAccount
from marketplace.domain.ledger import AccountBalance
from marketplace.domain.ledger import AccountKind as DomainAccountKind
from marketplace.domain.ledger import EntryKind as DomainEntryKind
from marketplace.domain.ledger import LedgerLine as DomainLine
from marketplace.domain.paging import Position
from marketplace.services.finance import DaySummary
from schema.access import allow, query
from schema.common import Money, page_or_error
from schema.context import Info
from schema.types import Connection, decode_id, global_id

BOOKS = allow(DomainRole.FINANCE, DomainRole.ADMIN)
COURIER_STATEMENT = allow(DomainRole.COURIER, DomainRole.FINANCE, DomainRole.ADMIN)
ORGANIZATION_CHARGES = allow(DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN, api_keys=True)

LedgerAccountKind = strawberry.enum(
    DomainAccountKind, name="LedgerAccountKind", description="The chart of accounts (README, Ledger)."
)
LedgerEntryKind = strawberry.enum(
    DomainEntryKind, name="LedgerEntryKind", description="The business event an entry records."
)


@strawberry.type(description="An account of the ledger: one per kind, service area and currency, and per owner.")
class LedgerAccount:
    id: strawberry.ID
    code: str
    kind: LedgerAccountKind  # type: ignore[valid-type]
    name: str
    area_id: strawberry.ID
    currency: str
    organization_id: strawberry.ID | None
    courier_id: strawberry.ID | None

    @classmethod
    def from_domain(cls, a: DomainAccount) -> LedgerAccount:
        return cls(
            id=global_id("LedgerAccount", a.id),
            code=a.code,
            kind=a.kind,
            name=a.name,
            area_id=global_id("ServiceArea", a.area_id),
            currency=a.currency,
            organization_id=None if a.organization_id is None else global_id("Organization", a.organization_id),
            courier_id=None if a.courier_id is None else global_id("User", a.courier_id),
        )


@strawberry.type(description="An account's debits, credits and balance (debits minus credits) at an instant.")
class LedgerAccountBalance:
    account: LedgerAccount
    debit: Money
    credit: Money
    balance: Money

    @classmethod
    def from_domain(cls, b: AccountBalance) -> LedgerAccountBalance:
        cur = b.account.currency
        return cls(
            account=LedgerAccount.from_domain(b.account),
            debit=Money.of(b.debit_minor, cur),
            credit=Money.of(b.credit_minor, cur),
            balance=Money.of(b.balance_minor, cur),
        )


@strawberry.type(description="One line of a journal entry, with the entry's business event.")
class LedgerLine:
    id: strawberry.ID
    entry_id: strawberry.ID
    entry_kind: LedgerEntryKind  # type: ignore[valid-type]
    source_id: str = strawberry.field(description="The business event's own id (with the kind, unique).")
    description: str
    corrects_entry_id: strawberry.ID | None
    line_no: int
    account: LedgerAccount
    amount: Money = strawberry.field(description="Signed: a debit positive, a credit negative.")
    debit: Money
    credit: Money
    balance_after: Money | None = strawberry.field(description="The account's balance after this line.")
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def from_domain(cls, x: DomainLine) -> LedgerLine:
        cur = x.account.currency
        return cls(
            id=global_id("LedgerLine", x.id),
            entry_id=global_id("JournalEntry", x.entry_id),
            entry_kind=x.entry_kind,
            source_id=x.source_id,
            description=x.description,
            corrects_entry_id=None if x.corrects_entry_id is None else global_id("JournalEntry", x.corrects_entry_id),
            line_no=x.line_no,
            account=LedgerAccount.from_domain(x.account),
            amount=Money.of(x.amount_minor, cur),
            debit=Money.of(max(x.amount_minor, 0), cur),
            credit=Money.of(max(-x.amount_minor, 0), cur),
            balance_after=None if x.balance_after_minor is None else Money.of(x.balance_after_minor, cur),
            occurred_at=x.occurred_at,
            recorded_at=x.recorded_at,
        )


@strawberry.type(description="An area's local day in one currency; every figure positive in its usual sense.")
class DailyFinanceSummary:
    area_id: strawberry.ID
    date: date
    currency: str
    captured: Money = strawberry.field(description="Charged to retailers' cards for deliveries and attempts.")
    revenue: Money = strawberry.field(description="The platform's margin on those charges.")
    cancellation_fees: Money
    courier_earnings: Money
    refunds: Money
    stripe_fees: Money
    claims_paid: Money
    claims_recovered: Money
    net_revenue: Money = strawberry.field(
        description="revenue + cancellation fees - refunds - Stripe fees - claims paid + claims recovered."
    )
    transfers: Money
    transfer_reversals: Money
    payouts: Money

    @classmethod
    def from_domain(cls, s: DaySummary) -> DailyFinanceSummary:
        def m(minor: int) -> Money:
            return Money.of(minor, s.currency)

        return cls(
            area_id=global_id("ServiceArea", s.area_id),
            date=s.day,
            currency=s.currency,
            captured=m(s.captured_minor),
            revenue=m(s.revenue_minor),
            cancellation_fees=m(s.cancellation_fees_minor),
            courier_earnings=m(s.courier_earnings_minor),
            refunds=m(s.refunds_minor),
            stripe_fees=m(s.stripe_fees_minor),
            claims_paid=m(s.claims_paid_minor),
            claims_recovered=m(s.claims_recovered_minor),
            net_revenue=m(s.net_revenue_minor),
            transfers=m(s.transfers_minor),
            transfer_reversals=m(s.transfer_reversals_minor),
            payouts=m(s.payouts_minor),
        )


def _balance_position(b: AccountBalance) -> Position:
    return Position(b.account.created_at, b.account.id)


def _line_position(x: DomainLine) -> Position:
    return Position(x.created_at, x.id)


@strawberry.type
class FinanceQuery:
    @query(BOOKS, description="Every ledger account with its balance from the lines that occurred by `asOf` (now).")
    async def ledger_balances(
        self,
        info: Info,
        as_of: datetime | None = None,
        area_id: strawberry.ID | None = None,
        kind: LedgerAccountKind | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LedgerAccountBalance]:
        page = page_or_error(first, after)
        found = await info.context.services.finance.balances(
            await info.context.principal(),
            page,
            as_of=as_of,
            area_id=decode_id(area_id, "ServiceArea", field="areaId"),
            kind=None if kind is None else DomainAccountKind(kind),
        )
        return Connection[LedgerAccountBalance].from_page(
            found, LedgerAccountBalance.from_domain, _balance_position, has_previous=after is not None
        )

    @query(
        COURIER_STATEMENT,
        description="The lines of a courier's payable, oldest first. A courier reads its own (courierId may be "
        "left out); finance and operations name the courier.",
    )
    async def courier_statement(
        self, info: Info, courier_id: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[LedgerLine]:
        page = page_or_error(first, after)
        found = await info.context.services.finance.courier_statement(
            await info.context.principal(),
            page,
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
        )
        return Connection[LedgerLine].from_page(
            found, LedgerLine.from_domain, _line_position, has_previous=after is not None
        )

    @query(
        ORGANIZATION_CHARGES,
        description="An organisation's receivable, oldest first: charges, card payments, refunds and claims. "
        "A retailer reads its own; finance and operations name the organisation.",
    )
    async def organization_charges(
        self,
        info: Info,
        organization_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LedgerLine]:
        page = page_or_error(first, after)
        found = await info.context.services.finance.organization_charges(
            await info.context.principal(),
            page,
            organization_id=decode_id(organization_id, "Organization", field="organizationId"),
        )
        return Connection[LedgerLine].from_page(
            found, LedgerLine.from_domain, _line_position, has_previous=after is not None
        )

    @query(BOOKS, description="Each area's local day per currency: revenue, fees, refunds, claims, money moved.")
    async def daily_finance_summary(
        self, info: Info, date: date, area_id: strawberry.ID | None = None
    ) -> list[DailyFinanceSummary]:
        found = await info.context.services.finance.day_summary(
            await info.context.principal(), date, area_id=decode_id(area_id, "ServiceArea", field="areaId")
        )
        return [DailyFinanceSummary.from_domain(s) for s in found]
