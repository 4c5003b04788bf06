"""POST /webhooks/stripe: Stripe's events, verified with the SDK, stored once by id and queued for the worker.

Acknowledged fast: the request only checks the signature (`stripe.Webhook.construct_event`, through the
payments gateway), writes the event id and enqueues its job in one transaction. A duplicate is
acknowledged and dropped; processing reads the object back from Stripe, so order does not matter.
"""

from __future__ import annotations

from litestar import Request, post
from litestar.datastructures import State
from litestar.response import Response

from marketplace.services.container import Services


@post("/webhooks/stripe", status_code=200)
async def stripe_webhook(request: Request[object, object, State], state: State) -> Response[str]:
    services: Services = state["services"]
    payload = await request.body()
    try:
        new = await services.payments.receive_webhook(payload, request.headers.get("Stripe-Signature"))
    except ValueError:
        return Response("bad signature or payload\n", status_code=400, media_type="text/plain")
    return Response("queued\n" if new else "duplicate\n", status_code=200, media_type="text/plain")
