"""Sign-up, login, token refresh and logout, API keys, and turning credentials into a Principal."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain import validation
from marketplace.domain.access import Scope
from marketplace.domain.accounts import (
    SELF_SERVICE_ROLES,
    ApiKey,
    NewColleague,
    NewUser,
    Organization,
    Principal,
    Role,
    User,
    clean_first_name,
    clean_name,
    normalize_email,
    password_problems,
)
from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.paging import Page, PageRequest
from marketplace.services.idempotency import Idempotency
from marketplace.services.passwords import Passwords
from marketplace.services.tokens import (
    AccessTokens,
    InvalidTokenError,
    TokenProblem,
    api_key_prefix,
    new_api_key,
    new_refresh_token,
    same_secret,
    secret_hash,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

API_KEY_TOUCH_INTERVAL_S = 60


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_attempts_per_email: int
    max_attempts_per_address: int
    max_sign_ups_per_address: int
    window_s: int


def address_bucket(address: str) -> str:
    """IPv6 clients usually hold a whole /64, so they are counted per /64, not per address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str


def _user_to_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "role": user.role.value,
        "organization_id": None if user.organization_id is None else str(user.organization_id),
        "created_at": user.created_at.isoformat(),
        "first_name": user.first_name,
    }


def _user_from_json(data: dict[str, Any]) -> User:
    return User(
        id=UUID(data["id"]),
        email=data["email"],
        role=Role(data["role"]),
        organization_id=None if data["organization_id"] is None else UUID(data["organization_id"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        first_name=data.get("first_name"),
    )


class AccountService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        passwords: Passwords,
        access_tokens: AccessTokens,
        idempotency: Idempotency,
        *,
        refresh_token_ttl_s: int,
        login_policy: LoginPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._passwords = passwords
        self._access = access_tokens
        self._idempotency = idempotency
        self._refresh_ttl = timedelta(seconds=refresh_token_ttl_s)
        self._login_policy = login_policy

    # --- accounts ---------------------------------------------------------------------------

    async def sign_up(
        self, new: NewUser, *, idempotency_key: str | None = None, client_address: str | None = None
    ) -> User:
        """Self-service sign-up for couriers and retailers; a retailer also founds its organisation.

        Limited per client address: each sign-up costs an argon2 hash and tells whether an email
        has an account, so unlimited sign-ups would be both a CPU sink and an enumeration oracle.
        """
        if new.role not in SELF_SERVICE_ROLES:
            raise DomainError.single(ErrorCode.INVALID, "only couriers and retailers can sign up", "role")
        if client_address:
            bucket = f"signup:address:{address_bucket(client_address)}"
            await self._hit_limits([(bucket, self._login_policy.max_sign_ups_per_address)], "too many sign-ups")
        return await self._create_user(new, request=new, idempotency_key=idempotency_key)

    async def create_user(self, *, email: str, password: str, role: Role, organization_name: str | None = None) -> User:
        """Any role, for operators on the command line."""
        new = NewUser(email=email, password=password, role=role, organization_name=organization_name)
        return await self._create_user(new, request=new, idempotency_key=None)

    async def create_organization_user(
        self, principal: Principal, new: NewColleague, *, idempotency_key: str | None = None
    ) -> User:
        """A retailer user adds a colleague to its own organisation, under the same email and password rules.

        Only a signed-in person may: an API key is a machine's credential, and accounts are for people.
        """
        scope = Scope(principal)
        scope.person()
        organization_id = scope.organization()
        return await self._create_user(
            NewUser(email=new.email, password=new.password, role=Role.RETAILER),
            request=new,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            scope=principal.scope,
            operation="createOrganizationUser",
        )

    async def list_organization_users(
        self, principal: Principal, page: PageRequest, *, organization_id: UUID | None = None
    ) -> Page[User]:
        """A retailer's colleagues; operations see every organisation's users, or one's with `organization_id`."""
        visible = Scope(principal).organization_filter(organization_id)
        if visible.nothing:
            return Page(items=(), has_next=False)
        async with self._db.read() as repos:
            # Exactly the retailers belong to organisations (a constraint on users says so).
            return await repos.users.list(page, role=Role.RETAILER, organization_id=visible.owner)

    async def _create_user(
        self,
        new: NewUser,
        *,
        request: DataclassInstance,
        idempotency_key: str | None,
        organization_id: UUID | None = None,
        scope: str = "anonymous",
        operation: str = "signUp",
    ) -> User:
        """`organization_id` joins an existing organisation; otherwise a retailer founds one by name.

        `request` is the operation's whole input, for the idempotency fingerprint.
        """
        email, password, role, organization_name = new.email, new.password, new.role, new.organization_name
        errors: list[FieldError] = []
        normalized = ""
        try:
            normalized = normalize_email(email)
        except DomainError as exc:
            errors.extend(exc.errors)
        errors.extend(password_problems(password, normalized or email))
        org_name: str | None = None
        if role is Role.RETAILER and organization_id is None:
            try:
                org_name = clean_name(organization_name or "", "organizationName")
            except DomainError as exc:
                errors.extend(exc.errors)
        elif organization_name is not None:
            errors.append(FieldError(ErrorCode.INVALID, "only retailers belong to an organisation", "organizationName"))
        first_name: str | None = None
        try:
            first_name = clean_first_name(new.first_name)
        except DomainError as exc:
            errors.extend(exc.errors)
        if errors:
            raise DomainError(errors)

        password_hash = await self._passwords.hash(password)

        async with self._db.uow() as uow:

            async def create() -> User:
                now = self._clock.now()
                org_id = organization_id
                if org_name is not None:
                    org_id = uuid4()
                    await uow.repos.organizations.add(Organization(id=org_id, name=org_name, created_at=now))
                user = User(
                    id=uuid4(),
                    email=normalized,
                    role=role,
                    organization_id=org_id,
                    created_at=now,
                    first_name=first_name,
                )
                if not await uow.repos.users.add(user, password_hash):
                    raise DomainError.single(ErrorCode.DUPLICATE_EMAIL, "an account with this email exists", "email")
                return user

            user = await self._idempotency.run(
                uow,
                scope=scope,
                operation=operation,
                key=idempotency_key,
                request=request,
                action=create,
                dump=_user_to_json,
                load=_user_from_json,
            )
            await uow.commit()
        return user

    async def update_profile(self, principal: Principal, *, first_name: str | None) -> User:
        """The signed-in person's own first name (None or blank removes it); an API key has no profile.

        Setting a value is idempotent by itself, so a retry needs no key. A courier's first name is
        what the recipients of its parcels see on their tracking page from then on.
        """
        user_id = Scope(principal).person()
        name = clean_first_name(first_name)
        async with self._db.uow() as uow:
            user = await uow.repos.users.set_first_name(user_id, name)
            await uow.commit()
        if user is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such user")
        return user

    # --- sessions ---------------------------------------------------------------------------

    async def login(self, *, email: str, password: str, client_address: str | None) -> TokenPair:
        normalized = normalize_email(email)
        email_bucket = "login:email:" + hashlib.sha256(normalized.lower().encode()).hexdigest()
        await self._count_login_attempt(email_bucket, client_address)

        async with self._db.read() as repos:
            found = await repos.users.get_credentials(normalized)
        user, password_hash = found if found is not None else (None, None)
        if not await self._passwords.verify(password_hash, password) or user is None or password_hash is None:
            raise DomainError.single(ErrorCode.INVALID_CREDENTIALS, "email or password is wrong")

        rehashed = await self._passwords.hash(password) if self._passwords.needs_rehash(password_hash) else None
        now = self._clock.now()
        session_id = uuid4()
        refresh = new_refresh_token()
        async with self._db.uow() as uow:
            await uow.repos.sessions.start(session_id, user.id, now)
            await uow.repos.sessions.add_refresh_token(secret_hash(refresh), session_id, now, now + self._refresh_ttl)
            await uow.repos.rate_limits.reset(email_bucket)
            if rehashed is not None:
                await uow.repos.users.set_password_hash(user.id, rehashed)
            await uow.commit()
        return self._pair(user.id, user.role, user.organization_id, session_id, refresh, now, user)

    async def _count_login_attempt(self, email_bucket: str, client_address: str | None) -> None:
        """Counted and committed before the password is checked, so parallel guesses are counted too."""
        policy = self._login_policy
        limits = [(email_bucket, policy.max_attempts_per_email)]
        if client_address:
            limits.append((f"login:address:{address_bucket(client_address)}", policy.max_attempts_per_address))
        await self._hit_limits(limits, "too many login attempts")

    async def _hit_limits(self, limits: list[tuple[str, int]], what: str) -> None:
        """Counts one attempt in each bucket (committed at once); RATE_LIMITED when any is over."""
        policy = self._login_policy
        now = self._clock.now()
        blocked_until: datetime | None = None
        async with self._db.uow() as uow:
            for bucket, limit in limits:
                hits, window_started_at = await uow.repos.rate_limits.hit(bucket, now, policy.window_s)
                if hits > limit:
                    until = window_started_at + timedelta(seconds=policy.window_s)
                    blocked_until = until if blocked_until is None else max(blocked_until, until)
            await uow.commit()
        if blocked_until is not None:
            retry_s = max(1, int((blocked_until - now).total_seconds()))
            raise DomainError.single(ErrorCode.RATE_LIMITED, f"{what}; try again in {retry_s} s")

    async def refresh(self, *, refresh_token: str) -> TokenPair:
        """Rotates the refresh token; a second use of one revokes the whole session."""
        if validation.unstorable(refresh_token):
            # We never issue one with a NUL or a lone surrogate: it is simply not a token of ours.
            raise DomainError.single(ErrorCode.INVALID_REFRESH_TOKEN, "refresh token is not valid", "refreshToken")
        token_hash = secret_hash(refresh_token)
        now = self._clock.now()
        async with self._db.uow() as uow:
            state = await uow.repos.sessions.lock_refresh_token(token_hash)
            if state is None or state.session_revoked_at is not None:
                raise DomainError.single(ErrorCode.INVALID_REFRESH_TOKEN, "refresh token is not valid", "refreshToken")
            # Reuse is checked before expiry: a replayed token revokes its family even once expired.
            if state.used_at is not None:
                await uow.repos.sessions.revoke(state.session_id, now, "refresh_token_reused")
                await uow.commit()
                raise DomainError.single(
                    ErrorCode.REFRESH_TOKEN_REUSED,
                    "refresh token was already used; the session is revoked, sign in again",
                    "refreshToken",
                )
            if state.expires_at <= now:
                raise DomainError.single(ErrorCode.INVALID_REFRESH_TOKEN, "refresh token is not valid", "refreshToken")
            await uow.repos.sessions.mark_used(token_hash, now)
            new_refresh = new_refresh_token()
            await uow.repos.sessions.add_refresh_token(
                secret_hash(new_refresh), state.session_id, now, now + self._refresh_ttl
            )
            user = await uow.repos.users.get(state.user_id)
            assert user is not None
            await uow.commit()
        return self._pair(state.user_id, state.role, state.organization_id, state.session_id, new_refresh, now, user)

    async def logout(self, principal: Principal, *, everywhere: bool = False) -> None:
        """Ends this session (and with `everywhere`, all of the user's); their refresh tokens die with them."""
        user_id = Scope(principal).person()
        assert principal.session_id is not None  # every signed-in user's principal names its session
        async with self._db.uow() as uow:
            if everywhere:
                await uow.repos.sessions.revoke_all(user_id, self._clock.now(), "logout_everywhere")
            else:
                await uow.repos.sessions.revoke(principal.session_id, self._clock.now(), "logout")
            await uow.commit()

    def _pair(
        self,
        user_id: UUID,
        role: Role,
        organization_id: UUID | None,
        session_id: UUID,
        refresh: str,
        now: datetime,
        user: User,
    ) -> TokenPair:
        access = self._access.issue(
            user_id=user_id, role=role, session_id=session_id, organization_id=organization_id, now=now
        )
        return TokenPair(
            access_token=access,
            access_token_expires_at=now + timedelta(seconds=self._access.ttl_s),
            refresh_token=refresh,
            refresh_token_expires_at=now + self._refresh_ttl,
            user=user,
        )

    # --- authentication ---------------------------------------------------------------------

    async def authenticate(self, bearer: str) -> Principal:
        """A bearer is an access token or a retailer API key; raises InvalidTokenError otherwise."""
        now = self._clock.now()
        if validation.unstorable(bearer):  # a WebSocket's connection parameters are JSON, and may hold anything
            raise InvalidTokenError(TokenProblem.MALFORMED)
        prefix = api_key_prefix(bearer)
        if prefix is not None:
            async with self._db.read() as repos:
                found = await repos.api_keys.find_active_by_prefix(prefix)
                if found is None or not same_secret(found[1], secret_hash(bearer)):
                    raise InvalidTokenError(TokenProblem.UNKNOWN_API_KEY)
                key = found[0]
                await repos.api_keys.touch(key.id, now, min_interval_s=API_KEY_TOUCH_INTERVAL_S)
            return Principal(role=Role.RETAILER, user_id=None, organization_id=key.organization_id, api_key_id=key.id)

        claims = self._access.verify(bearer, now=now)
        async with self._db.read() as repos:
            session = await repos.sessions.active(claims.session_id, claims.user_id)
        if session is None:
            raise InvalidTokenError(TokenProblem.REVOKED)
        # The role comes from the database, so a demoted user loses rights before the token expires.
        return Principal(
            role=session.role,
            user_id=session.user_id,
            organization_id=session.organization_id,
            session_id=claims.session_id,
            expires_at=claims.expires_at,
        )

    # --- reads ------------------------------------------------------------------------------

    async def users_by_id(self, ids: list[UUID]) -> dict[UUID, User]:
        async with self._db.read() as repos:
            return await repos.users.get_many(ids)

    async def organizations_by_id(self, ids: list[UUID]) -> dict[UUID, Organization]:
        async with self._db.read() as repos:
            return await repos.organizations.get_many(ids)

    async def list_users(self, page: PageRequest, *, role: Role | None) -> Page[User]:
        async with self._db.read() as repos:
            return await repos.users.list(page, role=role)

    # --- API keys ---------------------------------------------------------------------------

    async def create_api_key(self, principal: Principal, *, name: str) -> CreatedApiKey:
        scope = Scope(principal)
        user_id = scope.person()
        organization_id = scope.organization()
        clean = clean_name(name, "name")
        prefix, secret = new_api_key()
        key = ApiKey(
            id=uuid4(),
            organization_id=organization_id,
            created_by=user_id,
            name=clean,
            prefix=prefix,
            created_at=self._clock.now(),
            last_used_at=None,
            revoked_at=None,
        )
        async with self._db.uow() as uow:
            await uow.repos.api_keys.add(key, secret_hash(secret))
            await uow.commit()
        return CreatedApiKey(api_key=key, secret=secret)

    async def revoke_api_key(self, principal: Principal, *, key_id: UUID) -> ApiKey:
        """Revoking twice is harmless; another organisation's key looks exactly like a missing one."""
        organization_id = Scope(principal).organization()
        async with self._db.uow() as uow:
            key = await uow.repos.api_keys.revoke(key_id, organization_id, self._clock.now())
            if key is None:
                raise DomainError.single(ErrorCode.NOT_FOUND, "no such API key", "id")
            await uow.commit()
        return key

    async def list_api_keys(self, principal: Principal, page: PageRequest) -> Page[ApiKey]:
        organization_id = Scope(principal).organization()
        async with self._db.read() as repos:
            return await repos.api_keys.list_for_organization(organization_id, page)
