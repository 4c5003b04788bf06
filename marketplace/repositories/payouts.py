"""Payouts' SQL: the platform's payouts with the balance transactions each settles (and the ledger entries
they were matched to), and couriers' payouts as finance lists them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from uuid6 import uuid7

from marketplace.domain.ledger import AccountKind, EntryKind
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.payouts import EntryRef, PayoutLine
from marketplace.payments.gateway import PayoutState
from marketplace.repositories._base import Conn, page_of


@dataclass(frozen=True, slots=True)
class PlatformPayout:
    id: UUID
    payout_id: str
    amount_minor: int
    currency: str
    status: str
    automatic: bool
    stripe_created_at: datetime
    arrival_at: datetime
    posted_at: datetime | None

    @property
    def created_at(self) -> datetime:  # the page position: Stripe's creation time
        return self.stripe_created_at


@dataclass(frozen=True, slots=True)
class StoredPayoutLine:
    payout_id: str
    balance_transaction_id: str
    type: str
    source_id: str | None
    amount_minor: int
    fee_minor: int
    net_minor: int
    currency: str
    stripe_created_at: datetime
    area_id: UUID | None
    entry_id: UUID | None
    entry_kind: str | None
    fee_entry_id: UUID | None


@dataclass(frozen=True, slots=True)
class PayoutEntry:
    """One area's `payout` entry: what it moved from clearing to the bank (positive into the bank)."""

    payout_id: str
    entry_id: UUID
    area_id: UUID
    amount_minor: int
    currency: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CourierPayout:
    id: UUID
    payout_id: str
    courier_id: UUID
    courier_email: str
    account_id: str
    amount_minor: int
    currency: str
    status: str
    arrival_at: datetime
    created_at: datetime


_PAYOUT = (
    "pp.id, pp.payout_id, pp.amount_minor, pp.currency, pp.status, pp.automatic, pp.stripe_created_at,"
    " pp.arrival_at, pp.posted_at"
)


def _payout(r: asyncpg.Record) -> PlatformPayout:
    return PlatformPayout(
        r["id"],
        r["payout_id"],
        r["amount_minor"],
        r["currency"],
        r["status"],
        r["automatic"],
        r["stripe_created_at"],
        r["arrival_at"],
        r["posted_at"],
    )


def _courier_payout(r: asyncpg.Record) -> CourierPayout:
    return CourierPayout(
        r["id"],
        r["payout_id"],
        r["courier_id"],
        r["email"],
        r["account_id"],
        r["amount_minor"],
        r["currency"],
        r["status"],
        r["arrival_at"],
        r["created_at"],
    )


class PayoutRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- recording the platform's payouts ------------------------------------------------------------

    async def record_platform_payout(self, payout: PayoutState, at: datetime) -> PlatformPayout:
        """Inserts the payout or brings its status up to date, and locks its row for the caller's transaction."""
        row = await self._conn.fetchrow(
            "INSERT INTO platform_payouts AS pp (id, payout_id, amount_minor, currency, status, automatic,"
            " stripe_created_at, arrival_at, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
            " ON CONFLICT (payout_id) DO UPDATE SET status = EXCLUDED.status, arrival_at = EXCLUDED.arrival_at,"
            " updated_at = EXCLUDED.updated_at"
            f" RETURNING {_PAYOUT}",
            uuid7(),
            payout.payout_id,
            payout.amount_minor,
            payout.currency,
            payout.status,
            payout.automatic,
            payout.created_at or at,
            payout.arrival_at,
            at,
        )
        assert row is not None
        return _payout(row)

    async def entries_recording(self, object_ids: Sequence[str]) -> dict[str, EntryRef]:
        """The (first, uncorrected-original) entry recording each Stripe object: a charge through its
        PaymentIntent, anything else by its own id; payout entries are never a line's entry."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT ON (w.object_id) w.object_id, e.id, e.kind, e.area_id"
            " FROM unnest($1::text[]) AS w(object_id)"
            " LEFT JOIN payments p ON p.charge_id = w.object_id"
            " JOIN journal_entries e ON e.source_id = COALESCE(p.payment_intent_id, w.object_id)"
            " AND e.corrects_entry_id IS NULL AND e.kind <> $2"
            " ORDER BY w.object_id, e.recorded_at, e.id",
            list(set(object_ids)),
            EntryKind.PAYOUT.value,
        )
        return {r["object_id"]: EntryRef(r["id"], r["kind"], r["area_id"]) for r in rows}

    async def save_lines(self, payout_id: str, lines: Sequence[PayoutLine]) -> None:
        """The payout's lines with what they matched; a line matched later (its entry written since) is updated."""
        if not lines:
            return
        await self._conn.execute(
            "INSERT INTO platform_payout_lines (payout_id, balance_transaction_id, type, source_id, amount_minor,"
            " fee_minor, net_minor, currency, stripe_created_at, area_id, entry_id, fee_entry_id)"
            " SELECT $1, x.txn, x.type, x.source, x.amount, x.fee, x.amount - x.fee, x.currency, x.at, x.area,"
            " x.entry, x.fee_entry"
            " FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],"
            " $8::timestamptz[], $9::uuid[], $10::uuid[], $11::uuid[])"
            " AS x(txn, type, source, amount, fee, currency, at, area, entry, fee_entry)"
            " ON CONFLICT (payout_id, balance_transaction_id) DO UPDATE SET area_id = EXCLUDED.area_id,"
            " entry_id = EXCLUDED.entry_id, fee_entry_id = EXCLUDED.fee_entry_id",
            payout_id,
            [line.txn.id for line in lines],
            [line.txn.type for line in lines],
            [line.txn.source for line in lines],
            [line.txn.amount_minor for line in lines],
            [line.txn.fee_minor for line in lines],
            [line.txn.currency for line in lines],
            [line.txn.created_at for line in lines],
            [line.area_id for line in lines],
            [None if line.entry is None else line.entry.entry_id for line in lines],
            [None if line.fee_entry is None else line.fee_entry.entry_id for line in lines],
        )

    async def mark_posted(self, payout_id: str, at: datetime) -> None:
        await self._conn.execute("UPDATE platform_payouts SET posted_at = $2 WHERE payout_id = $1", payout_id, at)

    # --- what finance reads ----------------------------------------------------------------------------

    async def platform_payouts(
        self,
        page: PageRequest,
        *,
        created_from: datetime | None = None,
        created_until: datetime | None = None,
        status: str | None = None,
    ) -> Page[PlatformPayout]:
        after = page.after
        rows = await self._conn.fetch(
            f"SELECT {_PAYOUT} FROM platform_payouts pp"
            " WHERE ($1::timestamptz IS NULL OR pp.stripe_created_at >= $1)"
            " AND ($2::timestamptz IS NULL OR pp.stripe_created_at < $2) AND ($3::text IS NULL OR pp.status = $3)"
            " AND ($4::timestamptz IS NULL OR (pp.stripe_created_at, pp.id) > ($4, $5))"
            " ORDER BY pp.stripe_created_at, pp.id LIMIT $6",
            created_from,
            created_until,
            status,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _payout)

    async def lines_of(self, payout_ids: Sequence[str]) -> dict[str, list[StoredPayoutLine]]:
        rows = await self._conn.fetch(
            "SELECT pl.payout_id, pl.balance_transaction_id, pl.type, pl.source_id, pl.amount_minor, pl.fee_minor,"
            " pl.net_minor, pl.currency, pl.stripe_created_at, pl.area_id, pl.entry_id, e.kind AS entry_kind,"
            " pl.fee_entry_id"
            " FROM platform_payout_lines pl LEFT JOIN journal_entries e ON e.id = pl.entry_id"
            " WHERE pl.payout_id = ANY($1::text[])"
            " ORDER BY pl.payout_id, pl.stripe_created_at, pl.balance_transaction_id",
            list(payout_ids),
        )
        out: dict[str, list[StoredPayoutLine]] = {}
        for r in rows:
            out.setdefault(r["payout_id"], []).append(StoredPayoutLine(**dict(r)))
        return out

    async def entries_of(self, payout_ids: Sequence[str]) -> dict[str, list[PayoutEntry]]:
        """Each payout's entries (one per area), with what they moved into the bank."""
        rows = await self._conn.fetch(
            "SELECT split_part(e.source_id, ':', 1) AS payout_id, e.id, e.area_id, l.currency,"
            " sum(l.amount_minor)::bigint AS amount_minor, e.occurred_at"
            " FROM (SELECT DISTINCT pl.payout_id || ':' || pl.area_id::text AS key FROM platform_payout_lines pl"
            " WHERE pl.payout_id = ANY($1::text[]) AND pl.area_id IS NOT NULL) k"
            " JOIN journal_entries e ON e.source_id = k.key AND e.kind = $2"
            " JOIN journal_lines l ON l.entry_id = e.id"
            " JOIN ledger_accounts a ON a.id = l.account_id AND a.kind = $3"
            " GROUP BY e.id, e.source_id, e.area_id, l.currency, e.occurred_at ORDER BY e.source_id",
            list(payout_ids),
            EntryKind.PAYOUT.value,
            AccountKind.BANK.value,
        )
        out: dict[str, list[PayoutEntry]] = {}
        for r in rows:
            out.setdefault(r["payout_id"], []).append(
                PayoutEntry(r["payout_id"], r["id"], r["area_id"], r["amount_minor"], r["currency"], r["occurred_at"])
            )
        return out

    async def courier_payouts(
        self,
        page: PageRequest,
        *,
        courier_id: UUID | None = None,
        created_from: datetime | None = None,
        created_until: datetime | None = None,
        status: str | None = None,
    ) -> Page[CourierPayout]:
        after = page.after
        rows = await self._conn.fetch(
            "SELECT cp.id, cp.payout_id, cp.courier_id, u.email, cp.account_id, cp.amount_minor, cp.currency,"
            " cp.status, cp.arrival_at, cp.created_at"
            " FROM courier_payouts cp JOIN users u ON u.id = cp.courier_id"
            " WHERE ($1::uuid IS NULL OR cp.courier_id = $1)"
            " AND ($2::timestamptz IS NULL OR cp.created_at >= $2) AND ($3::timestamptz IS NULL OR cp.created_at < $3)"
            " AND ($4::text IS NULL OR cp.status = $4)"
            " AND ($5::timestamptz IS NULL OR (cp.created_at, cp.id) > ($5, $6))"
            " ORDER BY cp.created_at, cp.id LIMIT $7",
            courier_id,
            created_from,
            created_until,
            status,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _courier_payout)
