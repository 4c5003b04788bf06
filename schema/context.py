"""Per-request GraphQL context: the services, the caller's credentials and the dataloaders."""

from __future__ import annotations

from typing import Any

import msgspec
from strawberry.litestar import BaseContext
from strawberry.types import Info as StrawberryInfo

from marketplace.domain.accounts import Principal
from marketplace.services.container import Services
from marketplace.services.tokens import InvalidTokenError, TokenProblem
from schema.loaders import Loaders


class Authentication(msgspec.Struct):
    principal: Principal | None
    problem: TokenProblem | None


class GraphQLContext(BaseContext, kw_only=True):
    services: Services
    loaders: Loaders
    authorization: str | None = None
    client_address: str | None = None
    # Filled by strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, Any] | None = None
    auth: Authentication | None = None
    # Operations run on this context so far: a WebSocket runs many, an HTTP request one.
    operations: int = 0

    def bearer(self) -> str | None:
        raw = self.authorization
        if raw is None and isinstance(self.connection_params, dict):
            value = self.connection_params.get("Authorization") or self.connection_params.get("authorization")
            raw = value if isinstance(value, str) else None
        if raw is None:
            return None
        scheme, _, token = raw.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return ""
        return token.strip()

    async def authenticate(self) -> Authentication:
        """Done once per request, and only when an operation needs to know who is calling."""
        if self.auth is None:
            bearer = self.bearer()
            if bearer is None:
                self.auth = Authentication(None, None)
            elif not bearer:
                self.auth = Authentication(None, TokenProblem.MALFORMED)
            else:
                try:
                    self.auth = Authentication(await self.services.accounts.authenticate(bearer), None)
                except InvalidTokenError as exc:
                    self.auth = Authentication(None, exc.problem)
        return self.auth

    async def principal(self) -> Principal:
        """For resolvers behind an access rule, which has already rejected anonymous callers."""
        auth = await self.authenticate()
        assert auth.principal is not None, "resolver reached without an access rule"
        return auth.principal


Info = StrawberryInfo[GraphQLContext, None]
