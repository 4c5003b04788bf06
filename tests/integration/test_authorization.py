"""Authorization, table-driven over every operation in the schema.

Each root field declares its `Access` in code; this test calls every operation as every kind of
caller and checks the declaration is what is enforced. A new operation fails here until it has
both a declaration and a sample call in OPERATIONS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.services.container import Services
from schema import build_schema
from schema.access import Access, declared_access
from tests.conftest import make_settings
from tests.helpers import PASSWORD, GraphQL, running_app
from tests.integration import ops_couriers, ops_delivery, ops_jobs, ops_places, ops_trips, ops_vehicles

ACCOUNT_OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.me": ("query { me { role } }", {}),
    "Query.users": ("query { users(first: 1) { edges { node { id } } } }", {}),
    "Query.apiKeys": ("query { apiKeys(first: 1) { edges { node { id } } } }", {}),
    "Mutation.signUp": (
        "mutation($i: SignUpInput!) { signUp(input: $i) { errors { code } } }",
        {"i": {"email": "not-an-email", "password": PASSWORD, "role": "COURIER"}},
    ),
    "Mutation.login": (
        "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
        {"i": {"email": "nobody@example.com", "password": PASSWORD}},
    ),
    "Mutation.refreshSession": (
        "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { errors { code } } }",
        {"i": {"refreshToken": "csr_nothing"}},
    ),
    "Mutation.logout": ("mutation { logout(input: {}) { ok } }", {}),
    "Mutation.createApiKey": ('mutation { createApiKey(input: {name: "probe"}) { errors { code } } }', {}),
    "Mutation.revokeApiKey": ('mutation { revokeApiKey(input: {id: "QXBpS2V5Om5vbmU="}) { errors { code } } }', {}),
}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    **ACCOUNT_OPERATIONS,
    **ops_places.OPERATIONS,
    **ops_vehicles.OPERATIONS,
    **ops_couriers.OPERATIONS,
    **ops_trips.OPERATIONS,
    **ops_jobs.OPERATIONS,
    **ops_delivery.OPERATIONS,
}

CALLERS = ["anonymous", "courier", "retailer", "finance", "admin", "retailer_api_key"]


def schema_operations() -> dict[str, Access | None]:
    schema = build_schema()
    found: dict[str, Access | None] = {}
    for root in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(root)
        if definition is None:
            continue
        for field in definition.fields:  # type: ignore[union-attr]
            name = schema.config.name_converter.get_graphql_name(field)
            found[f"{root}.{name}"] = declared_access(field)
    return found


def test_every_operation_declares_who_may_call_it() -> None:
    undeclared = [name for name, access in schema_operations().items() if access is None]
    assert undeclared == []


def test_the_table_covers_every_operation() -> None:
    assert set(OPERATIONS) == set(schema_operations())


class Callers:
    """Fresh credentials for each call, so a logout in one call cannot spoil the next."""

    def __init__(self, gql: GraphQL, services: Services) -> None:
        self.gql = gql
        self.services = services
        self.api_key = ""

    async def setup(self) -> None:
        await self.gql.sign_up("courier@example.com", "COURIER")
        await self.gql.sign_up("retailer@example.com", "RETAILER", organization="Shop")
        for role in (Role.FINANCE, Role.ADMIN):
            await self.services.accounts.create_user(email=f"{role.value}@example.com", password=PASSWORD, role=role)
        token = await self.token("retailer")
        body = await self.gql('mutation { createApiKey(input: {name: "authz"}) { secret } }', token=token)
        self.api_key = body["data"]["createApiKey"]["secret"]

    async def token(self, caller: str) -> str | None:
        if caller == "anonymous":
            return None
        if caller == "retailer_api_key":
            return self.api_key
        session = await self.gql.login(f"{caller}@example.com")
        return str(session["session"]["accessToken"])


def expected(access: Access, caller: str) -> str | None:
    if caller == "anonymous":
        return None if access.public else "UNAUTHENTICATED"
    role = Role("retailer" if caller == "retailer_api_key" else caller)
    return None if access.allows(role, via_api_key=caller == "retailer_api_key") else "FORBIDDEN"


@pytest.fixture
async def callers(database_url: str, clock: ManualClock, services: Services) -> AsyncIterator[Callers]:
    settings = make_settings(database_url, login_max_attempts_per_address=10_000, login_max_attempts_per_email=10_000)
    async with running_app(settings, clock) as (_, gql):
        callers = Callers(gql, services)
        await callers.setup()
        yield callers


async def test_every_operation_enforces_its_declaration_for_every_caller(callers: Callers) -> None:
    declared = schema_operations()
    outcomes: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for operation, (document, variables) in OPERATIONS.items():
        access = declared[operation]
        assert access is not None
        for caller in CALLERS:
            body = await callers.gql(document, variables, token=await callers.token(caller))
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
            got = next((c for c in codes if c in ("UNAUTHENTICATED", "FORBIDDEN")), None)
            if got is None:
                assert body.get("data") is not None, (operation, caller, body)
            outcomes[(operation, caller)] = (got, expected(access, caller))
    mismatches = {k: v for k, v in outcomes.items() if v[0] != v[1]}
    assert mismatches == {}


async def test_the_table_is_not_trivially_open(callers: Callers) -> None:
    """Guards the guard: admin-only and retailer-only operations really refuse others."""
    body = await callers.gql(*OPERATIONS["Query.users"], token=await callers.token("courier"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await callers.gql(*OPERATIONS["Mutation.createApiKey"], token=await callers.token("retailer_api_key"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
