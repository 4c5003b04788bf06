from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class StoredRequest:
    request_hash: bytes
    response: dict[str, Any] | None


class IdempotencyRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def claim(
        self,
        scope: str,
        operation: str,
        key: str,
        request_hash: bytes,
        at: datetime,
        expired_before: datetime,
        response: dict[str, Any] | None = None,
    ) -> StoredRequest | None:
        """None when this transaction now owns the key; else what the first request stored.

        A concurrent duplicate blocks on the unique index until the owner's transaction ends,
        so it sees either the committed response or, after a rollback, a free key. `response`, when
        the caller knows it already, is stored with the key (no `complete` needed).
        """
        owned = await self._conn.fetchval(
            """
            INSERT INTO idempotency_keys AS k (scope, operation, key, request_hash, created_at, response)
            VALUES ($1, $2, $3, $4, $5, $7::jsonb)
            ON CONFLICT (scope, operation, key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, created_at = EXCLUDED.created_at,
                    response = EXCLUDED.response
                WHERE k.created_at < $6
            RETURNING true
            """,
            scope,
            operation,
            key,
            request_hash,
            at,
            expired_before,
            None if response is None else json.dumps(response, sort_keys=True),
        )
        if owned:
            return None
        row = await self._conn.fetchrow(
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND operation = $2 AND key = $3",
            scope,
            operation,
            key,
        )
        assert row is not None
        response = None if row["response"] is None else json.loads(row["response"])
        return StoredRequest(request_hash=bytes(row["request_hash"]), response=response)

    async def complete(self, scope: str, operation: str, key: str, response: dict[str, Any]) -> None:
        await self._conn.execute(
            "UPDATE idempotency_keys SET response = $4::jsonb WHERE scope = $1 AND operation = $2 AND key = $3",
            scope,
            operation,
            key,
            json.dumps(response, sort_keys=True),
        )

    async def purge(self, expired_before: datetime) -> int:
        result = await self._conn.execute("DELETE FROM idempotency_keys WHERE created_at < $1", expired_before)
        return int(result.split()[-1])
