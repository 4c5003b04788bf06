"""Dataloaders, one set per request, so list fields batch their look-ups instead of N+1 queries.

Loaders read without a principal: they serve nested fields of an object the caller was already
allowed to read. Service areas and lockers are readable by every signed-in caller, so they are keyed
by id alone. A courier's vehicle and commute and an organisation's pickup location are keyed by
(id, owner id), the owner taken from the parent object: the database ties a trip to its vehicle (or a
job to its pickup location) by id only, and the key makes sure a nested field never shows a row of
anyone but the parent's owner, even if the two ever disagreed.

A parcel's history, extras and proof are keyed by parcel id: the parent `Parcel` already decided
whether the caller follows or owns it (and asks nothing otherwise). A job's history is keyed by the
tuple of its parcels the caller follows, so it comes back in the order it was written across them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from marketplace.domain.accounts import Organization, User
from marketplace.domain.areas import ServiceArea
from marketplace.domain.delivery import ParcelEvent
from marketplace.domain.places import Locker, PickupLocation
from marketplace.domain.rounds import Placement
from marketplace.domain.trips import Commute
from marketplace.domain.vehicles import Vehicle
from marketplace.domain.webhooks import WebhookAttempt
from marketplace.services.container import Services

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# (object id, owner id): the owner is the courier or organisation the parent object belongs to.
Owned = tuple[UUID, UUID]


def _by_key(
    fetch: Callable[[list[K]], Awaitable[dict[K, V]]],
) -> Callable[[Sequence[K]], Awaitable[list[V | None]]]:
    async def load(keys: Sequence[K]) -> list[V | None]:
        found = await fetch(list(keys))
        return [found.get(k) for k in keys]

    return load


def _histories(
    fetch: Callable[[list[UUID]], Awaitable[list[ParcelEvent]]],
) -> Callable[[Sequence[tuple[UUID, ...]]], Awaitable[list[list[ParcelEvent]]]]:
    """One read for every asked group of parcels; each group's events in the order they were written."""

    async def load(keys: Sequence[tuple[UUID, ...]]) -> list[list[ParcelEvent]]:
        found = await fetch(list(dict.fromkeys(pid for key in keys for pid in key)))
        by_parcel: dict[UUID, list[tuple[int, ParcelEvent]]] = {}
        for n, e in enumerate(found):
            by_parcel.setdefault(e.parcel_id, []).append((n, e))
        out: list[list[ParcelEvent]] = []
        for key in keys:
            numbered = [p for pid in set(key) for p in by_parcel.get(pid, [])]
            out.append([e for _, e in sorted(numbered, key=lambda p: p[0])])
        return out

    return load


@dataclass(frozen=True, slots=True)
class Loaders:
    """`views`: GraphQL objects already built in this request, by kind and key (see `once`)."""

    users: DataLoader[UUID, User | None]
    organizations: DataLoader[UUID, Organization | None]
    service_areas: DataLoader[UUID, ServiceArea | None]
    lockers: DataLoader[UUID, Locker | None]
    pickup_locations: DataLoader[Owned, PickupLocation | None]
    vehicles: DataLoader[Owned, Vehicle | None]
    commutes: DataLoader[Owned, Commute | None]
    placements: DataLoader[UUID, Placement | None]
    parcel_events: DataLoader[UUID, list[ParcelEvent] | None]
    parcel_extras: DataLoader[UUID, Any | None]
    proofs: DataLoader[UUID, Any | None]
    job_events: DataLoader[tuple[UUID, ...], list[ParcelEvent]]
    webhook_attempts: DataLoader[UUID, list[WebhookAttempt] | None]
    views: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)

    def once(self, key: Hashable, build: Callable[[], Awaitable[V]]) -> Awaitable[V]:
        """The object for `key`, loaded and built once per request however many parents ask for it.

        Twenty jobs of one store used to make twenty identical `PickupLocation` objects (the loader
        batched the read, but each job converted its own copy).
        """
        found = self.views.get(key)
        if found is None:
            found = self.views[key] = asyncio.ensure_future(build())
        return found

    @classmethod
    def create(cls, services: Services) -> Loaders:
        return cls(
            users=DataLoader(load_fn=_by_key(services.accounts.users_by_id)),
            organizations=DataLoader(load_fn=_by_key(services.accounts.organizations_by_id)),
            service_areas=DataLoader(load_fn=_by_key(services.places.service_areas_by_id)),
            lockers=DataLoader(load_fn=_by_key(services.places.lockers_by_id)),
            pickup_locations=DataLoader(load_fn=_by_key(services.places.pickup_locations_of_organizations)),
            vehicles=DataLoader(load_fn=_by_key(services.vehicles.vehicles_of_couriers)),
            commutes=DataLoader(load_fn=_by_key(services.trips.commutes_of_couriers)),
            placements=DataLoader(load_fn=_by_key(services.rounds.placements)),
            parcel_events=DataLoader(load_fn=_by_key(services.delivery.events_of)),
            parcel_extras=DataLoader(load_fn=_by_key(services.delivery.extras)),
            proofs=DataLoader(load_fn=_by_key(services.delivery.proofs)),
            job_events=DataLoader(load_fn=_histories(services.delivery.history_of)),
            webhook_attempts=DataLoader(load_fn=_by_key(services.webhooks.attempts)),
        )
