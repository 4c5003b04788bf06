"""Payouts in GraphQL: the platform's payouts to its bank with the balance transactions each settles and the
ledger entries they matched (finance, operations), and couriers' payouts with the courier (a courier its own).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from marketplace.domain.paging import Position
from marketplace.domain.payouts import PayoutStatus as DomainPayoutStatus
from marketplace.repositories.payouts import CourierPayout as DomainCourierPayout
from marketplace.repositories.payouts import PayoutEntry, StoredPayoutLine
from marketplace.repositories.payouts import PlatformPayout as DomainPlatformPayout
from schema.access import query
from schema.common import Money, page_or_error
from schema.context import Info
from schema.finance import BOOKS, COURIER_STATEMENT
from schema.types import Connection, decode_id, global_id

PayoutStatus = strawberry.enum(DomainPayoutStatus, name="PayoutStatus", description="Stripe's status of a payout.")


@strawberry.type(description="A balance transaction a payout settles, with the ledger entries that record it.")
class PayoutLine:
    balance_transaction_id: str
    type: str = strawberry.field(description="Stripe's type: charge, refund, transfer, transfer_refund ...")
    source_id: str | None = strawberry.field(description="The Stripe object that moved the money (ch_, re_, tr_ ...).")
    amount: Money = strawberry.field(description="Gross, signed as it moved our Stripe balance.")
    fee: Money
    net: Money = strawberry.field(description="Amount less fee: the line's part of the payout.")
    created_at: datetime
    area_id: strawberry.ID | None = strawberry.field(description="The service area whose books it is in.")
    ledger_entry_id: strawberry.ID | None = strawberry.field(description="The entry under its object.")
    ledger_entry_kind: str | None
    fee_entry_id: strawberry.ID | None = strawberry.field(description="The stripe_fee entry of its fee.")

    @classmethod
    def from_domain(cls, x: StoredPayoutLine) -> PayoutLine:
        return cls(
            balance_transaction_id=x.balance_transaction_id,
            type=x.type,
            source_id=x.source_id,
            amount=Money.of(x.amount_minor, x.currency),
            fee=Money.of(x.fee_minor, x.currency),
            net=Money.of(x.net_minor, x.currency),
            created_at=x.stripe_created_at,
            area_id=None if x.area_id is None else global_id("ServiceArea", x.area_id),
            ledger_entry_id=None if x.entry_id is None else global_id("JournalEntry", x.entry_id),
            ledger_entry_kind=x.entry_kind,
            fee_entry_id=None if x.fee_entry_id is None else global_id("JournalEntry", x.fee_entry_id),
        )


@strawberry.type(description="One area's payout entry: bank debited, card clearing credited by its share.")
class PayoutLedgerEntry:
    entry_id: strawberry.ID
    area_id: strawberry.ID
    amount: Money = strawberry.field(description="Into the area's bank account.")
    occurred_at: datetime

    @classmethod
    def from_domain(cls, e: PayoutEntry) -> PayoutLedgerEntry:
        return cls(
            entry_id=global_id("JournalEntry", e.entry_id),
            area_id=global_id("ServiceArea", e.area_id),
            amount=Money.of(e.amount_minor, e.currency),
            occurred_at=e.occurred_at,
        )


@strawberry.type(description="A payout of the platform's Stripe balance to its bank.")
class PlatformPayout:
    id: strawberry.ID
    payout_id: str = strawberry.field(description="Stripe's po_ id.")
    amount: Money
    status: PayoutStatus  # type: ignore[valid-type]
    automatic: bool
    created_at: datetime = strawberry.field(description="When Stripe paid it out of our balance.")
    arrival_at: datetime
    posted_at: datetime | None = strawberry.field(description="When its ledger entries were written (once paid).")
    lines: list[PayoutLine] = strawberry.field(description="What it settles; their net sums to the amount.")
    entries: list[PayoutLedgerEntry] = strawberry.field(description="Its ledger entries, one per service area.")

    @classmethod
    def build(
        cls, p: DomainPlatformPayout, lines: list[StoredPayoutLine], entries: list[PayoutEntry]
    ) -> PlatformPayout:
        return cls(
            id=global_id("PlatformPayout", p.id),
            payout_id=p.payout_id,
            amount=Money.of(p.amount_minor, p.currency),
            status=_status(p.status),
            automatic=p.automatic,
            created_at=p.stripe_created_at,
            arrival_at=p.arrival_at,
            posted_at=p.posted_at,
            lines=[PayoutLine.from_domain(x) for x in lines],
            entries=[PayoutLedgerEntry.from_domain(e) for e in entries],
        )


@strawberry.type(description="A courier's payout from its connected account to its own bank.")
class CourierPayout:
    id: strawberry.ID
    payout_id: str
    courier_id: strawberry.ID
    courier_email: str
    account_id: str
    amount: Money
    status: PayoutStatus  # type: ignore[valid-type]
    arrival_at: datetime
    recorded_at: datetime

    @classmethod
    def from_domain(cls, p: DomainCourierPayout) -> CourierPayout:
        return cls(
            id=global_id("CourierPayout", p.id),
            payout_id=p.payout_id,
            courier_id=global_id("User", p.courier_id),
            courier_email=p.courier_email,
            account_id=p.account_id,
            amount=Money.of(p.amount_minor, p.currency),
            status=_status(p.status),
            arrival_at=p.arrival_at,
            recorded_at=p.created_at,
        )


def _status(value: str) -> DomainPayoutStatus:
    return DomainPayoutStatus(value)


def _payout_position(p: DomainPlatformPayout) -> Position:
    return Position(p.stripe_created_at, p.id)


def _courier_payout_position(p: DomainCourierPayout) -> Position:
    return Position(p.created_at, p.id)


FromDate = Annotated[
    date | None, strawberry.argument(name="from", description="First UTC date, included (by creation).")
]
UntilDate = Annotated[date | None, strawberry.argument(description="Last UTC date, included.")]


@strawberry.type
class PayoutQuery:
    @query(
        BOOKS,
        description="The platform's payouts to its bank, oldest first, each with the balance transactions it "
        "settles and the ledger entries they matched; `from`/`until` (UTC dates of creation) and `status` filter.",
    )
    async def payouts(
        self,
        info: Info,
        from_: FromDate = None,
        until: UntilDate = None,
        status: PayoutStatus | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[PlatformPayout]:
        page = page_or_error(first, after)
        found, lines, entries = await info.context.services.payouts.platform_payouts(
            await info.context.principal(),
            page,
            first_day=from_,
            last_day=until,
            status=None if status is None else DomainPayoutStatus(status).value,
        )
        return Connection[PlatformPayout].from_page(
            found,
            lambda p: PlatformPayout.build(p, lines.get(p.payout_id, []), entries.get(p.payout_id, [])),
            _payout_position,
            has_previous=after is not None,
        )

    @query(
        COURIER_STATEMENT,
        description="Couriers' payouts to their own banks, oldest first (by when we recorded them). A courier "
        "reads its own; finance and operations read every courier's, or the one named.",
    )
    async def courier_payouts(
        self,
        info: Info,
        courier_id: strawberry.ID | None = None,
        from_: FromDate = None,
        until: UntilDate = None,
        status: PayoutStatus | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[CourierPayout]:
        page = page_or_error(first, after)
        found = await info.context.services.payouts.courier_payouts(
            await info.context.principal(),
            page,
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
            first_day=from_,
            last_day=until,
            status=None if status is None else DomainPayoutStatus(status).value,
        )
        return Connection[CourierPayout].from_page(
            found, CourierPayout.from_domain, _courier_payout_position, has_previous=after is not None
        )
