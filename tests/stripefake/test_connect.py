"""Express accounts, onboarding links, transfers with transfer groups, reversals and connected payouts."""

from __future__ import annotations

import httpx
import pytest
import stripe

from tests.stripefake.conftest import Fake, Receiver, funded_charge, onboarded_account


def test_visiting_the_onboarding_link_enables_payouts_and_sends_account_updated(
    client: stripe.StripeClient, fake: Fake, receiver: Receiver
) -> None:
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["account.updated"], "connect": True}
    )
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "country": "DE",
            "email": "c@example.com",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    assert account.id.startswith("acct_")
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (False, False, False)
    assert account.requirements is not None
    assert "external_account" in (account.requirements.currently_due or [])
    assert account.capabilities is not None
    assert account.capabilities.transfers == "inactive"

    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://crowdship.example/refresh",
            "return_url": "https://crowdship.example/done",
        }
    )
    assert link.object == "account_link"
    assert link.expires_at > link.created
    visit = httpx.get(link.url, follow_redirects=False)
    assert visit.status_code in (302, 303, 307)
    assert visit.headers["location"] == "https://crowdship.example/done"

    done = client.v1.accounts.retrieve(account.id)
    assert (done.payouts_enabled, done.charges_enabled, done.details_submitted) == (True, True, True)
    assert done.requirements is not None
    assert done.requirements.currently_due == []
    assert done.capabilities is not None
    assert done.capabilities.transfers == "active"

    fake.flush()
    [event] = receiver.events()
    assert (event["type"], event["account"]) == ("account.updated", account.id)
    assert event["data"]["object"]["payouts_enabled"] is True
    assert event["data"]["previous_attributes"]["payouts_enabled"] is False
    # A used link sends the visitor to refresh_url, as an expired one does.
    assert httpx.get(link.url, follow_redirects=False).headers["location"] == "https://crowdship.example/refresh"


def test_new_requirements_switch_payouts_off(client: stripe.StripeClient, fake: Fake) -> None:
    account_id = onboarded_account(client, fake)
    fake.control(f"accounts/{account_id}/requirements", {"currently_due": ["individual.verification.document"]})
    account = client.v1.accounts.retrieve(account_id)
    assert account.payouts_enabled is False
    assert account.requirements is not None
    assert account.requirements.currently_due == ["individual.verification.document"]
    [event] = client.v1.events.list(params={"type": "account.updated"}, options={"stripe_account": account_id}).data[:1]
    assert event.data.object["payouts_enabled"] is False
    assert account.capabilities is not None
    assert account.capabilities.transfers == "inactive"
    funded_charge(client, 5000)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.transfers.create(params={"amount": 100, "currency": "eur", "destination": account_id})
    assert raised.value.code == "insufficient_capabilities_for_transfer"
    fake.control(f"accounts/{account_id}/onboard", {})  # given: everything active again
    client.v1.transfers.create(params={"amount": 100, "currency": "eur", "destination": account_id})


def test_transfer_needs_an_onboarded_destination(client: stripe.StripeClient) -> None:
    funded_charge(client, 5000)
    account = client.v1.accounts.create(params={"type": "express", "capabilities": {"transfers": {"requested": True}}})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.transfers.create(params={"amount": 100, "currency": "eur", "destination": account.id})
    assert raised.value.code == "insufficient_capabilities_for_transfer"


def test_transfer_without_available_funds_is_refused_unless_tied_to_its_charge(
    client: stripe.StripeClient, fake: Fake
) -> None:
    account_id = onboarded_account(client, fake)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "eur",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "transfer_group": "job_7",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.transfers.create(params={"amount": 1500, "currency": "eur", "destination": account_id})
    assert raised.value.code == "balance_insufficient"

    transfer = client.v1.transfers.create(
        params={
            "amount": 1500,
            "currency": "eur",
            "destination": account_id,
            "transfer_group": "job_7",
            "source_transaction": str(intent.latest_charge),
        }
    )
    assert transfer.id.startswith("tr_")
    assert transfer.source_transaction == intent.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.transfers.create(
            params={
                "amount": 501,
                "currency": "eur",
                "destination": account_id,
                "source_transaction": str(intent.latest_charge),
            }
        )
    assert raised.value.code == "amount_too_large"
    # The destination's money follows the charge's settlement date: pending now.
    balance = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert (balance.pending[0].amount, balance.available[0].amount) == (1500, 0)


def test_transfers_list_by_group_and_reverse_partly(client: stripe.StripeClient, fake: Fake) -> None:
    account_id = onboarded_account(client, fake)
    funded_charge(client, 10000)
    first = client.v1.transfers.create(
        params={"amount": 3000, "currency": "eur", "destination": account_id, "transfer_group": "job_1"}
    )
    client.v1.transfers.create(
        params={"amount": 1000, "currency": "eur", "destination": account_id, "transfer_group": "job_2"}
    )
    group = client.v1.transfers.list(params={"transfer_group": "job_1"})
    assert [t.id for t in group.data] == [first.id]
    assert first.destination == account_id
    assert str(first.destination_payment).startswith("py_")

    reversal = client.v1.transfers.reversals.create(first.id, params={"amount": 1200})
    assert reversal.id.startswith("trr_")
    assert reversal.transfer == first.id
    after = client.v1.transfers.retrieve(first.id)
    assert (after.amount_reversed, after.reversed) == (1200, False)
    assert [r.id for r in after.reversals.data] == [reversal.id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(first.id, params={"amount": 1801})
    client.v1.transfers.reversals.create(first.id)
    assert client.v1.transfers.retrieve(first.id).reversed is True
    connected = client.v1.balance.retrieve(options={"stripe_account": account_id})
    assert connected.available[0].amount == 1000


def test_connected_account_pays_out_through_the_stripe_account_header(client: stripe.StripeClient, fake: Fake) -> None:
    account_id = onboarded_account(client, fake)
    funded_charge(client, 5000)
    client.v1.transfers.create(params={"amount": 4000, "currency": "eur", "destination": account_id})
    on_account: stripe.RequestOptions = {"stripe_account": account_id}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payouts.create(params={"amount": 4001, "currency": "eur"}, options=on_account)
    assert raised.value.code == "balance_insufficient"

    payout = client.v1.payouts.create(params={"amount": 2500, "currency": "eur"}, options=on_account)
    assert payout.id.startswith("po_")
    assert payout.destination is not None
    assert str(payout.destination).startswith("ba_")
    assert client.v1.payouts.retrieve(payout.id, options=on_account).status == "paid"
    assert client.v1.balance.retrieve(options=on_account).available[0].amount == 1500
    # The payout belongs to the connected account: the platform cannot see it.
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.retrieve(payout.id)
    types = [t.type for t in client.v1.balance_transactions.list(options=on_account).data]
    assert types == ["payout", "payment"]
    paid = client.v1.events.list(params={"type": "payout.paid"}, options=on_account).data
    assert [e.data.object["id"] for e in paid] == [payout.id]


def test_payout_is_refused_while_payouts_are_disabled(client: stripe.StripeClient, fake: Fake) -> None:
    account_id = onboarded_account(client, fake)
    funded_charge(client, 5000)
    client.v1.transfers.create(params={"amount": 1000, "currency": "eur", "destination": account_id})
    fake.control(f"accounts/{account_id}/requirements", {"currently_due": ["external_account"]})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payouts.create(params={"amount": 1000, "currency": "eur"}, options={"stripe_account": account_id})
    assert raised.value.code == "payouts_not_allowed"


def test_unknown_stripe_account_header_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.PermissionError):
        client.v1.balance.retrieve(options={"stripe_account": "acct_doesnotexist"})
