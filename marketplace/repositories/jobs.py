"""Quotes, jobs and their parcels. Writes are set-based (one statement per table, whatever the batch size)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg

from marketplace.domain.areas import ServiceArea
from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.geo import Point
from marketplace.domain.jobs import (
    UNFINISHED_JOB_STATUSES,
    DeliveryOrder,
    Dropoff,
    DropoffKind,
    FailureAction,
    Job,
    JobStatus,
    Parcel,
    ParcelSpec,
    Quote,
    Recipient,
    Window,
)
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.places import Address, Locker, PickupLocation
from marketplace.domain.pricing import Price, PricePart, PricePartKind
from marketplace.repositories._base import Conn, Row, keyset_clause, row_constructor, row_of
from marketplace.repositories.areas import _COLUMNS as _AREA_COLUMNS
from marketplace.repositories.areas import _area
from marketplace.repositories.payments import CUSTOMER_COLUMNS, CustomerRow, PaymentRow, insert_payment, payment_args
from marketplace.repositories.places import _LOCATION_COLUMNS, _LOCKER_COLUMNS, _location, _locker


def _unnest_insert(table: str, columns: Sequence[tuple[str, str]], *, first_param: int = 1) -> str:
    """INSERT ... SELECT FROM unnest($1::t1[], $2::t2[], ...): one statement for any number of rows.

    Columns typed jsonb travel as text[] and are cast back, since asyncpg sends json as text.
    """
    names = ", ".join(c for c, _ in columns)
    arrays = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, (_, t) in enumerate(columns, first_param))
    selected = ", ".join(f"{c}::jsonb" if t == "jsonb" else c for c, t in columns)
    return f"INSERT INTO {table} ({names}) SELECT {selected} FROM unnest({arrays}) AS t({names})"


_QUOTE_SPEC = (
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("area_id", "uuid"),
    ("request", "jsonb"),
    ("price_minor", "int8"),
    ("currency", "text"),
    ("price_parts", "jsonb"),
    ("distance_m", "int4"),
    ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("job_id", "uuid"),
)
_QUOTE_COLUMNS = ", ".join(c for c, _ in _QUOTE_SPEC)
_INSERT_QUOTES = _unnest_insert("quotes", _QUOTE_SPEC)

_JOB_SPEC = (
    ("id", "uuid"),
    ("organization_id", "uuid"),
    ("quote_id", "uuid"),
    ("area_id", "uuid"),
    ("reference", "text"),
    ("status", "text"),
    ("pickup_location_id", "uuid"),
    ("pickup_lat", "float8"),
    ("pickup_lng", "float8"),
    ("dropoff_kind", "text"),
    ("dropoff_locker_id", "uuid"),
    ("dropoff_street", "text"),
    ("dropoff_house_number", "text"),
    ("dropoff_postal_code", "text"),
    ("dropoff_city", "text"),
    ("dropoff_country_code", "text"),
    ("dropoff_lat", "float8"),
    ("dropoff_lng", "float8"),
    ("pickup_from", "timestamptz"),
    ("pickup_until", "timestamptz"),
    ("deliver_from", "timestamptz"),
    ("deliver_until", "timestamptz"),
    ("pickup_open_from", "timestamptz"),
    ("pickup_open_until", "timestamptz"),
    ("deliver_open_from", "timestamptz"),
    ("deliver_open_until", "timestamptz"),
    ("recipient_name", "text"),
    ("recipient_phone", "text"),
    ("delivery_instructions", "text"),
    ("safe_place", "text"),
    ("safe_place_consent", "bool"),
    ("neighbour_consent", "bool"),
    ("recipient_email", "text"),
    ("recipient_language", "text"),
    ("failure_action", "text"),
    ("fallback_locker_id", "uuid"),
    ("price_minor", "int8"),
    ("currency", "text"),
    ("price_parts", "jsonb"),
    ("distance_m", "int4"),
    ("booked_by_user_id", "uuid"),
    ("booked_by_api_key_id", "uuid"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
_JOB_COLUMNS = ", ".join(c for c, _ in _JOB_SPEC)
_INSERT_JOBS = _unnest_insert("jobs", _JOB_SPEC)

_PARCEL_SPEC = (
    ("id", "uuid"),
    ("job_id", "uuid"),
    ("position", "int2"),
    ("weight_g", "int4"),
    ("length_mm", "int4"),
    ("width_mm", "int4"),
    ("height_mm", "int4"),
    ("volume_cm3", "int4"),
    ("declared_value_minor", "int8"),
    ("currency", "text"),
    ("fragile", "bool"),
    ("id_check", "bool"),
    ("adults_only", "bool"),
    ("assigned_courier_id", "uuid"),
    ("assigned_trip_id", "uuid"),
    ("created_at", "timestamptz"),
    ("area_id", "uuid"),
    ("status", "text"),
    ("status_changed_at", "timestamptz"),
    ("label_code", "text"),
    ("pin_hash", "bytea"),
)
_PARCEL_COLUMNS = ", ".join(c for c, _ in _PARCEL_SPEC)
# Jobs and their parcels in one statement: PostgreSQL checks the parcels' foreign key at its end.
_INSERT_JOBS_AND_PARCELS = f"WITH new_jobs AS ({_INSERT_JOBS} RETURNING id) " + _unnest_insert(
    "parcels", _PARCEL_SPEC, first_param=len(_JOB_SPEC) + 1
)
_BOOKED = len(_JOB_SPEC) + len(_PARCEL_SPEC)
_INSERT_BOOKED_QUOTE = (
    f"WITH new_jobs AS ({_INSERT_JOBS} RETURNING id), "
    f"booked AS (UPDATE quotes SET job_id = ${_BOOKED + 2} WHERE id = ${_BOOKED + 1}), "
    f"paid AS ({insert_payment(_BOOKED + 3)}) "
    + _unnest_insert("parcels", _PARCEL_SPEC, first_param=len(_JOB_SPEC) + 1)
)


# --- JSON of what has no columns of its own -------------------------------------------------------


def _parts_to_json(price: Price) -> str:
    return json.dumps(
        [{"kind": p.kind.value, "amount_minor": p.amount_minor, "description": p.description} for p in price.parts]
    )


@lru_cache(maxsize=4096)
def _parts(parts_json: str) -> tuple[PricePart, ...]:
    """Parsed once per distinct text: deliveries priced alike store the same parts, and a page of jobs
    used to parse them again for every row. Parts are immutable, so sharing them is safe."""
    return tuple(
        PricePart(PricePartKind(p["kind"]), int(p["amount_minor"]), str(p["description"]))
        for p in json.loads(parts_json)
    )


def _price(total_minor: int, currency: str, parts_json: str) -> Price:
    return Price(total_minor=total_minor, currency=currency, parts=_parts(parts_json))


def _order_to_json(order: DeliveryOrder) -> str:
    d, r = order.dropoff, order.recipient
    data: dict[str, Any] = {
        "area_id": str(order.area_id),
        "currency": order.currency,
        "pickup_location_id": str(order.pickup_location_id),
        "pickup_point": [order.pickup_point.lat, order.pickup_point.lng],
        "dropoff": {
            "kind": d.kind.value,
            "point": [d.point.lat, d.point.lng],
            "locker_id": None if d.locker_id is None else str(d.locker_id),
            "street": d.address.street,
            "house_number": d.address.house_number,
            "postal_code": d.address.postal_code,
            "city": d.address.city,
            "country_code": d.address.country_code,
        },
        "pickup_window": [order.pickup_window.start_at.isoformat(), order.pickup_window.end_at.isoformat()],
        "delivery_window": [order.delivery_window.start_at.isoformat(), order.delivery_window.end_at.isoformat()],
        "pickup_window_open": _window_to_json(order.pickup_window_open),
        "delivery_window_open": _window_to_json(order.delivery_window_open),
        "parcels": [
            {
                "weight_g": s.weight_g,
                "length_mm": s.length_mm,
                "width_mm": s.width_mm,
                "height_mm": s.height_mm,
                "declared_value_minor": s.declared_value_minor,
                "currency": s.currency,
                "fragile": s.fragile,
                "id_check": s.id_check,
                "adults_only": s.adults_only,
            }
            for s in order.parcels
        ],
        "recipient": {
            "name": r.name,
            "phone": r.phone,
            "instructions": r.instructions,
            "safe_place": r.safe_place,
            "safe_place_consent": r.safe_place_consent,
            "neighbour_consent": r.neighbour_consent,
            "email": r.email,
            "language": r.language,
        },
        "failure_action": order.failure_action.value,
        "fallback_locker_id": None if order.fallback_locker_id is None else str(order.fallback_locker_id),
        "reference": order.reference,
    }
    return json.dumps(data)


def _window_to_json(window: Window) -> list[str]:
    return [window.start_at.isoformat(), window.end_at.isoformat()]


def _window_from_json(raw: list[str]) -> Window:
    return Window(*(datetime.fromisoformat(t) for t in raw))


def _uuid_or_none(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _order_from_json(raw: str) -> DeliveryOrder:
    data = json.loads(raw)
    d, r = data["dropoff"], data["recipient"]
    return DeliveryOrder(
        area_id=UUID(data["area_id"]),
        currency=data["currency"],
        pickup_location_id=UUID(data["pickup_location_id"]),
        pickup_point=Point(*data["pickup_point"]),
        dropoff=Dropoff(
            kind=DropoffKind(d["kind"]),
            point=Point(*d["point"]),
            address=Address(d["street"], d["house_number"], d["postal_code"], d["city"], d["country_code"]),
            locker_id=_uuid_or_none(d["locker_id"]),
        ),
        pickup_window=_window_from_json(data["pickup_window"]),
        delivery_window=_window_from_json(data["delivery_window"]),
        # Quotes made before open windows were kept were priced for the windows as asked.
        pickup_window_open=_window_from_json(data.get("pickup_window_open", data["pickup_window"])),
        delivery_window_open=_window_from_json(data.get("delivery_window_open", data["delivery_window"])),
        parcels=tuple(ParcelSpec(**p) for p in data["parcels"]),
        recipient=Recipient(**r),
        failure_action=FailureAction(data["failure_action"]),
        fallback_locker_id=_uuid_or_none(data["fallback_locker_id"]),
        reference=data["reference"],
    )


# --- rows -------------------------------------------------------------------------------------------


def _quote(row: Row) -> Quote:
    return Quote(
        id=row["id"],
        organization_id=row["organization_id"],
        order=_order_from_json(row["request"]),
        price=_price(row["price_minor"], row["currency"], row["price_parts"]),
        distance_m=row["distance_m"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        job_id=row["job_id"],
    )


def _parcel(row: asyncpg.Record) -> Parcel:
    return Parcel(
        id=row["id"],
        job_id=row["job_id"],
        position=row["position"],
        spec=ParcelSpec(
            weight_g=row["weight_g"],
            length_mm=row["length_mm"],
            width_mm=row["width_mm"],
            height_mm=row["height_mm"],
            declared_value_minor=row["declared_value_minor"],
            currency=row["currency"],
            fragile=row["fragile"],
            id_check=row["id_check"],
            adults_only=row["adults_only"],
        ),
        created_at=row["created_at"],
        area_id=row["area_id"],
        status=ParcelStatus(row["status"]),
        status_changed_at=row["status_changed_at"],
        assigned_courier_id=row["assigned_courier_id"],
        assigned_trip_id=row["assigned_trip_id"],
        label_code=row["label_code"],
        pin_hash=None if row["pin_hash"] is None else bytes(row["pin_hash"]),
    )


def _job(row: asyncpg.Record, parcels: tuple[Parcel, ...]) -> Job:
    order = DeliveryOrder(
        area_id=row["area_id"],
        currency=row["currency"],
        pickup_location_id=row["pickup_location_id"],
        pickup_point=Point(row["pickup_lat"], row["pickup_lng"]),
        dropoff=Dropoff(
            kind=DropoffKind(row["dropoff_kind"]),
            point=Point(row["dropoff_lat"], row["dropoff_lng"]),
            address=Address(
                street=row["dropoff_street"] or "",
                house_number=row["dropoff_house_number"] or "",
                postal_code=row["dropoff_postal_code"] or "",
                city=row["dropoff_city"] or "",
                country_code=row["dropoff_country_code"],
            ),
            locker_id=row["dropoff_locker_id"],
        ),
        pickup_window=Window(row["pickup_from"], row["pickup_until"]),
        delivery_window=Window(row["deliver_from"], row["deliver_until"]),
        pickup_window_open=Window(row["pickup_open_from"], row["pickup_open_until"]),
        delivery_window_open=Window(row["deliver_open_from"], row["deliver_open_until"]),
        parcels=tuple(p.spec for p in parcels),
        recipient=Recipient(
            name=row["recipient_name"],
            phone=row["recipient_phone"],
            instructions=row["delivery_instructions"],
            safe_place=row["safe_place"],
            safe_place_consent=row["safe_place_consent"],
            neighbour_consent=row["neighbour_consent"],
            email=row["recipient_email"],
            language=row["recipient_language"],
        ),
        failure_action=FailureAction(row["failure_action"]),
        fallback_locker_id=row["fallback_locker_id"],
        reference=row["reference"],
    )
    return Job(
        id=row["id"],
        organization_id=row["organization_id"],
        quote_id=row["quote_id"],
        order=order,
        status=JobStatus(row["status"]),
        price=_price(row["price_minor"], row["currency"], row["price_parts"]),
        distance_m=row["distance_m"],
        parcels=parcels,
        booked_by_user_id=row["booked_by_user_id"],
        booked_by_api_key_id=row["booked_by_api_key_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _columns(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Row-major values to one array per column, for unnest."""
    return [[row[i] for row in rows] for i in range(width)]


def _job_values(job: Job) -> tuple[object, ...]:
    o, d, r = job.order, job.order.dropoff, job.order.recipient
    address = d.address
    return (
        job.id,
        job.organization_id,
        job.quote_id,
        o.area_id,
        o.reference,
        job.status.value,
        o.pickup_location_id,
        o.pickup_point.lat,
        o.pickup_point.lng,
        d.kind.value,
        d.locker_id,
        address.street or None,
        address.house_number or None,
        address.postal_code or None,
        address.city or None,
        address.country_code,
        d.point.lat,
        d.point.lng,
        o.pickup_window.start_at,
        o.pickup_window.end_at,
        o.delivery_window.start_at,
        o.delivery_window.end_at,
        o.pickup_window_open.start_at,
        o.pickup_window_open.end_at,
        o.delivery_window_open.start_at,
        o.delivery_window_open.end_at,
        r.name,
        r.phone,
        r.instructions,
        r.safe_place,
        r.safe_place_consent,
        r.neighbour_consent,
        r.email,
        r.language,
        o.failure_action.value,
        o.fallback_locker_id,
        job.price.total_minor,
        job.price.currency,
        _parts_to_json(job.price),
        job.distance_m,
        job.booked_by_user_id,
        job.booked_by_api_key_id,
        job.created_at,
        job.updated_at,
    )


def _parcel_values(parcel: Parcel) -> tuple[object, ...]:
    s = parcel.spec
    return (
        parcel.id,
        parcel.job_id,
        parcel.position,
        s.weight_g,
        s.length_mm,
        s.width_mm,
        s.height_mm,
        s.volume_cm3,
        s.declared_value_minor,
        s.currency,
        s.fragile,
        s.id_check,
        s.adults_only,
        parcel.assigned_courier_id,
        parcel.assigned_trip_id,
        parcel.created_at,
        parcel.area_id,
        parcel.status.value,
        parcel.status_changed_at or parcel.created_at,
        parcel.label_code,
        parcel.pin_hash,
    )


@dataclass(frozen=True, slots=True)
class BookingLocks:
    """What a booking checks, as it is while the booking holds it (see `JobRepository.lock_for_booking`)."""

    quote: Quote | None
    location: PickupLocation | None
    area: ServiceArea | None
    lockers: dict[UUID, Locker]


class JobRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- quotes -----------------------------------------------------------------------------------

    async def add_quotes(self, quotes: Sequence[Quote]) -> None:
        if not quotes:
            return
        rows = [
            (
                q.id,
                q.organization_id,
                q.area_id,
                _order_to_json(q.order),
                q.price.total_minor,
                q.price.currency,
                _parts_to_json(q.price),
                q.distance_m,
                q.created_at,
                q.expires_at,
                q.job_id,
            )
            for q in quotes
        ]
        await self._conn.execute(_INSERT_QUOTES, *_columns(rows, len(_QUOTE_SPEC)))

    async def get_quote(
        self, quote_id: UUID, organization_id: UUID | None, *, for_update: bool = False
    ) -> Quote | None:
        """Scoped to the organisation unless None (admins); `for_update` locks the row until commit."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_QUOTE_COLUMNS} FROM quotes WHERE id = $1 AND ($2::uuid IS NULL OR organization_id = $2){lock}",
            quote_id,
            organization_id,
        )
        return None if row is None else _quote(row)

    async def get_quote_and_card(
        self, quote_id: UUID, organization_id: UUID
    ) -> tuple[Quote, CustomerRow | None] | None:
        """A quote about to be booked and its organisation's card on file, in one read (None: no such quote)."""
        row = await self._conn.fetchrow(
            f"""
            SELECT (SELECT {row_constructor(_QUOTE_COLUMNS, "q")} FROM quotes q
                    WHERE q.id = $1 AND q.organization_id = $2) AS quote,
                   (SELECT {row_constructor(CUSTOMER_COLUMNS, "c")} FROM payment_customers c
                    WHERE c.organization_id = $2) AS customer
            """,
            quote_id,
            organization_id,
        )
        if row is None or row["quote"] is None:
            return None
        customer = row["customer"]
        card = None if customer is None else CustomerRow(**row_of(CUSTOMER_COLUMNS, customer))
        return _quote(row_of(_QUOTE_COLUMNS, row["quote"])), card

    async def lock_for_booking(
        self,
        quote_id: UUID,
        organization_id: UUID,
        *,
        pickup_location_id: UUID,
        area_id: UUID,
        locker_ids: Sequence[UUID],
    ) -> BookingLocks:
        """The quote locked (FOR UPDATE), its store, area and lockers shared-locked, in one statement.

        The ids come from the quote as read before the card was authorised (a quote's order never
        changes). A second booking of the quote waits here and then finds it booked; an archiving, a
        locker switched off or an area paused in flight is waited for and then seen, never booked past.
        Each row comes back as a ROW(...) of its repository's own columns, mapped by its own mapper.
        """
        row = await self._conn.fetchrow(
            f"""
            SELECT (SELECT {row_constructor(_QUOTE_COLUMNS, "q")} FROM quotes q
                    WHERE q.id = $1 AND q.organization_id = $2 FOR UPDATE) AS quote,
                   (SELECT {row_constructor(_LOCATION_COLUMNS, "l")} FROM pickup_locations l
                    WHERE l.id = $3 AND l.organization_id = $2 FOR SHARE) AS location,
                   (SELECT {row_constructor(_AREA_COLUMNS, "a")} FROM service_areas a
                    WHERE a.id = $4 FOR SHARE) AS area,
                   ARRAY(SELECT {row_constructor(_LOCKER_COLUMNS, "k")} FROM lockers k
                         WHERE k.id = ANY($5::uuid[]) FOR SHARE) AS lockers
            """,
            quote_id,
            organization_id,
            pickup_location_id,
            area_id,
            list(set(locker_ids)),
        )
        assert row is not None
        lockers = [_locker(row_of(_LOCKER_COLUMNS, k)) for k in row["lockers"]]
        return BookingLocks(
            quote=None if row["quote"] is None else _quote(row_of(_QUOTE_COLUMNS, row["quote"])),
            location=None if row["location"] is None else _location(row_of(_LOCATION_COLUMNS, row["location"])),
            area=None if row["area"] is None else _area(row_of(_AREA_COLUMNS, row["area"])),
            lockers={k.id: k for k in lockers},
        )

    # --- jobs -------------------------------------------------------------------------------------

    async def add_jobs(
        self, jobs: Sequence[Job], *, booked_quote_id: UUID | None = None, payment: PaymentRow | None = None
    ) -> bool:
        """One statement for any number of jobs: the jobs and all their parcels (and, booking a single
        quote, the quote marked as booked into its job, with the job's `payment` row).

        False when a reference is taken (by an earlier or a concurrent booking); the transaction is
        then unusable and must roll back.
        """
        if not jobs:
            return True
        if booked_quote_id is not None and len(jobs) != 1:
            raise ValueError("a quote is booked into one job")
        if (booked_quote_id is None) != (payment is None):
            raise ValueError("a booked quote's job is written with its payment, and only then")
        parcels = [_parcel_values(p) for j in jobs for p in j.parcels]
        args: list[object] = [
            *_columns([_job_values(j) for j in jobs], len(_JOB_SPEC)),
            *_columns(parcels, len(_PARCEL_SPEC)),
        ]
        statement = _INSERT_JOBS_AND_PARCELS
        if booked_quote_id is not None:
            assert payment is not None
            statement = _INSERT_BOOKED_QUOTE
            args += [booked_quote_id, jobs[0].id, *payment_args(payment, payment.created_at)]
        try:
            await self._conn.execute(statement, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "jobs_reference_key":
                return False
            raise
        return True

    async def references_taken(self, organization_id: UUID, references: Sequence[str]) -> set[str]:
        if not references:
            return set()
        rows = await self._conn.fetch(
            "SELECT reference FROM jobs WHERE organization_id = $1 AND reference = ANY($2::text[])",
            organization_id,
            list(set(references)),
        )
        return {r["reference"] for r in rows}

    async def unfinished_at_pickup_location(self, location_id: UUID) -> bool:
        """Whether any job booked, assigned or in transit is picked up at the location."""
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE pickup_location_id = $1 AND status = ANY($2::text[]))",
            location_id,
            [s.value for s in UNFINISHED_JOB_STATUSES],
        )
        return bool(found)

    async def _parcels_of(self, job_ids: Sequence[UUID]) -> dict[UUID, tuple[Parcel, ...]]:
        rows = await self._conn.fetch(
            f"SELECT {_PARCEL_COLUMNS} FROM parcels WHERE job_id = ANY($1::uuid[]) ORDER BY job_id, position",
            list(job_ids),
        )
        found: dict[UUID, list[Parcel]] = {}
        for row in rows:
            found.setdefault(row["job_id"], []).append(_parcel(row))
        return {k: tuple(v) for k, v in found.items()}

    async def get_jobs(self, job_ids: Sequence[UUID]) -> list[Job]:
        """In the order asked for; ids that name no job are left out."""
        if not job_ids:
            return []
        rows = await self._conn.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ANY($1::uuid[])", list(job_ids))
        parcels = await self._parcels_of([r["id"] for r in rows])
        by_id = {r["id"]: _job(r, parcels.get(r["id"], ())) for r in rows}
        return [by_id[i] for i in job_ids if i in by_id]

    async def get_job(self, job_id: UUID) -> Job | None:
        found = await self.get_jobs([job_id])
        return found[0] if found else None

    async def get_job_by_reference(self, organization_id: UUID, reference: str) -> Job | None:
        """References are unique per organisation, so this is one job at most."""
        row = await self._conn.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE organization_id = $1 AND reference = $2", organization_id, reference
        )
        if row is None:
            return None
        parcels = await self._parcels_of([row["id"]])
        return _job(row, parcels.get(row["id"], ()))

    async def list_jobs(
        self,
        page: PageRequest,
        *,
        organization_id: UUID | None,
        status: JobStatus | None = None,
        pickup_from: datetime | None = None,
        pickup_until: datetime | None = None,
        area_id: UUID | None = None,
    ) -> Page[Job]:
        """Jobs whose pickup window overlaps [pickup_from, pickup_until); each bound optional."""
        where, args = keyset_clause(page, 7)
        rows = await self._conn.fetch(
            f"""
            SELECT {_JOB_COLUMNS} FROM jobs
            WHERE ($2::uuid IS NULL OR organization_id = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR pickup_until > $4)
              AND ($5::timestamptz IS NULL OR pickup_from < $5)
              AND ($6::uuid IS NULL OR area_id = $6)
              AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            organization_id,
            None if status is None else status.value,
            pickup_from,
            pickup_until,
            area_id,
            *args,
        )
        kept = rows[: page.first]
        parcels = await self._parcels_of([r["id"] for r in kept])
        return Page(items=tuple(_job(r, parcels.get(r["id"], ())) for r in kept), has_next=len(rows) > page.first)

    async def assign_parcel(self, parcel_id: UUID, courier_id: UUID, trip_id: UUID | None) -> bool:
        """Records who carries a parcel (dispatch's write); False when there is no such parcel."""
        result = await self._conn.execute(
            "UPDATE parcels SET assigned_courier_id = $2, assigned_trip_id = $3 WHERE id = $1",
            parcel_id,
            courier_id,
            trip_id,
        )
        return result.split()[-1] == "1"
