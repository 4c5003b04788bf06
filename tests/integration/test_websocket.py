"""GraphQL over graphql-transport-ws: credentials are checked per operation, not per connection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from marketplace.app import create_app
from marketplace.clock import ManualClock
from marketplace.settings import Settings
from tests.helpers import LOGIN, LOGOUT, ME, PASSWORD, SIGN_UP


def _operation(ws: WebSocketTestSession, op_id: str, query: str) -> dict[str, Any]:
    ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query}})
    message: dict[str, Any] = ws.receive_json(timeout=10)
    assert message["id"] == op_id
    if message["type"] == "next":
        assert ws.receive_json(timeout=10) == {"id": op_id, "type": "complete"}
    return message


def _session(client: TestClient[Any]) -> dict[str, Any]:
    sign_up = {"input": {"email": "ws@example.com", "password": PASSWORD, "role": "COURIER"}}
    assert client.post("/graphql", json={"query": SIGN_UP, "variables": sign_up}).status_code == 200
    body = client.post(
        "/graphql", json={"query": LOGIN, "variables": {"input": {"email": "ws@example.com", "password": PASSWORD}}}
    ).json()
    return body["data"]["login"]["session"]  # type: ignore[no-any-return]


def test_logout_and_expiry_take_effect_on_an_open_socket(settings: Settings, clock: ManualClock) -> None:
    with TestClient(create_app(settings, clock=clock)) as client:
        session = _session(client)
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {session['accessToken']}"}})
            assert ws.receive_json(timeout=10)["type"] == "connection_ack"
            first = _operation(ws, "1", ME)
            assert first["payload"]["data"]["me"]["user"]["email"] == "ws@example.com"

            headers = {"Authorization": f"Bearer {session['accessToken']}"}
            out = client.post("/graphql", json={"query": LOGOUT, "variables": {"input": {}}}, headers=headers)
            assert out.json()["data"]["logout"]["ok"] is True

            after = _operation(ws, "2", ME)
            assert after["payload"]["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_REVOKED"}


def test_an_access_token_expires_on_an_open_socket(settings: Settings, clock: ManualClock) -> None:
    with TestClient(create_app(settings, clock=clock)) as client:
        session = _session(client)
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {session['accessToken']}"}})
            assert ws.receive_json(timeout=10)["type"] == "connection_ack"
            assert _operation(ws, "1", ME)["payload"]["data"]["me"]["role"] == "COURIER"
            clock.advance(timedelta(seconds=settings.access_token_ttl_s))
            expired = _operation(ws, "2", ME)
            assert expired["payload"]["errors"][0]["extensions"] == {
                "code": "UNAUTHENTICATED",
                "reason": "TOKEN_EXPIRED",
            }


def test_bad_input_over_the_socket_is_a_typed_error(settings: Settings, clock: ManualClock) -> None:
    with (
        TestClient(create_app(settings, clock=clock)) as client,
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json(timeout=10)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "query { me { nosuchfield } }"}})
        message = ws.receive_json(timeout=10)
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
