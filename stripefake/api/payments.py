"""Customers, payment methods, SetupIntents, PaymentIntents (manual capture, partial capture), charges, refunds."""

from __future__ import annotations

import hashlib
from typing import Any

from stripefake.api.cards import CARDS, Decline, TestCard
from stripefake.core import DAY_S, FakeStripe, Req
from stripefake.errors import StripeError, invalid, no_such
from stripefake.params import (
    COMMON,
    FREE,
    LEAF,
    LIST,
    boolean,
    currency,
    integer,
    merge_metadata,
    required_integer,
    required_text,
    text,
)
from stripefake.routes import route
from stripefake.store import Obj, new_id

AUTHORISATION_DAYS = 7  # an uncaptured card PaymentIntent is cancelled this long after authorisation


# -- customers --------------------------------------------------------------------------------------------

CUSTOMER: dict[str, Any] = {
    **COMMON,
    "email": LEAF,
    "name": LEAF,
    "description": LEAF,
    "phone": LEAF,
    "metadata": FREE,
    "address": FREE,
    "shipping": FREE,
    "preferred_locales": LEAF,
    "payment_method": LEAF,
    "invoice_settings": {"default_payment_method": LEAF, "custom_fields": FREE, "footer": LEAF},
}


def _customer_fields(fake: FakeStripe, req: Req, customer: Obj) -> None:
    p = req.params
    for key in ("email", "name", "description", "phone"):
        if key in p:
            customer[key] = text(p, key)
    if "preferred_locales" in p:
        customer["preferred_locales"] = p["preferred_locales"] or []
    customer["metadata"] = merge_metadata(customer.get("metadata", {}), p)
    settings = p.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id is not None:
            pm = fake.store.get(pm_id, "payment_method")
            if pm is None or pm.get("customer") != customer["id"]:
                raise invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
                    "attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                    code="resource_missing",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id


@route("POST", "/v1/customers", CUSTOMER)
def create_customer(fake: FakeStripe, req: Req) -> Obj:
    customer = fake.create(
        "cus",
        "customer",
        req,
        {
            "address": None,
            "balance": 0,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": new_id("x", 8)[2:].upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "metadata": {},
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        },
    )
    pm_id = text(req.params, "payment_method")
    if pm_id is not None:
        _attach(fake, req, _payment_method(fake, req, pm_id, "payment_method"), customer)
    _customer_fields(fake, req, customer)
    fake.store.put(customer)
    fake.emit(req, "customer.created", customer)
    return fake.respond(req, customer)


@route("GET", "/v1/customers/{id}", COMMON)
def retrieve_customer(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "customer", "customer"))


@route("POST", "/v1/customers/{id}", CUSTOMER)
def update_customer(fake: FakeStripe, req: Req) -> Obj:
    customer = fake.find(req, req.path_ids[0], "customer", "customer")
    before = fake.render(customer)
    _customer_fields(fake, req, customer)
    fake.store.put(customer)
    after = fake.render(customer)
    fake.emit(req, "customer.updated", customer, previous={k: v for k, v in before.items() if after.get(k) != v})
    return fake.respond(req, customer)


@route("DELETE", "/v1/customers/{id}", {})
def delete_customer(fake: FakeStripe, req: Req) -> Obj:
    customer = fake.find(req, req.path_ids[0], "customer", "customer")
    fake.store.delete(customer["id"])
    fake.emit(req, "customer.deleted", customer)
    return {"id": customer["id"], "object": "customer", "deleted": True}


@route("GET", "/v1/customers", {**LIST, "email": LEAF})
def list_customers(fake: FakeStripe, req: Req) -> Obj:
    email = text(req.params, "email")
    rows = (c for c in fake.store.newest_first("customer") if email is None or c["email"] == email)
    return fake.listing(req, rows, "/v1/customers")


# -- payment methods --------------------------------------------------------------------------------------


def _new_payment_method(fake: FakeStripe, req: Req, test_id: str, card: TestCard) -> Obj:
    year = int(fake.clock.now().year) + 3
    return fake.create(
        "pm",
        "payment_method",
        req,
        {
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
            },
            "card": {
                "brand": card.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": card.country,
                "display_brand": card.brand,
                "exp_month": 12,
                "exp_year": year,
                "fingerprint": hashlib.sha256(test_id.encode()).hexdigest()[:16],
                "funding": card.funding,
                "generated_from": None,
                "last4": card.last4,
                "networks": {"available": [card.brand], "preferred": None},
                "regulated_status": "unregulated",
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "customer": None,
            "metadata": {},
            "type": "card",
            "_card": test_id,
        },
    )


def _payment_method(fake: FakeStripe, req: Req, pm_id: str, param: str) -> Obj:
    """A stored payment method, or a fresh one made from a `pm_card_*` test id, as Stripe does."""
    card = CARDS.get(pm_id)
    if card is not None:
        return _new_payment_method(fake, req, pm_id, card)
    pm = fake.store.get(pm_id, "payment_method")
    if pm is None or pm["_account"] != req.account:
        raise no_such("PaymentMethod", pm_id, param)
    return pm


def _card_of(pm: Obj) -> TestCard:
    return CARDS[pm["_card"]]


def _card_error(decline: Decline, *, param: str | None = None, **extra: Any) -> StripeError:
    return StripeError(
        402,
        "card_error",
        decline.message,
        code=decline.code,
        param=param,
        decline_code=decline.decline_code,
        advice_code="try_again_later" if decline.code == "processing_error" else "do_not_try_again",
        **extra,
    )


def _attach(fake: FakeStripe, req: Req, pm: Obj, customer: Obj) -> None:
    if pm.get("customer") not in (None, customer["id"]):
        raise invalid(
            "The payment method you provided has already been attached to a customer.", param="payment_method"
        )
    decline = _card_of(pm).decline
    if decline is not None:
        raise _card_error(decline, payment_method=fake.render(pm))
    if pm.get("customer") == customer["id"]:
        return
    pm["customer"] = customer["id"]
    fake.store.put(pm)
    fake.emit(req, "payment_method.attached", pm)


@route("GET", "/v1/payment_methods/{id}", COMMON)
def retrieve_payment_method(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, _payment_method(fake, req, req.path_ids[0], "payment_method"))


@route(
    "POST", "/v1/payment_methods/{id}", {**COMMON, "metadata": FREE, "billing_details": FREE, "allow_redisplay": LEAF}
)
def update_payment_method(fake: FakeStripe, req: Req) -> Obj:
    pm = _payment_method(fake, req, req.path_ids[0], "payment_method")
    pm["metadata"] = merge_metadata(pm["metadata"], req.params)
    if "allow_redisplay" in req.params:
        pm["allow_redisplay"] = text(req.params, "allow_redisplay")
    fake.store.put(pm)
    fake.emit(req, "payment_method.updated", pm)
    return fake.respond(req, pm)


@route("POST", "/v1/payment_methods/{id}/attach", {**COMMON, "customer": LEAF})
def attach_payment_method(fake: FakeStripe, req: Req) -> Obj:
    customer = fake.find(req, required_text(req.params, "customer"), "customer", "customer", "customer")
    pm = _payment_method(fake, req, req.path_ids[0], "payment_method")
    _attach(fake, req, pm, customer)
    return fake.respond(req, pm)


@route("POST", "/v1/payment_methods/{id}/detach", COMMON)
def detach_payment_method(fake: FakeStripe, req: Req) -> Obj:
    pm = _payment_method(fake, req, req.path_ids[0], "payment_method")
    customer_id = pm.get("customer")
    if customer_id is None:
        raise invalid("The payment method you provided is not attached to a customer so detachment is impossible.")
    pm["customer"] = None
    fake.store.put(pm)
    customer = fake.store.get(customer_id, "customer")
    if customer is not None and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
        fake.store.put(customer)
    fake.emit(req, "payment_method.detached", pm, previous={"customer": customer_id})
    return fake.respond(req, pm)


@route("GET", "/v1/payment_methods", {**LIST, "customer": LEAF, "type": LEAF})
def list_payment_methods(fake: FakeStripe, req: Req) -> Obj:
    customer = text(req.params, "customer")
    kind = text(req.params, "type")
    rows = (
        p
        for p in fake.store.newest_first("payment_method")
        if (customer is None or p["customer"] == customer) and (kind is None or p["type"] == kind)
    )
    return fake.listing(req, rows, "/v1/payment_methods")


@route("GET", "/v1/customers/{id}/payment_methods", {**LIST, "type": LEAF})
def list_customer_payment_methods(fake: FakeStripe, req: Req) -> Obj:
    customer = fake.find(req, req.path_ids[0], "customer", "customer")
    rows = (p for p in fake.store.newest_first("payment_method") if p["customer"] == customer["id"])
    return fake.listing(req, rows, f"/v1/customers/{customer['id']}/payment_methods")


# -- SetupIntents -----------------------------------------------------------------------------------------

SETUP_INTENT: dict[str, Any] = {
    **COMMON,
    "customer": LEAF,
    "payment_method": LEAF,
    "payment_method_types": LEAF,
    "payment_method_options": FREE,
    "automatic_payment_methods": FREE,
    "usage": LEAF,
    "confirm": LEAF,
    "description": LEAF,
    "metadata": FREE,
    "return_url": LEAF,
    "mandate_data": FREE,
}


@route("POST", "/v1/setup_intents", SETUP_INTENT)
def create_setup_intent(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    customer_id = text(p, "customer")
    if customer_id is not None:
        fake.find(req, customer_id, "customer", "customer", "customer")
    seti = fake.create(
        "seti",
        "setup_intent",
        req,
        {
            "application": None,
            "automatic_payment_methods": None,
            "cancellation_reason": None,
            "customer": customer_id,
            "description": text(p, "description"),
            "flow_directions": None,
            "last_setup_error": None,
            "latest_attempt": None,
            "mandate": None,
            "metadata": merge_metadata({}, p),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_configuration_details": None,
            "payment_method_options": {
                "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
            },
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "single_use_mandate": None,
            "status": "requires_payment_method",
            "usage": text(p, "usage") or "off_session",
        },
    )
    seti["client_secret"] = f"{seti['id']}_secret_{new_id('s')[2:]}"
    pm_id = text(p, "payment_method")
    if pm_id is not None:
        seti["payment_method"] = _payment_method(fake, req, pm_id, "payment_method")["id"]
        seti["status"] = "requires_confirmation"
    fake.store.put(seti)
    fake.emit(req, "setup_intent.created", seti)
    if boolean(p, "confirm"):
        _confirm_setup(fake, req, seti)
    return fake.respond(req, seti)


def _confirm_setup(fake: FakeStripe, req: Req, seti: Obj) -> None:
    if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise _unexpected_state("SetupIntent", seti, "confirm", "setup_intent_unexpected_state", fake)
    if seti["payment_method"] is None:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
        )
    pm = fake.store.get(seti["payment_method"], "payment_method")
    assert pm is not None
    decline = _card_of(pm).decline
    if decline is not None:
        seti["status"] = "requires_payment_method"
        seti["last_setup_error"] = {
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "payment_method": fake.render(pm),
            "type": "card_error",
        }
        fake.store.put(seti)
        fake.emit(req, "setup_intent.setup_failed", seti)
        raise _card_error(decline, setup_intent=fake.render(seti), payment_method=fake.render(pm))
    if seti["customer"] is not None:
        customer = fake.store.get(seti["customer"], "customer")
        assert customer is not None
        _attach(fake, req, pm, customer)
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    fake.store.put(seti)
    fake.emit(req, "setup_intent.succeeded", seti)


@route(
    "POST",
    "/v1/setup_intents/{id}/confirm",
    {**COMMON, "payment_method": LEAF, "return_url": LEAF, "mandate_data": FREE, "payment_method_options": FREE},
)
def confirm_setup_intent(fake: FakeStripe, req: Req) -> Obj:
    seti = fake.find(req, req.path_ids[0], "setup_intent", "setup_intent")
    pm_id = text(req.params, "payment_method")
    if pm_id is not None:
        seti["payment_method"] = _payment_method(fake, req, pm_id, "payment_method")["id"]
    _confirm_setup(fake, req, seti)
    return fake.respond(req, seti)


@route("GET", "/v1/setup_intents/{id}", {**COMMON, "client_secret": LEAF})
def retrieve_setup_intent(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "setup_intent", "setup_intent"))


@route("POST", "/v1/setup_intents/{id}/cancel", {**COMMON, "cancellation_reason": LEAF})
def cancel_setup_intent(fake: FakeStripe, req: Req) -> Obj:
    seti = fake.find(req, req.path_ids[0], "setup_intent", "setup_intent")
    if seti["status"] in ("succeeded", "canceled"):
        raise _unexpected_state("SetupIntent", seti, "cancel", "setup_intent_unexpected_state", fake)
    seti["status"] = "canceled"
    seti["cancellation_reason"] = text(req.params, "cancellation_reason")
    fake.store.put(seti)
    fake.emit(req, "setup_intent.canceled", seti)
    return fake.respond(req, seti)


@route("GET", "/v1/setup_intents", {**LIST, "customer": LEAF, "payment_method": LEAF})
def list_setup_intents(fake: FakeStripe, req: Req) -> Obj:
    customer = text(req.params, "customer")
    rows = (s for s in fake.store.newest_first("setup_intent") if customer is None or s["customer"] == customer)
    return fake.listing(req, rows, "/v1/setup_intents")


# -- PaymentIntents and charges ---------------------------------------------------------------------------

PAYMENT_INTENT: dict[str, Any] = {
    **COMMON,
    "amount": LEAF,
    "currency": LEAF,
    "customer": LEAF,
    "payment_method": LEAF,
    "payment_method_types": LEAF,
    "payment_method_options": FREE,
    "automatic_payment_methods": FREE,
    "capture_method": LEAF,
    "confirmation_method": LEAF,
    "confirm": LEAF,
    "off_session": LEAF,
    "error_on_requires_action": LEAF,
    "return_url": LEAF,
    "description": LEAF,
    "metadata": FREE,
    "receipt_email": LEAF,
    "setup_future_usage": LEAF,
    "statement_descriptor": LEAF,
    "statement_descriptor_suffix": LEAF,
    "transfer_group": LEAF,
    "shipping": FREE,
}


def _unexpected_state(label: str, obj: Obj, action: str, code: str, fake: FakeStripe) -> StripeError:
    key = "payment_intent" if obj["object"] == "payment_intent" else "setup_intent"
    error = StripeError(
        400,
        "invalid_request_error",
        f"You cannot {action} this {label} because it has a status of {obj['status']}.",
        code=code,
    )
    error.extra[key] = fake.render(obj)
    return error


@route("POST", "/v1/payment_intents", PAYMENT_INTENT)
def create_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    amount = required_integer(p, "amount", minimum=1)
    cur = currency(p)
    capture_method = text(p, "capture_method") or "automatic"
    if capture_method not in ("automatic", "automatic_async", "manual"):
        raise invalid(f"Invalid capture_method: {capture_method}", param="capture_method")
    customer_id = text(p, "customer")
    if customer_id is not None:
        fake.find(req, customer_id, "customer", "customer", "customer")
    pi = fake.create(
        "pi",
        "payment_intent",
        req,
        {
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "confirmation_method": text(p, "confirmation_method") or "automatic",
            "currency": cur,
            "customer": customer_id,
            "description": text(p, "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": merge_metadata({}, p),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_configuration_details": None,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "processing": None,
            "receipt_email": text(p, "receipt_email"),
            "review": None,
            "setup_future_usage": text(p, "setup_future_usage"),
            "shipping": None,
            "source": None,
            "statement_descriptor": text(p, "statement_descriptor"),
            "statement_descriptor_suffix": text(p, "statement_descriptor_suffix"),
            "status": "requires_payment_method",
            "transfer_data": None,
            "transfer_group": text(p, "transfer_group"),
        },
    )
    pi["client_secret"] = f"{pi['id']}_secret_{new_id('s')[2:]}"
    pm_id = text(p, "payment_method")
    if pm_id is not None:
        pi["payment_method"] = _payment_method(fake, req, pm_id, "payment_method")["id"]
        pi["status"] = "requires_confirmation"
    fake.store.put(pi)
    fake.emit(req, "payment_intent.created", pi)
    if boolean(p, "confirm"):
        _confirm_payment(fake, req, pi)
    return fake.respond(req, pi)


def _confirm_payment(fake: FakeStripe, req: Req, pi: Obj) -> None:
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise _unexpected_state("PaymentIntent", pi, "confirm", "payment_intent_unexpected_state", fake)
    if pi["payment_method"] is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the "
            "PaymentIntent with a customer, you must provide a payment method.",
            code="payment_intent_unexpected_state",
        )
    pm = fake.store.get(pi["payment_method"], "payment_method")
    assert pm is not None
    if pm["customer"] is not None and pi["customer"] is not None and pm["customer"] != pi["customer"]:
        raise invalid(f"The provided PaymentMethod {pm['id']} is attached to another customer.", param="payment_method")
    card = _card_of(pm)
    now = fake.now()
    charge = fake.create(
        "ch",
        "charge",
        req,
        {
            "amount": pi["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": pm["billing_details"],
            "calculated_statement_descriptor": "CROWDSHIP",
            "captured": False,
            "created": now,
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": None,
            "outcome": None,
            "paid": False,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "brand": pm["card"]["brand"],
                    "country": pm["card"]["country"],
                    "exp_month": pm["card"]["exp_month"],
                    "exp_year": pm["card"]["exp_year"],
                    "fingerprint": pm["card"]["fingerprint"],
                    "funding": pm["card"]["funding"],
                    "last4": pm["card"]["last4"],
                    "network": pm["card"]["brand"],
                },
                "type": "card",
            },
            "receipt_email": pi["receipt_email"],
            "refunded": False,
            "review": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "status": "pending",
            "transfer_data": None,
            "transfer_group": pi["transfer_group"],
            "_bypass_pending": card.bypass_pending,
        },
    )
    pi["latest_charge"] = charge["id"]
    decline = card.decline_on_charge()
    if decline is not None:
        charge.update(
            status="failed",
            failure_code=decline.code,
            failure_message=decline.message,
            outcome={
                "network_status": "declined_by_network",
                "reason": decline.decline_code,
                "risk_level": "normal",
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            },
        )
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = {
            "charge": charge["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "payment_method": fake.render(pm),
            "type": "card_error",
        }
        fake.store.put(charge)
        fake.store.put(pi)
        fake.emit(req, "charge.failed", charge)
        fake.emit(req, "payment_intent.payment_failed", pi)
        raise _card_error(decline, charge=charge["id"], payment_intent=fake.render(pi), payment_method=fake.render(pm))
    charge.update(
        status="succeeded",
        paid=True,
        outcome={
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
    )
    pi["last_payment_error"] = None
    fake.store.put(charge)
    if pi["capture_method"] == "manual":
        fake.emit(req, "charge.succeeded", charge)
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
        pi["_authorised_at"] = now
        fake.due_at(now + AUTHORISATION_DAYS * DAY_S)
        fake.store.put(pi)
        fake.emit(req, "payment_intent.amount_capturable_updated", pi)
    else:
        _capture(fake, req, pi, charge, pi["amount"])
        fake.emit(req, "charge.succeeded", charge)  # automatic capture: one event, already captured
        fake.emit(req, "payment_intent.succeeded", pi)


def _capture(fake: FakeStripe, req: Req, pi: Obj, charge: Obj, amount: int) -> None:
    fee = fake.fees.fee(amount)
    txn = fake.balance_transaction(
        account=pi["_account"],
        amount=amount,
        currency=pi["currency"],
        type_="charge",
        category="charge",
        source=charge["id"],
        fee=fee,
        available_on=fake.settles_on(fake.now(), immediately=charge["_bypass_pending"]),
        description=pi["description"],
    )
    charge.update(captured=True, amount_captured=amount, balance_transaction=txn["id"])
    pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
    fake.store.put(charge)
    fake.store.put(pi)


@route(
    "POST",
    "/v1/payment_intents/{id}/confirm",
    {
        **COMMON,
        "payment_method": LEAF,
        "off_session": LEAF,
        "return_url": LEAF,
        "error_on_requires_action": LEAF,
        "payment_method_options": FREE,
        "receipt_email": LEAF,
    },
)
def confirm_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    pi = fake.find(req, req.path_ids[0], "payment_intent", "payment_intent")
    pm_id = text(req.params, "payment_method")
    if pm_id is not None:
        pi["payment_method"] = _payment_method(fake, req, pm_id, "payment_method")["id"]
    _confirm_payment(fake, req, pi)
    return fake.respond(req, pi)


@route(
    "POST",
    "/v1/payment_intents/{id}/capture",
    {
        **COMMON,
        "amount_to_capture": LEAF,
        "metadata": FREE,
        "final_capture": LEAF,
        "statement_descriptor": LEAF,
        "statement_descriptor_suffix": LEAF,
    },
)
def capture_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    pi = fake.find(req, req.path_ids[0], "payment_intent", "payment_intent")
    if pi["status"] != "requires_capture":
        raise _unexpected_state("PaymentIntent", pi, "capture", "payment_intent_unexpected_state", fake)
    amount = integer(req.params, "amount_to_capture", minimum=1)
    amount = pi["amount_capturable"] if amount is None else amount
    if amount > pi["amount_capturable"]:
        raise invalid(
            f"The amount to capture ({amount}) is greater than the amount capturable ({pi['amount_capturable']}).",
            param="amount_to_capture",
            code="amount_too_large",
        )
    pi["metadata"] = merge_metadata(pi["metadata"], req.params)
    charge = fake.store.get(pi["latest_charge"], "charge")
    assert charge is not None
    _capture(fake, req, pi, charge, amount)
    fake.emit(req, "charge.captured", charge)
    fake.emit(req, "payment_intent.succeeded", pi)
    return fake.respond(req, pi)


CANCELLABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")


def cancel_intent(fake: FakeStripe, req: Req | None, pi: Obj, reason: str | None) -> None:
    pi.update(status="canceled", cancellation_reason=reason, canceled_at=fake.now(), amount_capturable=0)
    charge = fake.store.get(pi["latest_charge"], "charge") if pi["latest_charge"] else None
    if charge is not None and charge["status"] == "succeeded" and not charge["captured"]:
        # The authorisation is released: Stripe shows the uncaptured charge as refunded, with no money moved.
        charge.update(refunded=True, amount_refunded=charge["amount"])
        fake.store.put(charge)
    fake.store.put(pi)
    fake.emit(req, "payment_intent.canceled", pi)


@route("POST", "/v1/payment_intents/{id}/cancel", {**COMMON, "cancellation_reason": LEAF})
def cancel_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    pi = fake.find(req, req.path_ids[0], "payment_intent", "payment_intent")
    if pi["status"] not in CANCELLABLE:
        raise _unexpected_state("PaymentIntent", pi, "cancel", "payment_intent_unexpected_state", fake)
    reason = text(req.params, "cancellation_reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer", "abandoned"):
        raise invalid(f"Invalid cancellation_reason: {reason}", param="cancellation_reason")
    cancel_intent(fake, req, pi, reason)
    return fake.respond(req, pi)


@route(
    "POST",
    "/v1/payment_intents/{id}",
    {
        **COMMON,
        "amount": LEAF,
        "currency": LEAF,
        "customer": LEAF,
        "payment_method": LEAF,
        "description": LEAF,
        "metadata": FREE,
        "receipt_email": LEAF,
        "transfer_group": LEAF,
        "statement_descriptor": LEAF,
        "setup_future_usage": LEAF,
    },
)
def update_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    pi = fake.find(req, req.path_ids[0], "payment_intent", "payment_intent")
    p = req.params
    changes_money = any(k in p for k in ("amount", "currency", "payment_method", "customer"))
    if changes_money and pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise _unexpected_state("PaymentIntent", pi, "update", "payment_intent_unexpected_state", fake)
    if "amount" in p:
        pi["amount"] = required_integer(p, "amount", minimum=1)
    if "currency" in p:
        pi["currency"] = currency(p)
    if "customer" in p:
        customer_id = text(p, "customer")
        if customer_id is not None:
            fake.find(req, customer_id, "customer", "customer", "customer")
        pi["customer"] = customer_id
    if "payment_method" in p:
        pm_id = text(p, "payment_method")
        pi["payment_method"] = _payment_method(fake, req, pm_id, "payment_method")["id"] if pm_id else None
        pi["status"] = "requires_confirmation" if pm_id else "requires_payment_method"
    for key in ("description", "receipt_email", "transfer_group", "statement_descriptor", "setup_future_usage"):
        if key in p:
            pi[key] = text(p, key)
    pi["metadata"] = merge_metadata(pi["metadata"], p)
    fake.store.put(pi)
    return fake.respond(req, pi)


@route("GET", "/v1/payment_intents/{id}", {**COMMON, "client_secret": LEAF})
def retrieve_payment_intent(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "payment_intent", "payment_intent"))


@route("GET", "/v1/payment_intents", {**LIST, "customer": LEAF})
def list_payment_intents(fake: FakeStripe, req: Req) -> Obj:
    customer = text(req.params, "customer")
    rows = (i for i in fake.store.newest_first("payment_intent") if customer is None or i["customer"] == customer)
    return fake.listing(req, rows, "/v1/payment_intents")


@route("GET", "/v1/charges/{id}", COMMON)
def retrieve_charge(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "charge", "charge"))


@route("GET", "/v1/charges", {**LIST, "customer": LEAF, "payment_intent": LEAF, "transfer_group": LEAF})
def list_charges(fake: FakeStripe, req: Req) -> Obj:
    filters = {k: text(req.params, k) for k in ("customer", "payment_intent", "transfer_group")}
    rows = (c for c in fake.store.newest_first("charge") if all(v is None or c.get(k) == v for k, v in filters.items()))
    return fake.listing(req, rows, "/v1/charges")


def expire_authorisations(fake: FakeStripe) -> None:
    """Cancels manual-capture PaymentIntents left uncaptured for 7 days, as card networks make Stripe do."""
    now = fake.now()
    for pi in list(fake.store.oldest_first("payment_intent")):
        if pi["status"] != "requires_capture":
            continue
        expires_at = int(pi.get("_authorised_at") or pi["created"]) + AUTHORISATION_DAYS * DAY_S
        if expires_at <= now:
            cancel_intent(fake, None, pi, "automatic")
        else:
            fake.due_at(expires_at)


# -- refunds ----------------------------------------------------------------------------------------------

REFUND: dict[str, Any] = {
    **COMMON,
    "payment_intent": LEAF,
    "charge": LEAF,
    "amount": LEAF,
    "reason": LEAF,
    "metadata": FREE,
    "instructions_email": LEAF,
}


@route("POST", "/v1/refunds", REFUND)
def create_refund(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    pi_id, charge_id = text(p, "payment_intent"), text(p, "charge")
    if pi_id is None and charge_id is None:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
    if pi_id is not None:
        pi = fake.find(req, pi_id, "payment_intent", "payment_intent", "payment_intent")
        if pi["latest_charge"] is None or pi["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable" if pi["status"] != "requires_capture" else "charge_not_captured",
            )
        charge_id = pi["latest_charge"]
    assert charge_id is not None
    charge = fake.find(req, charge_id, "charge", "charge", "charge")
    if not charge["captured"]:
        raise invalid(
            f"Charge {charge_id} has not been captured; cancel its PaymentIntent instead.", code="charge_not_captured"
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    if remaining <= 0:
        raise invalid(f"Charge {charge_id} has already been refunded.", code="charge_already_refunded")
    amount = integer(p, "amount", minimum=1)
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    reason = text(p, "reason")
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid reason: {reason}", param="reason")
    refund = fake.create(
        "re",
        "refund",
        req,
        {
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "currency": charge["currency"],
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": merge_metadata({}, p),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        },
    )
    txn = fake.balance_transaction(
        account=charge["_account"],
        amount=-amount,
        currency=charge["currency"],
        type_="refund",
        category="refund",
        source=refund["id"],
        description="REFUND FOR CHARGE",
    )
    refund["balance_transaction"] = txn["id"]
    fake.store.put(refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    fake.store.put(charge)
    fake.emit(req, "refund.created", refund)
    fake.emit(req, "charge.refunded", charge, previous=previous)
    return fake.respond(req, refund)


@route("GET", "/v1/refunds/{id}", COMMON)
def retrieve_refund(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "refund", "refund"))


@route("POST", "/v1/refunds/{id}", {**COMMON, "metadata": FREE})
def update_refund(fake: FakeStripe, req: Req) -> Obj:
    refund = fake.find(req, req.path_ids[0], "refund", "refund")
    refund["metadata"] = merge_metadata(refund["metadata"], req.params)
    fake.store.put(refund)
    return fake.respond(req, refund)


@route("GET", "/v1/refunds", {**LIST, "payment_intent": LEAF, "charge": LEAF})
def list_refunds(fake: FakeStripe, req: Req) -> Obj:
    pi, charge = text(req.params, "payment_intent"), text(req.params, "charge")
    rows = (
        r
        for r in fake.store.newest_first("refund")
        if (pi is None or r["payment_intent"] == pi) and (charge is None or r["charge"] == charge)
    )
    return fake.listing(req, rows, "/v1/refunds")
