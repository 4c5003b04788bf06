from __future__ import annotations

import re
from collections.abc import Sequence

from marketplace.repositories._base import Conn

# Names we interpolate into statements that cannot take parameters (identifiers, CREATE DATABASE).
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain lower-case identifier: {name!r}")
    return f'"{name}"'


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

    async def row_counts(self, tables: Sequence[str]) -> dict[str, int]:
        """Exact counts, for the booking benchmark's 'rows written'; one statement for all tables."""
        if not tables:
            return {}
        counts = ", ".join(f"(SELECT count(*) FROM {_identifier(t)})" for t in tables)
        row = await self._conn.fetchrow(f"SELECT {counts}")
        assert row is not None
        return {table: int(row[i]) for i, table in enumerate(tables)}

    async def create_database(self, name: str) -> None:
        """On a server connection; for the benchmark's throwaway database."""
        await self._conn.execute(f"CREATE DATABASE {_identifier(name)}")

    async def drop_database(self, name: str) -> None:
        await self._conn.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
