"""`crowdship serve --migrate` as `make run` starts it: a real process on the embedded PostgreSQL.

No DATABASE_URL: the service starts pgserver itself in EMBEDDED_DATA_DIR. These tests cover what only
the real process shows: HTTP and WebSocket on a real port, Ctrl-C stopping the database with the
service, data surviving a restart, and a SIGKILLed run never blocking (or leaking) the next one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import stripe
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from marketplace.embedded_stripe import EMBEDDED_STRIPE_KEY
from tests.helpers import LOGIN, LOGOUT, ME, PASSWORD, REFRESH, SIGN_UP

pytestmark = pytest.mark.embedded

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
WS_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_processes(data_dir: Path) -> list[Any]:
    """Live postgres processes whose command line names `data_dir` (the postmaster: `postgres -D <dir>`)."""
    found: list[Any] = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE or not (info["name"] or "").startswith("postgres"):
            continue
        if any(str(data_dir) in arg for arg in info["cmdline"] or []):
            found.append(proc)
    return found


def stop_postgres(data_dir: Path) -> None:
    """Last-resort cleanup so that a failing test never leaks a server."""
    procs = postgres_processes(data_dir)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


@dataclass
class Service:
    """One `crowdship serve --migrate` process; its output goes to `log_path`."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "service not started"
        return self.process

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no service output)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST", "PORT")}
        env = {k: v for k, v in env.items() if not k.startswith("STRIPE_")}
        env["EMBEDDED_DATA_DIR"] = str(self.data_dir)
        env["EMBEDDED_STRIPE_FILE"] = str(self.data_dir.parent / "stripe.sqlite3")
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "marketplace.cli", "serve", "--migrate", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=Path(__file__).resolve().parents[2],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal running pytest reaches only pytest
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            assert code is None, f"service exited with {code} before it was ready\n{self.log_tail()}"
            try:
                response = httpx.get(f"{self.base_url}/ready", timeout=2)
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            time.sleep(0.2)
        pytest.fail(f"service not ready after {READY_TIMEOUT_S:.0f}s (last: {last})\n{self.log_tail()}")

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT, then the exit code (fails if it does not exit in time)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"service still running {STOP_TIMEOUT_S:.0f}s after SIGINT\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, and reap it so that its pid is really gone."""
        self.proc.kill()
        self.proc.wait(STOP_TIMEOUT_S)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Services:
    """Starts services on one data dir and, at the end, stops them and any postgres left on it."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.log_dir = log_dir
        self.started: list[Service] = []

    def start(self) -> Service:
        service = Service(self.data_dir, self.log_dir / f"service-{len(self.started) + 1}.log")
        self.started.append(service)
        service.start()
        return service

    def close(self) -> None:
        for service in self.started:
            service.cleanup()
        stop_postgres(self.data_dir)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    pool = Services(tmp_path / "pg", tmp_path)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One running service for the tests that need not restart it."""
    root = tmp_path_factory.mktemp("serve")
    pool = Services(root / "pg", root)
    try:
        yield pool.start()
    finally:
        pool.close()


def graphql(
    service: Service, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = httpx.post(
        f"{service.base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, f"{response.status_code} {response.text}\n{service.log_tail()}"
    body: dict[str, Any] = response.json()
    return body


def sign_up(service: Service, email: str) -> dict[str, Any]:
    body = graphql(service, SIGN_UP, {"input": {"email": email, "password": PASSWORD, "role": "COURIER"}})
    payload: dict[str, Any] = body["data"]["signUp"]
    assert payload["errors"] == [], f"{payload}\n{service.log_tail()}"
    user: dict[str, Any] = payload["user"]
    assert user["email"] == email
    assert user["role"] == "COURIER"
    return user


def login(service: Service, email: str) -> dict[str, Any]:
    body = graphql(service, LOGIN, {"input": {"email": email, "password": PASSWORD}})
    payload: dict[str, Any] = body["data"]["login"]
    assert payload["errors"] == [], f"{payload}\n{service.log_tail()}"
    session: dict[str, Any] = payload["session"]
    assert session["user"]["email"] == email
    return session


def test_http_flow_health_ready_and_graphiql(shared_service: Service) -> None:
    service = shared_service
    health = httpx.get(f"{service.base_url}/health", timeout=5)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = httpx.get(f"{service.base_url}/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    ide = httpx.get(f"{service.base_url}/graphql", headers={"Accept": "text/html"}, timeout=5)
    assert ide.status_code == 200
    assert ide.headers["content-type"].startswith("text/html")
    assert "graphiql" in ide.text.lower()

    user = sign_up(service, "http.flow@example.com")
    session = login(service, "http.flow@example.com")
    assert session["user"]["id"] == user["id"]

    me = graphql(service, ME, token=session["accessToken"])
    assert "errors" not in me, me
    assert me["data"]["me"]["user"] == {"id": user["id"], "email": "http.flow@example.com", "role": "COURIER"}
    assert me["data"]["me"]["role"] == "COURIER"

    refreshed = graphql(service, REFRESH, {"input": {"refreshToken": session["refreshToken"]}})
    payload = refreshed["data"]["refreshSession"]
    assert payload["errors"] == [], payload
    assert payload["session"]["user"]["id"] == user["id"]
    assert payload["session"]["refreshToken"] != session["refreshToken"]
    access = payload["session"]["accessToken"]
    assert graphql(service, ME, token=access)["data"]["me"]["user"]["id"] == user["id"]

    out = graphql(service, LOGOUT, {"input": {}}, token=access)
    assert out["data"]["logout"] == {"ok": True, "errors": []}
    after = graphql(service, ME, token=access)
    assert after["data"] is None, after
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", after
    assert after["errors"][0]["extensions"].get("reason") == "TOKEN_REVOKED", after


async def ws_me(service: Service, connection_payload: dict[str, str] | None) -> list[dict[str, Any]]:
    """Runs ME over graphql-transport-ws; returns the messages after connection_ack up to `complete`/`error`."""
    init: dict[str, Any] = {"type": "connection_init"}
    if connection_payload is not None:
        init["payload"] = connection_payload
    url = f"ws://127.0.0.1:{service.port}/graphql"
    async with (
        httpx.AsyncClient() as client,
        aconnect_ws(url, client, subprotocols=["graphql-transport-ws"], session_class=AsyncWebSocketSession) as ws,
    ):
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send_json(init)
        ack = await ws.receive_json(timeout=WS_TIMEOUT_S)
        assert ack["type"] == "connection_ack", ack
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": ME}})
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] not in ("complete", "error"):
            message: dict[str, Any] = await ws.receive_json(timeout=WS_TIMEOUT_S)
            assert message.get("id") == "1", message
            messages.append(message)
        return messages


async def test_graphql_over_websocket_authenticates_from_connection_init(shared_service: Service) -> None:
    service = shared_service
    email = "ws.courier@example.com"
    sign_up(service, email)
    session = login(service, email)

    messages = await ws_me(service, {"Authorization": f"Bearer {session['accessToken']}"})
    assert [m["type"] for m in messages] == ["next", "complete"], f"{messages}\n{service.log_tail()}"
    result = messages[0]["payload"]
    assert "errors" not in result, result
    assert result["data"]["me"]["user"]["email"] == email
    assert result["data"]["me"]["user"]["id"] == session["user"]["id"]

    anonymous = await ws_me(service, {})
    assert [m["type"] for m in anonymous] == ["next", "complete"], anonymous
    errors = anonymous[0]["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", anonymous
    assert anonymous[0]["payload"].get("data") is None, anonymous

    no_payload = await ws_me(service, None)
    assert no_payload[0]["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", no_payload


def test_ctrl_c_stops_cleanly_and_a_second_run_reuses_the_data(services: Services) -> None:
    first = services.start()
    assert postgres_processes(services.data_dir), f"no postgres runs on {services.data_dir}\n{first.log_tail()}"
    user = sign_up(first, "kept@example.com")

    code = first.interrupt()
    assert code == 0, f"exit code {code} after SIGINT\n{first.log_tail()}"
    left = postgres_processes(services.data_dir)
    assert left == [], f"postgres still running after Ctrl-C: {left}\n{first.log_tail()}"

    second = services.start()
    session = login(second, "kept@example.com")
    assert session["user"]["id"] == user["id"]
    me = graphql(second, ME, token=session["accessToken"])
    assert me["data"]["me"]["user"]["id"] == user["id"], me


def embedded_stripe(service: Service) -> stripe.StripeClient:
    """The SDK pointed at the Stripe fake this run announced it embeds."""
    found = re.findall(r"embedded Stripe fake at (http://\S+)", service.log_path.read_text(errors="replace"))
    assert found, f"no embedded Stripe fake announced\n{service.log_tail()}"
    return stripe.StripeClient(EMBEDDED_STRIPE_KEY, base_addresses={"api": found[-1]})


def test_without_a_stripe_key_the_service_embeds_a_stripe_fake_that_keeps_its_state(services: Services) -> None:
    first = services.start()
    sdk = embedded_stripe(first)
    customer = sdk.v1.customers.create(params={"email": "shop@example.com"})
    endpoints = sdk.v1.webhook_endpoints.list().data
    assert sorted(e.url for e in endpoints) == [f"{first.base_url}/webhooks/stripe"] * 2
    assert first.interrupt() == 0

    second = services.start()
    again = embedded_stripe(second)
    assert again.v1.customers.retrieve(customer.id).email == "shop@example.com"
    assert {e.url for e in again.v1.webhook_endpoints.list().data} == {f"{second.base_url}/webhooks/stripe"}


def test_a_sigkilled_service_never_blocks_the_next_start(services: Services) -> None:
    first = services.start()
    user = sign_up(first, "survivor@example.com")
    first.kill()
    assert postgres_processes(services.data_dir), "pgserver was expected to leave the server of a SIGKILLed holder"

    second = services.start()
    ready = httpx.get(f"{second.base_url}/ready", timeout=5)
    assert ready.status_code == 200, f"{ready.text}\n{second.log_tail()}"
    session = login(second, "survivor@example.com")
    assert session["user"]["id"] == user["id"]

    code = second.interrupt()
    assert code == 0, f"exit code {code} after SIGINT\n{second.log_tail()}"
    left = postgres_processes(services.data_dir)
    assert left == [], f"postgres outlived its last live holder: {left}\n{second.log_tail()}"
