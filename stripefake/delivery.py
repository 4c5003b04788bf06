"""Signed, asynchronous webhook delivery with Stripe's retry schedule (shortened) and a flush for tests.

Each pending delivery is POSTed as the event's JSON with `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256
of "t.payload" keyed by the endpoint's whsec_ secret>`, the scheme `stripe.Webhook.construct_event` verifies.
`t` is the wall-clock time of the attempt (the receiver checks it against its own clock, tolerance 300 s),
not the fake's injected clock. A non-2xx answer or a connection error is retried after 2^n seconds (capped at
an hour), up to `MAX_ATTEMPTS`, then the delivery is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import json
import logging
import time
from dataclasses import dataclass

import httpx

from stripefake.core import FakeStripe
from stripefake.store import Obj

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 16
MAX_BACKOFF_S = 3600.0


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    signed = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"


@dataclass
class FlushResult:
    delivered: int = 0
    failed: int = 0
    pending: int = 0


class Deliverer:
    """Owns the background task; `flush` attempts everything pending now and reports how it went."""

    def __init__(self, fake: FakeStripe, *, timeout_s: float = 10.0) -> None:
        self.fake = fake
        self.timeout_s = timeout_s
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retries: list[tuple[float, str]] = []  # (next attempt at, delivery id), a heap

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(timeout=self.timeout_s)
        self.fake.wake_deliverer = self.wake
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            async with self._lock:
                await self._attempt(force=False)
            timeout = max(0.0, self._retries[0][0] - time.time()) if self._retries else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _take_due(self, *, force: bool) -> list[Obj]:
        """New deliveries (the fake queues their ids) and retries whose back-off is over (all, if `force`)."""
        ids = list(self.fake.pending_deliveries)
        self.fake.pending_deliveries.clear()
        now = time.time()
        while self._retries and (force or self._retries[0][0] <= now):
            ids.append(heapq.heappop(self._retries)[1])
        found = []
        for delivery_id in ids:
            delivery = self.fake.store.get(delivery_id, "_delivery")
            if delivery is not None and delivery["status"] == "pending":  # else: rolled back, or done
                found.append(delivery)
        return found

    async def flush(self) -> FlushResult:
        """Attempts every pending delivery once, now, whatever its back-off says."""
        async with self._lock:
            return await self._attempt(force=True)

    async def _attempt(self, *, force: bool) -> FlushResult:
        result = FlushResult()
        for delivery in self._take_due(force=force):
            if await self._send(delivery):
                result.delivered += 1
            else:
                result.failed += 1
                if delivery["status"] == "pending":
                    heapq.heappush(self._retries, (delivery["next_attempt_at"], delivery["id"]))
        result.pending = len(self._retries) + len(self.fake.pending_deliveries)
        self.fake.store.commit()
        return result

    async def _send(self, delivery: Obj) -> bool:
        store = self.fake.store
        event = store.get(delivery["event"], "event")
        endpoint = store.get(delivery["endpoint"], "webhook_endpoint")
        if event is None or endpoint is None:
            delivery["status"] = "abandoned"
            store.put(delivery)
            return False
        payload = json.dumps(self.fake.render(event), indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, endpoint["_secret"], int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        delivery["attempts"] += 1
        assert self._client is not None
        try:
            response = await self._client.post(endpoint["url"], content=payload.encode(), headers=headers)
            ok = 200 <= response.status_code < 300
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:
            ok, outcome = False, type(exc).__name__
        if ok:
            delivery["status"] = "succeeded"
        elif delivery["attempts"] >= MAX_ATTEMPTS:
            delivery["status"] = "failed"
        else:
            delivery["next_attempt_at"] = time.time() + min(MAX_BACKOFF_S, 2.0 ** delivery["attempts"])
        if delivery["status"] != "pending":
            event["_pending"] = max(0, event.get("_pending", 1) - 1)
            store.put(event)
        store.put(delivery)
        if not ok:
            log.info(
                "webhook %s to %s failed (%s), attempt %d", event["id"], endpoint["url"], outcome, delivery["attempts"]
            )
        return ok
