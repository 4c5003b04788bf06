"""The platform's automatic payouts: a daily schedule on the fake's clock, each payout carrying the balance
transactions it settles (`GET /v1/balance_transactions?payout=po_...`), `payout.created` then `payout.paid`
delivered to the platform's webhook endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import stripe

from stripefake.core import DAY_S
from tests.stripefake.conftest import Fake, Receiver, funded_charge, onboarded_account
from tests.stripefake.test_documented_shapes import BALANCE_TRANSACTION, _raw, assert_shape

STR, INT, BOOL, OBJ, ANY = str, int, bool, dict, None

# Stripe's documented Payout object (docs.stripe.com/api/payouts/object), keys and JSON types.
PAYOUT = {
    "id": STR,
    "object": STR,
    "amount": INT,
    "arrival_date": INT,
    "automatic": BOOL,
    "balance_transaction": STR,
    "created": INT,
    "currency": STR,
    "description": ANY,
    "destination": ANY,
    "failure_balance_transaction": ANY,
    "failure_code": ANY,
    "failure_message": ANY,
    "livemode": BOOL,
    "metadata": OBJ,
    "method": STR,
    "original_payout": ANY,
    "reconciliation_status": STR,
    "reversed_by": ANY,
    "source_type": STR,
    "statement_descriptor": ANY,
    "status": STR,
    "type": STR,
}


def _midnight(day: int) -> int:
    return int(datetime(2026, 11, day, tzinfo=UTC).timestamp())


def test_the_daily_schedule_pays_out_what_became_available_with_its_balance_transactions(
    client: stripe.StripeClient, fake: Fake
) -> None:
    courier = onboarded_account(client, fake)
    receiver = Receiver()
    try:
        fake.control("webhook_endpoints", {"url": receiver.url, "secret": "whsec_test", "connect": False})
        assert fake.control("payouts/schedule", {"interval": "daily"})["next_run_at"] == _midnight(25)
        # Captured on the 24th at 08:00: 10000 - fee (150 + 25) = 9825, available at midnight on the 26th.
        intent = client.v1.payment_intents.create(
            params={"amount": 10000, "currency": "eur", "payment_method": "pm_card_visa", "confirm": True}
        )
        charge = client.v1.charges.retrieve(str(intent.latest_charge))
        transfer = client.v1.transfers.create(
            params={
                "amount": 4000,
                "currency": "eur",
                "destination": courier,
                "source_transaction": charge.id,
            }
        )
        fake.advance(DAY_S)  # midnight on the 25th: only the transfer (-4000) is available; nothing to pay out
        assert client.v1.payouts.list().data == []
        fake.advance(DAY_S)  # midnight on the 26th: 9825 - 4000
        (payout,) = client.v1.payouts.list().data
        raw = _raw(client.v1.payouts.retrieve(payout.id))
        assert_shape(raw, PAYOUT, "po")
        assert (raw["amount"], raw["automatic"], raw["status"], raw["created"], raw["arrival_date"]) == (
            5825,
            True,
            "pending",
            _midnight(26),
            _midnight(27),
        )
        lines = client.v1.balance_transactions.list(params={"payout": payout.id, "limit": 100}).data
        by_source = {t.source: t for t in lines}
        assert set(by_source) == {charge.id, transfer.id, payout.id}
        assert_shape(_raw(client.v1.balance_transactions.retrieve(by_source[payout.id].id)), BALANCE_TRANSACTION)
        assert by_source[payout.id].amount == -5825 == -sum(t.net for t in lines if t.type != "payout")
        assert payout.balance_transaction == by_source[payout.id].id
        assert client.v1.balance.retrieve().available[0].amount == 0

        fake.advance(DAY_S)  # arrival: paid; the next run finds nothing new
        assert client.v1.payouts.retrieve(payout.id).status == "paid"
        assert len(client.v1.payouts.list().data) == 1
        fake.flush()
        types = []
        while not receiver.received.empty():
            event = json.loads(receiver.received.get_nowait().body)
            if event["data"]["object"]["id"] == payout.id:
                types.append(event["type"])
                assert "account" not in event  # the platform's own: its (non-Connect) endpoint
    finally:
        receiver.close()
    assert types == ["payout.created", "payout.paid", "payout.updated"]


def test_the_run_control_pays_out_now_and_manual_payouts_are_refused_while_automatic(
    client: stripe.StripeClient, fake: Fake
) -> None:
    funded_charge(client, 2000)  # available at once: 2000 - 55
    fake.control("payouts/schedule", {"interval": "daily"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payouts.create(params={"amount": 100, "currency": "eur"})
    assert refused.value.code == "payouts_not_allowed"
    (made,) = fake.control("payouts/run")["payouts"]
    assert (made["amount"], made["automatic"]) == (1945, True)
    assert fake.control("payouts/run")["payouts"] == []  # everything available is paid out already
    fake.control("payouts/schedule", {"interval": "manual"})
    fake.advance(3 * DAY_S)
    assert [p.id for p in client.v1.payouts.list().data] == [made["id"]]  # no schedule: no new payout
