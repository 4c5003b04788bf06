"""The API conventions every operation follows: schema file, connections, IDs, times, limits, batching."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from schema.export import printed_schema
from tests.conftest import make_settings
from tests.helpers import PASSWORD, GraphQL, admin_token, running_app, statements_of_last_request
from tests.helpers import SIGN_UP as SIGN_UP_DOC

USERS = """
query($first: Int, $after: String) {
  users(first: $first, after: $after) {
    edges { cursor node { id email createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def test_committed_schema_matches_the_code() -> None:
    committed = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
    assert committed == printed_schema(), "schema.graphql is stale: run `make schema` and commit it"


async def test_connections_page_through_every_item_once(gql: GraphQL, services: Services, clock: ManualClock) -> None:
    token = await admin_token(gql, services)
    for n in range(6):
        await gql.sign_up(f"user{n}@example.com")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = (await gql(USERS, {"first": 2, "after": after}, token=token))["data"]["users"]
        seen += [edge["node"]["email"] for edge in body["edges"]]
        pages += 1
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
    assert pages == 4
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(("first", "after"), [(0, None), (101, None), (5, "bm90IGEgY3Vyc29y")])
async def test_bad_page_arguments_are_typed_errors(
    gql: GraphQL, services: Services, first: int, after: str | None
) -> None:
    token = await admin_token(gql, services)
    body = await gql(USERS, {"first": first, "after": after}, token=token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_ids_are_opaque_global_ids_and_times_are_utc(gql: GraphQL) -> None:
    session = await gql.session("ids@example.com")
    user = session["user"]
    kind, _, raw = base64.b64decode(user["id"]).decode().partition(":")
    assert kind == "User"
    assert len(raw) == 36
    me = await gql("query { me { user { createdAt } } }", token=session["accessToken"])
    assert me["data"]["me"]["user"]["createdAt"].endswith("+00:00")
    assert session["accessTokenExpiresAt"] == "2026-11-24T08:15:00+00:00"


async def test_queries_deeper_than_the_limit_are_refused(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, graphql_max_depth=3)
    async with running_app(settings, clock) as (_, gql):
        body = await gql("query { me { user { organization { name } } } }")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"


async def test_queries_costlier_than_the_limit_are_refused(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, graphql_max_cost=100)
    query = "query { users(first: 100) { edges { node { id organization { name } } } } }"
    async with running_app(settings, clock) as (_, gql):
        body = await gql(query)
        cheap = await gql("query { users(first: 10) { edges { node { id } } } }")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    # Within the limit the request reaches authorization instead.
    assert cheap["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_list_fields_batch_their_lookups(
    log_stream: io.StringIO, database_url: str, clock: ManualClock, services: Services
) -> None:
    """The statement count of a list query does not grow with the number of rows."""
    query = "query { users(first: 50) { edges { node { email organization { name } } } } }"
    settings = make_settings(database_url)
    async with running_app(settings, clock) as (_, gql):
        token = await admin_token(gql, services)
        for n in range(2):
            await gql.sign_up(f"shop{n}@example.com", "RETAILER", organization=f"Shop {n}")
        await gql(query, token=token)
        few = statements_of_last_request(log_stream)
        for n in range(2, 12):
            await gql.sign_up(f"shop{n}@example.com", "RETAILER", organization=f"Shop {n}")
        body = await gql(query, token=token)
        many = statements_of_last_request(log_stream)
    assert len(body["data"]["users"]["edges"]) == 13
    assert sum(1 for e in body["data"]["users"]["edges"] if e["node"]["organization"]) == 12
    assert many == few


async def test_malformed_variables_are_bad_user_input_and_never_logged(
    log_stream: io.StringIO, database_url: str, clock: ManualClock
) -> None:
    async with running_app(make_settings(database_url), clock) as (_, gql):
        body = await gql(SIGN_UP_DOC, {"input": {"email": "x@example.com", "password": "Quartz-lantern-meadow-7310"}})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Quartz-lantern-meadow-7310" not in log_stream.getvalue()


async def test_one_mutation_per_request(gql: GraphQL, db: asyncpg.Connection) -> None:
    doc = """
    mutation($a: SignUpInput!, $b: SignUpInput!) {
      a: signUp(input: $a) { errors { code } }
      b: signUp(input: $b) { errors { code } }
    }
    """
    one = {"email": "a@example.com", "password": PASSWORD, "role": "COURIER"}
    body = await gql(doc, {"a": one, "b": {**one, "email": "b@example.com"}})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "ONE_MUTATION_PER_REQUEST"
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_connections_without_first_are_costed_as_a_default_page(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, graphql_max_cost=50)
    async with running_app(settings, clock) as (_, gql):
        body = await gql("query { users { edges { node { id email organization { name } } } } }")
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


DEEP = 1_000


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"this is not json", "application/json"),
        (b'{"query": "{ me { role } }", "variables": "x"}', "application/json"),
        (b'{"variables": {}}', "application/json"),
        (b'{"query": 42}', "application/json"),
        (b'"just a string"', "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"query": "{ me { role } }"}', "text/plain"),
        (b'{"query": "{ me { role } }", "variables": ' + b"[" * DEEP + b"]" * DEEP + b"}", "application/json"),
        (b"[" * DEEP + b"]" * DEEP, "application/json"),
        (b'{"a": ' * DEEP + b"1" + b"}" * DEEP, "application/json"),
    ],
    ids=[
        "not-json",
        "variables-not-an-object",
        "no-query",
        "query-not-a-string",
        "not-an-object",
        "a-batch",
        "not-json-content-type",
        "variables-nested-1000-deep",
        "array-nested-1000-deep",
        "object-nested-1000-deep",
    ],
)
async def test_a_malformed_request_is_a_graphql_shaped_bad_user_input_over_http_400(
    gql: GraphQL, log_stream: io.StringIO, body: bytes, content_type: str
) -> None:
    response = await gql.client.post("/graphql", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert errors[0]["message"]
    assert "Traceback" not in log_stream.getvalue()


async def test_a_malformed_get_request_is_bad_user_input_too(gql: GraphQL) -> None:
    response = await gql.client.get("/graphql", params={"query": "{ me { role } }", "variables": "x"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
