"""Organisation users over HTTP: a retailer user adds colleagues; each organisation sees only its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.services.container import Services
from tests.helpers import PASSWORD, GraphQL

CREATE = """
mutation($i: CreateOrganizationUserInput!) {
  createOrganizationUser(input: $i) { user { id email role organization { name } } errors { field code } }
}
"""
LIST = """
query($org: ID) { organizationUsers(first: 50, organizationId: $org) { edges { node { email } } } }
"""


async def add(gql: GraphQL, token: str, email: str, **extra: Any) -> dict[str, Any]:
    body = await gql(CREATE, {"i": {"email": email, "password": PASSWORD, **extra}}, token=token)
    return body["data"]["createOrganizationUser"]  # type: ignore[no-any-return]


async def emails(gql: GraphQL, token: str, org: str | None = None) -> list[str]:
    body = await gql(LIST, {"org": org}, token=token)
    return [e["node"]["email"] for e in body["data"]["organizationUsers"]["edges"]]


async def test_a_retailer_adds_a_colleague_who_can_sign_in_to_the_same_organisation(
    gql: GraphQL, clock: ManualClock
) -> None:
    owner = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    clock.advance(timedelta(seconds=1))
    payload = await add(gql, owner["accessToken"], "Colleague@Shop.Example")
    assert payload["errors"] == []
    assert payload["user"]["role"] == "RETAILER"
    assert payload["user"]["organization"] == {"name": "Shop"}
    login = await gql.login("colleague@shop.example")
    assert login["errors"] == []
    colleague = login["session"]["accessToken"]
    me = await gql("query { me { organization { name } } }", token=colleague)
    assert me["data"]["me"]["organization"] == {"name": "Shop"}
    assert await emails(gql, colleague) == ["owner@shop.example", payload["user"]["email"]]


async def test_the_sign_up_rules_apply_and_every_problem_is_reported_at_once(
    gql: GraphQL, db: asyncpg.Connection
) -> None:
    owner = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    body = await gql(CREATE, {"i": {"email": "not-an-email", "password": "short"}}, token=owner["accessToken"])
    assert body["data"]["createOrganizationUser"]["errors"] == [
        {"field": "email", "code": "INVALID_EMAIL"},
        {"field": "password", "code": "WEAK_PASSWORD"},
    ]
    taken = await add(gql, owner["accessToken"], "owner@shop.example")
    assert taken == {"user": None, "errors": [{"field": "email", "code": "DUPLICATE_EMAIL"}]}
    assert await db.fetchval("SELECT count(*) FROM users") == 1
    assert await db.fetchval("SELECT count(*) FROM organizations") == 1


async def test_an_api_key_cannot_add_people(gql: GraphQL, db: asyncpg.Connection) -> None:
    owner = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    key = await gql('mutation { createApiKey(input: {name: "erp"}) { secret } }', token=owner["accessToken"])
    body = await gql(
        CREATE, {"i": {"email": "bot@shop.example", "password": PASSWORD}}, token=key["data"]["createApiKey"]["secret"]
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_retrying_with_the_key_creates_one_colleague(gql: GraphQL, db: asyncpg.Connection) -> None:
    owner = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    first = await add(gql, owner["accessToken"], "colleague@shop.example", idempotencyKey="hire-1")
    again = await add(gql, owner["accessToken"], "colleague@shop.example", idempotencyKey="hire-1")
    assert first["errors"] == []
    assert again == first
    other = await add(gql, owner["accessToken"], "someone@shop.example", idempotencyKey="hire-1")
    assert other["errors"] == [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]
    assert await db.fetchval("SELECT count(*) FROM users") == 2


async def test_each_organisation_sees_only_its_own_users_and_operations_see_all(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    alice = await gql.session("alice@a.example", "RETAILER", organization="A")
    clock.advance(timedelta(seconds=1))
    bob = await gql.session("bob@b.example", "RETAILER", organization="B")
    clock.advance(timedelta(seconds=1))
    await gql.sign_up("courier@example.com")
    await add(gql, alice["accessToken"], "carol@a.example")
    assert await emails(gql, alice["accessToken"]) == ["alice@a.example", "carol@a.example"]
    assert await emails(gql, bob["accessToken"]) == ["bob@b.example"]
    a_org = (await gql("query { me { organization { id } } }", token=alice["accessToken"]))["data"]["me"]
    a_id = a_org["organization"]["id"]
    assert await emails(gql, bob["accessToken"], a_id) == []

    await services.accounts.create_user(email="ops@example.com", password=PASSWORD, role=Role.ADMIN)
    ops = (await gql.login("ops@example.com"))["session"]["accessToken"]
    # Couriers and operations belong to no organisation and are not listed.
    assert await emails(gql, ops) == ["alice@a.example", "bob@b.example", "carol@a.example"]
    assert await emails(gql, ops, a_id) == ["alice@a.example", "carol@a.example"]
    unknown = await gql(LIST, {"org": "not-an-id"}, token=ops)
    assert [e["extensions"] for e in unknown["errors"]] == [{"code": "NOT_FOUND"}]
