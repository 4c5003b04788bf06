"""Sending one webhook over HTTP: the address checked and connected to, signed, the answer bounded.

The adapter behind `WebhookService` (marketplace/services/webhooks.py): it resolves the endpoint's
host, refuses loopback, private, link-local and metadata addresses (unless a test setup allows
them), connects to the very address it checked with the name kept for TLS (SNI and certificate) and
the Host header, never follows a redirect, signs by the Standard Webhooks convention with the
`standardwebhooks` library and reads at most 64 KB of the answer within the timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

from marketplace.clock import Clock, SystemClock
from marketplace.domain.webhooks import WebhookPolicy, address_allowed

USER_AGENT = "Crowdship-Webhooks/1"
MAX_CLIENTS = 256  # HTTP clients kept (one per endpoint host), least recently used closed first


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AddressRefusedError(Exception):
    """The host resolves to an address we never call."""


async def resolve_allowed(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to: every address the name resolves to must be allowed, else none is."""
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # IPv4 first: a local receiver usually listens on 127.0.0.1 when "localhost" also names ::1.
        addresses = sorted(dict.fromkeys(str(info[4][0]) for info in infos), key=lambda a: ":" in a)
    if not addresses:
        raise AddressRefusedError(f"{host} resolves to no address")
    if not allow_private:
        refused = [a for a in addresses if not address_allowed(a)]
        if refused:
            raise AddressRefusedError(f"{host} resolves to {refused[0]}, which is not a public address")
    return addresses[0]


class WebhookSender:
    """One HTTP attempt, signed, against the address that was checked."""

    def __init__(self, policy: WebhookPolicy, *, wall_clock: Clock | None = None) -> None:
        self._policy = policy
        # The signature's timestamp is the real time of sending: receivers compare it with theirs.
        self._wall = wall_clock or SystemClock()
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def client(self, host: str) -> httpx.AsyncClient:
        """A client per host name: connections go to an address, so a pooled TLS connection made for one
        name must never carry a request for another name on the same address (shared hosting)."""
        client = self._clients.pop(host, None)
        if client is None:
            client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self._policy.timeout_s),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
                trust_env=False,  # never through a proxy from the environment: we checked the address
            )
        self._clients[host] = client  # most recently used last
        if len(self._clients) > MAX_CLIENTS:
            oldest = next(iter(self._clients))
            closing = asyncio.ensure_future(self._clients.pop(oldest).aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
            self._closing.clear()

    def headers(self, msg_id: str, body: str, secrets_: tuple[str, ...]) -> dict[str, str]:
        at = self._wall.now()
        signatures = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }

    async def post(self, url: str, msg_id: str, body: str, secrets_: tuple[str, ...]) -> AttemptResult:
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await asyncio.wait_for(
                resolve_allowed(host, port, allow_private=self._policy.allow_private_addresses),
                self._policy.timeout_s,
            )
        except AddressRefusedError as exc:
            return AttemptResult(None, elapsed(), f"address refused: {exc}", None)
        except (OSError, TimeoutError) as exc:
            return AttemptResult(None, elapsed(), f"could not resolve {host}: {exc}", None)
        shown = f"[{address}]" if ":" in address else address
        target = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
        headers = self.headers(msg_id, body, secrets_)
        headers["host"] = parts.netloc
        try:
            async with asyncio.timeout(self._policy.timeout_s):
                client = self.client(host)
                request = client.build_request(
                    "POST", target, content=body.encode(), headers=headers, extensions={"sni_hostname": host}
                )
                response = await client.send(request, stream=True)
                try:
                    read = bytearray()
                    async for chunk in response.aiter_raw():
                        read.extend(chunk[: self._policy.max_response_bytes - len(read)])
                        if len(read) >= self._policy.max_response_bytes:
                            break
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            return AttemptResult(None, elapsed(), f"{type(exc).__name__}: {exc}"[:500], None)
        return AttemptResult(response.status_code, elapsed(), None, bytes(read[:1000]).decode(errors="replace"))
