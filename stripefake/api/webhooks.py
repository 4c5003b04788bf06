"""Webhook endpoints and events (the deliveries themselves are in `stripefake.delivery`)."""

from __future__ import annotations

import secrets
from typing import Any

from stripefake.core import API_VERSION, FakeStripe, Req
from stripefake.errors import invalid
from stripefake.params import COMMON, FREE, LEAF, LIST, boolean, merge_metadata, required_text, strings, text
from stripefake.routes import route
from stripefake.store import Obj

ENDPOINT: dict[str, Any] = {
    **COMMON,
    "url": LEAF,
    "enabled_events": LEAF,
    "description": LEAF,
    "metadata": FREE,
    "connect": LEAF,
    "api_version": LEAF,
}


def add_endpoint(
    fake: FakeStripe,
    req: Req | None,
    *,
    url: str,
    enabled_events: list[str],
    connect: bool,
    secret: str | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    if not url.startswith(("http://", "https://")):
        raise invalid("Invalid URL: must be an http or https URL", param="url")
    if not enabled_events:
        raise invalid("Missing required param: enabled_events.", param="enabled_events", code="parameter_missing")
    endpoint = fake.create(
        "we",
        "webhook_endpoint",
        req,
        {
            "api_version": API_VERSION,
            "application": None,
            "description": description,
            "enabled_events": enabled_events,
            "metadata": metadata or {},
            "status": "enabled",
            "url": url,
            "_connect": connect,
            "_secret": secret or "whsec_" + secrets.token_hex(16),
        },
    )
    endpoint["_account"] = None
    return fake.store.put(endpoint)


@route("POST", "/v1/webhook_endpoints", ENDPOINT)
def create_endpoint(fake: FakeStripe, req: Req) -> Obj:
    p = req.params
    endpoint = add_endpoint(
        fake,
        req,
        url=required_text(p, "url"),
        enabled_events=strings(p, "enabled_events"),
        connect=boolean(p, "connect"),
        description=text(p, "description"),
        metadata=merge_metadata({}, p),
    )
    out = fake.respond(req, endpoint)
    out["secret"] = endpoint["_secret"]  # shown once, at creation, as Stripe does
    return out


def _endpoint(fake: FakeStripe, req: Req) -> Obj:
    return fake.find(Req(params={}, account=None), req.path_ids[0], "webhook_endpoint", "webhook endpoint")


@route("GET", "/v1/webhook_endpoints/{id}", COMMON)
def retrieve_endpoint(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, _endpoint(fake, req))


@route(
    "POST",
    "/v1/webhook_endpoints/{id}",
    {**COMMON, "url": LEAF, "enabled_events": LEAF, "description": LEAF, "metadata": FREE, "disabled": LEAF},
)
def update_endpoint(fake: FakeStripe, req: Req) -> Obj:
    endpoint = _endpoint(fake, req)
    p = req.params
    if "url" in p:
        endpoint["url"] = required_text(p, "url")
    if "enabled_events" in p:
        endpoint["enabled_events"] = strings(p, "enabled_events")
    if "description" in p:
        endpoint["description"] = text(p, "description")
    if "disabled" in p:
        endpoint["status"] = "disabled" if boolean(p, "disabled") else "enabled"
    endpoint["metadata"] = merge_metadata(endpoint["metadata"], p)
    fake.store.put(endpoint)
    return fake.respond(req, endpoint)


@route("DELETE", "/v1/webhook_endpoints/{id}", {})
def delete_endpoint(fake: FakeStripe, req: Req) -> Obj:
    endpoint = _endpoint(fake, req)
    fake.store.delete(endpoint["id"])
    return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}


@route("GET", "/v1/webhook_endpoints", LIST)
def list_endpoints(fake: FakeStripe, req: Req) -> Obj:
    return fake.listing(
        Req(params=req.params, account=None), fake.store.newest_first("webhook_endpoint"), "/v1/webhook_endpoints"
    )


@route("GET", "/v1/events/{id}", COMMON)
def retrieve_event(fake: FakeStripe, req: Req) -> Obj:
    return fake.respond(req, fake.find(req, req.path_ids[0], "event", "event"))


@route("GET", "/v1/events", {**LIST, "type": LEAF, "types": LEAF, "delivery_success": LEAF})
def list_events(fake: FakeStripe, req: Req) -> Obj:
    kind = text(req.params, "type")
    kinds = strings(req.params, "types")
    rows = (
        e
        for e in fake.store.newest_first("event")
        if (kind is None or _matches(e["type"], kind)) and (not kinds or e["type"] in kinds)
    )
    return fake.listing(req, rows, "/v1/events")


def _matches(event_type: str, wanted: str) -> bool:
    """`type` accepts a trailing wildcard, e.g. `charge.*`."""
    if wanted.endswith("*"):
        return event_type.startswith(wanted[:-1])
    return event_type == wanted
