from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from marketplace.domain.accounts import Organization, Role, User
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, keyset_clause, page_of

_USER_COLUMNS = "id, email, role, organization_id, created_at, first_name"


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=Role(row["role"]),
        organization_id=row["organization_id"],
        created_at=row["created_at"],
        first_name=row["first_name"],
    )


class UserRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, user: User, password_hash: str) -> bool:
        """False when the email is taken; no exception, so the transaction stays usable."""
        row = await self._conn.fetchrow(
            """
            INSERT INTO users (id, email, password_hash, role, organization_id, created_at, first_name)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT ((lower(email))) DO NOTHING
            RETURNING id
            """,
            user.id,
            user.email,
            password_hash,
            user.role.value,
            user.organization_id,
            user.created_at,
            user.first_name,
        )
        return row is not None

    async def get(self, user_id: UUID) -> User | None:
        row = await self._conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else _user(row)

    async def get_many(self, ids: Sequence[UUID]) -> dict[UUID, User]:
        rows = await self._conn.fetch(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ANY($1::uuid[])", list(ids))
        return {row["id"]: _user(row) for row in rows}

    async def get_credentials(self, email: str) -> tuple[User, str] | None:
        row = await self._conn.fetchrow(
            f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)", email
        )
        return None if row is None else (_user(row), row["password_hash"])

    async def set_first_name(self, user_id: UUID, first_name: str | None) -> User | None:
        row = await self._conn.fetchrow(
            f"UPDATE users SET first_name = $2 WHERE id = $1 RETURNING {_USER_COLUMNS}", user_id, first_name
        )
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self._conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)

    async def list(
        self, page: PageRequest, *, role: Role | None = None, organization_id: UUID | None = None
    ) -> Page[User]:
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_USER_COLUMNS} FROM users
            WHERE ($2::text IS NULL OR role = $2) AND ($3::uuid IS NULL OR organization_id = $3) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            None if role is None else role.value,
            organization_id,
            *args,
        )
        return page_of(rows, page, _user)


class OrganizationRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, org: Organization) -> None:
        await self._conn.execute(
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", org.id, org.name, org.created_at
        )

    async def get_many(self, ids: Sequence[UUID]) -> dict[UUID, Organization]:
        rows = await self._conn.fetch(
            "SELECT id, name, created_at FROM organizations WHERE id = ANY($1::uuid[])", list(ids)
        )
        return {r["id"]: Organization(id=r["id"], name=r["name"], created_at=r["created_at"]) for r in rows}
