from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from marketplace.domain.paging import PageRequest

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def keyset_clause(page: PageRequest, first_param: int) -> tuple[str, list[object]]:
    """SQL fragment and args that continue a (created_at, id) ordering after the cursor."""
    if page.after is None:
        return "TRUE", []
    return (
        f"(created_at, id) > (${first_param}, ${first_param + 1})",
        [page.after.created_at, page.after.id],
    )
