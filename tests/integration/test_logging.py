"""Structured logs over the real HTTP interface: JSON lines, a request id on every line of a request, no secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog

from marketplace.clock import ManualClock
from marketplace.logs import configure_logging
from marketplace.settings import Settings
from tests.helpers import LOGIN, ME, REFRESH, SIGN_UP, GraphQL, running_app

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
# Logged by the test's own HTTP client, in the test's thread: not part of any request the app served.
CLIENT_LOGGERS = frozenset({"httpx", "httpcore"})
# Loggers that other libraries' configuration may touch and configure_logging changes.
TOUCHED_LOGGERS = ("pgserver", "stripe", "uvicorn", "uvicorn.error", "uvicorn.access", "litestar")


class LogCapture:
    """The JSON lines the application wrote, readable whole or from a mark onwards."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def mark(self) -> int:
        return len(self.text)

    def raw_lines(self, since: int = 0) -> list[str]:
        return [line for line in self.text[since:].splitlines() if line.strip()]

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        records = []
        for line in self.raw_lines(since):
            record = json.loads(line)
            assert isinstance(record, dict), line
            records.append(record)
        return records


@dataclass(frozen=True)
class Exchange:
    """One HTTP request, its response, and the log records the app wrote while serving it."""

    response: httpx.Response
    records: list[dict[str, Any]]

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.response.json()
        return body

    @property
    def request_id(self) -> str:
        return self.response.headers["x-request-id"]

    @property
    def summaries(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == "request"]


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """DEBUG-level JSON logs into memory; the global logging and structlog setup is restored afterwards."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_named = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level, logging.getLogger(name).propagate)
        for name in TOUCHED_LOGGERS
    }
    saved_structlog = structlog.get_config()
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    try:
        yield LogCapture(stream)
    finally:
        root.handlers, level = saved_root
        root.setLevel(level)
        for name, (handlers, named_level, propagate) in saved_named.items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.setLevel(named_level)
            logger.propagate = propagate
        structlog.configure(**saved_structlog)
        structlog.contextvars.clear_contextvars()


@pytest.fixture
async def logged_gql(log_capture: LogCapture, settings: Settings, clock: ManualClock) -> AsyncIterator[GraphQL]:
    """The app, created after logging is configured so every logger it makes writes to the capture."""
    async with running_app(settings, clock) as (_, gql):
        yield gql


async def exchange(
    gql: GraphQL,
    logs: LogCapture,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Exchange:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    mark = logs.mark()
    # The test transport returns only once the whole ASGI call, middleware epilogue included, has finished.
    response = await gql.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
    )
    assert response.status_code == 200, response.text
    records = [r for r in logs.records(mark) if r.get("logger") not in CLIENT_LOGGERS]
    return Exchange(response, records)


def sign_up_vars(email: str, password: str) -> dict[str, Any]:
    return {"input": {"email": email, "password": password, "role": "COURIER"}}


def login_vars(email: str, password: str) -> dict[str, Any]:
    return {"input": {"email": email, "password": password}}


def assert_all_tagged(ex: Exchange) -> dict[str, Any]:
    """Every record of the request carries its id; exactly one is the request summary, which is returned."""
    assert ex.records, "the app wrote nothing while serving the request"
    assert [r.get("request_id") for r in ex.records] == [ex.request_id] * len(ex.records), ex.records
    assert len(ex.summaries) == 1, ex.records
    return ex.summaries[0]


async def test_every_line_is_json_and_every_request_line_carries_the_request_id_and_a_summary(
    log_capture: LogCapture, settings: Settings, clock: ManualClock
) -> None:
    password = "Plum-sunset-orbit-4821"
    async with running_app(settings, clock) as (_, gql):
        signed_up = await exchange(gql, log_capture, SIGN_UP, sign_up_vars("logs@example.com", password))
        assert signed_up.body["data"]["signUp"]["errors"] == []
        logged_in = await exchange(gql, log_capture, LOGIN, login_vars("logs@example.com", password))
        session = logged_in.body["data"]["login"]["session"]
        assert session is not None, logged_in.body
        me = await exchange(gql, log_capture, ME, token=session["accessToken"])
        assert me.body["data"]["me"]["user"]["email"] == "logs@example.com"
        # An error logged from inside the resolver: the id must reach code the middleware does not call directly.
        anonymous = await exchange(gql, log_capture, ME)
        assert anonymous.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        mark = log_capture.mark()
        health = await gql.client.get("/health")
        health_records = [r for r in log_capture.records(mark) if r.get("logger") not in CLIENT_LOGGERS]
        health_ex = Exchange(health, health_records)

    exchanges = [signed_up, logged_in, me, anonymous]
    summaries = [assert_all_tagged(ex) for ex in exchanges]
    for summary in summaries:
        assert summary["method"] == "POST"
        assert summary["path"] == "/graphql"
        assert summary["status"] == 200
        assert isinstance(summary["duration_ms"], int | float)
        assert summary["duration_ms"] >= 0
        assert isinstance(summary["sql_statements"], int)
        assert summary["level"] == "info"
        assert summary["logger"] == "crowdship.http"
    # The statement counter really counts: signing up and logging in write rows, an anonymous `me` needs none.
    assert summaries[0]["sql_statements"] > 0
    assert summaries[1]["sql_statements"] > 0
    assert summaries[3]["sql_statements"] == 0
    assert any(r.get("event") == "graphql_error" for r in anonymous.records), anonymous.records

    health_summary = assert_all_tagged(health_ex)
    assert (health_summary["method"], health_summary["path"], health_summary["status"]) == ("GET", "/health", 200)
    assert health_summary["sql_statements"] == 0

    ids = [ex.request_id for ex in [*exchanges, health_ex]]
    assert all(GENERATED_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids), "every request gets its own id"

    # Everything written, lifespan lines included, is one JSON object per line.
    records = log_capture.records()
    assert len(records) == len(log_capture.raw_lines())
    events = [r.get("event") for r in records]
    assert "started" in events
    assert "stopped" in events
    assert events.count("request") == 5
    # Outside a request nothing may claim one: ids are cleared when a request ends.
    lifespan = [r for r in records if r.get("event") in ("started", "stopped")]
    assert all("request_id" not in r for r in lifespan), lifespan


async def test_caller_supplied_request_id_is_echoed_and_tags_that_requests_lines(
    logged_gql: GraphQL, log_capture: LogCapture
) -> None:
    ex = await exchange(logged_gql, log_capture, ME, headers={"X-Request-Id": "abc-123"})
    assert ex.response.headers["x-request-id"] == "abc-123"
    summary = assert_all_tagged(ex)
    assert summary["request_id"] == "abc-123"
    assert any(r.get("event") == "graphql_error" for r in ex.records), ex.records

    # The next request without the header does not inherit the caller's id.
    after = await exchange(logged_gql, log_capture, ME)
    assert GENERATED_ID.match(after.request_id)
    assert assert_all_tagged(after)["request_id"] == after.request_id


@pytest.mark.parametrize("request_id", ["a" * 64, "Trace.ID_9-x"])
async def test_longest_and_punctuated_safe_request_ids_are_kept(
    logged_gql: GraphQL, log_capture: LogCapture, request_id: str
) -> None:
    ex = await exchange(logged_gql, log_capture, ME, headers={"X-Request-Id": request_id})
    assert ex.request_id == request_id
    assert assert_all_tagged(ex)["request_id"] == request_id


@pytest.mark.parametrize(
    "unsafe",
    ["x" * 65, "y" * 100, "abc 123", "abc/../123", 'inject"quote', "semi;colon"],
    ids=["65-chars", "100-chars", "space", "slash", "quote", "semicolon"],
)
async def test_unsafe_request_id_is_replaced_by_a_generated_one(
    logged_gql: GraphQL, log_capture: LogCapture, unsafe: str
) -> None:
    ex = await exchange(logged_gql, log_capture, ME, headers={"X-Request-Id": unsafe})
    assert ex.request_id != unsafe
    assert GENERATED_ID.match(ex.request_id), ex.request_id
    assert assert_all_tagged(ex)["request_id"] == ex.request_id
    assert unsafe not in log_capture.text


def windows(secret: str, width: int = 20) -> list[str]:
    if len(secret) <= width:
        return [secret]
    return [secret[i : i + width] for i in range(len(secret) - width + 1)]


async def test_passwords_and_tokens_never_reach_the_log(logged_gql: GraphQL, log_capture: LogCapture) -> None:
    email = "secretive@example.com"
    password = "Quartz-lantern-meadow-7310"
    wrong_password = "Velvet-harbor-canyon-5529"

    signed_up = await exchange(logged_gql, log_capture, SIGN_UP, sign_up_vars(email, password))
    assert signed_up.body["data"]["signUp"]["errors"] == []
    refused = await exchange(logged_gql, log_capture, LOGIN, login_vars(email, wrong_password))
    assert refused.body["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    logged_in = await exchange(logged_gql, log_capture, LOGIN, login_vars(email, password))
    session = logged_in.body["data"]["login"]["session"]
    access, refresh = session["accessToken"], session["refreshToken"]

    me = await exchange(logged_gql, log_capture, ME, token=access)
    assert me.body["data"]["me"]["user"]["email"] == email
    # A token with a bad signature takes the error path, which must not echo what it was given either.
    tampered = access[:-6] + ("AAAAAA" if not access.endswith("AAAAAA") else "BBBBBB")
    rejected = await exchange(logged_gql, log_capture, ME, token=tampered)
    assert rejected.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert any(r.get("event") == "graphql_error" for r in rejected.records)

    refreshed = await exchange(logged_gql, log_capture, REFRESH, {"input": {"refreshToken": refresh}})
    new_session = refreshed.body["data"]["refreshSession"]["session"]
    assert new_session is not None, refreshed.body
    reused = await exchange(logged_gql, log_capture, REFRESH, {"input": {"refreshToken": refresh}})
    assert reused.body["data"]["refreshSession"]["errors"][0]["code"] == "REFRESH_TOKEN_REUSED"

    # The capture saw the traffic: every request above wrote its summary.
    assert [r.get("event") for r in log_capture.records()].count("request") == 7

    text = log_capture.text
    secrets = {
        "password": password,
        "wrong password": wrong_password,
        "access token": access,
        "refresh token": refresh,
        "rotated access token": new_session["accessToken"],
        "rotated refresh token": new_session["refreshToken"],
    }
    for name, secret in secrets.items():
        leaked = [piece for piece in windows(secret) if piece in text]
        assert not leaked, f"{name} leaked into the log: {leaked[:3]}"
