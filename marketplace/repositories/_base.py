from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from marketplace.domain.paging import Page, PageRequest

T = TypeVar("T")

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def keyset_clause(page: PageRequest, first_param: int) -> tuple[str, list[object]]:
    """SQL fragment and args that continue a (created_at, id) ordering after the cursor."""
    if page.after is None:
        return "TRUE", []
    return (
        f"(created_at, id) > (${first_param}, ${first_param + 1})",
        [page.after.created_at, page.after.id],
    )


def page_of(rows: Sequence[asyncpg.Record], page: PageRequest, convert: Callable[[asyncpg.Record], T]) -> Page[T]:
    """The page from rows fetched with `LIMIT page.first + 1`: the extra row only says there is more."""
    return Page(items=tuple(convert(r) for r in rows[: page.first]), has_next=len(rows) > page.first)
