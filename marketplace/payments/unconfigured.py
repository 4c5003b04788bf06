"""The gateway of a process started without Stripe keys (a CLI command, a misconfigured test): it refuses."""

from __future__ import annotations

from typing import Any, NoReturn

from marketplace.payments.gateway import GatewayError, IncomingEvent


class UnconfiguredGateway:
    """Every call fails as unavailable: money never moves without a configured provider."""

    def __getattr__(self, name: str) -> Any:
        async def refuse(*args: object, **kwargs: object) -> NoReturn:
            raise GatewayError(f"Stripe is not configured (STRIPE_SECRET_KEY); cannot {name}")

        return refuse

    def verify_event(self, payload: bytes, signature: str | None) -> IncomingEvent:
        raise ValueError("Stripe is not configured")
