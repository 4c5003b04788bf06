"""A small GraphQL client over the application's real HTTP interface."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.clock import Clock
from marketplace.domain.accounts import Role
from marketplace.services.container import Services
from marketplace.settings import Settings

PASSWORD = "correct horse battery staple"

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { user { id email role organization { id name } } errors { field code message } }
}
"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    session { accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt user { id email role } }
    errors { field code message }
  }
}
"""
REFRESH = """
mutation Refresh($input: RefreshSessionInput!) {
  refreshSession(input: $input) { session { accessToken refreshToken user { id } } errors { field code message } }
}
"""
LOGOUT = """
mutation Logout($input: LogoutInput!) { logout(input: $input) { ok errors { field code message } } }
"""
ME = "query { me { role viaApiKey user { id email role } organization { id name } } }"


class GraphQL:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def sign_up(
        self, email: str, role: str = "COURIER", *, organization: str | None = None, password: str = PASSWORD
    ) -> dict[str, Any]:
        variables: dict[str, Any] = {"input": {"email": email, "password": password, "role": role}}
        if organization is not None:
            variables["input"]["organizationName"] = organization
        body = await self(SIGN_UP, variables)
        payload: dict[str, Any] = body["data"]["signUp"]
        assert payload["errors"] == [], payload
        return payload["user"]  # type: ignore[no-any-return]

    async def login(
        self, email: str, password: str = PASSWORD, *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body = await self(LOGIN, {"input": {"email": email, "password": password}}, headers=headers)
        return body["data"]["login"]  # type: ignore[no-any-return]

    async def session(self, email: str, role: str = "COURIER", *, organization: str | None = None) -> dict[str, Any]:
        """Signs up and logs in; returns the session (accessToken, refreshToken, user)."""
        await self.sign_up(email, role, organization=organization)
        payload = await self.login(email)
        assert payload["errors"] == [], payload
        return payload["session"]  # type: ignore[no-any-return]


@asynccontextmanager
async def running_app(settings: Settings, clock: Clock) -> AsyncIterator[tuple[Litestar, GraphQL]]:
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app) as client:
        yield app, GraphQL(client)


async def wait_until_blocked_on_a_lock(db: asyncpg.Connection, what: str) -> None:
    """Polls (bounded, 5 s) until some backend of this database waits for a row lock.

    Concurrency tests hold a lock, start the contender, and continue only once it really waits:
    the order is observed, never assumed from a sleep.
    """
    for _ in range(500):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} never waited")


def statements_of_last_request(stream: io.StringIO) -> int:
    """SQL statements of the last GraphQL request, from its summary line in the application's log."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request" and line.get("path") == "/graphql"]
    return int(requests[-1]["sql_statements"])


async def fresh_token(gql: GraphQL, email: str) -> str:
    """A new access token: tests that move the clock by days outlive a token's lifetime."""
    payload = await gql.login(email)
    assert payload["errors"] == [], payload
    return str(payload["session"]["accessToken"])


async def admin_token(gql: GraphQL, services: Services, email: str = "ops@example.com") -> str:
    """An operations user (only the command line makes them) and a token for it."""
    await services.accounts.create_user(email=email, password=PASSWORD, role=Role.ADMIN)
    return await fresh_token(gql, email)
