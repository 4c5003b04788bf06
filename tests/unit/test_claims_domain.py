"""Refund and claim rules without I/O: amounts left to refund, the 14-day window, the declared value,
what the courier at fault gives back, and a claim larger than what the card can take back."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from marketplace.domain import ledger
from marketplace.domain.claims import (
    ChargeSplit,
    ClaimKind,
    HeldPay,
    NewClaim,
    Refund,
    RefundReason,
    RefundRequest,
    RefundStatus,
    check_claim,
    courier_charge,
    refund_amount,
    split_charge,
    transfer_to_send,
)
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.money import Money
from tests.conftest import T0

JOB = UUID(int=1)


def request(amount_minor: int | None, reason: RefundReason = RefundReason.GOODWILL) -> RefundRequest:
    return RefundRequest(JOB, amount_minor, None if amount_minor is None else "EUR", reason, None)


def codes(exc: pytest.ExceptionInfo[DomainError]) -> list[tuple[ErrorCode, str | None]]:
    return [(e.code, e.field) for e in exc.value.errors]


def test_a_refund_is_at_most_what_was_captured_and_not_yet_refunded() -> None:
    assert refund_amount(request(None), captured_minor=1000, refunded_minor=300, currency="EUR") == Money(700, "EUR")
    assert refund_amount(request(700), captured_minor=1000, refunded_minor=300, currency="EUR") == Money(700, "EUR")
    with pytest.raises(DomainError) as over:
        refund_amount(request(701), captured_minor=1000, refunded_minor=300, currency="EUR")
    assert codes(over) == [(ErrorCode.REFUND_EXCEEDS_CAPTURED, "amount.amountMinor")]
    with pytest.raises(DomainError) as nothing_left:
        refund_amount(request(None), captured_minor=1000, refunded_minor=1000, currency="EUR")
    assert codes(nothing_left) == [(ErrorCode.REFUND_EXCEEDS_CAPTURED, "amount")]
    with pytest.raises(DomainError) as claim:
        refund_amount(request(1, RefundReason.CLAIM), captured_minor=1000, refunded_minor=0, currency="EUR")
    assert codes(claim) == [(ErrorCode.INVALID, "reason")]


def test_only_stripes_own_reasons_reach_stripe() -> None:
    assert RefundReason.REQUESTED_BY_CUSTOMER.stripe_reason == "requested_by_customer"
    assert RefundReason.GOODWILL.stripe_reason is None


def test_a_pending_refund_is_reserved_with_no_stripe_id_and_not_yet_succeeded() -> None:
    refund = Refund.pending(
        id=uuid4(),
        payment_id=uuid4(),
        job_id=JOB,
        area_id=uuid4(),
        organization_id=uuid4(),
        claim_id=None,
        amount=Money(700, "EUR"),
        reason=RefundReason.GOODWILL,
        note="late",
        created_at=T0,
    )
    assert (refund.status, refund.refund_id, refund.succeeded_at) == (RefundStatus.PENDING, None, None)
    assert (refund.job_id, refund.amount, refund.note, refund.created_at) == (JOB, Money(700, "EUR"), "late", T0)


def claim(amount_minor: int) -> NewClaim:
    return NewClaim(uuid4(), ClaimKind.LOST, "never arrived", amount_minor, "EUR", ())


def test_a_claim_is_filed_until_14_days_after_the_settlement_for_at_most_the_declared_value() -> None:
    value = Money(5000, "EUR")
    ok = check_claim(claim(5000), declared_value=value, captured_at=T0, cancelled=False, now=T0 + timedelta(days=14))
    assert ok == ("never arrived", [])
    _, late = check_claim(
        claim(5000), declared_value=value, captured_at=T0, cancelled=False, now=T0 + timedelta(days=14, seconds=1)
    )
    assert [(p.code, p.field) for p in late] == [(ErrorCode.CLAIM_WINDOW_CLOSED, "parcelId")]
    _, over = check_claim(claim(5001), declared_value=value, captured_at=T0, cancelled=False, now=T0)
    assert [(p.code, p.field) for p in over] == [(ErrorCode.EXCEEDS_DECLARED_VALUE, "amount.amountMinor")]
    _, unsettled = check_claim(claim(1), declared_value=value, captured_at=None, cancelled=False, now=T0)
    assert [p.code for p in unsettled] == [ErrorCode.NOT_CAPTURED]


def test_the_courier_at_fault_gives_back_at_most_what_they_earned_on_the_job() -> None:
    assert courier_charge(200, earned_minor=450, already_charged_minor=0) == 200
    assert courier_charge(4999, earned_minor=450, already_charged_minor=0) == 450
    assert courier_charge(400, earned_minor=450, already_charged_minor=300) == 150
    assert courier_charge(400, earned_minor=450, already_charged_minor=450) == 0
    assert courier_charge(400, earned_minor=0, already_charged_minor=0) == 0


def held(earned: int = 450, deducted: int = 0, sending: int | None = None, released: bool = False) -> HeldPay:
    return HeldPay(earned_minor=earned, deducted_minor=deducted, sending_minor=sending, released=released)


def test_a_charge_comes_out_of_held_pay_first_with_no_reversal() -> None:
    assert split_charge(200, hold=held(), transferred=False) == ChargeSplit(from_held_minor=200, reversed_minor=0)
    assert split_charge(450, hold=held(), transferred=False) == ChargeSplit(450, 0)
    assert split_charge(150, hold=held(deducted=300), transferred=False) == ChargeSplit(150, 0)


def test_a_charge_on_pay_already_transferred_is_reversed_at_stripe() -> None:
    assert split_charge(200, hold=None, transferred=True) == ChargeSplit(0, 200)
    assert split_charge(200, hold=held(released=True), transferred=True) == ChargeSplit(0, 200)


def test_a_charge_waits_while_the_couriers_money_is_moving() -> None:
    """A transfer in flight under the hold's key, or a settlement whose transfer is not recorded yet:
    deducting now could let the transfer pay the whole share as well."""
    assert split_charge(200, hold=held(sending=450), transferred=False) is None
    assert split_charge(200, hold=None, transferred=False) is None


def test_no_charge_needs_no_split() -> None:
    assert split_charge(0, hold=None, transferred=False) == ChargeSplit(0, 0)


def test_the_held_transfer_pays_what_claims_left_or_resends_what_is_in_flight() -> None:
    assert transfer_to_send(held()) == 450
    assert transfer_to_send(held(deducted=200)) == 250
    assert transfer_to_send(held(deducted=450)) == 0
    assert transfer_to_send(held(deducted=200, sending=450)) == 450  # the same key must carry the same amount
    assert transfer_to_send(held(released=True)) == 0


def test_a_claim_larger_than_the_refund_leaves_the_rest_owed_to_the_retailer() -> None:
    area, org, courier = uuid4(), uuid4(), uuid4()
    posting = ledger.claim_upheld(
        source_id="re_1",
        area_id=area,
        organization_id=org,
        amount=Money(4999, "EUR"),
        courier_id=courier,
        charged_to_courier=Money(450, "EUR"),
        refunded=Money(1200, "EUR"),
        at=T0,
    )
    by_kind: dict[ledger.AccountKind, int] = {}
    for line in posting.lines:
        by_kind[line.account.kind] = by_kind.get(line.account.kind, 0) + line.amount_minor
    assert by_kind == {
        ledger.AccountKind.CLAIMS_EXPENSE: 4999,
        ledger.AccountKind.RETAILER_RECEIVABLE: -(4999 - 1200),  # a credit: owed to the retailer
        ledger.AccountKind.CARD_CLEARING: -1200,
        ledger.AccountKind.COURIER_PAYABLE: 450,
        ledger.AccountKind.CLAIMS_RECOVERIES: -450,
    }
    with pytest.raises(DomainError):
        ledger.claim_upheld(
            source_id="re_2", area_id=area, organization_id=org, amount=Money(10, "EUR"),
            refunded=Money(11, "EUR"), at=T0,
        )  # fmt: skip
