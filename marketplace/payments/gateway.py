"""What the services need of a payment provider, in our own terms (no `stripe` types leak out).

`StripeGateway` (stripe_gateway.py) is the one implementation; it is the only module that imports
the `stripe` SDK. Every call that moves or reserves money takes an idempotency key the caller derives
from its own ids (`capture:<payment id>`), so a retried handler replays Stripe's first answer instead
of moving money twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class GatewayError(Exception):
    """Stripe answered with an error that is not the card's fault (5xx, network, bad request): retry later."""


class RequestRefusedError(GatewayError):
    """Stripe refused the request itself (400 `invalid_request_error`, with its `code`, such as
    `balance_insufficient` for a reversal the connected account cannot cover): retrying will not help."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CardDeclinedError(Exception):
    """The card was refused (Stripe's `card_error`): the retailer must use another card."""

    code: str
    decline_code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Card:
    payment_method_id: str
    brand: str | None
    last4: str | None


@dataclass(frozen=True, slots=True)
class Captured:
    charge_id: str
    amount_minor: int
    balance_transaction_id: str
    fee_minor: int


@dataclass(frozen=True, slots=True)
class AccountState:
    account_id: str
    payouts_enabled: bool
    requirements: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PayoutState:
    payout_id: str
    account_id: str
    amount_minor: int
    currency: str
    status: str
    arrival_at: datetime
    automatic: bool = False  # made by the account's payout schedule
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BalanceTransaction:
    """One movement of our Stripe balance, signed as Stripe signs it (money in positive), in minor units."""

    id: str
    type: str  # charge, payment, refund, transfer, transfer_refund, payout, adjustment, ...
    source: str | None  # the object that moved the money: ch_, re_, tr_, trr_, po_ ...
    amount_minor: int
    fee_minor: int
    currency: str  # upper case, as we store it
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: str
    amount_minor: int
    amount_reversed_minor: int
    currency: str
    destination: str
    transfer_group: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    id: str
    account_id: str | None  # None: the platform's own payout
    amount_minor: int
    currency: str
    status: str
    created_at: datetime
    arrival_at: datetime


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A verified webhook event: only its identity; state is always read back from Stripe."""

    id: str
    type: str
    account_id: str | None
    object_id: str


class PaymentGateway(Protocol):
    async def create_customer(self, *, name: str, organization_id: str, idempotency_key: str) -> str: ...

    async def set_up_card(self, *, customer_id: str, payment_method: str, idempotency_key: str) -> Card: ...

    async def authorize(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str: ...

    async def capture(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> Captured: ...

    async def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> None: ...

    async def transfer(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        transfer_group: str,
        source_transaction: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str: ...

    async def refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        """A full or partial refund of the intent's captured charge; answers Stripe's refund id (re_...)."""
        ...

    async def reverse_transfer(
        self, *, transfer_id: str, amount_minor: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Pulls `amount_minor` of a transfer back from the connected account; answers the reversal id (trr_...)."""
        ...

    async def create_account(self, *, email: str, country: str, courier_id: str, idempotency_key: str) -> str: ...

    async def account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> str: ...

    async def account(self, account_id: str) -> AccountState: ...

    async def payout(self, payout_id: str, account_id: str | None) -> PayoutState: ...

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        """The platform's balance transactions an automatic payout settles, its own included, all pages."""
        ...

    def verify_event(self, payload: bytes, signature: str | None) -> IncomingEvent: ...

    # Lists for reconciliation: every object created in [created_from, created_until), all pages.

    async def balance_transactions(
        self, *, created_from: datetime, created_until: datetime
    ) -> list[BalanceTransaction]: ...

    async def transfers(self, *, created_from: datetime, created_until: datetime) -> list[TransferRecord]: ...

    async def payouts(
        self, *, created_from: datetime, created_until: datetime, account_id: str | None = None
    ) -> list[PayoutRecord]: ...
