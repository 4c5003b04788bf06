from __future__ import annotations

from marketplace.repositories._base import Conn


class MetaRepository:
    """Facts about the database itself."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def schema_revision(self) -> str | None:
        """The applied alembic revision, or None on a database never migrated."""
        if not await self._conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return None
        value = await self._conn.fetchval("SELECT version_num FROM alembic_version")
        return None if value is None else str(value)
