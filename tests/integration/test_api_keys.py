"""Retailer API keys: shown once, stored hashed, named, revocable, with a last-used time."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from tests.helpers import ME, GraphQL

CREATE = """
mutation($name: String!) {
  createApiKey(input: {name: $name}) { secret apiKey { id name prefix lastUsedAt revokedAt } errors { field code } }
}
"""
REVOKE = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } errors { field code } } }"
LIST = "query { apiKeys(first: 10) { edges { node { id name lastUsedAt createdBy { email } } } } }"


async def test_an_api_key_authenticates_as_its_organisation(gql: GraphQL, db: asyncpg.Connection) -> None:
    session = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    created = (await gql(CREATE, {"name": "warehouse system"}, token=session["accessToken"]))["data"]["createApiKey"]
    secret = created["secret"]
    assert created["errors"] == []
    assert secret.startswith("csk_")
    stored = await db.fetchrow("SELECT name, key_hash FROM api_keys")
    assert stored is not None
    assert stored["name"] == "warehouse system"
    assert secret.encode() not in bytes(stored["key_hash"])

    me = (await gql(ME, token=secret))["data"]["me"]
    assert me == {"role": "RETAILER", "viaApiKey": True, "user": None, "organization": me["organization"]}
    assert me["organization"]["name"] == "Shop"


async def test_last_used_time_is_recorded(gql: GraphQL, clock: ManualClock) -> None:
    session = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    secret = (await gql(CREATE, {"name": "pos"}, token=session["accessToken"]))["data"]["createApiKey"]["secret"]
    before = (await gql(LIST, token=session["accessToken"]))["data"]["apiKeys"]["edges"][0]["node"]
    assert before["lastUsedAt"] is None
    clock.advance(timedelta(minutes=5))
    await gql(ME, token=secret)
    after = (await gql(LIST, token=session["accessToken"]))["data"]["apiKeys"]["edges"][0]["node"]
    assert after["lastUsedAt"] == clock.now().isoformat()
    assert after["createdBy"] == {"email": "owner@shop.example"}


async def test_a_revoked_key_stops_working(gql: GraphQL) -> None:
    session = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    created = (await gql(CREATE, {"name": "old"}, token=session["accessToken"]))["data"]["createApiKey"]
    revoked = (await gql(REVOKE, {"id": created["apiKey"]["id"]}, token=session["accessToken"]))["data"]
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    body = await gql(ME, token=created["secret"])
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "API_KEY_UNKNOWN"}


async def test_another_organisations_key_looks_like_a_missing_one(gql: GraphQL, db: asyncpg.Connection) -> None:
    alice = await gql.session("alice@a.example", "RETAILER", organization="A")
    bob = await gql.session("bob@b.example", "RETAILER", organization="B")
    key = (await gql(CREATE, {"name": "a's key"}, token=alice["accessToken"]))["data"]["createApiKey"]["apiKey"]

    foreign = (await gql(REVOKE, {"id": key["id"]}, token=bob["accessToken"]))["data"]["revokeApiKey"]
    nobody = str(relay.GlobalID("ApiKey", str(uuid4())))
    missing = (await gql(REVOKE, {"id": nobody}, token=bob["accessToken"]))["data"]["revokeApiKey"]
    assert foreign == missing == {"apiKey": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}
    assert await db.fetchval("SELECT revoked_at FROM api_keys") is None
    listed = (await gql(LIST, token=bob["accessToken"]))["data"]["apiKeys"]["edges"]
    assert listed == []


async def test_a_key_name_must_not_be_blank(gql: GraphQL, db: asyncpg.Connection) -> None:
    session = await gql.session("owner@shop.example", "RETAILER", organization="Shop")
    body = (await gql(CREATE, {"name": "   "}, token=session["accessToken"]))["data"]["createApiKey"]
    assert body == {"secret": None, "apiKey": None, "errors": [{"field": "name", "code": "REQUIRED"}]}
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 0
