"""Payments: the provider behind a small protocol (gateway.py) and its Stripe adapter (stripe_gateway.py)."""

from marketplace.payments.gateway import (
    AccountState,
    BalanceTransaction,
    Captured,
    Card,
    CardDeclinedError,
    GatewayError,
    IncomingEvent,
    PaymentGateway,
    PayoutRecord,
    PayoutState,
    RequestRefusedError,
    TransferRecord,
)

__all__ = [
    "AccountState",
    "BalanceTransaction",
    "Captured",
    "Card",
    "CardDeclinedError",
    "GatewayError",
    "IncomingEvent",
    "PaymentGateway",
    "PayoutRecord",
    "PayoutState",
    "RequestRefusedError",
    "TransferRecord",
]
