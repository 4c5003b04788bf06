"""The ASGI application: Stripe's API under /v1 and test controls under /_fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from litestar import Litestar, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect

from stripefake.api.connect import complete_onboarding, follow_link, require_again
from stripefake.api.money import pay_out_available, set_schedule
from stripefake.api.webhooks import add_endpoint
from stripefake.core import FailPlan, FakeStripe
from stripefake.delivery import Deliverer
from stripefake.dispatch import handle, tick
from stripefake.errors import StripeError


def _fake(state: State) -> FakeStripe:
    fake: FakeStripe = state.fake
    return fake


async def _api(request: Request[Any, Any, State]) -> Response[bytes]:
    body = (await request.body()).decode() if request.method == "POST" else ""
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = handle(_fake(request.app.state), request.method, request.url.path, request.url.query or "", body, headers)

    return Response(
        json.dumps(answer.body, indent=2).encode(),
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json",
    )


@get("/v1/{path:path}")
async def api_get(request: Request[Any, Any, State], path: FromPath[str]) -> Response[bytes]:
    return await _api(request)


@post("/v1/{path:path}", status_code=200)
async def api_post(request: Request[Any, Any, State], path: FromPath[str]) -> Response[bytes]:
    return await _api(request)


@delete("/v1/{path:path}", status_code=200)
async def api_delete(request: Request[Any, Any, State], path: FromPath[str]) -> Response[bytes]:
    return await _api(request)


# -- test controls ----------------------------------------------------------------------------------------


async def _json(request: Request[Any, Any, State]) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise HTTPException(status_code=400, detail="expected a JSON object")
    return data


@post("/_fake/reset", status_code=200)
async def reset(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Forgets every object, event, delivery, key, fault and clock shift."""
    _fake(request.app.state).reset()
    return {"reset": True}


@post("/_fake/fail_next", status_code=200)
async def fail_next(request: Request[Any, Any, State]) -> dict[str, Any]:
    """`{"count": 1, "status": 500, "mode": "before"|"after", "path_prefix": "/v1/transfers"}`."""
    data = await _json(request)
    mode = data.get("mode", "before")
    if mode not in ("before", "after"):
        raise HTTPException(status_code=400, detail="mode is before or after")
    plan = FailPlan(
        count=int(data.get("count", 1)),
        status=int(data.get("status", 500)),
        mode=mode,
        path_prefix=str(data.get("path_prefix", "")),
    )
    _fake(request.app.state).fail = plan
    return asdict(plan)


@post("/_fake/webhooks/flush", status_code=200)
async def flush(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Runs due time-based work, then attempts every pending webhook delivery now; answers the counts."""
    tick(_fake(request.app.state))
    deliverer: Deliverer = request.app.state.deliverer
    return asdict(await deliverer.flush())


@post("/_fake/webhook_endpoints", status_code=200)
async def fixed_secret_endpoint(request: Request[Any, Any, State]) -> dict[str, Any]:
    """An endpoint with a secret chosen by the caller (the embedded set-up passes it to the service)."""
    data = await _json(request)
    fake = _fake(request.app.state)
    try:
        endpoint = add_endpoint(
            fake,
            None,
            url=str(data["url"]),
            enabled_events=list(data.get("enabled_events", ["*"])),
            connect=bool(data.get("connect", False)),
            secret=data.get("secret"),
        )
    except StripeError as exc:
        raise HTTPException(status_code=400, detail=exc.message) from None
    fake.store.commit()
    return {**fake.render(endpoint), "secret": endpoint["_secret"]}


@post("/_fake/clock", status_code=200)
async def move_clock(request: Request[Any, Any, State]) -> dict[str, Any]:
    """`{"advance_s": 86400}` moves the fake's time forward (settlements, expiries, payouts follow)."""
    data = await _json(request)
    fake = _fake(request.app.state)
    fake.clock.offset += timedelta(seconds=int(data.get("advance_s", 0)))
    tick(fake)
    return {"now": fake.now()}


@post("/_fake/payouts/schedule", status_code=200)
async def payout_schedule(request: Request[Any, Any, State]) -> dict[str, Any]:
    """`{"interval": "daily"}`: the platform's balance is paid out automatically every midnight UTC
    (`"manual"`: only by `POST /v1/payouts`), as set in the Dashboard's payout settings."""
    data = await _json(request)
    fake = _fake(request.app.state)
    tick(fake)
    try:
        current = set_schedule(fake, str(data.get("interval", "")))
    except StripeError as exc:
        raise HTTPException(status_code=400, detail=exc.message) from None
    fake.store.commit()
    return {"interval": current["interval"], "next_run_at": current["next_run_at"]}


@post("/_fake/payouts/run", status_code=200)
async def run_payouts(request: Request[Any, Any, State]) -> dict[str, Any]:
    """The platform's automatic payout now, whatever the schedule: what is available and not yet paid out."""
    fake = _fake(request.app.state)
    tick(fake)
    made = pay_out_available(fake)
    fake.store.commit()
    return {"payouts": [fake.render(p) for p in made]}


@post("/_fake/accounts/{account_id:str}/onboard", status_code=200)
async def onboard(request: Request[Any, Any, State], account_id: FromPath[str]) -> dict[str, Any]:
    """Completes Express onboarding of an account, as its owner finishing Stripe's forms would."""
    fake = _fake(request.app.state)
    account = fake.store.get(account_id, "account")
    if account is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    complete_onboarding(fake, account)
    fake.store.commit()
    return fake.render(account)


@post("/_fake/accounts/{account_id:str}/requirements", status_code=200)
async def requirements(request: Request[Any, Any, State], account_id: FromPath[str]) -> dict[str, Any]:
    """`{"currently_due": ["individual.verification.document"]}`: Stripe wants more; payouts stop until given."""
    fake = _fake(request.app.state)
    account = fake.store.get(account_id, "account")
    if account is None:
        raise HTTPException(status_code=404, detail=f"no account {account_id}")
    data = await _json(request)
    require_again(fake, account, [str(f) for f in data.get("currently_due", [])])
    fake.store.commit()
    return fake.render(account)


@post("/_fake/events/{event_id:str}/resend", status_code=200)
async def resend(request: Request[Any, Any, State], event_id: FromPath[str]) -> dict[str, Any]:
    """Delivers an existing event again (as the Dashboard's "Resend"): duplicates and late, out-of-order copies."""
    fake = _fake(request.app.state)
    event = fake.store.get(event_id, "event")
    if event is None:
        raise HTTPException(status_code=404, detail=f"no event {event_id}")
    queued = fake.deliver(event)
    fake.store.commit()
    return {"queued": queued}


@get("/_fake/onboarding/{token:str}", sync_to_thread=False)
def onboarding_link(request: Request[Any, Any, State], token: FromPath[str]) -> Redirect:
    """The account link's URL: visiting it completes onboarding and redirects to `return_url`."""
    fake = _fake(request.app.state)
    try:
        target = follow_link(fake, token)
    except StripeError as exc:
        raise HTTPException(status_code=404, detail=exc.message) from None
    fake.store.commit()
    return Redirect(target)


def create_app(fake: FakeStripe | None = None) -> Litestar:
    """The fake as an ASGI app; `fake` carries the clock, fee model, storage and settlement delay."""
    state = fake or FakeStripe()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        deliverer = Deliverer(state)
        deliverer.start()
        app.state.deliverer = deliverer
        try:
            yield
        finally:
            await deliverer.stop()
            state.store.commit()

    return Litestar(
        route_handlers=[
            api_get,
            api_post,
            api_delete,
            reset,
            fail_next,
            flush,
            fixed_secret_endpoint,
            move_clock,
            payout_schedule,
            run_payouts,
            onboard,
            requirements,
            resend,
            onboarding_link,
        ],
        state=State({"fake": state}),
        lifespan=[lifespan],
        openapi_config=None,
        # Embedded in `crowdship serve`, litestar's default logging set-up would replace the service's JSON logs
        # (its request summaries are what operations and the API benchmark read).
        logging_config=None,
    )
