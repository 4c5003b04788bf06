"""Keyset pagination over (created_at, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Position:
    created_at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: Position | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    has_next: bool
