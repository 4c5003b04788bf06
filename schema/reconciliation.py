"""Reconciliation in GraphQL: each day's runs against Stripe and their mismatches, for finance.

Amounts are signed as they move our Stripe balance (money in positive), on both sides, so the two
sides of a mismatch compare directly.
"""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from marketplace.domain.paging import Position
from marketplace.domain.reconciliation import MismatchKind as DomainMismatchKind
from marketplace.repositories.reconciliation import ReconciliationRun as DomainRun
from marketplace.repositories.reconciliation import StoredMismatch
from schema.access import query
from schema.common import Money, page_or_error
from schema.context import Info
from schema.finance import BOOKS
from schema.types import Connection, decode_id, global_id

MismatchKind = strawberry.enum(
    DomainMismatchKind, name="ReconciliationMismatchKind", description="How Stripe and the ledger disagree."
)


@strawberry.type(description="One reconciliation of one UTC day; a later run of the day supersedes it.")
class ReconciliationRun:
    id: strawberry.ID
    date: date
    started_at: datetime
    finished_at: datetime
    superseded_at: datetime | None
    superseded_by_id: strawberry.ID | None
    stripe_objects: int = strawberry.field(description="Stripe objects that moved money, read for the day.")
    ledger_entries: int = strawberry.field(description="Ledger entries under Stripe ids, read for the day.")
    matched: int
    mismatch_count: int

    @classmethod
    def from_domain(cls, r: DomainRun) -> ReconciliationRun:
        return cls(
            id=global_id("ReconciliationRun", r.id),
            date=r.day,
            started_at=r.started_at,
            finished_at=r.finished_at,
            superseded_at=r.superseded_at,
            superseded_by_id=None if r.superseded_by is None else global_id("ReconciliationRun", r.superseded_by),
            stripe_objects=r.stripe_objects,
            ledger_entries=r.ledger_entries,
            matched=r.matched,
            mismatch_count=r.mismatch_count,
        )


@strawberry.type(description="One disagreement, with Stripe's side and the ledger's as they were read.")
class ReconciliationMismatch:
    id: strawberry.ID
    run_id: strawberry.ID
    date: date
    kind: MismatchKind  # type: ignore[valid-type]
    object_type: str = strawberry.field(description="charge, stripe_fee, refund, transfer, payout, courier_payout...")
    object_id: str = strawberry.field(description="The Stripe object's id (ch_, txn_, re_, tr_, trr_, po_).")
    area_id: strawberry.ID | None
    stripe_balance_transaction_id: str | None
    stripe_amount: Money | None
    stripe_created_at: datetime | None
    ledger_entry_id: strawberry.ID | None
    ledger_entry_kind: str | None
    ledger_amount: Money | None = strawberry.field(
        description="The ledger's total under the object (a courier's payout: as we recorded it)."
    )
    ledger_occurred_at: datetime | None
    detail: str

    @classmethod
    def from_domain(cls, m: StoredMismatch) -> ReconciliationMismatch:
        return cls(
            id=global_id("ReconciliationMismatch", m.id),
            run_id=global_id("ReconciliationRun", m.run_id),
            date=m.day,
            kind=m.kind,
            object_type=m.object_type,
            object_id=m.object_id,
            area_id=None if m.area_id is None else global_id("ServiceArea", m.area_id),
            stripe_balance_transaction_id=m.stripe_balance_transaction_id,
            stripe_amount=None
            if m.stripe_amount_minor is None or m.stripe_currency is None
            else Money.of(m.stripe_amount_minor, m.stripe_currency),
            stripe_created_at=m.stripe_created_at,
            ledger_entry_id=None if m.ledger_entry_id is None else global_id("JournalEntry", m.ledger_entry_id),
            ledger_entry_kind=m.ledger_entry_kind,
            ledger_amount=None
            if m.ledger_amount_minor is None or m.ledger_currency is None
            else Money.of(m.ledger_amount_minor, m.ledger_currency),
            ledger_occurred_at=m.ledger_occurred_at,
            detail=m.detail,
        )


def _run_position(r: DomainRun) -> Position:
    return Position(r.created_at, r.id)


def _mismatch_position(m: StoredMismatch) -> Position:
    return Position(m.created_at, m.id)


@strawberry.type
class ReconciliationQuery:
    @query(
        BOOKS,
        description="Reconciliation runs, oldest first; `date` keeps one UTC day's (the current is the "
        "one not superseded).",
    )
    async def reconciliation_runs(
        self, info: Info, date: date | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[ReconciliationRun]:
        page = page_or_error(first, after)
        found = await info.context.services.reconciliation.runs(await info.context.principal(), page, day=date)
        return Connection[ReconciliationRun].from_page(
            found, ReconciliationRun.from_domain, _run_position, has_previous=after is not None
        )

    @query(BOOKS, description="A run's mismatches, each with both sides; `kind` keeps one kind.")
    async def reconciliation_mismatches(
        self,
        info: Info,
        run_id: strawberry.ID,
        kind: MismatchKind | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ReconciliationMismatch]:
        page = page_or_error(first, after)
        found = await info.context.services.reconciliation.mismatches(
            await info.context.principal(),
            page,
            run_id=decode_id(run_id, "ReconciliationRun", field="runId", what="reconciliation run"),
            kind=None if kind is None else DomainMismatchKind(kind),
        )
        return Connection[ReconciliationMismatch].from_page(
            found, ReconciliationMismatch.from_domain, _mismatch_position, has_previous=after is not None
        )
