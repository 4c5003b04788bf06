"""The ledger in PostgreSQL: balance and immutability enforced by the database, one entry per business event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.domain import ledger
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.ledger import AccountKind, EntryKind
from marketplace.domain.money import Money
from marketplace.domain.paging import PageRequest
from marketplace.services.container import Services
from tests.factories import make_area
from tests.helpers import PASSWORD, wait_until_blocked_on_a_lock


@dataclass(frozen=True, slots=True)
class Books:
    area_id: UUID
    organization_id: UUID
    courier_id: UUID


async def open_books(services: Services, suffix: str = "") -> Books:
    area = await make_area(services, name=f"Amsterdam{suffix}")
    retailer = await services.accounts.create_user(
        email=f"shop{suffix}@example.com", password=PASSWORD, role=Role.RETAILER, organization_name=f"Shop{suffix}"
    )
    courier = await services.accounts.create_user(
        email=f"courier{suffix}@example.com", password=PASSWORD, role=Role.COURIER
    )
    assert retailer.organization_id is not None
    return Books(area.id, retailer.organization_id, courier.id)


def capture(books: Books, services: Services, source_id: str = "pi_1", charged: int = 1310) -> ledger.Posting:
    return ledger.charge_captured(
        source_id=source_id,
        area_id=books.area_id,
        organization_id=books.organization_id,
        charged=Money(charged, "EUR"),
        courier_id=books.courier_id,
        courier_pay=Money(500, "EUR"),
        at=services.clock.now(),
    )


async def post(services: Services, posting: ledger.Posting) -> ledger.Entry:
    async with services.db.uow() as uow:
        posted = await services.ledger.post(uow, posting)
        await uow.commit()
    return posted.entry


async def account_id(db: asyncpg.Connection, kind: AccountKind) -> UUID:
    found: UUID = await db.fetchval("SELECT id FROM ledger_accounts WHERE kind = $1", kind.value)
    return found


async def test_a_capture_posts_one_balanced_entry_with_the_chart_codes(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    entry = await post(services, capture(books, services))
    by_kind: dict[AccountKind, int] = {}
    for line in entry.lines:
        by_kind[line.account.kind] = by_kind.get(line.account.kind, 0) + line.amount_minor
    assert by_kind == {
        AccountKind.RETAILER_RECEIVABLE: 0,
        AccountKind.PLATFORM_REVENUE: -810,
        AccountKind.COURIER_PAYABLE: -500,
        AccountKind.CARD_CLEARING: 1310,
    }
    rows = await db.fetch("SELECT code, kind, area_id, currency FROM ledger_accounts ORDER BY code")
    assert [(r["code"], r["kind"]) for r in rows] == [
        ("1100", "card_clearing"),
        ("1200", "retailer_receivable"),
        ("2100", "courier_payable"),
        ("4000", "platform_revenue"),
    ]
    assert {r["area_id"] for r in rows} == {books.area_id}
    assert await db.fetchval("SELECT count(*) FROM journal_lines WHERE area_id <> $1", books.area_id) == 0


async def _raw_entry(conn: asyncpg.Connection, area_id: UUID, kind: str = "payout", source: str = "po_raw") -> UUID:
    entry_id = uuid4()
    await conn.execute(
        "INSERT INTO journal_entries (id, area_id, kind, source_id, description, occurred_at, recorded_at)"
        " VALUES ($1, $2, $3, $4, 'raw', now(), now())",
        entry_id,
        area_id,
        kind,
        source,
    )
    return entry_id


async def _raw_line(conn: asyncpg.Connection, entry_id: UUID, no: int, account: UUID, area: UUID, amount: int) -> None:
    await conn.execute(
        "INSERT INTO journal_lines (id, entry_id, line_no, account_id, area_id, currency, amount_minor, occurred_at,"
        " created_at) VALUES ($1, $2, $3, $4, $5, 'EUR', $6, now(), now())",
        uuid4(),
        entry_id,
        no,
        account,
        area,
        amount,
    )


async def test_the_database_refuses_an_entry_that_does_not_balance(services: Services, db: asyncpg.Connection) -> None:
    books = await open_books(services)
    await post(services, capture(books, services))
    clearing = await account_id(db, AccountKind.CARD_CLEARING)
    revenue = await account_id(db, AccountKind.PLATFORM_REVENUE)
    tx = db.transaction()
    await tx.start()
    entry_id = await _raw_entry(db, books.area_id)
    await _raw_line(db, entry_id, 1, clearing, books.area_id, 1000)
    await _raw_line(db, entry_id, 2, revenue, books.area_id, -999)  # one cent off
    with pytest.raises(asyncpg.CheckViolationError, match="does not balance: 1 EUR off"):
        await tx.commit()
    assert await db.fetchval("SELECT count(*) FROM journal_entries WHERE id = $1", entry_id) == 0

    # Balanced lines pass; an entry with a single line (or none) does not.
    async with db.transaction():
        entry_id = await _raw_entry(db, books.area_id, source="po_ok")
        await _raw_line(db, entry_id, 1, clearing, books.area_id, 1000)
        await _raw_line(db, entry_id, 2, revenue, books.area_id, -1000)
    for lines in ([], [(clearing, 5)]):
        tx = db.transaction()
        await tx.start()
        entry_id = await _raw_entry(db, books.area_id, source=f"po_short_{len(lines)}")
        for no, (account, amount) in enumerate(lines, 1):
            await _raw_line(db, entry_id, no, account, books.area_id, amount)
        with pytest.raises(asyncpg.CheckViolationError, match="needs at least two"):
            await tx.commit()


async def test_the_database_refuses_a_line_in_another_currency_or_area_than_its_account(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    other = await open_books(services, "2")
    await post(services, capture(books, services))
    clearing = await account_id(db, AccountKind.CARD_CLEARING)

    async def in_pounds() -> None:
        async with db.transaction():
            entry_id = await _raw_entry(db, books.area_id)
            await db.execute(
                "INSERT INTO journal_lines (id, entry_id, line_no, account_id, area_id, currency, amount_minor,"
                " occurred_at, created_at) VALUES ($1, $2, 1, $3, $4, 'GBP', 5, now(), now())",
                uuid4(),
                entry_id,
                clearing,
                books.area_id,
            )

    async def in_another_area() -> None:
        async with db.transaction():
            entry_id = await _raw_entry(db, other.area_id)
            await _raw_line(db, entry_id, 1, clearing, other.area_id, 5)

    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await in_pounds()
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await in_another_area()


async def test_journal_rows_can_be_neither_updated_nor_deleted_nor_extended(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    entry = await post(services, capture(books, services))
    refused = [
        "UPDATE journal_lines SET amount_minor = amount_minor * 2",
        "DELETE FROM journal_lines",
        "UPDATE journal_entries SET description = 'changed'",
        "DELETE FROM journal_entries",
        "UPDATE ledger_accounts SET code = '9999'",
        "DELETE FROM ledger_accounts",
        "TRUNCATE journal_lines, journal_entries, ledger_accounts",
    ]
    for statement in refused:
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await db.execute(statement)
    # A balanced pair of lines slipped into an entry committed earlier is refused too.
    clearing = await account_id(db, AccountKind.CARD_CLEARING)
    revenue = await account_id(db, AccountKind.PLATFORM_REVENUE)

    async def extend() -> None:
        async with db.transaction():
            await _raw_line(db, entry.id, 10, clearing, books.area_id, 1)
            await _raw_line(db, entry.id, 11, revenue, books.area_id, -1)

    with pytest.raises(asyncpg.RestrictViolationError, match="recorded earlier"):
        await extend()
    assert await db.fetchval("SELECT sum(amount_minor) FROM journal_lines WHERE amount_minor > 0") == 2620
    assert await db.fetchval("SELECT count(*) FROM journal_lines") == len(entry.lines)


async def test_a_retried_event_posts_once_and_another_amount_under_its_key_is_refused(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    first = await post(services, capture(books, services))
    async with services.db.uow() as uow:
        again = await services.ledger.post(uow, capture(books, services))
        await uow.commit()
    assert not again.created
    assert again.entry.id == first.id
    with pytest.raises(DomainError) as refused:
        await post(services, capture(books, services, charged=1311))
    assert refused.value.errors[0].code is ErrorCode.LEDGER_KEY_CONFLICT
    assert await db.fetchval("SELECT count(*) FROM journal_entries") == 1


async def test_an_entry_commits_and_rolls_back_with_the_business_event(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    async with services.db.uow() as uow:
        await services.ledger.post(uow, capture(books, services))
        # no commit: the event failed after posting
    assert await db.fetchval("SELECT count(*) FROM journal_entries") == 0
    await post(services, capture(books, services))
    assert await db.fetchval("SELECT count(*) FROM journal_entries") == 1


async def test_the_same_event_posted_from_two_connections_at_once_posts_once(
    services: Services, db: asyncpg.Connection
) -> None:
    books = await open_books(services)
    first = services.db.uow()
    await first.__aenter__()
    try:
        posted_first = await services.ledger.post(first, capture(books, services))
        second = asyncio.create_task(post(services, capture(books, services)))
        await wait_until_blocked_on_a_lock(db, "the second posting")
        await first.commit()
    finally:
        await first.__aexit__(None, None, None)
    posted_second = await second
    assert posted_first.created
    assert posted_second.id == posted_first.entry.id
    assert await db.fetchval("SELECT count(*) FROM journal_entries") == 1
    assert await db.fetchval("SELECT count(*) FROM journal_lines") == len(posted_first.entry.lines)


async def test_a_correction_reverses_an_entry_once_and_references_it(
    services: Services, db: asyncpg.Connection, clock: ManualClock
) -> None:
    books = await open_books(services)
    entry = await post(services, capture(books, services))
    clock.advance(timedelta(minutes=5))
    async with services.db.uow() as uow:
        posted = await services.ledger.correct(uow, entry.id, reason="captured twice by hand")
        await uow.commit()
    assert posted.entry.corrects_entry_id == entry.id
    assert posted.entry.kind is EntryKind.CORRECTION
    page = await services.finance.balances(FINANCE, PageRequest(first=100), as_of=clock.now())
    assert {b.account.kind: b.balance_minor for b in page.items} == {
        AccountKind.CARD_CLEARING: 0,
        AccountKind.RETAILER_RECEIVABLE: 0,
        AccountKind.COURIER_PAYABLE: 0,
        AccountKind.PLATFORM_REVENUE: 0,
    }
    # As of before the correction, the books still show the capture.
    before = await services.finance.balances(FINANCE, PageRequest(first=100), as_of=clock.now() - timedelta(minutes=1))
    assert {b.account.kind: b.balance_minor for b in before.items}[AccountKind.CARD_CLEARING] == 1310
    with pytest.raises(DomainError) as again:
        async with services.db.uow() as uow:
            await services.ledger.correct(uow, entry.id, reason="again")
    assert again.value.errors[0].code is ErrorCode.ALREADY_CORRECTED


FINANCE = Principal(role=Role.FINANCE, user_id=uuid4(), organization_id=None)


async def test_two_events_opening_the_same_new_account_at_once_share_one_account(
    services: Services, db: asyncpg.Connection
) -> None:
    """The first posting for a courier opens its payable; a second event racing it waits and uses that account."""
    books = await open_books(services)
    first = services.db.uow()
    await first.__aenter__()
    try:
        await services.ledger.post(first, capture(books, services, source_id="pi_1"))
        second = asyncio.create_task(post(services, capture(books, services, source_id="pi_2")))
        await wait_until_blocked_on_a_lock(db, "the second event's account")
        await first.commit()
    finally:
        await first.__aexit__(None, None, None)
    await second
    assert await db.fetchval("SELECT count(*) FROM ledger_accounts WHERE kind = 'courier_payable'") == 1
    assert await db.fetchval("SELECT count(*) FROM journal_entries") == 2
    assert (
        await db.fetchval(
            "SELECT sum(amount_minor) FROM journal_lines l JOIN ledger_accounts a ON a.id = l.account_id"
            " WHERE a.kind = 'courier_payable'"
        )
        == -1000
    )
