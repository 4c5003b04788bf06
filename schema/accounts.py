"""Accounts in GraphQL: sign-up, sessions, `me`, API keys and the admin's user list."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

import strawberry

from marketplace.domain.accounts import NewUser
from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.services.accounts import TokenPair
from schema.access import PUBLIC, allow, mutation, query
from schema.common import page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.types import (
    ApiKey,
    Connection,
    Organization,
    Role,
    User,
    api_key_connection,
    decode_id,
    user_connection,
)

ANY_USER = allow(DomainRole.COURIER, DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN)


@strawberry.enum
class SignUpRole(Enum):
    COURIER = "courier"
    RETAILER = "retailer"


@strawberry.input
class SignUpInput:
    email: str
    password: str
    role: SignUpRole
    organization_name: str | None = strawberry.field(default=None, description="Required for retailers.")
    first_name: str | None = strawberry.field(
        default=None,
        description="Optional, at most 50 characters, one line. A courier's shows on the recipient's tracking page.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeat it on retries: the first result comes back and nothing is created twice."
    )

    def to_domain(self) -> NewUser:
        return NewUser(
            email=self.email,
            password=self.password,
            role=DomainRole(self.role.value),
            organization_name=self.organization_name,
            first_name=self.first_name,
        )


@strawberry.type
class SignUpPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateProfileInput:
    first_name: str | None = strawberry.field(
        description=(
            "At most 50 characters, one line; null or blank removes it. Recipients see a courier's first name "
            "(never a surname or phone) on the tracking page of the parcels it brings."
        )
    )


@strawberry.type
class UpdateProfilePayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.type(description="Credentials for one signed-in session. Keep the refresh token secret; it works once.")
class AuthSession:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: User

    @classmethod
    def from_pair(cls, pair: TokenPair) -> AuthSession:
        return cls(
            access_token=pair.access_token,
            access_token_expires_at=pair.access_token_expires_at,
            refresh_token=pair.refresh_token,
            refresh_token_expires_at=pair.refresh_token_expires_at,
            user=User.from_domain(pair.user),
        )


@strawberry.type
class LoginPayload:
    session: AuthSession | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class LogoutInput:
    everywhere: bool = strawberry.field(default=False, description="Also end every other session of this user.")


@strawberry.type
class LogoutPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateApiKeyInput:
    name: str


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey | None = None
    secret: str | None = strawberry.field(default=None, description="Shown once; only its hash is stored.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Who is calling: a signed-in user, or a retailer organisation using an API key.")
class Viewer:
    role: Role  # type: ignore[valid-type]
    user: User | None
    via_api_key: bool
    organization_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        if self.organization_id is None:
            return None
        org = await info.context.loaders.organizations.load(self.organization_id)
        return None if org is None else Organization.from_domain(org)


@strawberry.type
class AccountQuery:
    @query(allow(DomainRole.COURIER, DomainRole.RETAILER, DomainRole.FINANCE, DomainRole.ADMIN, api_keys=True))
    async def me(self, info: Info) -> Viewer:
        principal = await info.context.principal()
        user = None
        if principal.user_id is not None:
            found = await info.context.loaders.users.load(principal.user_id)
            user = None if found is None else User.from_domain(found)
        return Viewer(
            role=principal.role,
            user=user,
            via_api_key=principal.api_key_id is not None,
            organization_id=principal.organization_id,
        )

    @query(allow(DomainRole.ADMIN))
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        role: Role | None = None,  # type: ignore[valid-type]
    ) -> Connection[User]:
        page = await info.context.services.accounts.list_users(page_or_error(first, after), role=role)
        return user_connection(page, has_previous=after is not None)

    @query(allow(DomainRole.RETAILER, api_keys=True))
    async def api_keys(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[ApiKey]:
        principal = await info.context.principal()
        page = await info.context.services.accounts.list_api_keys(principal, page_or_error(first, after))
        return api_key_connection(page, has_previous=after is not None)


@strawberry.type
class AccountMutation:
    @mutation(PUBLIC)
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        try:
            user = await info.context.services.accounts.sign_up(
                input.to_domain(), idempotency_key=input.idempotency_key, client_address=info.context.client_address
            )
        except DomainError as exc:
            return SignUpPayload(errors=user_errors(exc))
        return SignUpPayload(user=User.from_domain(user))

    @mutation(PUBLIC)
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        try:
            pair = await info.context.services.accounts.login(
                email=input.email, password=input.password, client_address=info.context.client_address
            )
        except DomainError as exc:
            return LoginPayload(errors=user_errors(exc))
        return LoginPayload(session=AuthSession.from_pair(pair))

    @mutation(PUBLIC)
    async def refresh_session(self, info: Info, input: RefreshSessionInput) -> LoginPayload:
        try:
            pair = await info.context.services.accounts.refresh(refresh_token=input.refresh_token)
        except DomainError as exc:
            return LoginPayload(errors=user_errors(exc))
        return LoginPayload(session=AuthSession.from_pair(pair))

    @mutation(ANY_USER)
    async def logout(self, info: Info, input: LogoutInput) -> LogoutPayload:
        try:
            await info.context.services.accounts.logout(await info.context.principal(), everywhere=input.everywhere)
        except DomainError as exc:
            return LogoutPayload(errors=user_errors(exc))
        return LogoutPayload(ok=True)

    @mutation(ANY_USER)
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        try:
            user = await info.context.services.accounts.update_profile(
                await info.context.principal(), first_name=input.first_name
            )
        except DomainError as exc:
            return UpdateProfilePayload(errors=user_errors(exc))
        return UpdateProfilePayload(user=User.from_domain(user))

    @mutation(allow(DomainRole.RETAILER))
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        try:
            created = await info.context.services.accounts.create_api_key(
                await info.context.principal(), name=input.name
            )
        except DomainError as exc:
            return CreateApiKeyPayload(errors=user_errors(exc))
        return CreateApiKeyPayload(api_key=ApiKey.from_domain(created.api_key), secret=created.secret)

    @mutation(allow(DomainRole.RETAILER))
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        try:
            key_id = decode_id(input.id, "ApiKey", what="API key")
            key = await info.context.services.accounts.revoke_api_key(await info.context.principal(), key_id=key_id)
        except DomainError as exc:
            return RevokeApiKeyPayload(errors=user_errors(exc))
        return RevokeApiKeyPayload(api_key=ApiKey.from_domain(key))
