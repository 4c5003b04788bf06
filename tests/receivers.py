"""Receivers the tests start on 127.0.0.1: webhooks (verified with `standardwebhooks`) and an SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]  # the secrets whose signature matched
    error: str | None


@dataclass
class WebhookReceiver:
    """An ASGI app: answers each request with the next scripted status (then 200), records and verifies it."""

    secrets: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    endless: bool = False  # answer 200 with a body that never ends (until the client hangs up)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        verified_by, error = [], None
        for secret in self.secrets:
            try:
                Webhook(secret).verify(bytes(body), headers)
                verified_by.append(secret)
            except WebhookVerificationError as exc:
                error = str(exc)
        self.received.append(Received(headers, bytes(body), verified_by, error))
        status = self.statuses.pop(0) if self.statuses else 200
        extra = [(b"location", b"/elsewhere")] if 300 <= status < 400 else []
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain"), *extra]}
        )
        if not self.endless:
            await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"no"})
            return
        hung_up = asyncio.ensure_future(receive())
        chunk = b"x" * 65536
        while not hung_up.done():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """Runs an ASGI app under uvicorn on a free port of 127.0.0.1; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


class Inbox:
    """An aiosmtpd handler keeping every message; `hold` makes the first DATA wait until it is set."""

    def __init__(self, *, hold: threading.Event | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.hold = hold
        self.first_arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        if len(self.messages) == 1:
            self.first_arrived.set()
            if self.hold is not None:
                await asyncio.get_running_loop().run_in_executor(None, self.hold.wait)
        return "250 OK"

    def keys(self) -> list[str]:
        return [str(m["X-Crowdship-Notification"]) for m in self.messages]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    """A local SMTP server (aiosmtpd, in its own thread); yields its port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        if inbox.hold is not None:
            inbox.hold.set()
        controller.stop()
