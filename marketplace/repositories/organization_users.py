"""The users of retailer organisations, listed for their colleagues and for operations."""

from __future__ import annotations

from uuid import UUID

from marketplace.domain.accounts import User
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, keyset_clause
from marketplace.repositories.users import _USER_COLUMNS, _user


class OrganizationUserRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def list_page(self, page: PageRequest, *, organization_id: UUID | None) -> Page[User]:
        """One organisation's users, or (None, for operations) the users of every organisation."""
        where, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_USER_COLUMNS} FROM users
            WHERE organization_id IS NOT NULL AND ($2::uuid IS NULL OR organization_id = $2) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            organization_id,
            *args,
        )
        return Page(items=tuple(_user(r) for r in rows[: page.first]), has_next=len(rows) > page.first)
