"""Reconciliation's pure rules: what matches, what is reported, and on which day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from marketplace.domain.reconciliation import LedgerItem, MismatchKind, StripeItem, reconcile, stripe_items
from marketplace.payments.gateway import BalanceTransaction, PayoutRecord, TransferRecord

DAY = date(2026, 11, 24)
NOON = datetime(2026, 11, 24, 12, tzinfo=UTC)
AREA = UUID(int=7)


def entry(object_id: str, amount: int, *, n: int = 1, at: datetime = NOON, kind: str = "transfer",
          currency: str = "EUR", correction: bool = False) -> LedgerItem:  # fmt: skip
    return LedgerItem(object_id, UUID(int=n), kind, AREA, amount, currency, at, is_correction=correction)


def moved(object_id: str, amount: int, *, at: datetime = NOON, fingerprint: str | None = None) -> StripeItem:
    return StripeItem(object_id, "transfer", amount, "EUR", at, None, fingerprint)


def kinds(stripe: list[StripeItem], ledger: list[LedgerItem]) -> list[tuple[MismatchKind, str]]:
    return [(m.kind, m.object_id) for m in reconcile(DAY, stripe, ledger).mismatches]


def test_a_charge_and_its_fee_are_two_movements_and_transfers_and_payouts_fill_in_what_the_balance_lacks() -> None:
    txns = [BalanceTransaction("txn_1", "charge", "ch_1", 1000, 40, "EUR", NOON)]
    transfers = [TransferRecord("tr_1", 450, 0, "EUR", "acct_1", "job_1", NOON)]
    payouts = [
        PayoutRecord("po_1", None, 300, "EUR", "pending", NOON, NOON),
        PayoutRecord("po_c", "acct_1", 450, "EUR", "paid", NOON, NOON),
    ]
    items = {i.object_id: (i.object_type, i.amount_minor) for i in stripe_items(txns, transfers, payouts)}
    # A courier's payout (connected account) is not our balance: it is matched elsewhere.
    assert items == {
        "ch_1": ("charge", 1000),
        "txn_1": ("stripe_fee", -40),
        "tr_1": ("transfer", -450),
        "po_1": ("payout", -300),
    }


def test_an_object_matched_on_the_next_day_within_the_margin_is_not_reported() -> None:
    late = NOON.replace(hour=23, minute=59, second=59)
    early_next = late + timedelta(seconds=2)
    assert kinds([moved("tr_1", -450, at=late)], [entry("tr_1", -450, at=early_next)]) == []
    outcome = reconcile(DAY, [moved("tr_1", -450, at=late)], [entry("tr_1", -450, at=early_next)])
    assert outcome.matched == 1


def test_only_what_belongs_to_the_day_is_reported() -> None:
    yesterday = NOON - timedelta(days=1)
    assert kinds([moved("tr_old", -1, at=yesterday)], []) == []
    assert kinds([], [entry("tr_old", -1, at=yesterday)]) == []
    assert kinds([moved("tr_new", -1)], []) == [(MismatchKind.MISSING_IN_LEDGER, "tr_new")]


def test_a_corrected_entry_counts_with_its_correction() -> None:
    recorded = [entry("tr_1", -450), entry("tr_1", 450, n=2, kind="correction", correction=True)]
    # Stripe moved 450; the books recorded it and took it back: they now say nothing moved.
    assert kinds([moved("tr_1", -450)], recorded) == [(MismatchKind.AMOUNT_DIFFERS, "tr_1")]
    # With no Stripe object, recorded-and-corrected is nothing to find.
    assert kinds([], recorded) == []
    # A correction today of another day's entry is that day's business.
    assert kinds([], [entry("tr_old", 450, n=2, kind="correction", correction=True)]) == []


def test_two_entries_for_one_object_and_a_second_object_like_a_recorded_one_are_duplicates() -> None:
    twice = [entry("ch_1", 1000, kind="charge_captured"), entry("ch_1", 1000, n=2, kind="cancellation_fee")]
    assert kinds([StripeItem("ch_1", "charge", 1000, "EUR", NOON)], twice) == [(MismatchKind.DUPLICATE, "ch_1")]
    stripe = [moved("tr_2", -450, fingerprint="same"), moved("tr_1", -450, fingerprint="same")]
    assert kinds(stripe, [entry("tr_1", -450)]) == [(MismatchKind.DUPLICATE, "tr_2")]


def test_a_currency_difference_is_reported_as_such_not_as_an_amount() -> None:
    assert kinds([moved("tr_1", -200)], [entry("tr_1", -200, currency="GBP")]) == [
        (MismatchKind.CURRENCY_DIFFERS, "tr_1")
    ]
