"""Connect: Express accounts, account links and onboarding, transfers and their reversals."""

from __future__ import annotations

from typing import Any

from stripefake.core import PLATFORM_ACCOUNT, FakeStripe, Req
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

CURRENCIES = {"US": "usd", "GB": "gbp", "CH": "chf", "SE": "sek", "DK": "dkk", "NO": "nok", "PL": "pln", "CA": "cad"}
ONBOARDING_FIELDS = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
LINK_TTL_S = 300


def requirements(due: list[str], reason: str | None) -> Obj:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": reason,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


ACCOUNT: dict[str, Any] = {
    **COMMON,
    "type": LEAF,
    "country": LEAF,
    "email": LEAF,
    "business_type": LEAF,
    "default_currency": LEAF,
    "capabilities": FREE,
    "business_profile": FREE,
    "controller": FREE,
    "individual": FREE,
    "company": FREE,
    "settings": FREE,
    "tos_acceptance": FREE,
    "metadata": FREE,
}


@route("POST", "/v1/accounts", ACCOUNT)
def create_account(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    if req.account is not None:
        raise StripeError(
            403, "invalid_request_error", "Connected accounts cannot create accounts.", code="platform_account_required"
        )
    kind = text(p, "type") or "express"
    if kind not in ("express", "standard", "custom"):
        raise invalid("Invalid type: must be one of custom, express, or standard", param="type")
    country = (text(p, "country") or "DE").upper()
    requested = p.get("capabilities") or {}
    if not isinstance(requested, dict):
        raise invalid("Invalid hash", param="capabilities")
    capabilities = {
        name: "inactive" for name, spec in requested.items() if isinstance(spec, dict) and boolean(spec, "requested")
    }
    given = p.get("business_profile")
    profile: dict[str, Any] = given if isinstance(given, dict) else {}
    account = fake.create(
        "acct",
        "account",
        req,
        {
            "business_profile": {
                "annual_revenue": None,
                "estimated_worker_count": None,
                "mcc": profile.get("mcc"),
                "name": profile.get("name"),
                "product_description": profile.get("product_description"),
                "support_address": None,
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": profile.get("url"),
            },
            "business_type": text(p, "business_type"),
            "capabilities": capabilities,
            "charges_enabled": False,
            "controller": {
                "fees": {"payer": "application_express" if kind == "express" else "account"},
                "is_controller": True,
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
                "stripe_dashboard": {"type": kind if kind != "custom" else "none"},
                "type": "application",
            },
            "country": country,
            "default_currency": (text(p, "default_currency") or CURRENCIES.get(country, "eur")).lower(),
            "details_submitted": False,
            "email": text(p, "email"),
            "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""},
            "future_requirements": requirements([], None) | {"past_due": [], "eventually_due": []},
            "metadata": merge_metadata({}, p),
            "payouts_enabled": False,
            "requirements": requirements(ONBOARDING_FIELDS, "requirements.past_due"),
            "settings": {
                "payouts": {
                    "debit_negative_balances": True,
                    "schedule": {"delay_days": 2, "interval": "manual"},
                    "statement_descriptor": None,
                },
            },
            "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": kind,
        },
    )
    account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
    account["login_links"] = {
        "object": "list",
        "data": [],
        "has_more": False,
        "total_count": 0,
        "url": f"/v1/accounts/{account['id']}/login_links",
    }
    fake.store.put(account)
    return fake.respond(req, account)


def _connected(fake: FakeStripe, req: Req, account_id: str, param: str = "account") -> Obj:
    account = fake.store.get(account_id, "account")
    if account is None or req.account not in (None, account_id):
        raise no_such("account", account_id, param)
    return account


@route("GET", "/v1/accounts/{id}", COMMON)
def retrieve_account(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, _connected(fake, req, req.path_ids[0]))


@route("GET", "/v1/account", COMMON)
def retrieve_own_account(fake: FakeStripe, req: Req) -> Obj:
    if req.account is not None:
        return fake.respond(req, _connected(fake, req, req.account))
    return {
        "id": PLATFORM_ACCOUNT,
        "object": "account",
        "business_profile": {"name": "Crowdship", "url": None},
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": "DE",
        "default_currency": "eur",
        "details_submitted": True,
        "email": None,
        "metadata": {},
        "payouts_enabled": True,
        "type": "standard",
    }


@route("POST", "/v1/accounts/{id}", {k: v for k, v in ACCOUNT.items() if k not in ("type", "country", "controller")})
def update_account(fake: FakeStripe, req: Req) -> Obj:
    account = _connected(fake, req, req.path_ids[0])
    before = fake.render(account)
    p = req.params
    if "email" in p:
        account["email"] = text(p, "email")
    if isinstance(p.get("business_profile"), dict):
        for key, value in p["business_profile"].items():
            if key in account["business_profile"] and isinstance(value, str):
                account["business_profile"][key] = value or None
    if isinstance(p.get("capabilities"), dict):
        for name, spec in p["capabilities"].items():
            if isinstance(spec, dict) and boolean(spec, "requested") and name not in account["capabilities"]:
                account["capabilities"][name] = "active" if account["details_submitted"] else "inactive"
    account["metadata"] = merge_metadata(account["metadata"], p)
    fake.store.put(account)
    _account_updated(fake, req, account, before)
    return fake.respond(req, account)


def _account_updated(fake: FakeStripe, req: Req | None, account: Obj, before: Obj) -> None:
    after = fake.render(account)
    previous = {k: v for k, v in before.items() if after.get(k) != v}
    if previous:
        fake.emit(req, "account.updated", account, previous=previous, on_account=account["id"])


@route("DELETE", "/v1/accounts/{id}", {})
def delete_account(fake: FakeStripe, req: Req) -> Obj:
    account = _connected(fake, req, req.path_ids[0])
    fake.store.delete(account["id"])
    return {"id": account["id"], "object": "account", "deleted": True}


@route("GET", "/v1/accounts", LIST)
def list_accounts(fake: FakeStripe, req: Req) -> Obj:
    return fake.listing(req, fake.store.newest_first("account"), "/v1/accounts")


def complete_onboarding(fake: FakeStripe, account: Obj) -> None:
    """What finishing Express onboarding does: details in, a bank account on file, capabilities active."""
    before = fake.render(account)
    now = fake.now()
    bank = {
        "id": new_id("ba"),
        "object": "bank_account",
        "account": account["id"],
        "account_holder_name": None,
        "account_holder_type": None,
        "bank_name": "STRIPE TEST BANK",
        "country": account["country"],
        "currency": account["default_currency"],
        "default_for_currency": True,
        "fingerprint": new_id("fp", 16)[3:],
        "last4": "3000",
        "metadata": {},
        "routing_number": "110000000",
        "status": "new",
    }
    if not account["external_accounts"]["data"]:
        account["external_accounts"].update(data=[bank], total_count=1)
    account["capabilities"] = dict.fromkeys(account["capabilities"] or {"transfers": "active"}, "active")
    account["details_submitted"] = True
    account["charges_enabled"] = True
    account["payouts_enabled"] = True
    account["requirements"] = requirements([], None)
    account["tos_acceptance"] = {"date": now, "ip": "127.0.0.1", "user_agent": "stripefake"}
    fake.store.put(account)
    _account_updated(fake, None, account, before)


def require_again(fake: FakeStripe, account: Obj, due: list[str]) -> None:
    """Stripe asking for more information: past-due requirements switch payouts, charges and transfers off."""
    before = fake.render(account)
    account["requirements"] = requirements(due, "requirements.past_due" if due else None)
    account["payouts_enabled"] = not due and account["details_submitted"]
    account["charges_enabled"] = account["payouts_enabled"]
    # As Stripe does: a past-due requirement makes the account's capabilities inactive (no transfers in).
    account["capabilities"] = dict.fromkeys(
        account["capabilities"] or {}, "active" if account["payouts_enabled"] else "inactive"
    )
    fake.store.put(account)
    _account_updated(fake, None, account, before)


@route(
    "POST",
    "/v1/account_links",
    {
        **COMMON,
        "account": LEAF,
        "refresh_url": LEAF,
        "return_url": LEAF,
        "type": LEAF,
        "collect": LEAF,
        "collection_options": FREE,
    },
)
def create_account_link(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    account = _connected(fake, req, required_text(p, "account"))
    kind = required_text(p, "type")
    if kind not in ("account_onboarding", "account_update"):
        raise invalid(f"Invalid type: {kind}", param="type")
    refresh_url, return_url = required_text(p, "refresh_url"), required_text(p, "return_url")
    created = fake.now()
    token = new_id("link", 32)
    fake.store.put(
        {
            "id": token,
            "object": "_account_link",
            "account": account["id"],
            "refresh_url": refresh_url,
            "return_url": return_url,
            "expires_at": created + LINK_TTL_S,
            "used": False,
            "_account": None,
        }
    )
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + LINK_TTL_S,
        "url": f"{fake.public_url}/_fake/onboarding/{token}",
    }


def follow_link(fake: FakeStripe, token: str) -> str:
    """Visiting an onboarding link: completes onboarding and answers where to redirect (Stripe's UI skipped)."""
    link = fake.store.get(token, "_account_link")
    if link is None:
        raise no_such("account link", token)
    if link["used"] or link["expires_at"] < fake.now():
        return str(link["refresh_url"])
    account = fake.store.get(link["account"], "account")
    if account is None:
        raise no_such("account", link["account"])
    link["used"] = True
    fake.store.put(link)
    complete_onboarding(fake, account)
    return str(link["return_url"])


# -- transfers --------------------------------------------------------------------------------------------

TRANSFER: dict[str, Any] = {
    **COMMON,
    "amount": LEAF,
    "currency": LEAF,
    "destination": LEAF,
    "transfer_group": LEAF,
    "source_transaction": LEAF,
    "source_type": LEAF,
    "description": LEAF,
    "metadata": FREE,
}


def _transferable(fake: FakeStripe, charge: Obj) -> int:
    """What a charge can still fund: captured, less refunds, less transfers already made from it."""
    return int(charge["amount_captured"] - charge["amount_refunded"] - charge.get("_transferred", 0))


@route("POST", "/v1/transfers", TRANSFER)
def create_transfer(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    if req.account is not None:
        raise StripeError(
            403,
            "invalid_request_error",
            "Only the platform can create transfers here.",
            code="platform_account_required",
        )
    amount = required_integer(p, "amount", minimum=1)
    cur = currency(p)
    destination = fake.store.get(required_text(p, "destination"), "account")
    if destination is None:
        raise no_such("destination", str(p["destination"]), "destination")
    if destination["capabilities"].get("transfers") != "active":
        raise invalid(
            "Your destination account needs to have at least one of the following capabilities enabled: "
            "transfers, crypto_transfers, legacy_payments",
            param="destination",
            code="insufficient_capabilities_for_transfer",
        )
    source_id = text(p, "source_transaction")
    now = fake.now()
    available_on = now
    if source_id is not None:
        charge = fake.store.get(source_id, "charge")
        if charge is None or charge["_account"] is not None:
            raise no_such("charge", source_id, "source_transaction")
        if not charge["captured"] or charge["currency"] != cur:
            raise invalid(
                "The currency of source_transaction's balance transaction must match the transfer currency, and "
                "the charge must be captured.",
                param="source_transaction",
            )
        if amount > _transferable(fake, charge):
            raise invalid(
                f"Transfer amount ({amount}) exceeds what remains of source_transaction {source_id}.",
                param="amount",
                code="amount_too_large",
            )
        txn = fake.store.get(charge["balance_transaction"], "balance_transaction")
        assert txn is not None
        available_on = max(now, txn["available_on"])
    else:
        fake.require_available(None, cur, amount, "transfer")
    transfer = fake.create(
        "tr",
        "transfer",
        req,
        {
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": None,
            "currency": cur,
            "description": text(p, "description"),
            "destination": destination["id"],
            "destination_payment": None,
            "metadata": merge_metadata({}, p),
            "reversed": False,
            "source_transaction": source_id,
            "source_type": text(p, "source_type") or "card",
            "transfer_group": text(p, "transfer_group"),
        },
    )
    txn = fake.balance_transaction(
        account=None,
        amount=-amount,
        currency=cur,
        type_="transfer",
        category="transfer",
        source=transfer["id"],
        available_on=available_on,
    )
    payment = fake.create(
        "py",
        "charge",
        None,
        {
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": True,
            "currency": cur,
            "description": None,
            "metadata": {},
            "paid": True,
            "payment_intent": None,
            "refunded": False,
            "source_transfer": transfer["id"],
            "status": "succeeded",
            "transfer_group": transfer["transfer_group"],
            "_bypass_pending": False,
        },
        account=destination["id"],
    )
    payment_txn = fake.balance_transaction(
        account=destination["id"],
        amount=amount,
        currency=cur,
        type_="payment",
        category="charge",
        source=payment["id"],
        available_on=available_on,
    )
    payment["balance_transaction"] = payment_txn["id"]
    fake.store.put(payment)
    transfer.update(balance_transaction=txn["id"], destination_payment=payment["id"])
    fake.store.put(transfer)
    if source_id is not None and charge is not None:
        charge["_transferred"] = charge.get("_transferred", 0) + amount
        fake.store.put(charge)
    fake.emit(req, "transfer.created", transfer)
    return fake.respond(req, transfer)


@route("GET", "/v1/transfers/{id}", COMMON)
def retrieve_transfer(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "transfer", "transfer"))


@route("POST", "/v1/transfers/{id}", {**COMMON, "description": LEAF, "metadata": FREE})
def update_transfer(fake: FakeStripe, req: Req) -> Obj:
    transfer = fake.find(req, req.path_ids[0], "transfer", "transfer")
    if "description" in req.params:
        transfer["description"] = text(req.params, "description")
    transfer["metadata"] = merge_metadata(transfer["metadata"], req.params)
    fake.store.put(transfer)
    fake.emit(req, "transfer.updated", transfer)
    return fake.respond(req, transfer)


@route("GET", "/v1/transfers", {**LIST, "destination": LEAF, "transfer_group": LEAF})
def list_transfers(fake: FakeStripe, req: Req) -> Obj:
    destination, group = text(req.params, "destination"), text(req.params, "transfer_group")
    rows = (
        t
        for t in fake.store.newest_first("transfer")
        if (destination is None or t["destination"] == destination) and (group is None or t["transfer_group"] == group)
    )
    return fake.listing(req, rows, "/v1/transfers")


@route(
    "POST",
    "/v1/transfers/{id}/reversals",
    {**COMMON, "amount": LEAF, "description": LEAF, "metadata": FREE, "refund_application_fee": LEAF},
)
def create_reversal(fake: FakeStripe, req: Req) -> Obj:
    transfer = fake.find(req, req.path_ids[0], "transfer", "transfer")
    remaining = transfer["amount"] - transfer["amount_reversed"]
    if remaining <= 0:
        raise invalid(f"Transfer {transfer['id']} has already been fully reversed.", code="transfer_already_reversed")
    amount = integer(req.params, "amount", minimum=1)
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise invalid(
            f"Reversal amount ({amount}) is greater than the amount left on the transfer ({remaining}).",
            param="amount",
            code="amount_too_large",
        )
    destination = transfer["destination"]
    available, pending = fake.balances(destination)
    cur = transfer["currency"]
    if available.get(cur, 0) + pending.get(cur, 0) < amount:
        raise invalid(
            "The destination account does not have enough balance to cover this reversal.",
            code="balance_insufficient",
        )
    reversal = fake.create(
        "trr",
        "transfer_reversal",
        req,
        {
            "amount": amount,
            "balance_transaction": None,
            "currency": cur,
            "destination_payment_refund": None,
            "metadata": merge_metadata({}, req.params),
            "source_refund": None,
            "transfer": transfer["id"],
        },
    )
    txn = fake.balance_transaction(
        account=None,
        amount=amount,
        currency=cur,
        type_="transfer_refund",
        category="transfer_reversal",
        source=reversal["id"],
    )
    refund = fake.create(
        "pyr",
        "refund",
        None,
        {
            "amount": amount,
            "balance_transaction": None,
            "charge": transfer["destination_payment"],
            "currency": cur,
            "metadata": {},
            "payment_intent": None,
            "reason": None,
            "status": "succeeded",
            "source_transfer_reversal": reversal["id"],
            "transfer_reversal": None,
        },
        account=destination,
    )
    refund_txn = fake.balance_transaction(
        account=destination,
        amount=-amount,
        currency=cur,
        type_="payment_refund",
        category="transfer_reversal",
        source=refund["id"],
    )
    refund["balance_transaction"] = refund_txn["id"]
    fake.store.put(refund)
    reversal.update(balance_transaction=txn["id"], destination_payment_refund=refund["id"])
    fake.store.put(reversal)
    previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["_reversals"] = [*transfer.get("_reversals", []), reversal["id"]]
    fake.store.put(transfer)
    source = fake.store.get(transfer["source_transaction"], "charge") if transfer["source_transaction"] else None
    if source is not None:
        source["_transferred"] = source.get("_transferred", 0) - amount
        fake.store.put(source)
    fake.emit(req, "transfer.reversed", transfer, previous=previous)
    return fake.respond(req, reversal)


@route("GET", "/v1/transfers/{id}/reversals", LIST)
def list_reversals(fake: FakeStripe, req: Req) -> Obj:
    transfer = fake.find(req, req.path_ids[0], "transfer", "transfer")
    found = (fake.store.get(r, "transfer_reversal") for r in reversed(transfer.get("_reversals", [])))
    rows = (r for r in found if r is not None)
    return fake.listing(req, rows, f"/v1/transfers/{transfer['id']}/reversals")


@route("GET", "/v1/transfers/{id}/reversals/{reversal}", COMMON)
def retrieve_reversal(fake: FakeStripe, req: Req) -> Obj:
    transfer = fake.find(req, req.path_ids[0], "transfer", "transfer")
    reversal = fake.find(req, req.path_ids[1], "transfer_reversal", "transfer reversal")
    if reversal["transfer"] != transfer["id"]:
        raise no_such("transfer reversal", req.path_ids[1])
    return fake.respond(req, reversal)
