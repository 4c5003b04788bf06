"""Property: any sequence of book, cancel, deliver, fail, refund and claim keeps the books whole.

Hypothesis generates parcels' business events (each posted through `LedgerService` into real
PostgreSQL, some twice as a retried handler would); a plain model of what happened, kept here
independently of the ledger, says what the books must show. After every sequence:

- every entry balances in every currency (checked in SQL over all lines);
- every account's balance, as finance reads it, equals the sum of its lines;
- each courier's payable moved by exactly the model's transfers minus reversals, and its balance is
  what the courier earned minus what claims charged it, less that net transfer;
- card clearing holds what the model says Stripe holds; retries posted nothing twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from marketplace.clock import ManualClock
from marketplace.db.pool import create_pool
from marketplace.domain import ledger
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.ledger import AccountKind, EntryKind
from marketplace.domain.money import Money
from marketplace.domain.paging import PageRequest
from marketplace.services.container import Services, build_services
from tests.conftest import make_settings
from tests.factories import make_area
from tests.helpers import PASSWORD

FINANCE = Principal(role=Role.FINANCE, user_id=uuid4(), organization_id=None)
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
PARCELS = 2


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # book, cancel, deliver, fail, refund, claim
    parcel: int
    amount: int  # a price at booking; otherwise a share in per mille
    flag: bool  # at fault (claim), retried (others)


ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["book", "cancel", "deliver", "fail", "refund", "claim"]),
        parcel=st.integers(0, PARCELS - 1),
        amount=st.integers(1, 100_000),
        flag=st.booleans(),
    ),
    min_size=3,
    max_size=30,
)


@dataclass
class Parcel:
    organization: int
    courier: int
    price_minor: int = 0
    pay_minor: int = 0
    state: str = "new"  # new, booked, cancelled, delivered, failed
    captured_minor: int = 0
    refunded_minor: int = 0
    claimed: bool = False


@dataclass
class Model:
    """What happened, in plain numbers: what the books must agree with."""

    clearing_minor: int = 0
    earned: dict[int, int] = field(default_factory=dict)
    charged_to_courier: dict[int, int] = field(default_factory=dict)
    transfers: dict[int, int] = field(default_factory=dict)
    reversals: dict[int, int] = field(default_factory=dict)
    events: int = 0

    def add(self, table: dict[int, int], courier: int, amount: int) -> None:
        table[courier] = table.get(courier, 0) + amount


@dataclass(frozen=True, slots=True)
class World:
    area_id: UUID
    organizations: tuple[UUID, ...]
    couriers: tuple[UUID, ...]


async def _world(services: Services, tag: str) -> World:
    area = await make_area(services, name=f"Area {tag}")
    orgs, couriers = [], []
    for i in range(2):
        shop = await services.accounts.create_user(
            email=f"shop{i}-{tag}@example.com", password=PASSWORD, role=Role.RETAILER, organization_name=f"S{i} {tag}"
        )
        assert shop.organization_id is not None
        orgs.append(shop.organization_id)
        courier = await services.accounts.create_user(
            email=f"courier{i}-{tag}@example.com", password=PASSWORD, role=Role.COURIER
        )
        couriers.append(courier.id)
    return World(area.id, tuple(orgs), tuple(couriers))


def _postings(op: Op, p: Parcel, w: World, m: Model, tag: str, n: int, at: datetime) -> list[ledger.Posting]:
    """The entries one event posts, updating the model the same way the business would."""
    org, courier = w.organizations[p.organization], w.couriers[p.courier]
    key = f"{tag}-p{op.parcel}"
    eur = "EUR"
    if p.state == "new" and op.kind in ("book", "cancel", "deliver", "fail"):
        # Booking authorises the price, which moves no money (no entry); any later step implies it.
        p.state, p.price_minor = "booked", 300 + op.amount
        p.pay_minor = p.price_minor * 6 // 10
        if op.kind == "book":
            return []
    if op.kind == "cancel" and p.state == "booked":
        p.state = "cancelled"
        fee = min(p.price_minor, 250 + op.amount % 400)
        share = fee // 2 if op.flag else 0
        m.clearing_minor += fee
        m.add(m.earned, p.courier, share)
        p.captured_minor = fee
        out = [
            ledger.cancellation_fee(
                source_id=f"{key}-fee",
                area_id=w.area_id,
                organization_id=org,
                fee=Money(fee, eur),
                courier_id=courier if share else None,
                courier_share=Money(share, eur) if share else None,
                at=at,
            )
        ]
        if share:
            m.clearing_minor -= share
            m.add(m.transfers, p.courier, share)
            out.append(
                ledger.transfer(
                    source_id=f"{key}-tr", area_id=w.area_id, courier_id=courier, amount=Money(share, eur), at=at
                )
            )
        return out
    if op.kind in ("deliver", "fail") and p.state == "booked":
        # A failed attempt charges a share of the price (per mille from the op) and pays the courier half of it.
        charged = p.price_minor if op.kind == "deliver" else max(1, p.price_minor * (op.amount % 1000) // 1000)
        pay = p.pay_minor if op.kind == "deliver" else charged // 2
        p.state, p.captured_minor = ("delivered" if op.kind == "deliver" else "failed"), charged
        fee = 25 + charged * 14 // 1000
        m.clearing_minor += charged - fee
        m.add(m.earned, p.courier, pay)
        out = [
            ledger.charge_captured(
                source_id=f"{key}-ch",
                area_id=w.area_id,
                organization_id=org,
                charged=Money(charged, eur),
                courier_id=courier if pay else None,
                courier_pay=Money(pay, eur) if pay else None,
                at=at,
            ),
            ledger.stripe_fee(source_id=f"{key}-fee", area_id=w.area_id, fee=Money(fee, eur), at=at),
        ]
        if pay:
            m.clearing_minor -= pay
            m.add(m.transfers, p.courier, pay)
            out.append(
                ledger.transfer(
                    source_id=f"{key}-tr", area_id=w.area_id, courier_id=courier, amount=Money(pay, eur), at=at
                )
            )
        return out
    if op.kind == "refund" and p.captured_minor - p.refunded_minor > 0:
        left = p.captured_minor - p.refunded_minor
        amount = max(1, left * (op.amount % 1001) // 1000)  # partial or full
        p.refunded_minor += amount
        m.clearing_minor -= amount
        return [
            ledger.refund(
                source_id=f"{key}-re{n}", area_id=w.area_id, organization_id=org, amount=Money(amount, eur), at=at
            )
        ]
    if op.kind == "claim" and p.state == "delivered" and not p.claimed:
        p.claimed = True
        amount = 1 + op.amount % 50_000  # up to the declared value, which may exceed the price
        m.clearing_minor -= amount
        charged = min(amount, p.pay_minor) if op.flag else 0
        out = [
            ledger.claim_upheld(
                source_id=f"{key}-cl",
                area_id=w.area_id,
                organization_id=org,
                amount=Money(amount, eur),
                courier_id=courier if charged else None,
                charged_to_courier=Money(charged, eur) if charged else None,
                at=at,
            )
        ]
        if charged:
            m.add(m.charged_to_courier, p.courier, charged)
            m.add(m.reversals, p.courier, charged)
            m.clearing_minor += charged
            out.append(
                ledger.transfer_reversal(
                    source_id=f"{key}-trr", area_id=w.area_id, courier_id=courier, amount=Money(charged, eur), at=at
                )
            )
        return out
    return []  # an event the parcel's state does not allow: the business refuses it, nothing is posted


async def _run(database_url: str, sequence: list[Op]) -> None:
    clock = ManualClock(T0)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        services = build_services(make_settings(database_url), pool, clock)
        tag = uuid4().hex[:8]
        world = await _world(services, tag)
        model = Model()
        parcels = [Parcel(organization=i % 2, courier=(i // 2) % 2) for i in range(PARCELS)]
        for n, op in enumerate(sequence):
            clock.advance(timedelta(minutes=7))
            postings = _postings(op, parcels[op.parcel], world, model, tag, n, clock.now())
            # The event's entries in one unit of work, as a handler writes them with the event.
            for attempt in range(2 if op.flag and op.kind != "claim" else 1):
                async with services.db.uow() as uow:
                    for posting in postings:
                        posted = await services.ledger.post(uow, posting)
                        assert posted.created == (attempt == 0)
                    await uow.commit()
            model.events += len(postings)
        await _check(services, world, model)
    finally:
        await pool.close()


async def _check(services: Services, world: World, model: Model) -> None:
    async with services.db.read() as repos:
        conn = repos.conn
        unbalanced = await conn.fetch(
            "SELECT entry_id, currency FROM journal_lines WHERE area_id = $1"
            " GROUP BY entry_id, currency HAVING sum(amount_minor) <> 0",
            world.area_id,
        )
        assert unbalanced == []
        entries = await conn.fetchval("SELECT count(*) FROM journal_entries WHERE area_id = $1", world.area_id)
        assert entries == model.events
        sums = {
            r["account_id"]: r["total"]
            for r in await conn.fetch(
                "SELECT account_id, sum(amount_minor)::bigint AS total FROM journal_lines WHERE area_id = $1"
                " GROUP BY account_id",
                world.area_id,
            )
        }
        moved = {
            (r["courier_id"], r["kind"]): r["total"]
            for r in await conn.fetch(
                "SELECT a.courier_id, e.kind, sum(l.amount_minor)::bigint AS total FROM journal_lines l"
                " JOIN ledger_accounts a ON a.id = l.account_id JOIN journal_entries e ON e.id = l.entry_id"
                " WHERE l.area_id = $1 AND a.kind = 'courier_payable' GROUP BY a.courier_id, e.kind",
                world.area_id,
            )
        }
    balances = await services.finance.balances(
        FINANCE, PageRequest(first=100), as_of=services.clock.now(), area_id=world.area_id
    )
    assert not balances.has_next
    assert {b.account.id: b.balance_minor for b in balances.items} == {a: sums.get(a, 0) for a in sums}
    for b in balances.items:
        assert b.debit_minor - b.credit_minor == b.balance_minor
    by_kind: dict[AccountKind, int] = {}
    for b in balances.items:
        by_kind[b.account.kind] = by_kind.get(b.account.kind, 0) + b.balance_minor
    assert by_kind.get(AccountKind.CARD_CLEARING, 0) == model.clearing_minor
    for i, courier in enumerate(world.couriers):
        transfers, reversals = model.transfers.get(i, 0), model.reversals.get(i, 0)
        net_paid = moved.get((courier, EntryKind.TRANSFER.value), 0) + moved.get(
            (courier, EntryKind.TRANSFER_REVERSAL.value), 0
        )
        assert net_paid == transfers - reversals
        payable = sum(b.balance_minor for b in balances.items if b.account.courier_id == courier)
        owed = model.earned.get(i, 0) - model.charged_to_courier.get(i, 0)
        assert -payable == owed - (transfers - reversals)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
@example(
    sequence=[
        Op("book", 0, 1000, False),
        Op("deliver", 0, 0, True),
        Op("refund", 0, 400, True),
        Op("claim", 0, 9000, True),
        Op("fail", 1, 500, False),
        Op("refund", 1, 1000, False),
        Op("refund", 1, 1000, False),
    ]
)
@example(sequence=[Op("cancel", 0, 100, True), Op("refund", 0, 1000, False), Op("claim", 1, 1, False)])
def test_any_sequence_of_business_events_keeps_the_books_whole(database_url: str, sequence: list[Op]) -> None:
    asyncio.run(_run(database_url, sequence))
