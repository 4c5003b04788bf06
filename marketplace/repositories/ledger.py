"""The ledger's SQL: accounts opened on first use, entries written once by business key, and the reads finance needs.

Writes run on the caller's connection inside its transaction, so an entry commits or rolls back with
the business event it records. The database itself refuses an unbalanced entry (at commit) and any
change to a written row (migration 0012).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime
from uuid import UUID

import asyncpg
from uuid6 import uuid7

from marketplace.domain.ledger import (
    CHART,
    Account,
    AccountBalance,
    AccountKind,
    AccountRef,
    Entry,
    EntryKind,
    EntryLine,
    KindTotal,
    LedgerLine,
    Posting,
)
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, page_of

_ACCOUNT = "a.id, a.code, a.kind, a.area_id, a.currency, a.organization_id, a.courier_id, a.created_at"


def _account(row: asyncpg.Record, prefix: str = "") -> Account:
    return Account(
        id=row[prefix + "id"],
        code=row[prefix + "code"],
        kind=AccountKind(row[prefix + "kind"]),
        area_id=row[prefix + "area_id"],
        currency=row[prefix + "currency"],
        organization_id=row[prefix + "organization_id"],
        courier_id=row[prefix + "courier_id"],
        created_at=row[prefix + "created_at"],
    )


_LINE = (
    "l.id, l.entry_id, e.kind AS entry_kind, e.source_id, e.description, e.corrects_entry_id, l.line_no, "
    "l.amount_minor, l.occurred_at, e.recorded_at, l.created_at, "
    "a.id AS a_id, a.code AS a_code, a.kind AS a_kind, a.area_id AS a_area_id, a.currency AS a_currency, "
    "a.organization_id AS a_organization_id, a.courier_id AS a_courier_id, a.created_at AS a_created_at"
)


def _line(row: asyncpg.Record) -> LedgerLine:
    return LedgerLine(
        id=row["id"],
        entry_id=row["entry_id"],
        entry_kind=EntryKind(row["entry_kind"]),
        source_id=row["source_id"],
        description=row["description"],
        corrects_entry_id=row["corrects_entry_id"],
        line_no=row["line_no"],
        account=_account(row, "a_"),
        amount_minor=row["amount_minor"],
        balance_after_minor=row.get("balance_after_minor", None),
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        created_at=row["created_at"],
    )


class LedgerRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- writes --------------------------------------------------------------------------------

    async def _find_accounts(self, wanted: list[AccountRef]) -> dict[AccountRef, Account]:
        rows = await self._conn.fetch(
            f"SELECT {_ACCOUNT} FROM ledger_accounts a"
            " JOIN unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[]) AS w(kind, area_id, currency,"
            " organization_id, courier_id)"
            " ON a.kind = w.kind AND a.area_id = w.area_id AND a.currency = w.currency"
            " AND a.organization_id IS NOT DISTINCT FROM w.organization_id"
            " AND a.courier_id IS NOT DISTINCT FROM w.courier_id",
            [r.kind.value for r in wanted],
            [r.area_id for r in wanted],
            [r.currency for r in wanted],
            [r.organization_id for r in wanted],
            [r.courier_id for r in wanted],
        )
        return {
            AccountRef(a.kind, a.area_id, a.currency, organization_id=a.organization_id, courier_id=a.courier_id): a
            for a in (_account(r) for r in rows)
        }

    async def open_accounts(self, refs: Iterable[AccountRef], *, at: datetime) -> dict[AccountRef, Account]:
        """The accounts named, each created on first use (concurrent first uses make one).

        Read first: once an account exists (nearly always), posting costs no insert attempt for it.
        """
        wanted = sorted(
            set(refs), key=lambda r: (r.kind, str(r.area_id), r.currency, str(r.organization_id), str(r.courier_id))
        )
        found = await self._find_accounts(wanted)
        missing = [r for r in wanted if r not in found]
        if not missing:
            return found
        await self._conn.execute(
            "INSERT INTO ledger_accounts (id, code, kind, area_id, currency, organization_id, courier_id, created_at)"
            " SELECT *, $8 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::uuid[],"
            " $7::uuid[]) ON CONFLICT DO NOTHING",
            [uuid7() for _ in missing],
            [CHART[r.kind].code for r in missing],
            [r.kind.value for r in missing],
            [r.area_id for r in missing],
            [r.currency for r in missing],
            [r.organization_id for r in missing],
            [r.courier_id for r in missing],
            at,
        )
        return found | await self._find_accounts(missing)

    async def insert_entry(self, posting: Posting, *, entry_id: UUID, recorded_at: datetime) -> Entry | None:
        """Writes the entry and its lines and returns it; None (writing nothing) when its business key is taken.

        A concurrent writer of the same key waits on the unique index until the first commits (then
        writes nothing) or rolls back (then writes it).
        """
        inserted = await self._conn.fetchval(
            "INSERT INTO journal_entries (id, area_id, kind, source_id, description, corrects_entry_id, occurred_at,"
            " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (kind, source_id) DO NOTHING RETURNING id",
            entry_id,
            posting.area_id,
            posting.kind.value,
            posting.source_id,
            posting.description,
            posting.corrects_entry_id,
            posting.occurred_at,
            recorded_at,
        )
        if inserted is None:
            return None
        accounts = await self.open_accounts((x.account for x in posting.lines), at=recorded_at)
        await self._conn.execute(
            "INSERT INTO journal_lines (id, entry_id, line_no, account_id, area_id, currency, amount_minor,"
            " occurred_at, created_at)"
            " SELECT id, $2, line_no, account_id, $3, currency, amount_minor, $4, $5"
            " FROM unnest($1::uuid[], $6::smallint[], $7::uuid[], $8::text[], $9::bigint[])"
            " AS x(id, line_no, account_id, currency, amount_minor)",
            # Time-ordered ids: statements page over (created_at, id), so lines read in the order posted.
            [uuid7() for _ in posting.lines],
            entry_id,
            posting.area_id,
            posting.occurred_at,
            recorded_at,
            list(range(1, len(posting.lines) + 1)),
            [accounts[x.account].id for x in posting.lines],
            [x.currency for x in posting.lines],
            [x.amount_minor for x in posting.lines],
        )
        return Entry(
            id=entry_id,
            kind=posting.kind,
            source_id=posting.source_id,
            area_id=posting.area_id,
            occurred_at=posting.occurred_at,
            recorded_at=recorded_at,
            description=posting.description,
            corrects_entry_id=posting.corrects_entry_id,
            lines=tuple(EntryLine(accounts[x.account], no, x.amount_minor) for no, x in enumerate(posting.lines, 1)),
        )

    # --- entries ------------------------------------------------------------------------------------

    async def _entries(self, where: str, *args: object) -> list[Entry]:
        rows = await self._conn.fetch(
            "SELECT e.id AS e_id, e.kind AS e_kind, e.source_id, e.area_id AS e_area_id, e.occurred_at,"
            " e.recorded_at, e.description, e.corrects_entry_id, l.line_no, l.amount_minor,"
            f" {_ACCOUNT.replace('a.id', 'a.id AS id')}"
            " FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id"
            f" JOIN ledger_accounts a ON a.id = l.account_id WHERE {where} ORDER BY e.occurred_at, e.id, l.line_no",
            *args,
        )
        entries: dict[UUID, Entry] = {}
        lines: dict[UUID, list[EntryLine]] = {}
        for r in rows:
            if r["e_id"] not in entries:
                entries[r["e_id"]] = Entry(
                    id=r["e_id"],
                    kind=EntryKind(r["e_kind"]),
                    source_id=r["source_id"],
                    area_id=r["e_area_id"],
                    occurred_at=r["occurred_at"],
                    recorded_at=r["recorded_at"],
                    description=r["description"],
                    corrects_entry_id=r["corrects_entry_id"],
                    lines=(),
                )
                lines[r["e_id"]] = []
            lines[r["e_id"]].append(EntryLine(_account(r), r["line_no"], r["amount_minor"]))
        return [
            Entry(
                id=e.id,
                kind=e.kind,
                source_id=e.source_id,
                area_id=e.area_id,
                occurred_at=e.occurred_at,
                recorded_at=e.recorded_at,
                description=e.description,
                corrects_entry_id=e.corrects_entry_id,
                lines=tuple(lines[e.id]),
            )
            for e in entries.values()
        ]

    async def by_key(self, kind: EntryKind, source_id: str) -> Entry | None:
        found = await self._entries("e.kind = $1 AND e.source_id = $2", kind.value, source_id)
        return found[0] if found else None

    async def get(self, entry_id: UUID) -> Entry | None:
        found = await self._entries("e.id = $1", entry_id)
        return found[0] if found else None

    # --- reads for finance ---------------------------------------------------------------------------

    async def balances(
        self,
        page: PageRequest,
        *,
        as_of: datetime,
        area_id: UUID | None = None,
        kind: AccountKind | None = None,
        courier_id: UUID | None = None,
        organization_id: UUID | None = None,
    ) -> Page[AccountBalance]:
        """Accounts, oldest first, with their debits, credits and balance from lines that occurred by `as_of`."""
        after = page.after
        rows = await self._conn.fetch(
            f"SELECT {_ACCOUNT},"
            " COALESCE(sum(l.amount_minor) FILTER (WHERE l.amount_minor > 0), 0)::bigint AS debit_minor,"
            " COALESCE(-sum(l.amount_minor) FILTER (WHERE l.amount_minor < 0), 0)::bigint AS credit_minor"
            " FROM ledger_accounts a LEFT JOIN journal_lines l ON l.account_id = a.id AND l.occurred_at <= $1"
            " WHERE ($2::uuid IS NULL OR a.area_id = $2) AND ($3::text IS NULL OR a.kind = $3)"
            " AND ($4::uuid IS NULL OR a.courier_id = $4) AND ($5::uuid IS NULL OR a.organization_id = $5)"
            " AND ($6::timestamptz IS NULL OR (a.created_at, a.id) > ($6, $7))"
            " GROUP BY a.id ORDER BY a.created_at, a.id LIMIT $8",
            as_of,
            area_id,
            None if kind is None else kind.value,
            courier_id,
            organization_id,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(
            rows,
            page,
            lambda r: AccountBalance(
                _account(r), r["debit_minor"], r["credit_minor"], r["debit_minor"] - r["credit_minor"]
            ),
        )

    async def statement(
        self,
        page: PageRequest,
        *,
        kind: AccountKind,
        courier_id: UUID | None = None,
        organization_id: UUID | None = None,
    ) -> Page[LedgerLine]:
        """The lines of one owner's accounts of a kind, oldest first, each with its account's running balance."""
        after = page.after
        rows = await self._conn.fetch(
            "SELECT * FROM ("
            f" SELECT {_LINE}, sum(l.amount_minor) OVER (PARTITION BY l.account_id ORDER BY l.created_at, l.id)"
            " AS balance_after_minor"
            " FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
            " JOIN ledger_accounts a ON a.id = l.account_id"
            " WHERE a.kind = $1 AND a.courier_id IS NOT DISTINCT FROM $2"
            " AND a.organization_id IS NOT DISTINCT FROM $3"
            ") s WHERE ($4::timestamptz IS NULL OR (s.created_at, s.id) > ($4, $5))"
            " ORDER BY s.created_at, s.id LIMIT $6",
            kind.value,
            courier_id,
            organization_id,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _line)

    async def day_totals(self, day: date, *, area_id: UUID | None) -> list[KindTotal]:
        """Per area, currency, account kind and entry kind: the lines that occurred on the area's local `day`."""
        rows = await self._conn.fetch(
            "SELECT l.area_id, l.currency, a.kind AS account_kind, e.kind AS entry_kind,"
            " sum(l.amount_minor)::bigint AS amount_minor"
            " FROM journal_lines l JOIN ledger_accounts a ON a.id = l.account_id"
            " JOIN journal_entries e ON e.id = l.entry_id JOIN service_areas s ON s.id = l.area_id"
            # A local day lies within a day either side of the UTC day: an index range first, then the zone.
            " WHERE l.occurred_at >= ($1::date - 1)::timestamp AT TIME ZONE 'UTC'"
            " AND l.occurred_at < ($1::date + 2)::timestamp AT TIME ZONE 'UTC'"
            " AND (l.occurred_at AT TIME ZONE s.time_zone)::date = $1"
            " AND ($2::uuid IS NULL OR l.area_id = $2)"
            " GROUP BY l.area_id, l.currency, a.kind, e.kind ORDER BY l.area_id, l.currency, a.kind, e.kind",
            day,
            area_id,
        )
        return [
            KindTotal(
                r["area_id"],
                r["currency"],
                AccountKind(r["account_kind"]),
                EntryKind(r["entry_kind"]),
                r["amount_minor"],
            )
            for r in rows
        ]

    async def lines_between(
        self, start: datetime, end: datetime, *, area_id: UUID | None, batch: int = 2000
    ) -> AsyncIterator[LedgerLine]:
        """Every line that occurred in [start, end), in entry order, read by a cursor (needs a transaction)."""
        cursor = self._conn.cursor(
            f"SELECT {_LINE} FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
            " JOIN ledger_accounts a ON a.id = l.account_id"
            " WHERE l.occurred_at >= $1 AND l.occurred_at < $2 AND ($3::uuid IS NULL OR l.area_id = $3)"
            " ORDER BY l.occurred_at, l.entry_id, l.line_no",
            start,
            end,
            area_id,
            prefetch=batch,
        )
        async for row in cursor:
            yield _line(row)
