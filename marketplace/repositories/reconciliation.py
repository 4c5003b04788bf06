"""Reconciliation's SQL: the ledger's side of a day (card clearing per entry, under its Stripe object) and
the runs with their mismatches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from uuid import UUID

import asyncpg
from uuid6 import uuid7

from marketplace.domain.ledger import AccountKind, EntryKind
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.reconciliation import (
    STRIPE_ID,
    LedgerItem,
    Mismatch,
    MismatchKind,
    Outcome,
    RecordedPayout,
)
from marketplace.repositories._base import Conn, page_of


@dataclass(frozen=True, slots=True)
class ReconciliationRun:
    id: UUID
    day: date
    started_at: datetime
    finished_at: datetime
    superseded_at: datetime | None
    superseded_by: UUID | None
    stripe_objects: int
    ledger_entries: int
    matched: int
    mismatch_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredMismatch:
    id: UUID
    run_id: UUID
    day: date
    area_id: UUID | None
    kind: MismatchKind
    object_id: str
    object_type: str
    stripe_balance_transaction_id: str | None
    stripe_amount_minor: int | None
    stripe_currency: str | None
    stripe_created_at: datetime | None
    ledger_entry_id: UUID | None
    ledger_entry_kind: str | None
    ledger_amount_minor: int | None
    ledger_currency: str | None
    ledger_occurred_at: datetime | None
    detail: str
    created_at: datetime


_RUN = (
    "r.id, r.day, r.started_at, r.finished_at, r.superseded_at, r.superseded_by, r.stripe_objects,"
    " r.ledger_entries, r.matched, r.mismatch_count, r.created_at"
)
_MISMATCH = (
    "m.id, m.run_id, r.day, m.area_id, m.kind, m.object_id, m.object_type, m.stripe_balance_transaction_id,"
    " m.stripe_amount_minor, m.stripe_currency, m.stripe_created_at, m.ledger_entry_id, m.ledger_entry_kind,"
    " m.ledger_amount_minor, m.ledger_currency, m.ledger_occurred_at, m.detail, m.created_at"
)


def _run(r: asyncpg.Record) -> ReconciliationRun:
    return ReconciliationRun(**{f.name: r[f.name] for f in fields(ReconciliationRun)})


def _mismatch(r: asyncpg.Record) -> StoredMismatch:
    values = {f.name: r[f.name] for f in fields(StoredMismatch)}
    values["kind"] = MismatchKind(values["kind"])
    return StoredMismatch(**values)


class ReconciliationRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def ledger_items(self, start: datetime, end: datetime, object_ids: Sequence[str]) -> list[LedgerItem]:
        """Each entry that moved card clearing, occurred in [start, end) or recording one of `object_ids`,
        with its clearing total, under the Stripe object it records: a correction under its original's,
        an entry under a PaymentIntent under that intent's charge, a platform payout's area share
        (`<po_ id>:<area id>`) under the payout, its area as the item's `part`."""
        rows = await self._conn.fetch(
            "WITH wanted AS (SELECT unnest($3::text[]) AS id"
            " UNION SELECT p.payment_intent_id FROM payments p WHERE p.charge_id = ANY($3::text[])"
            # A platform payout's entries, one per area, are keyed <po_ id>:<area id> (domain/payouts.py).
            " UNION SELECT pl.payout_id || ':' || pl.area_id::text FROM platform_payout_lines pl"
            " WHERE pl.payout_id = ANY($3::text[]) AND pl.area_id IS NOT NULL),"
            " picked AS ("
            " SELECT e.id FROM journal_entries e WHERE e.occurred_at >= $1 AND e.occurred_at < $2"
            " UNION SELECT e.id FROM journal_entries e JOIN wanted w ON e.source_id = w.id"
            " UNION SELECT c.id FROM journal_entries c JOIN journal_entries o ON o.id = c.corrects_entry_id"
            " JOIN wanted w ON o.source_id = w.id),"
            " items AS ("
            " SELECT e.id, e.kind, e.area_id, e.occurred_at, e.corrects_entry_id IS NOT NULL AS is_correction,"
            " COALESCE(o.kind, e.kind) AS original_kind, COALESCE(o.source_id, e.source_id) AS source_id,"
            " p.charge_id, l.currency, sum(l.amount_minor)::bigint AS amount_minor"
            " FROM picked JOIN journal_entries e ON e.id = picked.id"
            " LEFT JOIN journal_entries o ON o.id = e.corrects_entry_id"
            " LEFT JOIN payments p ON p.payment_intent_id = COALESCE(o.source_id, e.source_id)"
            " JOIN journal_lines l ON l.entry_id = e.id"
            " JOIN ledger_accounts a ON a.id = l.account_id AND a.kind = $4"
            " GROUP BY e.id, e.kind, e.area_id, e.occurred_at, e.corrects_entry_id, p.charge_id, o.kind, o.source_id,"
            " e.source_id, l.currency)"
            " SELECT id, kind, area_id, occurred_at, is_correction, currency, amount_minor,"
            " CASE WHEN original_kind = $5 THEN split_part(source_id, ':', 1)"
            " ELSE COALESCE(charge_id, source_id) END AS object_id,"
            " CASE WHEN original_kind = $5 THEN NULLIF(split_part(source_id, ':', 2), '') END AS part"
            " FROM items ORDER BY occurred_at, id",
            start,
            end,
            list(object_ids),
            AccountKind.CARD_CLEARING.value,
            EntryKind.PAYOUT.value,
        )
        return [
            LedgerItem(
                r["object_id"],
                r["id"],
                r["kind"],
                r["area_id"],
                r["amount_minor"],
                r["currency"],
                r["occurred_at"],
                is_correction=r["kind"] == EntryKind.CORRECTION.value,
                part=r["part"],
            )
            for r in rows
            if STRIPE_ID.match(r["object_id"])
        ]

    async def payout_accounts(self) -> list[str]:
        """Every courier's connected account: its payouts are listed with its `Stripe-Account`."""
        return [r["account_id"] for r in await self._conn.fetch("SELECT account_id FROM payout_accounts ORDER BY 1")]

    async def recorded_payouts(self, payout_ids: Sequence[str]) -> dict[str, RecordedPayout]:
        rows = await self._conn.fetch(
            "SELECT payout_id, courier_id, amount_minor, currency FROM courier_payouts"
            " WHERE payout_id = ANY($1::text[])",
            list(payout_ids),
        )
        return {
            r["payout_id"]: RecordedPayout(r["payout_id"], r["courier_id"], r["amount_minor"], r["currency"])
            for r in rows
        }

    async def save_run(self, day: date, outcome: Outcome, *, started_at: datetime, at: datetime) -> ReconciliationRun:
        """Writes the run and its mismatches and supersedes the day's current run (one writer per day at a time)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('reconciliation'), $1)", day.toordinal())
        run_id = uuid7()
        previous = await self._conn.fetchval(
            "SELECT id FROM reconciliation_runs WHERE day = $1 AND superseded_at IS NULL", day
        )
        if previous is not None:
            # Marked first: the partial unique index allows one current run per day.
            await self._conn.execute("UPDATE reconciliation_runs SET superseded_at = $2 WHERE id = $1", previous, at)
        row = await self._conn.fetchrow(
            "INSERT INTO reconciliation_runs AS r (id, day, started_at, finished_at, stripe_objects, ledger_entries,"
            " matched, mismatch_count, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)"
            f" RETURNING {_RUN}",
            run_id,
            day,
            started_at,
            at,
            outcome.stripe_objects,
            outcome.ledger_entries,
            outcome.matched,
            len(outcome.mismatches),
        )
        if previous is not None:
            await self._conn.execute(
                "UPDATE reconciliation_runs SET superseded_by = $2 WHERE id = $1", previous, run_id
            )
        ms = outcome.mismatches
        if ms:
            await self._conn.execute(
                "INSERT INTO reconciliation_mismatches (id, run_id, area_id, kind, object_id, object_type,"
                " stripe_balance_transaction_id, stripe_amount_minor, stripe_currency, stripe_created_at,"
                " ledger_entry_id, ledger_entry_kind, ledger_amount_minor, ledger_currency, ledger_occurred_at,"
                " detail, created_at)"
                " SELECT x.id, $2, x.area_id, x.kind, x.object_id, x.object_type, x.txn, x.s_amount, x.s_currency,"
                " x.s_at, x.entry_id, x.entry_kind, x.l_amount, x.l_currency, x.l_at, x.detail, $3"
                " FROM unnest($1::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[],"
                " $10::text[], $11::timestamptz[], $12::uuid[], $13::text[], $14::bigint[], $15::text[],"
                " $16::timestamptz[], $17::text[]) AS x(id, area_id, kind, object_id, object_type, txn, s_amount,"
                " s_currency, s_at, entry_id, entry_kind, l_amount, l_currency, l_at, detail)",
                [uuid7() for _ in ms],
                run_id,
                at,
                [m.area_id for m in ms],
                [m.kind.value for m in ms],
                [m.object_id for m in ms],
                [m.object_type for m in ms],
                [None if m.stripe is None else m.stripe.balance_transaction_id for m in ms],
                [None if m.stripe is None else m.stripe.amount_minor for m in ms],
                [None if m.stripe is None else m.stripe.currency for m in ms],
                [None if m.stripe is None else m.stripe.created_at for m in ms],
                [None if m.ledger is None else m.ledger.entry_id for m in ms],
                [None if m.ledger is None else m.ledger.entry_kind for m in ms],
                [m.ledger_amount_minor if m.ledger_amount_minor is not None else _amount(m) for m in ms],
                [m.ledger_currency if m.ledger is None else m.ledger.currency for m in ms],
                [None if m.ledger is None else m.ledger.occurred_at for m in ms],
                [m.detail for m in ms],
            )
        assert row is not None
        return _run(row)

    async def runs(self, page: PageRequest, *, day: date | None = None) -> Page[ReconciliationRun]:
        after = page.after
        rows = await self._conn.fetch(
            f"SELECT {_RUN} FROM reconciliation_runs r WHERE ($1::date IS NULL OR r.day = $1)"
            " AND ($2::timestamptz IS NULL OR (r.created_at, r.id) > ($2, $3))"
            " ORDER BY r.created_at, r.id LIMIT $4",
            day,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _run)

    async def run(self, run_id: UUID) -> ReconciliationRun | None:
        row = await self._conn.fetchrow(f"SELECT {_RUN} FROM reconciliation_runs r WHERE r.id = $1", run_id)
        return None if row is None else _run(row)

    async def current_runs(self, first_day: date, last_day: date) -> list[ReconciliationRun]:
        rows = await self._conn.fetch(
            f"SELECT {_RUN} FROM reconciliation_runs r WHERE r.day BETWEEN $1 AND $2 AND r.superseded_at IS NULL"
            " ORDER BY r.day",
            first_day,
            last_day,
        )
        return [_run(r) for r in rows]

    async def mismatches(
        self, page: PageRequest, *, run_ids: Sequence[UUID], kind: MismatchKind | None = None
    ) -> Page[StoredMismatch]:
        after = page.after
        rows = await self._conn.fetch(
            f"SELECT {_MISMATCH} FROM reconciliation_mismatches m JOIN reconciliation_runs r ON r.id = m.run_id"
            " WHERE m.run_id = ANY($1::uuid[]) AND ($2::text IS NULL OR m.kind = $2)"
            " AND ($3::timestamptz IS NULL OR (m.created_at, m.id) > ($3, $4))"
            " ORDER BY m.created_at, m.id LIMIT $5",
            list(run_ids),
            None if kind is None else kind.value,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _mismatch)


def _amount(m: Mismatch) -> int | None:
    return None if m.ledger is None else m.ledger.amount_minor
