"""GraphQL object types and the conventions shared by all of them: global IDs and cursor connections."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar, overload
from uuid import UUID

import strawberry
from strawberry import relay

from marketplace.domain import accounts as domain
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.paging import MAX_PAGE_SIZE, Page, PageRequest, Position
from schema.context import Info

Role = strawberry.enum(domain.Role, name="Role")

DEFAULT_PAGE_SIZE = 20

T = TypeVar("T")
D = TypeVar("D")


def global_id(type_name: str, node_id: UUID) -> strawberry.ID:
    return strawberry.ID(str(relay.GlobalID(type_name, str(node_id))))


def _what(kind: str) -> str:
    """'ServiceArea' -> 'service area', for messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower()


@overload
def decode_id(value: str, kind: str, *, field: str = "id", what: str | None = None) -> UUID: ...


@overload
def decode_id(value: None, kind: str, *, field: str = "id", what: str | None = None) -> None: ...


def decode_id(value: str | None, kind: str, *, field: str = "id", what: str | None = None) -> UUID | None:
    """The UUID behind an opaque global ID of `kind`; None (an optional ID left out) stays None.

    The one way every resolver reads an ID. Anything else, another kind's ID or a string that is no
    ID at all, names nothing: DomainError NOT_FOUND at `field` ("no such <what>"), exactly as a missing
    object answers, never "malformed". A mutation returns it as a UserError; a query, as NOT_FOUND.
    """
    if value is None:
        return None
    try:
        gid = relay.GlobalID.from_id(value)
        if gid.type_name == kind:
            return UUID(gid.node_id)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise DomainError.single(ErrorCode.NOT_FOUND, f"no such {what or _what(kind)}", field)


def encode_cursor(position: Position) -> str:
    raw = f"{position.created_at.isoformat()}|{position.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def page_request(first: int | None, after: str | None) -> PageRequest:
    """`first` and `after` of a connection; bad ones are DomainErrors, which a query answers as BAD_USER_INPUT."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise DomainError.single(ErrorCode.OUT_OF_RANGE, f"first must be between 1 and {MAX_PAGE_SIZE}", "first")
    if after is None:
        return PageRequest(first=size)
    try:
        stamp, _, ident = base64.urlsafe_b64decode(after.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return PageRequest(first=size, after=Position(created_at=created_at, id=UUID(ident)))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise DomainError.single(ErrorCode.INVALID, "after is not a cursor from this connection", "after") from None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls,
        page: Page[D],
        convert: Callable[[D], T],
        position: Callable[[D], Position],
        *,
        has_previous: bool,
    ) -> Connection[T]:
        edges = [Edge(cursor=encode_cursor(position(item)), node=convert(item)) for item in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


def _position(item: domain.User | domain.ApiKey) -> Position:
    return Position(created_at=item.created_at, id=item.id)


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str
    created_at: datetime

    @classmethod
    def from_domain(cls, org: domain.Organization) -> Organization:
        return cls(id=global_id("Organization", org.id), name=org.name, created_at=org.created_at)


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    role: Role  # type: ignore[valid-type]
    created_at: datetime
    first_name: str | None = strawberry.field(description="Set at sign-up or with updateProfile.")
    organization_id: strawberry.Private[UUID | None]

    @strawberry.field
    async def organization(self, info: Info) -> Organization | None:
        if self.organization_id is None:
            return None
        org = await info.context.loaders.organizations.load(self.organization_id)
        return None if org is None else Organization.from_domain(org)

    @classmethod
    def from_domain(cls, user: domain.User) -> User:
        return cls(
            id=global_id("User", user.id),
            email=user.email,
            role=user.role,
            created_at=user.created_at,
            first_name=user.first_name,
            organization_id=user.organization_id,
        )


@strawberry.type(description="A retailer's server-to-server key; the secret is shown only when it is created.")
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by_id: strawberry.Private[UUID]

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.created_by_id)
        return None if user is None else User.from_domain(user)

    @classmethod
    def from_domain(cls, key: domain.ApiKey) -> ApiKey:
        return cls(
            id=global_id("ApiKey", key.id),
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            created_by_id=key.created_by,
        )


def user_connection(page: Page[domain.User], *, has_previous: bool) -> Connection[User]:
    return Connection[User].from_page(page, User.from_domain, _position, has_previous=has_previous)


def api_key_connection(page: Page[domain.ApiKey], *, has_previous: bool) -> Connection[ApiKey]:
    return Connection[ApiKey].from_page(page, ApiKey.from_domain, _position, has_previous=has_previous)
