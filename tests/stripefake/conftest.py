"""One Stripe fake per test module on a free local port, reset before each test; the real SDK talks to it.

Tests drive the fake only through the official `stripe` SDK over HTTP (and the `/_fake` controls through
plain HTTP), never by patching the SDK.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe

from marketplace.clock import ManualClock
from stripefake import FakeStripe, RunningFake

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
API_KEY = "sk_test_crowdship_fake"


@dataclass
class Fake:
    """The running fake, its clock and a plain HTTP client for the test controls."""

    url: str
    state: FakeStripe
    clock: ManualClock

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/_fake/{path}", json=body or {}, timeout=30)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def flush(self) -> dict[str, Any]:
        return self.control("webhooks/flush")

    def advance(self, seconds: int) -> None:
        self.control("clock", {"advance_s": seconds})

    def onboard(self, account_id: str) -> None:
        self.control(f"accounts/{account_id}/onboard")


@pytest.fixture(scope="module")
def running_fake() -> Iterator[tuple[RunningFake, ManualClock]]:
    clock = ManualClock(T0)
    with RunningFake(FakeStripe(clock=clock)) as server:
        yield server, clock


@pytest.fixture
def fake(running_fake: tuple[RunningFake, ManualClock]) -> Fake:
    server, clock = running_fake
    clock.at = T0
    handle = Fake(server.url, server.fake, clock)
    handle.control("reset")
    server.fake.settlement_days = 2
    return handle


@pytest.fixture
def client(fake: Fake) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


@pytest.fixture
def retrying_client(fake: Fake) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=3)


@dataclass
class Received:
    body: bytes
    signature: str


class Receiver:
    """A local HTTP endpoint that records webhook deliveries; answers `status` (200 unless told otherwise)."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if outer.status == 200:
                    outer.received.put(Received(body, self.headers.get("Stripe-Signature", "")))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        """Everything received so far (deliveries are complete once a flush has answered)."""
        found = []
        while not self.received.empty():
            found.append(json.loads(self.received.get_nowait().body))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def onboarded_account(client: stripe.StripeClient, fake: Fake, email: str = "courier@example.com") -> str:
    account = client.v1.accounts.create(
        params={"type": "express", "country": "DE", "email": email, "capabilities": {"transfers": {"requested": True}}}
    )
    fake.onboard(account.id)
    return account.id


def funded_charge(
    client: stripe.StripeClient, amount: int, *, card: str = "pm_card_bypassPending"
) -> stripe.PaymentIntent:
    """A captured charge whose funds are available at once (Stripe's 4000000000000077 test card)."""
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "eur", "payment_method": card, "confirm": True}
    )
