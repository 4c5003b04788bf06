"""What a finished job costs and earns (domain/payments.py): the fleet, a courier's share of a cancellation
fee, and the transfer keys that change only after Stripe refused one."""

from __future__ import annotations

from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.payments import ParcelOutcome, SettlementKind, settle, transfer_key

S = ParcelStatus
A, B = UUID(int=1), UUID(int=2)
COURIER, OTHER = UUID(int=10), UUID(int=11)


def outcome(
    parcel_id: UUID,
    status: ParcelStatus,
    *,
    fee: int = 0,
    courier: UUID | None = None,
    share: int = 0,
    failed_attempt: bool = False,
) -> ParcelOutcome:
    return ParcelOutcome(parcel_id, status, False, failed_attempt, fee, courier, share)


def test_a_job_all_with_the_fleet_is_charged_its_price_and_pays_no_courier() -> None:
    settled = settle(1200, [outcome(A, S.HANDED_TO_FLEET), outcome(B, S.HANDED_TO_FLEET)])
    assert (settled.kind, settled.capture_minor, settled.courier_pay) == (SettlementKind.DELIVERY, 1200, {})


def test_a_job_part_delivered_part_with_the_fleet_pays_only_the_delivering_courier() -> None:
    settled = settle(1200, [outcome(A, S.DELIVERED, courier=COURIER, share=450), outcome(B, S.HANDED_TO_FLEET)])
    assert (settled.capture_minor, settled.courier_pay) == (1200, {COURIER: 450})


def test_a_free_cancellation_before_acceptance_charges_and_pays_nothing() -> None:
    settled = settle(1200, [outcome(A, S.CANCELLED)])
    assert (settled.kind, settled.capture_minor, settled.courier_pay) == (SettlementKind.NOTHING, 0, {})


def test_a_cancellation_after_acceptance_pays_the_courier_half_the_fee_rounded_down() -> None:
    settled = settle(1200, [outcome(A, S.CANCELLED, fee=251, courier=COURIER, share=450)])
    assert (settled.kind, settled.capture_minor, settled.courier_pay) == (
        SettlementKind.CANCELLATION,
        251,
        {COURIER: 125},
    )


def test_a_cancellation_after_pickup_is_settled_as_a_cancellation_not_as_an_attempt() -> None:
    # Picked up, then cancelled: brought back (`returned`) with the fee after pickup, even after a failed attempt.
    settled = settle(1200, [outcome(A, S.RETURNED, fee=600, courier=COURIER, share=450, failed_attempt=True)])
    assert (settled.kind, settled.capture_minor, settled.courier_pay) == (
        SettlementKind.CANCELLATION,
        600,
        {COURIER: 300},
    )


def test_each_courier_holding_a_cancelled_parcel_gets_its_own_share_and_deliveries_still_pay_in_full() -> None:
    settled = settle(
        1200,
        [
            outcome(A, S.DELIVERED, courier=COURIER, share=450),
            outcome(B, S.CANCELLED, fee=250, courier=OTHER, share=300),
        ],
    )
    assert (settled.kind, settled.capture_minor) == (SettlementKind.DELIVERY, 1200)
    assert settled.courier_pay == {COURIER: 450, OTHER: 125}


def test_the_shares_never_exceed_the_capture() -> None:
    # A price below the fees: the capture is the price, and the couriers' shares are capped by it.
    settled = settle(
        200, [outcome(A, S.CANCELLED, fee=250, courier=COURIER), outcome(B, S.CANCELLED, fee=250, courier=OTHER)]
    )
    assert settled.capture_minor == 200
    assert settled.courier_pay == {COURIER: 125, OTHER: 75}
    assert sum(settled.courier_pay.values()) <= settled.capture_minor


def test_a_transfer_key_changes_only_with_each_refusal() -> None:
    payment = UUID(int=99)
    assert transfer_key(payment, COURIER) == f"transfer:{payment}:{COURIER}"
    assert transfer_key(payment, COURIER, 0) == transfer_key(payment, COURIER)
    assert transfer_key(payment, COURIER, 2) == f"transfer:{payment}:{COURIER}:2"
