"""Replicas of the application under uvicorn in the test process, and a graphql-transport-ws client.

Each replica is a full application (its own pool, its own LISTEN connection, its lifespan) on its
own port, sharing the test's database and clock: what two servers behind a load balancer are.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from litestar import Litestar

from marketplace.app import create_app
from marketplace.clock import Clock
from marketplace.db.listener import Listener
from marketplace.settings import Settings
from tests.helpers import GraphQL

WS_TIMEOUT_S = 15.0


@dataclass
class Replica:
    app: Litestar
    port: int
    http: httpx.AsyncClient
    gql: GraphQL

    @property
    def listener(self) -> Listener:
        listener: Listener = self.app.state.listener
        return listener

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@asynccontextmanager
async def replica(settings: Settings, clock: Clock) -> AsyncIterator[Replica]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(2000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "the replica did not start"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield Replica(app, port, http, GraphQL(http))
    finally:
        server.should_exit = True
        await task
        sock.close()


class Live:
    """One graphql-transport-ws connection, and the messages of its operations."""

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws
        self._ids = 0

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        op_id = str(self._ids)
        await self.ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
        return op_id

    async def receive(self, wait_s: float = WS_TIMEOUT_S) -> dict[str, Any]:
        message: dict[str, Any] = await self.ws.receive_json(timeout=wait_s)
        return message

    async def next_data(self, op_id: str, wait_s: float = WS_TIMEOUT_S) -> dict[str, Any]:
        """The data of the operation's next `next` message (fails on an error or a completion)."""
        message = await self.receive(wait_s)
        assert message.get("id") == op_id, message
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


@asynccontextmanager
async def live(target: Replica, token: str | None) -> AsyncIterator[Live]:
    async with (
        httpx.AsyncClient() as client,
        aconnect_ws(
            target.ws_url, client, subprotocols=["graphql-transport-ws"], session_class=AsyncWebSocketSession
        ) as ws,
    ):
        payload = {} if token is None else {"Authorization": f"Bearer {token}"}
        await ws.send_json({"type": "connection_init", "payload": payload})
        ack = await ws.receive_json(timeout=WS_TIMEOUT_S)
        assert ack["type"] == "connection_ack", ack
        yield Live(ws)


async def first_answer(target: Replica, token: str | None, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A subscription's first answer in the shape of an HTTP body: `{"data": ...}` or `{"errors": [...]}`.

    A subscription let through may have nothing to send yet; it then shows as one more subscriber of
    the replica's listener, which counts as `{"data": {}}`.
    """
    before = target.listener.subscribers
    async with live(target, token) as conn:
        op_id = await conn.subscribe(query, variables)
        message: dict[str, Any] | None = None
        for _ in range(int(WS_TIMEOUT_S / 0.05)):
            try:
                message = await conn.receive(0.05)
                break
            except TimeoutError:
                if target.listener.subscribers > before:
                    return {"data": {}}
        assert message is not None, "no answer"
        assert message.get("id") == op_id, message
        if message["type"] == "error":
            return {"errors": message["payload"]}
        assert message["type"] == "next", message
        body: dict[str, Any] = message["payload"]
        return body
