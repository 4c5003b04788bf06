"""How a `DomainError` leaves the API: as payload data from a mutation, as one GraphQL error from a query.

- Mutations catch it and return `user_errors(exc)` in their payload.
- Queries let it propagate: every root field is built by `schema.access`, whose extension turns it
  into `graphql_error(exc)`, the one shape of a query's bad arguments.
- A refusal (FORBIDDEN, from `marketplace.domain.access.Scope`) is never payload data: from a mutation
  or a query alike it is the same top-level error an access rule gives.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from marketplace.domain.access import NOT_ALLOWED
from marketplace.domain.errors import DomainError
from marketplace.domain.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode", description="Why a mutation refused its input.")

BAD_USER_INPUT = "BAD_USER_INPUT"


@strawberry.type(description="A problem with the input; `field` names the input field when there is one.")
class UserError:
    field: str | None
    code: ErrorCode  # type: ignore[valid-type]
    message: str


def forbidden_error() -> GraphQLError:
    """What a caller gets for an operation it may not call, whether the access rule or the service says so."""
    return GraphQLError(NOT_ALLOWED, extensions={"code": DomainErrorCode.FORBIDDEN.value})


def _refused(exc: DomainError) -> bool:
    return any(e.code is DomainErrorCode.FORBIDDEN for e in exc.errors)


def user_errors(exc: DomainError) -> list[UserError]:
    """A mutation's payload errors; a refusal of the caller is raised as the access rule's error instead."""
    if _refused(exc):
        raise forbidden_error() from None
    return [UserError(field=e.field, code=e.code, message=e.message) for e in exc.errors]


def graphql_error(exc: DomainError) -> GraphQLError:
    """A query's problem as one GraphQL error.

    - FORBIDDEN: the caller may not call this (`{code: FORBIDDEN}`, as from an access rule);
    - only NOT_FOUND: what an argument names does not exist, or is not the caller's; an ID that
      does not decode names nothing (`{code: NOT_FOUND}`, exactly like a missing object);
    - anything else is a bad argument: `{code: BAD_USER_INPUT, field, errors}`, `field` the path of
      the first problem and `errors` every problem as `{field, code, message}`, like a UserError.
    """
    if _refused(exc):
        return forbidden_error()
    if all(e.code is DomainErrorCode.NOT_FOUND for e in exc.errors):
        return not_found_error(exc.errors[0].message)
    details: list[dict[str, Any]] = [{"field": e.field, "code": e.code.value, "message": e.message} for e in exc.errors]
    return GraphQLError(str(exc), extensions={"code": BAD_USER_INPUT, "field": exc.errors[0].field, "errors": details})


def not_found_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": DomainErrorCode.NOT_FOUND.value})
