from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from marketplace.domain.accounts import Role
from marketplace.repositories._base import Conn


@dataclass(frozen=True, slots=True)
class RefreshTokenState:
    session_id: UUID
    user_id: UUID
    role: Role
    organization_id: UUID | None
    expires_at: datetime
    used_at: datetime | None
    session_revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActiveSession:
    user_id: UUID
    role: Role
    organization_id: UUID | None


class SessionRepository:
    """Sign-in sessions; each is one family of rotating refresh tokens."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def start(self, session_id: UUID, user_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)", session_id, user_id, at
        )

    async def add_refresh_token(
        self, token_hash: bytes, session_id: UUID, issued_at: datetime, expires_at: datetime
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at)
            VALUES ($1, $2, $3, $4)
            """,
            token_hash,
            session_id,
            issued_at,
            expires_at,
        )

    async def lock_refresh_token(self, token_hash: bytes) -> RefreshTokenState | None:
        """Row-locks the token so two concurrent refreshes with it cannot both succeed."""
        row = await self._conn.fetchrow(
            """
            SELECT t.session_id, s.user_id, u.role, u.organization_id, t.expires_at, t.used_at,
                   s.revoked_at AS session_revoked_at
            FROM refresh_tokens t
            JOIN sessions s ON s.id = t.session_id
            JOIN users u ON u.id = s.user_id
            WHERE t.token_hash = $1
            FOR UPDATE OF t, s
            """,
            token_hash,
        )
        if row is None:
            return None
        return RefreshTokenState(
            session_id=row["session_id"],
            user_id=row["user_id"],
            role=Role(row["role"]),
            organization_id=row["organization_id"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
            session_revoked_at=row["session_revoked_at"],
        )

    async def mark_used(self, token_hash: bytes, at: datetime) -> None:
        await self._conn.execute("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", token_hash, at)

    async def revoke(self, session_id: UUID, at: datetime, reason: str) -> None:
        await self._conn.execute(
            """
            UPDATE sessions SET revoked_at = $2, revoked_reason = $3
            WHERE id = $1 AND revoked_at IS NULL
            """,
            session_id,
            at,
            reason,
        )

    async def revoke_all(self, user_id: UUID, at: datetime, reason: str) -> None:
        await self._conn.execute(
            """
            UPDATE sessions SET revoked_at = $2, revoked_reason = $3
            WHERE user_id = $1 AND revoked_at IS NULL
            """,
            user_id,
            at,
            reason,
        )

    async def purge(self, ended_before: datetime) -> int:
        """Deletes sessions revoked, or whose every refresh token expired, before the cut-off."""
        result = await self._conn.execute(
            """
            DELETE FROM sessions s
            WHERE s.revoked_at < $1
               OR NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND t.expires_at >= $1)
            """,
            ended_before,
        )
        return int(result.split()[-1])

    async def active(self, session_id: UUID, user_id: UUID) -> ActiveSession | None:
        """The session's user as stored now, or None once it is revoked."""
        row = await self._conn.fetchrow(
            """
            SELECT u.id, u.role, u.organization_id FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
            """,
            session_id,
            user_id,
        )
        if row is None:
            return None
        return ActiveSession(user_id=row["id"], role=Role(row["role"]), organization_id=row["organization_id"])
