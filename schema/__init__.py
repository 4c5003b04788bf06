"""The GraphQL schema: thin resolvers that authenticate, check shape, call a service and map the result."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext, ExecutionResult

from marketplace.logs import get_logger
from schema.accounts import AccountMutation, AccountQuery
from schema.context import GraphQLContext
from schema.limits import QueryLimits

__all__ = ["GraphQLContext", "build_schema"]

log = get_logger("crowdship.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"


@strawberry.type
class Query(AccountQuery):
    pass


@strawberry.type
class Mutation(AccountMutation):
    pass


def _unexpected(error: GraphQLError) -> bool:
    """Errors we raise on purpose carry a code; anything else is a bug and its text stays private."""
    return error.original_error is not None and "code" not in (error.extensions or {})


def _masked(error: GraphQLError) -> GraphQLError:
    if not _unexpected(error):
        return error
    return GraphQLError("internal server error", nodes=error.nodes, path=error.path, extensions={"code": INTERNAL})


class _Schema(strawberry.Schema):
    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Masks unexpected errors on every path, including failures inside extensions."""
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [_masked(e) for e in result.errors]
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if _unexpected(error):
                log.error("graphql_resolver_failed", path=error.path, exc_info=error.original_error)
            else:
                log.info("graphql_error", message=error.message, code=(error.extensions or {}).get("code"))


def build_schema(*, max_depth: int = 10, max_cost: int = 5000) -> strawberry.Schema:
    # Factories, not instances: strawberry then makes fresh extensions per request.
    extensions: list[Any] = [
        lambda: QueryLimits(max_depth=max_depth, max_cost=max_cost),
    ]
    return _Schema(query=Query, mutation=Mutation, extensions=extensions)
