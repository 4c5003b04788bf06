"""What a finished job costs the retailer and earns its couriers: pure rules, no I/O.

A job is paid by one manual-capture PaymentIntent for its quoted price, settled once when every
parcel is final (the authorisation is captured once; Stripe releases the rest):

- a parcel the courier brought to its recipient, a safe place or a locker earns the courier its share
  of the offer's pay (the offer's pay split evenly over the offer's parcels, the remainder to the
  first by id); the retailer pays the job's full price when any parcel was delivered or handed to the
  fleet;
- **attempted delivery**: a parcel that came back after a failed attempt (status `returned`, with a
  `failed_attempt` in its history) costs the retailer half its share of the price (the price split
  evenly over the job's parcels) and earns the courier half its share of the pay;
- a cancelled parcel costs its cancellation fee (domain/settlement.py; nothing before a courier accepted it)
  and earns the courier who held it when it was cancelled **half the fee** (rounded down; the platform keeps
  the rest): after acceptance the courier set out for the store, after a pickup it takes the parcel back. A
  parcel cancelled after its pickup (`returned` with a fee) is settled by this rule, not as an attempt;
- a parcel handed to the fleet earns no courier anything (the fleet is paid outside Stripe);
- the capture is capped at the authorised price, and the couriers' pay at the capture.
Nothing to capture cancels the authorisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.money import Money

S = ParcelStatus

# Stripe holds a card authorisation for 7 days; a pickup further out is authorised this long before it.
AUTHORIZATION_LIFETIME = timedelta(days=7)
AUTHORIZE_AHEAD = timedelta(days=6)

DELIVERED_BY_COURIER = frozenset({S.DELIVERED, S.COLLECTED})
# The courier's share of a cancellation fee it was holding the parcel for, in percent (rounded down).
COURIER_SHARE_OF_FEE_PERCENT = 50


class PaymentStatus(StrEnum):
    PENDING = "pending"  # a pickup more than 7 days out: authorised by the worker 6 days before it
    FAILED = "failed"  # that later authorisation was declined: the parcels stay out of rounds
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    CANCELLED = "cancelled"


class SettlementKind(StrEnum):
    DELIVERY = "delivery"  # charge_captured in the ledger
    CANCELLATION = "cancellation"  # only cancellation fees: cancellation_fee in the ledger
    NOTHING = "nothing"  # the authorisation is cancelled


@dataclass(frozen=True, slots=True)
class HeldTransfer:
    """A courier's pay for one job not transferred yet, as the courier, operations and finance see it."""

    id: UUID
    courier_id: UUID
    payment_id: UUID
    job_id: UUID
    area_id: UUID
    earned: Money  # the courier's share of the job
    deducted: Money  # what upheld claims on the job took from it
    reason: str  # no_payout_account, or Stripe's refusal (insufficient_capabilities_for_transfer, account_invalid)
    refusals: int  # transfer keys Stripe refused so far
    held_at: datetime

    @property
    def remaining(self) -> Money:
        """What the transfer will pay once the account can take it."""
        return Money(self.earned.amount_minor - self.deducted.amount_minor, self.earned.currency)


@dataclass(frozen=True, slots=True)
class ParcelOutcome:
    parcel_id: UUID
    status: ParcelStatus
    deposited_in_locker: bool
    failed_attempt: bool
    cancellation_fee_minor: int
    courier_id: UUID | None
    pay_share_minor: int  # this parcel's share of its accepted offer's pay (0 without one)


@dataclass(frozen=True, slots=True)
class Settlement:
    kind: SettlementKind
    capture_minor: int
    courier_pay: dict[UUID, int]  # courier -> minor units, only couriers with something to be paid


def pay_shares(pay_minor: int, parcel_ids: list[UUID]) -> dict[UUID, int]:
    """An offer's pay split evenly over its parcels, the remainder to the first by id: sums to the pay."""
    ordered = sorted(parcel_ids)
    if not ordered:
        return {}
    base, rest = divmod(pay_minor, len(ordered))
    return {p: base + (rest if i == 0 else 0) for i, p in enumerate(ordered)}


def courier_share_of_fee(fee_minor: int) -> int:
    """What the courier who held a cancelled parcel earns of its fee: half, rounded down."""
    return fee_minor * COURIER_SHARE_OF_FEE_PERCENT // 100


def settle(price_minor: int, parcels: list[ParcelOutcome]) -> Settlement:
    """The capture and each courier's pay for a job whose parcels are all final."""
    n = len(parcels)
    # Cancelled by the retailer: cancelled outright, or (after pickup) brought back with its fee recorded.
    cancelled = [p for p in parcels if p.status is S.CANCELLED or p.cancellation_fee_minor > 0]
    delivered = [
        p for p in parcels if (p.status in DELIVERED_BY_COURIER or p.deposited_in_locker) and p not in cancelled
    ]
    attempted = [
        p for p in parcels if p.status is S.RETURNED and p.failed_attempt and p not in delivered and p not in cancelled
    ]
    fleet = any(p.status is S.HANDED_TO_FLEET for p in parcels)
    pay: dict[UUID, int] = {}

    def earn(courier_id: UUID | None, amount: int) -> None:
        if courier_id is not None and amount > 0:
            pay[courier_id] = pay.get(courier_id, 0) + amount

    for p in delivered:
        earn(p.courier_id, p.pay_share_minor)
    for p in attempted:
        earn(p.courier_id, p.pay_share_minor // 2)
    for p in cancelled:
        earn(p.courier_id, courier_share_of_fee(p.cancellation_fee_minor))
    fees = sum(p.cancellation_fee_minor for p in cancelled)
    if delivered or fleet:
        capture, kind = price_minor, SettlementKind.DELIVERY
    elif attempted:
        capture = min(price_minor, fees + sum(price_minor // n // 2 for _ in attempted))
        kind = SettlementKind.DELIVERY
    elif fees > 0:
        capture, kind = min(price_minor, fees), SettlementKind.CANCELLATION
    else:
        return Settlement(SettlementKind.NOTHING, 0, {})
    # The couriers never get more than was captured (first couriers by id keep theirs).
    left, capped = capture, {}
    for courier in sorted(pay):
        amount = min(pay[courier], left)
        if amount > 0:
            capped[courier] = amount
            left -= amount
    return Settlement(kind, capture, capped)


def authorize_at(pickup_start: datetime, now: datetime) -> datetime:
    """When a booking's card is authorised: at once, unless the pickup is more than 7 days out (an
    authorisation would lapse before delivery), then 6 days before the pickup."""
    if pickup_start - now < AUTHORIZATION_LIFETIME:
        return now
    return pickup_start - AUTHORIZE_AHEAD


def payment_keys(payment_id: UUID) -> dict[str, str]:
    """The idempotency keys of a payment's Stripe calls, derived from our own ids."""
    return {"capture": f"capture:{payment_id}", "cancel": f"cancel:{payment_id}"}


def transfer_key(payment_id: UUID, courier_id: UUID, refusals: int = 0) -> str:
    """The Stripe key of a courier's transfer for a payment. Stripe answers a key it refused with the same
    refusal forever, so after `refusals` definitive refusals (the account could not take a transfer: no
    transfer exists under those keys) the next attempt takes a key of its own."""
    base = f"transfer:{payment_id}:{courier_id}"
    return base if refusals == 0 else f"{base}:{refusals}"
