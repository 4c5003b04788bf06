from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from marketplace.domain.paging import Page, PageRequest

T = TypeVar("T")

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# What a row mapper reads: a record as asyncpg returns it, or the columns of a nested ROW(...) by name.
Row: TypeAlias = "asyncpg.Record | Mapping[str, Any]"


def names_of(columns: str) -> tuple[str, ...]:
    """The names of a constant column list ("id, name, ...")."""
    return tuple(c.strip() for c in columns.split(","))


def row_constructor(columns: str, alias: str) -> str:
    """ROW(a.id, a.name, ...): several tables' rows in one result row, each with an explicit column list
    (a table's own composite type would go stale in asyncpg's cache when a migration adds a column)."""
    return "ROW(" + ", ".join(f"{alias}.{c}" for c in names_of(columns)) + ")"


def row_of(columns: str, values: Sequence[Any]) -> dict[str, Any]:
    """A nested ROW(...) (asyncpg decodes it by position) by its column names."""
    return dict(zip(names_of(columns), values, strict=True))


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
