from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.vehicles import Vehicle, VehicleKind
from marketplace.repositories._base import Conn, keyset_clause, page_of

_COLUMNS = (
    "id, courier_id, kind, name, max_weight_g, max_volume_cm3, zero_emission, co2_g_per_km, typical_speed_kmh,"
    " created_at, retired_at"
)


def _vehicle(row: asyncpg.Record) -> Vehicle:
    return Vehicle(
        id=row["id"],
        courier_id=row["courier_id"],
        kind=VehicleKind(row["kind"]),
        name=row["name"],
        max_weight_g=row["max_weight_g"],
        max_volume_cm3=row["max_volume_cm3"],
        zero_emission=row["zero_emission"],
        co2_g_per_km=row["co2_g_per_km"],
        typical_speed_kmh=row["typical_speed_kmh"],
        created_at=row["created_at"],
        retired_at=row["retired_at"],
    )


class VehicleRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def save(self, vehicle: Vehicle) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO vehicles ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (id) DO UPDATE SET
                name = EXCLUDED.name, max_weight_g = EXCLUDED.max_weight_g,
                max_volume_cm3 = EXCLUDED.max_volume_cm3, zero_emission = EXCLUDED.zero_emission,
                co2_g_per_km = EXCLUDED.co2_g_per_km, typical_speed_kmh = EXCLUDED.typical_speed_kmh,
                retired_at = EXCLUDED.retired_at
            """,
            vehicle.id,
            vehicle.courier_id,
            vehicle.kind.value,
            vehicle.name,
            vehicle.max_weight_g,
            vehicle.max_volume_cm3,
            vehicle.zero_emission,
            vehicle.co2_g_per_km,
            vehicle.typical_speed_kmh,
            vehicle.created_at,
            vehicle.retired_at,
        )

    async def get(self, vehicle_id: UUID, courier_id: UUID | None, *, for_update: bool = False) -> Vehicle | None:
        """Scoped to the courier unless None (admins): another courier's vehicle is 'not found'.

        `for_update` locks the row, so two concurrent edits apply one after the other, neither lost.
        """
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM vehicles WHERE id = $1 AND ($2::uuid IS NULL OR courier_id = $2){lock}",
            vehicle_id,
            courier_id,
        )
        return None if row is None else _vehicle(row)

    async def get_many_owned(self, keys: Sequence[tuple[UUID, UUID]]) -> dict[tuple[UUID, UUID], Vehicle]:
        """By (vehicle id, courier id): a vehicle is found only under the courier who owns it."""
        unique = list(set(keys))
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM vehicles
            WHERE (id, courier_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
            """,
            [k[0] for k in unique],
            [k[1] for k in unique],
        )
        return {(r["id"], r["courier_id"]): _vehicle(r) for r in rows}

    async def list_page(
        self, page: PageRequest, *, courier_id: UUID | None, include_retired: bool = False
    ) -> Page[Vehicle]:
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM vehicles
            WHERE ($2::uuid IS NULL OR courier_id = $2) AND ($3 OR retired_at IS NULL) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            courier_id,
            include_retired,
            *args,
        )
        return page_of(rows, page, _vehicle)
