from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from uuid import UUID

from marketplace.domain.geo import Point
from marketplace.domain.hours import OpeningHours, hours_from_json, hours_to_json
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.places import (
    Address,
    Compartments,
    CompartmentSize,
    Locker,
    LockerKind,
    PickupLocation,
    PickupLocationKind,
)
from marketplace.repositories._base import Conn, Row, keyset_clause, page_of

_ADDRESS = "street, house_number, postal_code, city, country_code, lat, lng, area_id, opening_hours"
_LOCATION_COLUMNS = f"id, organization_id, kind, name, {_ADDRESS}, created_at, archived_at"
_LOCKER_COLUMNS = f"id, kind, name, operator, {_ADDRESS}, compartments, active, created_at, updated_at"


def _address(row: Row) -> Address:
    return Address(
        street=row["street"],
        house_number=row["house_number"],
        postal_code=row["postal_code"],
        city=row["city"],
        country_code=row["country_code"],
    )


@lru_cache(maxsize=1024)
def _hours(text: str) -> OpeningHours:
    """Parsed once per distinct week (most stores share a handful); OpeningHours is immutable."""
    return hours_from_json(json.loads(text))


def _location(row: Row) -> PickupLocation:
    return PickupLocation(
        id=row["id"],
        organization_id=row["organization_id"],
        kind=PickupLocationKind(row["kind"]),
        name=row["name"],
        address=_address(row),
        point=Point(row["lat"], row["lng"]),
        area_id=row["area_id"],
        opening_hours=_hours(row["opening_hours"]),
        created_at=row["created_at"],
        archived_at=row["archived_at"],
    )


def _compartments_to_json(compartments: Compartments) -> str:
    return json.dumps([{"size": size.value, "count": count} for size, count in compartments.counts])


def _locker(row: Row) -> Locker:
    return Locker(
        id=row["id"],
        kind=LockerKind(row["kind"]),
        name=row["name"],
        operator=row["operator"],
        address=_address(row),
        point=Point(row["lat"], row["lng"]),
        area_id=row["area_id"],
        opening_hours=_hours(row["opening_hours"]),
        compartments=Compartments(
            tuple((CompartmentSize(c["size"]), int(c["count"])) for c in json.loads(row["compartments"]))
        ),
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _address_args(address: Address, point: Point, area_id: UUID, hours: str) -> list[object]:
    return [
        address.street,
        address.house_number,
        address.postal_code,
        address.city,
        address.country_code,
        point.lat,
        point.lng,
        area_id,
        hours,
    ]


class PickupLocationRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def save(self, location: PickupLocation) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO pickup_locations ({_LOCATION_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15)
            ON CONFLICT (id) DO UPDATE SET
                kind = EXCLUDED.kind, name = EXCLUDED.name, street = EXCLUDED.street,
                house_number = EXCLUDED.house_number, postal_code = EXCLUDED.postal_code, city = EXCLUDED.city,
                country_code = EXCLUDED.country_code, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
                area_id = EXCLUDED.area_id, opening_hours = EXCLUDED.opening_hours, archived_at = EXCLUDED.archived_at
            """,
            location.id,
            location.organization_id,
            location.kind.value,
            location.name,
            *_address_args(
                location.address, location.point, location.area_id, json.dumps(hours_to_json(location.opening_hours))
            ),
            location.created_at,
            location.archived_at,
        )

    async def get(
        self, location_id: UUID, organization_id: UUID | None, *, for_update: bool = False, for_share: bool = False
    ) -> PickupLocation | None:
        """Scoped to the organisation unless None (admins): another tenant's location is 'not found'.

        `for_update` locks the row, so two concurrent edits apply one after the other, neither lost.
        `for_share` lets bookings read it side by side while an edit or archiving waits for them, and
        makes a booking wait for an edit in flight and then see what it wrote.
        """
        lock = "FOR UPDATE" if for_update else "FOR SHARE" if for_share else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT {_LOCATION_COLUMNS} FROM pickup_locations
            WHERE id = $1 AND ($2::uuid IS NULL OR organization_id = $2)
            {lock}
            """,
            location_id,
            organization_id,
        )
        return None if row is None else _location(row)

    async def get_many(
        self, ids: Sequence[UUID], organization_id: UUID, *, for_share: bool = False
    ) -> dict[UUID, PickupLocation]:
        """`for_share`: as in `get`, for a batch of bookings."""
        lock = " FOR SHARE" if for_share else ""
        rows = await self._conn.fetch(
            f"SELECT {_LOCATION_COLUMNS} FROM pickup_locations WHERE id = ANY($1::uuid[]) AND organization_id = $2"
            + lock,
            list(set(ids)),
            organization_id,
        )
        return {r["id"]: _location(r) for r in rows}

    async def get_many_owned(self, keys: Sequence[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], PickupLocation]:
        """By (location id, organisation id): a location is found only under the organisation that owns it."""
        unique = list(set(keys))
        rows = await self._conn.fetch(
            f"""
            SELECT {_LOCATION_COLUMNS} FROM pickup_locations
            WHERE (id, organization_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
            """,
            [k[0] for k in unique],
            [k[1] for k in unique],
        )
        return {(r["id"], r["organization_id"]): _location(r) for r in rows}

    async def list_page(
        self, page: PageRequest, *, organization_id: UUID | None, include_archived: bool = False
    ) -> Page[PickupLocation]:
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_LOCATION_COLUMNS} FROM pickup_locations
            WHERE ($2::uuid IS NULL OR organization_id = $2) AND ($3 OR archived_at IS NULL) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            organization_id,
            include_archived,
            *args,
        )
        return page_of(rows, page, _location)


class LockerRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def save(self, locker: Locker) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO lockers ({_LOCKER_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16, $17)
            ON CONFLICT (id) DO UPDATE SET
                kind = EXCLUDED.kind, name = EXCLUDED.name, operator = EXCLUDED.operator, street = EXCLUDED.street,
                house_number = EXCLUDED.house_number, postal_code = EXCLUDED.postal_code, city = EXCLUDED.city,
                country_code = EXCLUDED.country_code, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
                area_id = EXCLUDED.area_id, opening_hours = EXCLUDED.opening_hours,
                compartments = EXCLUDED.compartments, active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
            """,
            locker.id,
            locker.kind.value,
            locker.name,
            locker.operator,
            *_address_args(
                locker.address, locker.point, locker.area_id, json.dumps(hours_to_json(locker.opening_hours))
            ),
            _compartments_to_json(locker.compartments),
            locker.active,
            locker.created_at,
            locker.updated_at,
        )

    async def get(self, locker_id: UUID, *, for_update: bool = False, for_share: bool = False) -> Locker | None:
        """`for_share` lets bookings read the locker side by side while switching it off waits for them."""
        lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
        row = await self._conn.fetchrow(f"SELECT {_LOCKER_COLUMNS} FROM lockers WHERE id = $1{lock}", locker_id)
        return None if row is None else _locker(row)

    async def get_many(self, ids: Sequence[UUID], *, for_share: bool = False) -> dict[UUID, Locker]:
        if not ids:  # most deliveries name no locker: no query
            return {}
        lock = " FOR SHARE" if for_share else ""
        rows = await self._conn.fetch(
            f"SELECT {_LOCKER_COLUMNS} FROM lockers WHERE id = ANY($1::uuid[]){lock}", list(set(ids))
        )
        return {r["id"]: _locker(r) for r in rows}

    async def list_page(
        self, page: PageRequest, *, area_id: UUID | None = None, active: bool | None = None
    ) -> Page[Locker]:
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_LOCKER_COLUMNS} FROM lockers
            WHERE ($2::uuid IS NULL OR area_id = $2) AND ($3::boolean IS NULL OR active = $3) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            area_id,
            active,
            *args,
        )
        return page_of(rows, page, _locker)
