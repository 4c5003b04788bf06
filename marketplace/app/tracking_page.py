"""`/t/<token>`: the recipient's tracking page, rendered by the server, kept live by a small local script.

No build step and nothing from another host: the HTML carries its style, and `/t/static/tracking.js`
(served from this package) speaks graphql-transport-ws to `/graphql` for updates and posts the
drop-off changes. An unknown, expired or over-limit token gets a plain 404 or 429 page that says
nothing about the token.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any
from uuid import UUID

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Response

from marketplace.app.client import client_address
from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.recipient_tracking import TrackedParcel
from marketplace.domain.vehicles import VehicleKind
from marketplace.services.container import Services
from marketplace.services.recipient_tracking import TrackingPage, TrackingRefusedError
from schema.types import global_id

_SCRIPT = resources.files("marketplace.app").joinpath("static/tracking.js").read_bytes()

STATUS_LABELS = {
    ParcelStatus.BOOKED: "Booked: waiting for a courier",
    ParcelStatus.OFFERED: "Booked: a courier is being found",
    ParcelStatus.ASSIGNED: "A courier will collect it",
    ParcelStatus.AT_PICKUP: "The courier is collecting it",
    ParcelStatus.PICKED_UP: "Out for delivery",
    ParcelStatus.AT_DROPOFF: "Arriving now",
    ParcelStatus.DELIVERED: "Delivered",
    ParcelStatus.FAILED_ATTEMPT: "Delivery attempt failed",
    ParcelStatus.TO_LOCKER: "On its way to a locker",
    ParcelStatus.IN_LOCKER: "Waiting in the locker",
    ParcelStatus.COLLECTED: "Collected from the locker",
    ParcelStatus.RETURNING: "Going back to the sender",
    ParcelStatus.RETURNED: "Returned to the sender",
    ParcelStatus.CANCELLED: "Cancelled",
    ParcelStatus.HANDED_TO_FLEET: "Handed to our delivery partner",
}
EVENT_LABELS = {
    **{s.value: label for s, label in STATUS_LABELS.items()},
    "redirected": "You changed the delivery",
    "running_late": "Running late",
    "arriving_soon": "Arriving soon",
    "offer_withdrawn": "A new courier is being found",
}
VEHICLE_LABELS = {
    VehicleKind.FOOT: "on foot",
    VehicleKind.BICYCLE: "bicycle",
    VehicleKind.CARGO_BIKE: "cargo bike",
    VehicleKind.E_SCOOTER: "e-scooter",
    VehicleKind.CAR: "car",
    VehicleKind.VAN: "van",
    VehicleKind.PUBLIC_TRANSPORT: "public transport",
}
LABELS: dict[str, Any] = {
    # GraphQL spells enum values in upper case; the page's script looks them up that way.
    "status": {s.name: label for s, label in STATUS_LABELS.items()},
    "vehicle": {k.name: label for k, label in VEHICLE_LABELS.items()},
    "event": EVENT_LABELS,
    "eta": "Expected at",
    "yourCourier": "Your courier",
    "noCourierYet": "Not yet assigned",
    "toLocker": "To the locker",
    "toAddress": "To your address",
    "mayLeave": "May be left:",
    "safePlace": "at the safe place",
    "neighbour": "with a neighbour",
    "saving": "Saving...",
    "saved": "Saved. The next planning round takes it into account.",
    "failed": "Could not save; please try again.",
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:36rem;margin:1rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}#status{font-size:1.5rem;font-weight:600;margin:.5rem 0}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#666}
ol{padding-left:1.2rem}li{margin:.2rem 0}time{color:#666;margin-right:.4rem}
section{border-top:1px solid #ddd;margin-top:1rem;padding-top:.5rem}
"""

_SECURITY_HEADERS = {
    # The token is in the URL: it must not leak through a Referer, a cache or a search engine.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def _plain(status: int) -> Response[str]:
    title = "Too many requests" if status == 429 else "Not found"
    text = "Please try again in a minute." if status == 429 else "There is nothing at this address."
    headers = dict(_SECURITY_HEADERS)
    if status == 429:
        headers["Retry-After"] = "60"
    body = f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{text}</p>"
    return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=headers)


def _time(value: Any) -> str:
    return f'<time datetime="{value.isoformat()}">{escape(value.strftime("%Y-%m-%d %H:%M UTC"))}</time>'


def _courier(p: TrackedParcel) -> str:
    if p.courier_first_name is None and p.vehicle_kind is None:
        return str(LABELS["noCourierYet"])
    name = p.courier_first_name or LABELS["yourCourier"]
    return name + (f" ({VEHICLE_LABELS[p.vehicle_kind]})" if p.vehicle_kind is not None else "")


def render(page: TrackingPage, token: str) -> str:
    p = page.parcel
    timeline = "".join(
        f'<li data-seq="{seq}">{_time(e.occurred_at)} {escape(EVENT_LABELS.get(e.kind, e.kind))}</li>'
        for seq, e in page.events
    )
    leave = [LABELS["safePlace"]] * p.safe_place_consent + [LABELS["neighbour"]] * p.neighbour_consent
    options = "".join(
        f'<option value="{escape(_locker_id(lk.id))}">{escape(lk.name)}, {escape(lk.address)}</option>'
        for lk in page.lockers
    )
    locker_form = (
        f'<p><label>A locker nearby: <select\nid="locker">{options}</select></label> '
        '<button id="redirect-locker" type="button">Send it to this locker</button></p>'
        if page.lockers
        else "<p>No locker nearby has a free compartment for it.</p>"
    )
    eta = "" if p.dropoff_eta_at is None else escape(LABELS["eta"]) + " " + _time(p.dropoff_eta_at)
    dropoff = LABELS["toLocker"] + " " + p.locker_name if p.locker_name else LABELS["toAddress"]
    data = {"token": token, "labels": LABELS, "events": [seq for seq, _ in page.events]}
    # `</` cannot end the script element early: JSON escapes it.
    blob = json.dumps(data).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Your delivery</title><style>{_STYLE}</style></head>
<body data-live="off">
<h1>Your delivery</h1>
<p id="status" data-status="{p.status.name}">{escape(STATUS_LABELS[p.status])}</p>
<dl>
<dt>Delivery window</dt><dd id="window">{_time(p.deliver_from)} - {_time(p.deliver_until)}</dd>
<dt>Arrival</dt><dd id="eta">{eta}</dd>
<dt>Courier</dt><dd id="courier">{escape(_courier(p))}</dd>
<dt>Drop-off</dt><dd id="dropoff">{escape(dropoff)}</dd>
<dt></dt><dd id="leave">{escape(LABELS["mayLeave"] + " " + ", ".join(leave)) if leave else ""}</dd>
</dl>
<section id="redirect"{"" if p.redirectable else " hidden"}>
<h2>Not at home?</h2>
{locker_form}
<p><label>Safe place: <input id="safe-place" maxlength="200" placeholder="e.g. behind the garden gate"></label>
<label><input id="neighbour" type="checkbox"> a neighbour may take it</label>
<button id="allow-leave" type="button">Allow</button></p>
<p id="redirect-result" role="status"></p>
</section>
<section><h2>History</h2><ol id="timeline">{timeline}</ol></section>
<script id="tracking-data" type="application/json">{blob}</script>
<script src="/t/static/tracking.js"></script>
</body></html>"""


def _locker_id(locker_id: UUID) -> str:
    """The API's global ID, as the mutation takes it."""
    return str(global_id("Locker", locker_id))


@get("/t/static/tracking.js", sync_to_thread=False)
def tracking_script() -> Response[bytes]:
    return Response(
        _SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@get("/t/{token:str}")
async def tracking_page(token: FromPath[str], request: Request[Any, Any, State], state: State) -> Response[str]:
    services: Services = state["services"]
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), state["trusted_proxies"])
    try:
        page = await services.recipient_tracking.page(token, address)
    except TrackingRefusedError as exc:
        return _plain(exc.status_code)
    return Response(render(page, token), media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS)
