"""Payments: the provider behind a small protocol (gateway.py) and its Stripe adapter (stripe_gateway.py)."""

from marketplace.payments.gateway import (
    AccountState,
    Captured,
    Card,
    CardDeclinedError,
    GatewayError,
    IncomingEvent,
    PaymentGateway,
    PayoutState,
    RequestRefusedError,
)

__all__ = [
    "AccountState",
    "Captured",
    "Card",
    "CardDeclinedError",
    "GatewayError",
    "IncomingEvent",
    "PaymentGateway",
    "PayoutState",
    "RequestRefusedError",
]
