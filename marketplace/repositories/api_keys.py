from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.domain.accounts import ApiKey
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, keyset_clause, page_of

_COLUMNS = "id, organization_id, created_by, name, prefix, created_at, last_used_at, revoked_at"


def _api_key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        organization_id=row["organization_id"],
        created_by=row["created_by"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeyRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, key: ApiKey, key_hash: bytes) -> None:
        await self._conn.execute(
            f"INSERT INTO api_keys ({_COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            key.id,
            key.organization_id,
            key.created_by,
            key.name,
            key.prefix,
            key.created_at,
            key.last_used_at,
            key.revoked_at,
            key_hash,
        )

    async def find_active_by_prefix(self, prefix: str) -> tuple[ApiKey, bytes] | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL", prefix
        )
        return None if row is None else (_api_key(row), bytes(row["key_hash"]))

    async def touch(self, key_id: UUID, at: datetime, *, min_interval_s: int) -> None:
        """Records use, at most once per interval, so busy integrations don't write on every call."""
        await self._conn.execute(
            """
            UPDATE api_keys SET last_used_at = $2
            WHERE id = $1
              AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - make_interval(secs => $3::float8))
            """,
            key_id,
            at,
            min_interval_s,
        )

    async def revoke(self, key_id: UUID, organization_id: UUID, at: datetime) -> ApiKey | None:
        row = await self._conn.fetchrow(
            f"""
            UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)
            WHERE id = $1 AND organization_id = $2
            RETURNING {_COLUMNS}
            """,
            key_id,
            organization_id,
            at,
        )
        return None if row is None else _api_key(row)

    async def list_for_organization(self, organization_id: UUID, page: PageRequest) -> Page[ApiKey]:
        where, args = keyset_clause(page, 3)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM api_keys
            WHERE organization_id = $2 AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            organization_id,
            *args,
        )
        return page_of(rows, page, _api_key)

    async def is_active(self, key_id: UUID) -> bool:
        """Not revoked: a live subscription on this key checks it after missing notices."""
        return bool(await self._conn.fetchval("SELECT revoked_at IS NULL FROM api_keys WHERE id = $1", key_id))
