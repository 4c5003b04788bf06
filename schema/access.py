"""Who may call each operation: declared on the field itself, enforced before its resolver runs.

Every root field is built with `query` or `mutation` from this module, so each carries an `Access`;
the authorization test checks these declarations against its own hand-written table and fails for
any operation that lacks one. The same builders make a `DomainError` that leaves a resolver one
GraphQL error (`schema.errors.graphql_error`): queries raise their argument problems instead of
building errors of their own.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.field import StrawberryField

from marketplace.domain.accounts import Role
from marketplace.domain.errors import DomainError
from marketplace.services.tokens import InvalidTokenError
from schema.context import Info
from schema.errors import forbidden_error, graphql_error

UNAUTHENTICATED = "UNAUTHENTICATED"


@dataclass(frozen=True, slots=True)
class Access:
    roles: frozenset[Role] = frozenset()
    public: bool = False
    api_keys: bool = False

    def allows(self, role: Role | None, *, via_api_key: bool) -> bool:
        if self.public:
            return True
        if role is None or role not in self.roles:
            return False
        return self.api_keys or not via_api_key


PUBLIC = Access(public=True)


def allow(*roles: Role, api_keys: bool = False) -> Access:
    """`api_keys=True` also admits retailer organisations calling with a server-to-server key."""
    if api_keys and Role.RETAILER not in roles:
        raise ValueError("only retailer operations can be called with an API key")
    return Access(roles=frozenset(roles), api_keys=api_keys)


class RequireAccess(BasePermission):
    def __init__(self, access: Access) -> None:
        self.access = access

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if self.access.public:
            return True
        auth = await info.context.authenticate()
        if auth.principal is None:
            reason = auth.problem.value if auth.problem else "TOKEN_MISSING"
            raise GraphQLError("authentication required", extensions={"code": UNAUTHENTICATED, "reason": reason})
        principal = auth.principal
        if not self.access.allows(principal.role, via_api_key=principal.api_key_id is not None):
            raise forbidden_error()
        return True


class DomainErrorsAsGraphQL(FieldExtension):
    """A DomainError that leaves a root resolver (a query's bad argument, a refusal) becomes one GraphQL error."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        try:
            return next_(source, info, **kwargs)
        except DomainError as exc:
            raise graphql_error(exc) from None

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except DomainError as exc:
            raise graphql_error(exc) from None


async def _translated(stream: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """A live stream's refusals and its credential's end, as GraphQL errors (then the stream completes)."""
    try:
        async for item in stream:
            yield item
    except DomainError as exc:
        raise graphql_error(exc) from None
    except InvalidTokenError as exc:
        raise GraphQLError(
            "the subscription's credentials ended", extensions={"code": UNAUTHENTICATED, "reason": exc.problem.value}
        ) from None
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


class StreamErrorsAsGraphQL(FieldExtension):
    """For subscriptions: refusals before the stream starts, and inside it, leave as GraphQL errors."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        raise NotImplementedError("subscriptions resolve asynchronously")

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        try:
            stream = next_(source, info, **kwargs)
            if inspect.isawaitable(stream):
                stream = await stream
        except DomainError as exc:
            raise graphql_error(exc) from None
        return _translated(stream)


def _extensions(access: Access) -> list[Any]:
    return [PermissionExtension(permissions=[RequireAccess(access)], use_directives=False), DomainErrorsAsGraphQL()]


def query(access: Access, **kwargs: Any) -> Callable[..., StrawberryField]:
    return strawberry.field(extensions=_extensions(access), **kwargs)  # type: ignore[no-any-return]


def mutation(access: Access, **kwargs: Any) -> Callable[..., StrawberryField]:
    return strawberry.mutation(extensions=_extensions(access), **kwargs)  # type: ignore[no-any-return]


def subscription(access: Access, **kwargs: Any) -> Callable[..., StrawberryField]:
    extensions = [
        PermissionExtension(permissions=[RequireAccess(access)], use_directives=False),
        StreamErrorsAsGraphQL(),
    ]
    return strawberry.subscription(extensions=extensions, **kwargs)  # type: ignore[no-any-return]


def declared_access(field: StrawberryField) -> Access | None:
    for extension in field.extensions:
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                if isinstance(permission, RequireAccess):
                    return permission.access
    return None
