"""How a platform payout is split by service area, and how reconciliation compares its area shares."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from marketplace.domain.ledger import AccountKind
from marketplace.domain.payouts import EntryRef, PayoutLine, postings, settled_by, split_by_area
from marketplace.domain.reconciliation import LedgerItem, MismatchKind, StripeItem, reconcile
from marketplace.payments.gateway import BalanceTransaction

NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)
NORTH, SOUTH = UUID(int=1), UUID(int=2)


def txn(n: int, type_: str, source: str | None, amount: int, fee: int = 0) -> BalanceTransaction:
    return BalanceTransaction(f"txn_{n}", type_, source, amount, fee, "EUR", NOON)


def entry(n: int, area: UUID, kind: str = "charge_captured") -> EntryRef:
    return EntryRef(UUID(int=100 + n), kind, area)


def test_each_area_gets_the_net_of_the_lines_its_entries_record_and_the_shares_sum_to_the_payout() -> None:
    lines = [
        PayoutLine(txn(1, "charge", "ch_n", 10000, 175), entry(1, NORTH), entry(2, NORTH, "stripe_fee")),
        PayoutLine(txn(2, "transfer", "tr_n", -4000), entry(3, NORTH, "transfer"), None),
        PayoutLine(txn(3, "charge", "ch_s", 2000, 55), entry(4, SOUTH), entry(5, SOUTH, "stripe_fee")),
        PayoutLine(txn(4, "transfer", "tr_s", -2500), entry(6, SOUTH, "transfer"), None),
    ]
    split = split_by_area(lines)
    assert dict(split.shares) == {NORTH: 10000 - 175 - 4000, SOUTH: 2000 - 55 - 2500}
    assert split.explained_minor == sum(line.net_minor for line in lines)
    assert (split.unexplained_minor, split.unexplained) == (0, ())

    north, south = postings("po_1", "EUR", split, at=NOON)
    assert (north.source_id, south.source_id) == (f"po_1:{NORTH}", f"po_1:{SOUTH}")
    # North's bank receives its share; South's lines net negative, so its entry runs the other way round.
    assert {(x.account.kind, x.amount_minor) for x in north.lines} == {
        (AccountKind.BANK, 5825),
        (AccountKind.CARD_CLEARING, -5825),
    }
    assert {(x.account.kind, x.amount_minor) for x in south.lines} == {
        (AccountKind.BANK, -555),
        (AccountKind.CARD_CLEARING, 555),
    }


def test_a_line_no_entry_records_is_left_unexplained_and_not_posted() -> None:
    lines = [
        PayoutLine(txn(1, "charge", "ch_n", 10000, 175), entry(1, NORTH), None),  # the fee has no entry
        PayoutLine(txn(2, "transfer", "tr_x", -25), None, None),  # made at the Dashboard
    ]
    split = split_by_area(lines)
    assert dict(split.shares) == {NORTH: 10000}
    assert (split.unexplained_minor, split.unexplained) == (-200, ("txn_1", "txn_2"))


def test_the_payouts_own_balance_transaction_is_not_one_of_its_lines() -> None:
    own = txn(9, "payout", "po_1", -5825)
    charge = txn(1, "charge", "ch_n", 10000, 175)
    assert settled_by("po_1", [own, charge]) == [charge]


def item(area: UUID, amount: int, n: int) -> LedgerItem:
    return LedgerItem("po_1", UUID(int=n), "payout", area, amount, "EUR", NOON, part=str(area))


def test_a_payouts_area_shares_are_summed_not_taken_for_duplicates() -> None:
    payout = StripeItem("po_1", "payout", -5270, "EUR", NOON, "txn_9")
    day = date(2026, 11, 26)
    clean = reconcile(day, [payout], [item(NORTH, -5825, 1), item(SOUTH, 555, 2)])
    assert (clean.matched, clean.mismatches) == (1, ())

    short = reconcile(day, [payout], [item(NORTH, -5825, 1)])  # South's share never posted
    (m,) = short.mismatches
    assert (m.kind, m.ledger_amount_minor) == (MismatchKind.AMOUNT_DIFFERS, -5825)

    twice = reconcile(day, [payout], [item(NORTH, -5825, 1), item(SOUTH, 555, 2), item(SOUTH, 555, 3)])
    assert [m.kind for m in twice.mismatches] == [MismatchKind.DUPLICATE]
