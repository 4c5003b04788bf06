"""The fake's notion of "now": an injected clock plus an offset the test controls can move.

`created` timestamps, settlement dates, authorisation expiry and payout arrival all read it; webhook
signatures do not (`stripe.Webhook.construct_event` compares them with the receiver's wall clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """`base` moved forward by whatever the `/_fake/clock` control added."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset = timedelta()

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())
