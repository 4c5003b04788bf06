"""`crowdship stripe-fake` on its own, many clients at once on one idempotency key, and embedding it."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import stripe

from stripefake import FakeStripe, RunningFake
from tests.stripefake.conftest import API_KEY, Fake


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "stripe-fake", "--port", "0", "--data", str(tmp_path / "s.sqlite3")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the fake says where it listens (or exits)
        assert line.startswith("stripefake: listening on http://"), line
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_crowdship_stripe_fake_serves_the_sdk_alone(standalone: str) -> None:
    sdk = stripe.StripeClient(API_KEY, base_addresses={"api": standalone})
    customer = sdk.v1.customers.create(params={"email": "alone@example.com"})
    assert sdk.v1.customers.retrieve(customer.id).email == "alone@example.com"


def test_parallel_requests_with_one_key_create_one_object(client: stripe.StripeClient, fake: Fake) -> None:
    def book(_: int) -> str:
        intent = client.v1.payment_intents.create(
            params={"amount": 900, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True},
            options={"idempotency_key": "job-42-authorise"},
        )
        return intent.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(book, range(16)))
    assert len(ids) == 1
    assert len(client.v1.payment_intents.list(params={"limit": 100}).data) == 1
    assert len(client.v1.balance_transactions.list(params={"limit": 100}).data) == 1


def test_an_embedded_fake_leaves_the_process_logging_alone() -> None:
    """`crowdship serve` runs the fake in its own process: the service's JSON log handlers must survive its start."""
    root = logging.getLogger()
    before = list(root.handlers), root.level
    with RunningFake(FakeStripe()) as server:
        stripe.StripeClient("sk_test_logging", base_addresses={"api": server.url}).v1.customers.create()
        assert (list(root.handlers), root.level) == before
