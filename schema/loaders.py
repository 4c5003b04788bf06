"""Dataloaders, one set per request, so list fields batch their look-ups instead of N+1 queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from marketplace.domain.accounts import Organization, User
from marketplace.services.accounts import AccountService

V = TypeVar("V")


def _by_id(
    fetch: Callable[[list[UUID]], Awaitable[dict[UUID, V]]],
) -> Callable[[Sequence[UUID]], Awaitable[list[V | None]]]:
    async def load(ids: Sequence[UUID]) -> list[V | None]:
        found = await fetch(list(ids))
        return [found.get(i) for i in ids]

    return load


@dataclass(frozen=True, slots=True)
class Loaders:
    users: DataLoader[UUID, User | None]
    organizations: DataLoader[UUID, Organization | None]

    @classmethod
    def create(cls, accounts: AccountService) -> Loaders:
        return cls(
            users=DataLoader(load_fn=_by_id(accounts.users_by_id)),
            organizations=DataLoader(load_fn=_by_id(accounts.organizations_by_id)),
        )
