"""Balance, balance transactions and payouts, all derived from the money that moved."""

from __future__ import annotations

from stripefake.core import DAY_S, FakeStripe, Req
from stripefake.errors import invalid, no_such
from stripefake.params import COMMON, FREE, LEAF, LIST, currency, merge_metadata, required_integer, text
from stripefake.routes import route
from stripefake.store import Obj

DEFAULT_CURRENCY = "eur"


def _amounts(totals: dict[str, int], currencies: list[str]) -> list[Obj]:
    return [{"amount": totals.get(c, 0), "currency": c, "source_types": {"card": totals.get(c, 0)}} for c in currencies]


@route("GET", "/v1/balance", COMMON)
def retrieve_balance(fake: FakeStripe, req: Req) -> Obj:
    available, pending = fake.balances(req.account)
    currencies = sorted(set(available) | set(pending)) or [_default_currency(fake, req)]
    balance: Obj = {
        "object": "balance",
        "available": _amounts(available, currencies),
        "livemode": False,
        "pending": _amounts(pending, currencies),
    }
    if req.account is None:
        balance["connect_reserved"] = [{"amount": 0, "currency": c} for c in currencies]
    return balance


def _default_currency(fake: FakeStripe, req: Req) -> str:
    if req.account is None:
        return DEFAULT_CURRENCY
    account = fake.store.get(req.account, "account")
    return str(account["default_currency"]) if account else DEFAULT_CURRENCY


@route("GET", "/v1/balance_transactions/{id}", COMMON)
def retrieve_balance_transaction(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "balance_transaction", "balance transaction"))


@route("GET", "/v1/balance_transactions", {**LIST, "type": LEAF, "source": LEAF, "currency": LEAF, "payout": LEAF})
def list_balance_transactions(fake: FakeStripe, req: Req) -> Obj:
    filters = {k: text(req.params, k) for k in ("type", "source", "currency")}
    payout_id = text(req.params, "payout")
    rows = (
        t
        for t in fake.store.newest_first("balance_transaction")
        if all(v is None or t.get(k) == v for k, v in filters.items())
        and (payout_id is None or t.get("_payout") == payout_id or t["source"] == payout_id)
    )
    return fake.listing(req, rows, "/v1/balance_transactions")


PAYOUT = {
    **COMMON,
    "amount": LEAF,
    "currency": LEAF,
    "description": LEAF,
    "destination": LEAF,
    "metadata": FREE,
    "method": LEAF,
    "source_type": LEAF,
    "statement_descriptor": LEAF,
}


@route("POST", "/v1/payouts", PAYOUT)
def create_payout(fake: FakeStripe, req: Req) -> Obj:
    """A manual payout of available funds to the account's bank; `paid` once the clock reaches `arrival_date`."""
    p = req.params
    amount = required_integer(p, "amount", minimum=1)
    cur = currency(p)
    destination = text(p, "destination")
    if req.account is not None:
        account = fake.store.get(req.account, "account")
        assert account is not None
        if not account["payouts_enabled"]:
            raise invalid(
                "Payouts are not enabled for this account: it has outstanding requirements.",
                code="payouts_not_allowed",
            )
        banks = account["external_accounts"]["data"]
        if destination is None:
            destination = banks[0]["id"] if banks else None
        elif destination not in [b["id"] for b in banks]:
            raise no_such("external account", destination, "destination")
    else:
        destination = destination or "ba_1CrowdshipPlatformBank0"
    method = text(p, "method") or "standard"
    if method not in ("standard", "instant"):
        raise invalid(f"Invalid method: {method}", param="method")
    if req.account is None and schedule(fake)["interval"] != "manual":
        raise invalid(
            "You cannot create manual payouts while automatic payouts are enabled on this account.",
            code="payouts_not_allowed",
        )
    fake.require_available(req.account, cur, amount, "payout")
    now = fake.now()
    payout = fake.create(
        "po",
        "payout",
        req,
        {
            "amount": amount,
            "application_fee": None,
            "application_fee_amount": None,
            "arrival_date": now,
            "automatic": False,
            "balance_transaction": None,
            "currency": cur,
            "description": text(p, "description"),
            "destination": destination,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "metadata": merge_metadata({}, p),
            "method": method,
            "original_payout": None,
            "reconciliation_status": "completed",
            "reversed_by": None,
            "source_type": text(p, "source_type") or "card",
            "statement_descriptor": text(p, "statement_descriptor"),
            "status": "pending",
            "type": "bank_account",
        },
    )
    txn = fake.balance_transaction(
        account=req.account,
        amount=-amount,
        currency=cur,
        type_="payout",
        category="payout",
        source=payout["id"],
        description=payout["description"],
    )
    payout["balance_transaction"] = txn["id"]
    fake.store.put(payout)
    fake.due_at(payout["arrival_date"])
    fake.emit(req, "payout.created", payout)
    return fake.respond(req, payout)


SCHEDULE_ID = "_payout_schedule:platform"
INTERVALS = ("daily", "manual")


def schedule(fake: FakeStripe) -> Obj:
    """The platform's payout schedule (stored, so a restart keeps it); by default the fake's `platform_payouts`.

    `next_run_at` is the next midnight UTC: Stripe's daily automatic payout of what has become available.
    """
    found = fake.store.get(SCHEDULE_ID, "_payout_schedule")
    if found is not None:
        return found
    now = fake.now()
    return fake.store.put(
        {
            "id": SCHEDULE_ID,
            "object": "_payout_schedule",
            "interval": fake.platform_payouts,
            "next_run_at": now - now % DAY_S + DAY_S,
            "_account": None,
        }
    )


def set_schedule(fake: FakeStripe, interval: str) -> Obj:
    if interval not in INTERVALS:
        raise invalid(f"Invalid interval: {interval}", param="interval")
    current = schedule(fake)
    current["interval"] = interval
    now = fake.now()
    current["next_run_at"] = now - now % DAY_S + DAY_S
    fake.due_at(current["next_run_at"])
    return fake.store.put(current)


def run_scheduled_payouts(fake: FakeStripe) -> None:
    """Every midnight UTC the clock has passed, the platform's available balance is paid out (daily schedule)."""
    current = schedule(fake)
    if current["interval"] != "daily":
        return
    now = fake.now()
    while current["next_run_at"] <= now:
        pay_out_available(fake, at=current["next_run_at"])
        current["next_run_at"] += DAY_S
    fake.store.put(current)
    fake.due_at(current["next_run_at"])


def pay_out_available(fake: FakeStripe, *, at: int | None = None) -> list[Obj]:
    """The platform's automatic payout as of `at` (now): per currency, every balance transaction available by
    then and not yet paid out is carried by one payout (`automatic: true`) of their net sum, each linked to it
    (`GET /v1/balance_transactions?payout=po_...` lists them and the payout's own). A currency whose
    unpaid available balance is not positive waits for the next run, as on Stripe."""
    at = fake.now() if at is None else at
    by_currency: dict[str, list[Obj]] = {}
    for txn_id in fake.txns_by_account.get(None, []):
        txn = fake.store.get(txn_id, "balance_transaction")
        if txn is None or txn.get("_payout") is not None or txn["available_on"] > at or txn["created"] > at:
            continue
        if txn["type"] == "payout":
            continue  # a manual payout made before the schedule was switched on: its own money, already gone
        by_currency.setdefault(txn["currency"], []).append(txn)
    made = []
    for cur, txns in sorted(by_currency.items()):
        amount = sum(t["net"] for t in txns)
        if amount <= 0:
            continue
        payout = fake.create(
            "po",
            "payout",
            None,
            {
                "amount": amount,
                "application_fee": None,
                "application_fee_amount": None,
                "arrival_date": at + DAY_S,
                "automatic": True,
                "balance_transaction": None,
                "created": at,
                "currency": cur,
                "description": "STRIPE PAYOUT",
                "destination": "ba_1CrowdshipPlatformBank0",
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "metadata": {},
                "method": "standard",
                "original_payout": None,
                "reconciliation_status": "completed",
                "reversed_by": None,
                "source_type": "card",
                "statement_descriptor": None,
                "status": "pending",
                "type": "bank_account",
            },
            account=None,
        )
        own = fake.balance_transaction(
            account=None,
            amount=-amount,
            currency=cur,
            type_="payout",
            category="payout",
            source=payout["id"],
            description=payout["description"],
            created=at,
        )
        for txn in [*txns, own]:
            txn["_payout"] = payout["id"]
            fake.store.put(txn)
        payout["balance_transaction"] = own["id"]
        fake.store.put(payout)
        fake.due_at(payout["arrival_date"])
        fake.emit(None, "payout.created", payout)
        made.append(payout)
    return made


def settle_payouts(fake: FakeStripe) -> None:
    """Pending payouts whose arrival date has come are paid (`payout.paid`), as the bank would report."""
    now = fake.now()
    for payout in list(fake.store.oldest_first("payout")):
        if payout["status"] != "pending":
            continue
        if payout["arrival_date"] > now:
            fake.due_at(payout["arrival_date"])
        else:
            payout["status"] = "paid"
            fake.store.put(payout)
            fake.emit(None, "payout.paid", payout)
            fake.emit(None, "payout.updated", payout, previous={"status": "pending"})


@route("GET", "/v1/payouts/{id}", COMMON)
def retrieve_payout(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "payout", "payout"))


@route("GET", "/v1/payouts", {**LIST, "status": LEAF, "destination": LEAF, "arrival_date": FREE})
def list_payouts(fake: FakeStripe, req: Req) -> Obj:
    status = text(req.params, "status")
    rows = (o for o in fake.store.newest_first("payout") if status is None or o["status"] == status)
    return fake.listing(req, rows, "/v1/payouts")
