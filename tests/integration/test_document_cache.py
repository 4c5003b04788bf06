"""Parsed and validated documents are cached across requests, bounded, and never let a document past the limits."""

from __future__ import annotations

from functools import _CacheInfo
from typing import Any, cast

from strawberry.extensions import ParserCache, ValidationCache

from marketplace.clock import ManualClock
from schema import DOCUMENT_CACHE_SIZE, build_schema
from tests.conftest import make_settings
from tests.helpers import running_app

DEEP = "query Deep { me { user { organization { name } } } }"
COSTLY = "query Costly($first: Int) { users(first: $first) { edges { node { id organization { name } } } } }"


def _info(cached: Any) -> _CacheInfo:
    """Strawberry's caches are functools LRUs shared by every extension of the same size."""
    return cast("_CacheInfo", cached.cache_info())


def _parse_hits() -> int:
    return _info(ParserCache(maxsize=DOCUMENT_CACHE_SIZE).cached_parse_document).hits


def _validation_hits() -> int:
    return _info(ValidationCache(maxsize=DOCUMENT_CACHE_SIZE).cached_validate_document).hits


async def test_a_repeated_document_is_served_from_the_caches_and_still_refused_when_too_deep(
    database_url: str, clock: ManualClock
) -> None:
    async with running_app(make_settings(database_url, graphql_max_depth=3), clock) as (_, gql):
        first = await gql(DEEP)
        parsed, validated = _parse_hits(), _validation_hits()
        again = await gql(DEEP)

    assert _parse_hits() == parsed + 1
    assert _validation_hits() == validated + 1
    for body in (first, again):
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"


async def test_a_cached_document_is_costed_with_each_request_s_own_variables(
    database_url: str, clock: ManualClock
) -> None:
    async with running_app(make_settings(database_url, graphql_max_cost=100), clock) as (_, gql):
        cheap = await gql(COSTLY, {"first": 2})
        parsed = _parse_hits()
        costly = await gql(COSTLY, {"first": 100})

    assert _parse_hits() == parsed + 1  # the same document, from the cache
    assert [e["extensions"]["code"] for e in cheap["errors"]] == ["UNAUTHENTICATED"]  # past the limits
    assert costly["data"] is None
    assert costly["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_the_document_caches_hold_at_most_their_size_however_many_documents_arrive() -> None:
    size = 8
    schema = build_schema(document_cache_size=size)
    parse_cache = ParserCache(maxsize=size).cached_parse_document
    validation_cache = ValidationCache(maxsize=size).cached_validate_document

    for n in range(5 * size):
        result = await schema.execute(f"query Q{n} {{ __typename }}")
        assert result.errors is None
        assert result.data == {"__typename": "Query"}

    assert _info(parse_cache).maxsize == size
    assert _info(parse_cache).currsize == size
    assert _info(validation_cache).currsize == size
    assert _info(parse_cache).misses >= 5 * size
