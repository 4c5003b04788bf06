"""The Stripe adapter: the only module that imports `stripe`.

Built as `stripe.StripeClient(key, base_addresses={"api": STRIPE_API_BASE})` when a base is set (the
embedded or in-test fake), Stripe itself otherwise. Calls are asynchronous (httpx), never blocking
the event loop. The SDK's own retries are off: a failed call raises `GatewayError` and the caller's
job is retried by the worker with the same idempotency key, so Stripe replays a call that did
happen instead of repeating it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import stripe

from marketplace.payments.gateway import (
    AccountState,
    BalanceTransaction,
    Captured,
    Card,
    CardDeclinedError,
    GatewayError,
    IncomingEvent,
    PayoutRecord,
    PayoutState,
    RequestRefusedError,
    TransferRecord,
)


class StripeGateway:
    def __init__(self, secret_key: str, *, webhook_secret: str | None, api_base: str | None = None) -> None:
        kwargs: dict[str, Any] = {"http_client": stripe.HTTPXClient(), "max_network_retries": 0}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(secret_key, **kwargs)
        self._webhook_secret = webhook_secret

    async def create_customer(self, *, name: str, organization_id: str, idempotency_key: str) -> str:
        customer = await _call(
            self._client.v1.customers.create_async(
                params={"name": name, "metadata": {"organization_id": organization_id}},
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(customer.id)

    async def set_up_card(self, *, customer_id: str, payment_method: str, idempotency_key: str) -> Card:
        intent = await _call(
            self._client.v1.setup_intents.create_async(
                params={
                    "customer": customer_id,
                    "payment_method": payment_method,
                    "confirm": True,
                    "usage": "off_session",
                },
                options={"idempotency_key": f"{idempotency_key}:setup"},
            )
        )
        pm_id = _id_of(intent.payment_method, f"payment method on {intent.id}")
        await _call(
            self._client.v1.customers.update_async(
                customer_id,
                params={"invoice_settings": {"default_payment_method": pm_id}},
                options={"idempotency_key": f"{idempotency_key}:default"},
            )
        )
        method = await _call(self._client.v1.payment_methods.retrieve_async(pm_id))
        card = method.card
        return Card(pm_id, None if card is None else card.brand, None if card is None else card.last4)

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
    ) -> str:
        # Every booking makes this call. The SDK's raw request is the same call (encoding, idempotency
        # key, errors raised as the same exceptions) without building StripeObjects for the whole
        # PaymentIntent of which only the id is read: that conversion was about 2% of a booking's CPU.
        response = await _call(
            self._client.raw_request_async(
                "post",
                "/v1/payment_intents",
                amount=amount_minor,
                currency=currency.lower(),
                customer=customer_id,
                payment_method=payment_method_id,
                capture_method="manual",
                confirm=True,
                off_session=True,
                transfer_group=transfer_group,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )
        return str(response.data["id"])

    async def capture(self, *, payment_intent_id: str, amount_minor: int, idempotency_key: str) -> Captured:
        intent = await _call(
            self._client.v1.payment_intents.capture_async(
                payment_intent_id,
                params={"amount_to_capture": amount_minor},
                options={"idempotency_key": idempotency_key},
            )
        )
        charge_id = _id_of(intent.latest_charge, f"charge on {payment_intent_id}")
        charge = await _call(
            self._client.v1.charges.retrieve_async(charge_id, params={"expand": ["balance_transaction"]})
        )
        txn = charge.balance_transaction
        if txn is None or isinstance(txn, str):
            raise GatewayError(f"charge {charge_id} has no balance transaction")
        return Captured(str(charge.id), int(charge.amount_captured), str(txn.id), int(txn.fee))

    async def cancel(self, *, payment_intent_id: str, idempotency_key: str) -> None:
        intent = await _call(self._client.v1.payment_intents.retrieve_async(payment_intent_id))
        if intent.status == "canceled":
            return
        await _call(
            self._client.v1.payment_intents.cancel_async(
                payment_intent_id, params={}, options={"idempotency_key": idempotency_key}
            )
        )

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
    ) -> str:
        transfer = await _call(
            self._client.v1.transfers.create_async(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": destination,
                    "transfer_group": transfer_group,
                    "source_transaction": source_transaction,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(transfer.id)

    async def refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        params: dict[str, Any] = {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata}
        if reason is not None:
            params["reason"] = reason
        refund = await _call(
            self._client.v1.refunds.create_async(params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return str(refund.id)

    async def reverse_transfer(
        self, *, transfer_id: str, amount_minor: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        reversal = await _call(
            self._client.v1.transfers.reversals.create_async(
                transfer_id,
                params={"amount": amount_minor, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(reversal.id)

    async def create_account(self, *, email: str, country: str, courier_id: str, idempotency_key: str) -> str:
        account = await _call(
            self._client.v1.accounts.create_async(
                params={
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"courier_id": courier_id},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(account.id)

    async def account_link(self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str) -> str:
        link = await _call(
            self._client.v1.account_links.create_async(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(link.url)

    async def account(self, account_id: str) -> AccountState:
        account = await _call(self._client.v1.accounts.retrieve_async(account_id))
        requirements = account.requirements
        due = tuple(requirements.currently_due or ()) if requirements is not None else ()
        return AccountState(str(account.id), bool(account.payouts_enabled), due)

    async def payout(self, payout_id: str, account_id: str | None) -> PayoutState:
        options: dict[str, Any] = {"stripe_account": account_id} if account_id else {}
        payout = await _call(self._client.v1.payouts.retrieve_async(payout_id, options=options))  # type: ignore[arg-type]
        return PayoutState(
            str(payout.id),
            account_id or "",
            int(payout.amount),
            str(payout.currency).upper(),
            str(payout.status),
            datetime.fromtimestamp(int(payout.arrival_date), UTC),
            bool(payout.automatic),
            datetime.fromtimestamp(int(payout.created), UTC),
        )

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        params: dict[str, Any] = {"limit": 100, "payout": payout_id}
        found: list[BalanceTransaction] = []
        while True:
            page = await _call(self._client.v1.balance_transactions.list_async(params=params))  # type: ignore[arg-type]
            found.extend(_balance_transaction(t) for t in page.data)
            if not page.has_more or not page.data:
                return found
            params = {**params, "starting_after": page.data[-1].id}

    def verify_event(self, payload: bytes, signature: str | None) -> IncomingEvent:
        """Raises ValueError for a bad signature or payload (the caller answers 400)."""
        if not self._webhook_secret:
            raise ValueError("no webhook secret is configured")
        try:
            event = stripe.Webhook.construct_event(payload, signature, self._webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise ValueError("bad signature") from exc
        obj = event.data.object
        account = getattr(event, "account", None)
        return IncomingEvent(str(event.id), str(event.type), str(account) if account else None, str(obj["id"]))

    async def balance_transactions(
        self, *, created_from: datetime, created_until: datetime
    ) -> list[BalanceTransaction]:
        return [
            _balance_transaction(t)
            async for t in self._every(self._client.v1.balance_transactions.list_async, created_from, created_until)
        ]

    async def transfers(self, *, created_from: datetime, created_until: datetime) -> list[TransferRecord]:
        return [
            TransferRecord(
                str(t.id),
                int(t.amount),
                int(t.amount_reversed),
                str(t.currency).upper(),
                str(t.destination if isinstance(t.destination, str) else getattr(t.destination, "id", "")),
                None if t.transfer_group is None else str(t.transfer_group),
                datetime.fromtimestamp(int(t.created), UTC),
            )
            async for t in self._every(self._client.v1.transfers.list_async, created_from, created_until)
        ]

    async def payouts(
        self, *, created_from: datetime, created_until: datetime, account_id: str | None = None
    ) -> list[PayoutRecord]:
        return [
            PayoutRecord(
                str(p.id),
                account_id,
                int(p.amount),
                str(p.currency).upper(),
                str(p.status),
                datetime.fromtimestamp(int(p.created), UTC),
                datetime.fromtimestamp(int(p.arrival_date), UTC),
            )
            async for p in self._every(self._client.v1.payouts.list_async, created_from, created_until, account_id)
        ]

    async def _every(
        self, list_async: Any, created_from: datetime, created_until: datetime, account_id: str | None = None
    ) -> AsyncIterator[Any]:
        """Every page of a list, 100 at a time, paged by an explicit `starting_after`: each page is one call
        through `_call`, so a failure is a `GatewayError` like any other."""
        params: dict[str, Any] = {
            "limit": 100,
            "created": {"gte": int(created_from.timestamp()), "lt": int(created_until.timestamp())},
        }
        options: dict[str, Any] = {"stripe_account": account_id} if account_id else {}
        while True:
            page = await _call(list_async(params=params, options=options))
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            params = {**params, "starting_after": page.data[-1].id}


def _balance_transaction(t: Any) -> BalanceTransaction:
    return BalanceTransaction(
        str(t.id),
        str(t.type),
        None if t.source is None else str(t.source if isinstance(t.source, str) else t.source.id),
        int(t.amount),
        int(t.fee),
        str(t.currency).upper(),
        datetime.fromtimestamp(int(t.created), UTC),
    )


T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def _id_of(field: str | _HasId | None, what: str) -> str:
    """An expandable field's id, whether Stripe sent the id or the object; none at all is Stripe's fault."""
    if field is None:
        raise GatewayError(f"Stripe sent no {what}")
    return field if isinstance(field, str) else field.id


async def _call(awaitable: Awaitable[T]) -> T:
    """The SDK's errors in our terms: a card's refusal is the retailer's; anything else is ours to retry."""
    try:
        return await awaitable
    except stripe.CardError as exc:
        error = exc.error
        raise CardDeclinedError(
            code=str(exc.code or "card_declined"),
            decline_code=None if error is None else error.decline_code,
            message=str(exc.user_message or "the card was declined"),
        ) from exc
    except stripe.InvalidRequestError as exc:
        raise RequestRefusedError(exc.code, f"{type(exc).__name__}: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise GatewayError(f"{type(exc).__name__}: {exc.user_message or exc}") from exc
