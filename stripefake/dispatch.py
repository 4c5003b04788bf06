"""One API request from headers and body to status and JSON: auth, faults, idempotency, routing, atomicity."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from stripefake.api import connect, money, payments, webhooks  # noqa: F401  (registers the routes)
from stripefake.core import DAY_S, FakeStripe, Req
from stripefake.errors import StripeError, invalid
from stripefake.forms import FormError, parse_form
from stripefake.params import check
from stripefake.routes import ROUTES
from stripefake.store import new_id

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL_S = DAY_S  # Stripe forgets keys after 24 hours
NEVER = 2**62


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def tick(fake: FakeStripe) -> None:
    """Work Stripe does on its own as time passes: authorisations expire, payouts arrive.

    Scans only once something may be due (`fake.next_due`), then notes when the next thing will be.
    """
    if fake.now() < fake.next_due:
        return
    fake.next_due = NEVER
    payments.expire_authorisations(fake)
    money.run_scheduled_payouts(fake)
    money.settle_payouts(fake)
    fake.store.commit()


def _unauthorised(message: str) -> Answer:
    return Answer(401, {"error": {"type": "invalid_request_error", "message": message}})


def handle(fake: FakeStripe, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> Answer:
    """`headers` keys are lower case."""
    request_id = new_id("req", 14)
    answer = _handle(fake, method.upper(), path, query, body, headers, request_id)
    answer.headers.setdefault("Request-Id", request_id)
    answer.headers["Stripe-Version"] = headers.get("stripe-version", "2026-10-28.endive")
    return answer


def _handle(
    fake: FakeStripe, method: str, path: str, query: str, body: str, headers: dict[str, str], request_id: str
) -> Answer:
    auth = headers.get("authorization", "")
    key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not key:
        return _unauthorised(
            "You did not provide an API key. You need to provide your API key in the Authorization header."
        )
    if not key.startswith(("sk_test_", "rk_test_")) or (fake.api_key is not None and key != fake.api_key):
        return _unauthorised(f"Invalid API Key provided: {key[:8]}{'*' * 8}")
    tick(fake)
    plan = fake.fail
    failing = plan.count > 0 and path.startswith(plan.path_prefix or "/v1/")
    if failing:
        plan.count -= 1
        if plan.mode == "before":
            return _server_error(plan.status)
    try:
        params = parse_form(body if method == "POST" else query)
    except FormError as exc:
        return _error(invalid(f"Invalid parameter name: {exc}", param=str(exc)))
    account = headers.get("stripe-account") or None
    if account is not None and fake.store.get(account, "account") is None:
        return _error(
            StripeError(
                403,
                "invalid_request_error",
                f"The provided key does not have access to account '{account}' (or that account does not exist). "
                "Application access may have been revoked.",
                code="account_invalid",
            )
        )
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.pattern.match(path)
        if match is not None:
            break
    else:
        return _error(
            StripeError(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
                "at https://support.stripe.com/.",
            )
        )
    idem_key = headers.get("idempotency-key") if method == "POST" else None
    fingerprint = json.dumps({"method": method, "path": path, "params": params}, sort_keys=True)
    record_id = f"idem:{account or ''}:{idem_key}"
    if idem_key is not None:
        record = fake.store.get(record_id, "_idempotency")
        if record is not None and record["created"] + IDEMPOTENCY_TTL_S > fake.now():
            if record["fingerprint"] != fingerprint:
                return _error(
                    StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{idem_key}' if you meant to execute a different "
                        "request.",
                    )
                )
            replay = Answer(
                record["status"],
                record["body"],
                {"Idempotent-Replayed": "true", "Original-Request": record["request_id"]},
            )
            return _server_error(plan.status) if failing else replay
    req = Req(
        params=params,
        account=account,
        path_ids=match.groups(),
        request_id=request_id,
        idempotency_key=idem_key,
        method=method,
        path=path,
    )
    try:
        check(params, route.spec)
    except StripeError as exc:
        return _error(exc)  # refused before it ran: nothing is remembered under the key
    fake.store.begin()
    try:
        answer = Answer(200, route.handler(fake, req))
    except StripeError as exc:
        if exc.status == 402:
            fake.store.commit()  # a decline is an outcome: the failed charge and the PaymentIntent's state stay
        else:
            fake.store.rollback()
        answer = _error(exc)
    except Exception:
        log.exception("stripefake: %s %s failed", method, path)
        fake.store.rollback()
        answer = _server_error(500)
    if idem_key is not None and answer.status < 500:
        fake.store.put(
            {
                "id": record_id,
                "object": "_idempotency",
                "created": fake.now(),
                "fingerprint": fingerprint,
                "status": answer.status,
                "body": answer.body,
                "request_id": request_id,
                "_account": None,
            }
        )
    fake.store.commit()
    if failing:  # mode "after": done and remembered, but the answer is lost on its way back
        return _server_error(plan.status)
    return answer


def _error(exc: StripeError) -> Answer:
    return Answer(exc.status, exc.body())


def _server_error(status: int) -> Answer:
    return Answer(
        status,
        {"error": {"type": "api_error", "message": "An unknown error occurred while processing this request."}},
    )
