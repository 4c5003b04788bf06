"""Posting rules: which account each business event debits and credits, and what they refuse."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from marketplace.domain import ledger
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.ledger import CHART, AccountKind, AccountRef, EntryKind, Posting, PostingLine
from marketplace.domain.money import Money

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
AREA, ORG, COURIER = uuid4(), uuid4(), uuid4()
K = AccountKind


def net(posting: Posting) -> dict[AccountKind, int]:
    """Each account kind's net movement: debit positive, credit negative (zero nets left out)."""
    out: dict[AccountKind, int] = {}
    for line in posting.lines:
        out[line.account.kind] = out.get(line.account.kind, 0) + line.amount_minor
    return {k: v for k, v in out.items() if v}


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def test_a_capture_bills_the_retailer_pays_by_card_and_splits_revenue_and_courier_pay() -> None:
    p = ledger.charge_captured(
        source_id="pi_1", area_id=AREA, organization_id=ORG, charged=eur(1310), courier_id=COURIER,
        courier_pay=eur(500), at=AT,
    )  # fmt: skip
    assert p.kind is EntryKind.CHARGE_CAPTURED
    assert net(p) == {K.CARD_CLEARING: 1310, K.PLATFORM_REVENUE: -810, K.COURIER_PAYABLE: -500}
    receivable = [x.amount_minor for x in p.lines if x.account.kind is K.RETAILER_RECEIVABLE]
    assert receivable == [1310, -1310]  # billed, then paid: the retailer's statement shows both
    payable = next(x for x in p.lines if x.account.kind is K.COURIER_PAYABLE)
    assert payable.account.courier_id == COURIER


def test_each_event_debits_and_credits_the_accounts_of_the_posting_table() -> None:
    cases = {
        "fee": (ledger.stripe_fee(source_id="txn_1", area_id=AREA, fee=eur(43), at=AT),
                {K.STRIPE_FEES: 43, K.CARD_CLEARING: -43}),
        "transfer": (ledger.transfer(source_id="tr_1", area_id=AREA, courier_id=COURIER, amount=eur(500), at=AT),
                     {K.COURIER_PAYABLE: 500, K.CARD_CLEARING: -500}),
        "reversal": (ledger.transfer_reversal(source_id="trr_1", area_id=AREA, courier_id=COURIER, amount=eur(200),
                                              at=AT),
                     {K.CARD_CLEARING: 200, K.COURIER_PAYABLE: -200}),
        "refund": (ledger.refund(source_id="re_1", area_id=AREA, organization_id=ORG, amount=eur(300), at=AT),
                   {K.REFUNDS: 300, K.CARD_CLEARING: -300}),
        "fee_share": (ledger.cancellation_fee(source_id="c_1", area_id=AREA, organization_id=ORG, fee=eur(600),
                                              courier_id=COURIER, courier_share=eur(400), at=AT),
                      {K.CARD_CLEARING: 600, K.CANCELLATION_FEE_REVENUE: -200, K.COURIER_PAYABLE: -400}),
        "cancel_fee": (ledger.cancellation_fee(source_id="c_2", area_id=AREA, organization_id=ORG, fee=eur(250), at=AT),
                {K.CARD_CLEARING: 250, K.CANCELLATION_FEE_REVENUE: -250}),
        "claim": (ledger.claim_upheld(source_id="cl_1", area_id=AREA, organization_id=ORG, amount=eur(5000), at=AT),
                  {K.CLAIMS_EXPENSE: 5000, K.CARD_CLEARING: -5000}),
        "claim_fault": (ledger.claim_upheld(source_id="cl_2", area_id=AREA, organization_id=ORG, amount=eur(5000),
                                            courier_id=COURIER, charged_to_courier=eur(500), at=AT),
                        {K.CLAIMS_EXPENSE: 5000, K.CARD_CLEARING: -5000, K.COURIER_PAYABLE: 500,
                         K.CLAIMS_RECOVERIES: -500}),
        "payout": (ledger.payout(source_id="po_1", area_id=AREA, amount=eur(9000), at=AT),
                   {K.BANK: 9000, K.CARD_CLEARING: -9000}),
    }  # fmt: skip
    for name, (posting, expected) in cases.items():
        assert net(posting) == expected, name
        assert sum(x.amount_minor for x in posting.lines) == 0, name


def test_a_correction_is_the_exact_opposite_and_names_the_entry() -> None:
    p = ledger.transfer(source_id="tr_1", area_id=AREA, courier_id=COURIER, amount=eur(500), at=AT)
    account = ledger.Account(uuid4(), "2100", K.COURIER_PAYABLE, AREA, "EUR", None, COURIER, AT)
    clearing = ledger.Account(uuid4(), "1100", K.CARD_CLEARING, AREA, "EUR", None, None, AT)
    entry = ledger.Entry(
        uuid4(), p.kind, p.source_id, AREA, AT, AT, "", None,
        (ledger.EntryLine(account, 1, 500), ledger.EntryLine(clearing, 2, -500)),
    )  # fmt: skip
    fix = ledger.correction(entry, at=AT, reason="sent to the wrong courier")
    assert fix.kind is EntryKind.CORRECTION
    assert fix.corrects_entry_id == entry.id
    assert fix.source_id == str(entry.id)
    assert net(fix) == {K.COURIER_PAYABLE: -500, K.CARD_CLEARING: 500}
    assert ledger.same_lines(p, entry)
    assert not ledger.same_lines(fix, entry)


def test_rules_refuse_amounts_that_make_no_sense() -> None:
    refused: list[Callable[[], Posting]] = [
        lambda: ledger.stripe_fee(source_id="x", area_id=AREA, fee=eur(0), at=AT),
        lambda: ledger.transfer(source_id="x", area_id=AREA, courier_id=COURIER, amount=eur(-5), at=AT),
        lambda: ledger.charge_captured(
            source_id="x", area_id=AREA, organization_id=ORG, charged=eur(100), courier_id=COURIER,
            courier_pay=eur(101), at=AT,
        ),
        lambda: ledger.charge_captured(
            source_id="x", area_id=AREA, organization_id=ORG, charged=eur(100), courier_id=COURIER,
            courier_pay=Money(50, "GBP"), at=AT,
        ),
        lambda: ledger.charge_captured(
            source_id="x", area_id=AREA, organization_id=ORG, charged=eur(100), courier_id=None,
            courier_pay=eur(50), at=AT,
        ),
        lambda: ledger.claim_upheld(
            source_id="x", area_id=AREA, organization_id=ORG, amount=eur(100), courier_id=COURIER,
            charged_to_courier=eur(101), at=AT,
        ),
        lambda: ledger.cancellation_fee(
            source_id="x", area_id=AREA, organization_id=ORG, fee=eur(100), courier_share=eur(10), at=AT
        ),
    ]  # fmt: skip
    for call in refused:
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.errors[0].code in (ErrorCode.INVALID, ErrorCode.CURRENCY_MISMATCH)


def test_a_posting_must_balance_per_currency_and_hold_integers() -> None:
    clearing = AccountRef(K.CARD_CLEARING, AREA, "EUR")
    revenue = AccountRef(K.PLATFORM_REVENUE, AREA, "EUR")
    pounds = AccountRef(K.PLATFORM_REVENUE, AREA, "GBP")
    bad = [
        (PostingLine(clearing, 100), PostingLine(revenue, -99)),
        (PostingLine(clearing, 100), PostingLine(pounds, -100)),  # sums to zero, but across currencies
        (PostingLine(clearing, 100),),
        (PostingLine(clearing, 1.5), PostingLine(revenue, -1.5)),  # type: ignore[arg-type]
        (PostingLine(clearing, 0), PostingLine(revenue, 0)),
    ]
    for lines in bad:
        with pytest.raises(ValueError, match=r"sum to|at least two|integer|non-zero"):
            Posting(EntryKind.PAYOUT, "po", AREA, AT, "", lines)
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]


def test_owned_accounts_name_their_owner_and_no_other_does() -> None:
    with pytest.raises(ValueError, match="courier"):
        AccountRef(K.COURIER_PAYABLE, AREA, "EUR")
    with pytest.raises(ValueError, match="organisation"):
        AccountRef(K.CARD_CLEARING, AREA, "EUR", organization_id=ORG)
    assert len({spec.code for spec in CHART.values()}) == len(CHART) == len(AccountKind)


def test_no_float_on_the_ledger_path() -> None:
    """Money on the ledger's path is int minor units: no float annotation, literal or call anywhere in it."""
    root = Path(__file__).resolve().parents[2]
    files = [
        "marketplace/domain/ledger.py",
        "marketplace/repositories/ledger.py",
        "marketplace/services/ledger.py",
        "marketplace/services/finance.py",
        "schema/finance.py",
        "marketplace/app/ledger_csv.py",
    ]
    offending = []
    for name in files:
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and node.id in ("float", "Decimal")) or (
                isinstance(node, ast.Constant) and isinstance(node.value, float)
            ):
                offending.append(f"{name}:{node.lineno}")
    assert offending == []
