"""The fake's state and the helpers every endpoint shares: requests, rendering, lists, events, money."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stripefake.clock import Clock, ShiftedClock, SystemClock
from stripefake.errors import StripeError, invalid, no_such
from stripefake.params import integer, text
from stripefake.store import Obj, Store, new_id

API_VERSION = "2026-10-28.endive"  # what stripe==16.1.0 sends; events are rendered "in" it
PLATFORM_ACCOUNT = "acct_1CrowdshipPlatform000"
DAY_S = 86400


@dataclass(frozen=True)
class FeeModel:
    """Stripe's standard European card pricing: 1.5 % (rounded half up) plus 25 minor units per charge.

    Refunds do not return the fee (Stripe keeps it); transfers, reversals and payouts are free.
    """

    percent_bp: int = 150  # 1.5 %, in basis points (0.01 %)
    fixed_minor: int = 25

    def fee(self, amount_minor: int) -> int:
        return (amount_minor * self.percent_bp + 5000) // 10000 + self.fixed_minor


@dataclass
class Req:
    """One API call as endpoints see it: parameters, the acting account, ids from the path."""

    params: dict[str, Any]
    account: str | None  # a connected account (Stripe-Account header), None for the platform
    path_ids: tuple[str, ...] = ()
    request_id: str = ""
    idempotency_key: str | None = None
    method: str = "GET"
    path: str = ""


@dataclass
class FailPlan:
    """What the `fail_next` control asked for: the next `count` API calls answer `status`.

    `before`: nothing happens (the request never reached the API, as behind a failing load balancer);
    `after`: the request is carried out and its result stored under its idempotency key, but the answer is
    lost and a 500 returned instead, so a retry with the same key must replay, not repeat.
    """

    count: int = 0
    status: int = 500
    mode: str = "before"
    path_prefix: str = ""


@dataclass
class Deliveries:
    """Webhook deliveries waiting to be attempted; the deliverer task wakes on `wake`."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)


Handler = Callable[["FakeStripe", Req], Obj]


class FakeStripe:
    """All state of one fake Stripe: objects, clock, fee model, webhook queue, fault plan."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        fees: FeeModel | None = None,
        settlement_days: int = 2,
        api_key: str | None = None,
        public_url: str = "http://127.0.0.1",
        platform_payouts: str = "manual",
    ) -> None:
        self.clock = ShiftedClock(clock or SystemClock())
        self.store = store or Store()
        self.fees = fees or FeeModel()
        self.settlement_days = settlement_days
        self.api_key = api_key
        self.public_url = public_url
        # The platform's payout schedule until a test control sets another: "daily" (Stripe's default for a
        # platform: every midnight UTC, the available balance paid out automatically) or "manual".
        self.platform_payouts = platform_payouts
        self.fail = FailPlan()
        self.wake_deliverer: Callable[[], None] = lambda: None
        self._index()

    def _index(self) -> None:
        """In-memory indexes over the store, so that no request scans every object (rebuilt on load and reset).

        They may name objects a rolled-back request created; readers skip ids the store no longer has.
        """
        self.next_due = 0  # the earliest instant time-based work (expiry, payout arrival) may be due; 0: look now
        # Deliveries to attempt now; the deliverer keeps those waiting for a retry.
        self.pending_deliveries: dict[str, None] = {
            d["id"]: None for d in self.store.oldest_first("_delivery") if d["status"] == "pending"
        }
        self.txns_by_account: dict[str | None, list[str]] = {}
        for txn in self.store.oldest_first("balance_transaction"):
            self.txns_by_account.setdefault(txn["_account"], []).append(txn["id"])

    def due_at(self, instant: int) -> None:
        """Something (an authorisation's expiry, a payout's arrival) will need attention at `instant`."""
        self.next_due = min(self.next_due, instant)

    # -- time -------------------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.timestamp()

    def settles_on(self, created: int, *, immediately: bool = False) -> int:
        """`available_on` of a charge: midnight UTC `settlement_days` after it (Stripe's daily rolling payout)."""
        if immediately or self.settlement_days == 0:
            return created
        day = datetime.fromtimestamp(created, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return int((day + timedelta(days=self.settlement_days)).timestamp())

    # -- objects ----------------------------------------------------------------------------------------

    def create(self, prefix: str, kind: str, req: Req | None, body: Obj, *, account: str | None = None) -> Obj:
        obj: Obj = {"id": new_id(prefix), "object": kind, **body}
        obj.setdefault("created", self.now())
        obj.setdefault("livemode", False)
        obj["_account"] = account if account is not None else (req.account if req else None)
        return self.store.put(obj)

    def find(self, req: Req, object_id: str, kind: str, label: str, param: str = "id") -> Obj:
        """The caller's own object of this kind; another account's object is as missing as an absent one."""
        obj = self.store.get(object_id, kind)
        if obj is None or obj.get("_account") != req.account:
            raise no_such(label, object_id, param)
        return obj

    def render(self, obj: Obj) -> Obj:
        """The public form: private keys dropped, derived fields (statuses that depend on time) filled in."""
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        kind = obj["object"]
        if kind == "balance_transaction":
            out["status"] = "available" if obj["available_on"] <= self.now() else "pending"
        elif kind == "transfer":
            reversals = [
                self.render(r) for r in self.store.newest_first("transfer_reversal") if r["transfer"] == obj["id"]
            ]
            out["reversals"] = {
                "object": "list",
                "data": reversals,
                "has_more": False,
                "total_count": len(reversals),
                "url": f"/v1/transfers/{obj['id']}/reversals",
            }
        elif kind == "event":
            out["pending_webhooks"] = obj.get("_pending", 0)
        return out

    def respond(self, req: Req, obj: Obj) -> Obj:
        return self.expand(self.render(obj), expansions(req.params))

    def expand(self, out: Obj, paths: Iterable[str]) -> Obj:
        for path in paths:
            self._expand_path(out, path.split("."))
        return out

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, rest)
            return
        value = node.get(head)
        if isinstance(value, str):
            target = self.store.get(value)
            if target is None:
                raise invalid(f"This property cannot be expanded ({head}).", param="expand")
            node[head] = value = self.render(target)
        elif value is None and head not in node:
            raise invalid(f"This property cannot be expanded ({head}).", param="expand")
        self._expand_path(value, rest)

    def listing(self, req: Req, items: Iterable[Obj], url: str) -> Obj:
        """Stripe's list object: newest first, `limit` (1-100, default 10), `starting_after`/`ending_before`."""
        limit = integer(req.params, "limit", minimum=1) or 10
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", param="limit")
        rows = [i for i in items if i.get("_account") == req.account and _created_matches(i, req.params.get("created"))]
        after, before = text(req.params, "starting_after"), text(req.params, "ending_before")
        if after is not None:
            ids = [r["id"] for r in rows]
            if after not in ids:
                raise invalid(f"Invalid starting_after id: {after}", param="starting_after")
            rows = rows[ids.index(after) + 1 :]
            page, has_more = rows[:limit], len(rows) > limit
        elif before is not None:
            ids = [r["id"] for r in rows]
            if before not in ids:
                raise invalid(f"Invalid ending_before id: {before}", param="ending_before")
            rows = rows[: ids.index(before)]
            page, has_more = rows[-limit:], len(rows) > limit
        else:
            page, has_more = rows[:limit], len(rows) > limit
        out: Obj = {"object": "list", "data": [self.render(r) for r in page], "has_more": has_more, "url": url}
        return self.expand(out, expansions(req.params))

    # -- events -----------------------------------------------------------------------------------------

    def emit(
        self,
        req: Req | None,
        type_: str,
        obj: Obj,
        *,
        previous: dict[str, Any] | None = None,
        on_account: str | None = None,
    ) -> Obj:
        """Records an event (a snapshot of `obj` now) and queues it for every webhook endpoint that wants it.

        Events of a connected account (`on_account`, or the object's owner) carry `account` and go to Connect
        endpoints only; the platform's own go to the others, as Stripe splits them.
        """
        account = on_account or obj.get("_account")
        data: Obj = {"object": self.render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        body: Obj = {
            "api_version": API_VERSION,
            "data": data,
            "request": {
                "id": req.request_id if req else None,
                "idempotency_key": req.idempotency_key if req else None,
            },
            "type": type_,
        }
        if account is not None:
            body["account"] = account
        event = self.create("evt", "event", None, body, account=account)
        self.deliver(event)
        return event

    def deliver(self, event: Obj) -> int:
        """Queues the event for every enabled endpoint that wants it; answers how many deliveries it queued."""
        queued = 0
        for endpoint in self.store.oldest_first("webhook_endpoint"):
            wants = "*" in endpoint["enabled_events"] or event["type"] in endpoint["enabled_events"]
            connect = event.get("account") is not None
            if endpoint["status"] == "enabled" and wants and bool(endpoint["_connect"]) == connect:
                delivery = self.store.put(
                    {
                        "id": new_id("whdel"),
                        "object": "_delivery",
                        "event": event["id"],
                        "endpoint": endpoint["id"],
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": 0.0,
                        "_account": None,
                    }
                )
                self.pending_deliveries[delivery["id"]] = None
                event["_pending"] = event.get("_pending", 0) + 1
                queued += 1
        self.store.put(event)
        if queued:
            self.wake_deliverer()
        return queued

    # -- money ------------------------------------------------------------------------------------------

    def balance_transaction(
        self,
        *,
        account: str | None,
        amount: int,
        currency: str,
        type_: str,
        category: str,
        source: str,
        fee: int = 0,
        available_on: int | None = None,
        description: str | None = None,
        created: int | None = None,
    ) -> Obj:
        created = self.now() if created is None else created
        details = (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        )
        txn = self.create(
            "txn",
            "balance_transaction",
            None,
            {
                "amount": amount,
                "available_on": created if available_on is None else available_on,
                "balance_type": "payments",
                "created": created,
                "currency": currency,
                "description": description,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": details,
                "net": amount - fee,
                "reporting_category": category,
                "source": source,
                "status": "pending",
                "type": type_,
            },
            account=account,
        )
        self.txns_by_account.setdefault(account, []).append(txn["id"])
        return txn

    def balances(self, account: str | None) -> tuple[dict[str, int], dict[str, int]]:
        """(available, pending) net amounts per currency, from the account's balance transactions."""
        now = self.now()
        available: dict[str, int] = {}
        pending: dict[str, int] = {}
        for txn_id in self.txns_by_account.get(account, []):
            txn = self.store.get(txn_id, "balance_transaction")
            if txn is None:
                continue
            bucket = available if txn["available_on"] <= now else pending
            bucket[txn["currency"]] = bucket.get(txn["currency"], 0) + txn["net"]
        return available, pending

    def require_available(self, account: str | None, currency: str, amount: int, what: str) -> None:
        available, _ = self.balances(account)
        if available.get(currency, 0) < amount:
            raise StripeError(
                400,
                "invalid_request_error",
                f"You have insufficient available funds in your Stripe account to cover this {what}. "
                "Try adding funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card.",
                code="balance_insufficient",
            )

    def reset(self) -> None:
        self.store.reset()
        self.fail = FailPlan()
        self.clock.offset = timedelta()
        self._index()


def expansions(params: dict[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


def _created_matches(obj: Obj, created: Any) -> bool:
    """The `created` list filter: an exact timestamp or a hash of gt/gte/lt/lte."""
    if created is None or created == "":
        return True
    value = obj.get("created", 0)
    if isinstance(created, str):
        try:
            return bool(value == int(created))
        except ValueError:
            raise invalid("Invalid integer", param="created") from None
    if not isinstance(created, dict):
        raise invalid("Invalid created filter", param="created")
    checks = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
    for op, bound in created.items():
        if op not in checks:
            raise invalid(
                f"Received unknown parameter: created[{op}]", param=f"created[{op}]", code="parameter_unknown"
            )
        try:
            if not checks[op](int(bound)):
                return False
        except (TypeError, ValueError):
            raise invalid("Invalid integer", param=f"created[{op}]") from None
    return True
