"""Delivery steps: parcels read and locked for a step, status changes, PINs, locker compartments, proof,
photos, and the decisions on offers (accept, decline, withdraw) with the pairs never to offer again.

Statuses change only through `Transition`s from `marketplace.domain.delivery.transition`; every
UPDATE also checks the source status, so a step that lost a race changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.domain.delivery import ParcelStatus, Transition
from marketplace.domain.geo import Point
from marketplace.domain.jobs import DropoffKind, FailureAction, JobStatus
from marketplace.domain.offers import Offer, OfferStatus
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.places import CompartmentSize
from marketplace.domain.proof import HandoverProof
from marketplace.domain.settlement import ParcelState
from marketplace.repositories._base import Conn, keyset_clause, page_of
from marketplace.repositories.offers import _COLUMNS as _OFFER_COLUMNS
from marketplace.repositories.offers import _offer
from marketplace.repositories.outbox import FROM_JOB_CHANGES, enqueue_work

_STATE = """
    p.id, p.job_id, j.organization_id, p.area_id, j.currency, p.status, p.assigned_courier_id, p.assigned_trip_id,
    p.length_mm, p.width_mm, p.height_mm, p.weight_g, (p.id_check OR p.adults_only) AS needs_id_check,
    j.failure_action, j.dropoff_kind, j.dropoff_locker_id, j.fallback_locker_id, p.label_code, p.pin_hash,
    p.pin_failures, p.pin_locked_at IS NOT NULL AS pin_locked, p.locker_id, p.locker_pickup_code, p.deposited_at
"""


def _state(row: asyncpg.Record) -> ParcelState:
    return ParcelState(
        id=row["id"],
        job_id=row["job_id"],
        organization_id=row["organization_id"],
        area_id=row["area_id"],
        currency=row["currency"],
        status=ParcelStatus(row["status"]),
        assigned_courier_id=row["assigned_courier_id"],
        assigned_trip_id=row["assigned_trip_id"],
        dimensions_mm=(row["length_mm"], row["width_mm"], row["height_mm"]),
        weight_g=row["weight_g"],
        needs_id_check=row["needs_id_check"],
        failure_action=FailureAction(row["failure_action"]),
        dropoff_kind=DropoffKind(row["dropoff_kind"]),
        dropoff_locker_id=row["dropoff_locker_id"],
        fallback_locker_id=row["fallback_locker_id"],
        label_code=row["label_code"],
        pin_hash=None if row["pin_hash"] is None else bytes(row["pin_hash"]),
        pin_failures=row["pin_failures"],
        pin_locked=row["pin_locked"],
        locker_id=row["locker_id"],
        locker_pickup_code=row["locker_pickup_code"],
        deposited_at=row["deposited_at"],
    )


class DeliveryRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- parcels ----------------------------------------------------------------------------------

    async def parcels(self, parcel_ids: Sequence[UUID], *, for_update: bool = False) -> list[ParcelState]:
        """In id order; `for_update` locks them (always in that order, so two steps never deadlock)."""
        lock = " FOR UPDATE OF p" if for_update else ""
        rows = await self._conn.fetch(
            f"SELECT {_STATE} FROM parcels p JOIN jobs j ON j.id = p.job_id "
            f"WHERE p.id = ANY($1::uuid[]) ORDER BY p.id{lock}",
            list(parcel_ids),
        )
        return [_state(r) for r in rows]

    async def parcel(self, parcel_id: UUID, *, for_update: bool = False) -> ParcelState | None:
        found = await self.parcels([parcel_id], for_update=for_update)
        return found[0] if found else None

    async def parcels_of_job(self, job_id: UUID, *, for_update: bool = False) -> list[ParcelState]:
        lock = " FOR UPDATE OF p" if for_update else ""
        rows = await self._conn.fetch(
            f"SELECT {_STATE} FROM parcels p JOIN jobs j ON j.id = p.job_id WHERE p.job_id = $1 ORDER BY p.id{lock}",
            job_id,
        )
        return [_state(r) for r in rows]

    async def apply(self, changes: Sequence[tuple[UUID, Transition]], at: datetime) -> None:
        """Moves each parcel along its transition, in one statement; a parcel not in its source state is a bug."""
        if not changes:
            return
        result = await self._conn.execute(
            """
            UPDATE parcels p SET status = t.target, status_changed_at = $4
            FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, source, target)
            WHERE p.id = t.id AND p.status = t.source
            """,
            [c[0] for c in changes],
            [c[1].source.value for c in changes],
            [c[1].target.value for c in changes],
            at,
        )
        if int(result.split()[-1]) != len({c[0] for c in changes}):
            raise RuntimeError("a parcel left its source status under a lock")

    async def assign(self, parcel_ids: Sequence[UUID], courier_id: UUID | None, trip_id: UUID | None) -> None:
        await self._conn.execute(
            "UPDATE parcels SET assigned_courier_id = $2, assigned_trip_id = $3 WHERE id = ANY($1::uuid[])",
            list(parcel_ids),
            courier_id,
            trip_id,
        )

    async def set_codes(self, codes: Sequence[tuple[UUID, str, bytes]]) -> None:
        """Label codes and PIN hashes of freshly booked parcels, one statement for the batch."""
        if not codes:
            return
        await self._conn.execute(
            """
            UPDATE parcels p SET label_code = t.label_code, pin_hash = t.pin_hash
            FROM unnest($1::uuid[], $2::text[], $3::bytea[]) AS t(id, label_code, pin_hash) WHERE p.id = t.id
            """,
            [c[0] for c in codes],
            [c[1] for c in codes],
            [c[2] for c in codes],
        )

    async def record_pin_failure(self, parcel_id: UUID, locks_at: int, at: datetime) -> tuple[int, bool]:
        """Counts one wrong PIN (atomically); the try that reaches `locks_at` locks it. (failures, locked)."""
        row = await self._conn.fetchrow(
            """
            UPDATE parcels SET pin_failures = LEAST(pin_failures + 1, $2),
                pin_locked_at = CASE WHEN pin_failures + 1 >= $2 THEN COALESCE(pin_locked_at, $3) END
            WHERE id = $1 AND pin_locked_at IS NULL
            RETURNING pin_failures, pin_locked_at IS NOT NULL AS locked
            """,
            parcel_id,
            locks_at,
            at,
        )
        if row is None:
            return locks_at, True
        return int(row["pin_failures"]), bool(row["locked"])

    async def reset_pin(self, parcel_id: UUID, pin_hash: bytes | None) -> None:
        """Clears the lock and the count; a new hash when operations issue a new PIN."""
        await self._conn.execute(
            "UPDATE parcels SET pin_failures = 0, pin_locked_at = NULL, pin_hash = COALESCE($2, pin_hash) "
            "WHERE id = $1",
            parcel_id,
            pin_hash,
        )

    async def set_deposit(self, parcel_id: UUID, locker_id: UUID, pickup_code: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE parcels SET locker_id = $2, locker_pickup_code = $3, deposited_at = $4 WHERE id = $1",
            parcel_id,
            locker_id,
            pickup_code,
            at,
        )

    async def set_cancellation(self, parcel_id: UUID, fee_minor: int, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE parcels SET cancellation_fee_minor = $2, cancelled_at = $3 WHERE id = $1", parcel_id, fee_minor, at
        )

    async def uncollected(self, deposited_before: datetime, limit: int) -> list[UUID]:
        """Parcels in a locker since before the instant; locked, skipping any a concurrent sweep holds."""
        rows = await self._conn.fetch(
            """
            SELECT id FROM parcels WHERE status = 'in_locker' AND deposited_at <= $1
            ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
            """,
            deposited_before,
            limit,
        )
        return [r["id"] for r in rows]

    async def trip_statuses(self, trip_id: UUID) -> list[ParcelStatus]:
        rows = await self._conn.fetch("SELECT status FROM parcels WHERE assigned_trip_id = $1", trip_id)
        return [ParcelStatus(r["status"]) for r in rows]

    async def job_statuses(self, job_ids: Sequence[UUID]) -> dict[UUID, list[ParcelStatus]]:
        rows = await self._conn.fetch(
            "SELECT job_id, status FROM parcels WHERE job_id = ANY($1::uuid[])", list(set(job_ids))
        )
        found: dict[UUID, list[ParcelStatus]] = {}
        for r in rows:
            found.setdefault(r["job_id"], []).append(ParcelStatus(r["status"]))
        return found

    async def set_job_statuses(self, statuses: dict[UUID, JobStatus], at: datetime) -> None:
        if not statuses:
            return
        # A change is told to the organisation's webhooks in the same statement (repositories/outbox.py).
        rows = await self._conn.fetch(
            f"""
            WITH changed AS (
                UPDATE jobs j SET status = t.status, updated_at = $3
                FROM unnest($1::uuid[], $2::text[]) AS t(id, status), jobs old
                WHERE j.id = t.id AND old.id = t.id AND j.status <> t.status
                RETURNING j.id, j.organization_id, j.area_id, j.reference, old.status AS from_status,
                          j.status AS to_status
            )
            {FROM_JOB_CHANGES}
            """,
            list(statuses),
            [s.value for s in statuses.values()],
            at,
        )
        await enqueue_work(self._conn, rows)

    async def job_by_reference(self, organization_id: UUID, reference: str) -> UUID | None:
        value = await self._conn.fetchval(
            "SELECT id FROM jobs WHERE organization_id = $1 AND reference = $2", organization_id, reference
        )
        return None if value is None else UUID(str(value))

    async def cancellation_fee(self, job_id: UUID) -> int:
        return int(
            await self._conn.fetchval(
                "SELECT COALESCE(sum(cancellation_fee_minor), 0) FROM parcels WHERE job_id = $1", job_id
            )
        )

    # --- locker compartments ----------------------------------------------------------------------

    async def live_reservations(self, locker_id: UUID) -> dict[CompartmentSize, int]:
        return (await self.live_reservations_at([locker_id])).get(locker_id, {})

    async def live_reservations_at(
        self, locker_ids: Sequence[UUID], *, except_parcels: Sequence[UUID] = ()
    ) -> dict[UUID, dict[CompartmentSize, int]]:
        """Compartments taken per locker and size, in one statement; `except_parcels` leaves out the
        holds of parcels whose own change would release them (a redirect withdraws its offer first)."""
        rows = await self._conn.fetch(
            """
            SELECT locker_id, size, count(*) AS n FROM locker_reservations
            WHERE locker_id = ANY($1::uuid[]) AND status <> 'released' AND NOT parcel_id = ANY($2::uuid[])
            GROUP BY locker_id, size
            """,
            list(locker_ids),
            list(except_parcels),
        )
        taken: dict[UUID, dict[CompartmentSize, int]] = {}
        for r in rows:
            taken.setdefault(r["locker_id"], {})[CompartmentSize(r["size"])] = int(r["n"])
        return taken

    async def reserve(
        self, reservation_id: UUID, locker_id: UUID, parcel_id: UUID, area_id: UUID, size: CompartmentSize, at: datetime
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO locker_reservations (id, locker_id, parcel_id, area_id, size, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, 'held', $6, $6)
            """,
            reservation_id,
            locker_id,
            parcel_id,
            area_id,
            size.value,
            at,
        )

    async def reservation_of(self, parcel_id: UUID) -> tuple[UUID, str] | None:
        row = await self._conn.fetchrow(
            "SELECT locker_id, status FROM locker_reservations WHERE parcel_id = $1 AND status <> 'released'",
            parcel_id,
        )
        return None if row is None else (row["locker_id"], row["status"])

    async def set_reservations(self, parcel_ids: Sequence[UUID], status: str, at: datetime) -> None:
        """'occupied' at a deposit, 'released' when the compartment is free again."""
        await self._conn.execute(
            "UPDATE locker_reservations SET status = $2, updated_at = $3 "
            "WHERE parcel_id = ANY($1::uuid[]) AND status <> 'released'",
            list(parcel_ids),
            status,
            at,
        )

    # --- proof and photos -------------------------------------------------------------------------

    async def add_photo(
        self,
        sha256: str,
        content_type: str,
        size_bytes: int,
        user_id: UUID | None,
        at: datetime,
        *,
        organization_id: UUID | None = None,
    ) -> None:
        """Uploaded by a user, or (a claim's photo through an API key) by an organisation."""
        await self._conn.execute(
            """
            INSERT INTO photos (sha256, content_type, size_bytes, uploaded_by_user_id, uploaded_by_organization_id,
                                created_at)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING
            """,
            sha256,
            content_type,
            size_bytes,
            user_id,
            organization_id,
            at,
        )

    async def photo_type(self, sha256: str) -> str | None:
        value = await self._conn.fetchval("SELECT content_type FROM photos WHERE sha256 = $1", sha256)
        return None if value is None else str(value)

    async def add_proof(
        self,
        proof_id: UUID,
        parcel: ParcelState,
        kind: str,
        proof: HandoverProof,
        *,
        pin_verified: bool,
        position: Point | None,
        at: datetime,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO delivery_proofs (id, parcel_id, area_id, kind, pin_verified, photo_sha256, signature,
                                         id_document_kind, id_check_result, lat, lng, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12)
            """,
            proof_id,
            parcel.id,
            parcel.area_id,
            kind,
            pin_verified,
            proof.photo_sha256,
            None if proof.signature is None else json.dumps([[list(p) for p in s] for s in proof.signature]),
            None if proof.id_check is None else proof.id_check.document_kind.value,
            None if proof.id_check is None else proof.id_check.result.value,
            None if position is None else position.lat,
            None if position is None else position.lng,
            at,
        )

    async def proofs(self, parcel_ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
        """The latest proof of each parcel."""
        rows = await self._conn.fetch(
            """
            SELECT DISTINCT ON (parcel_id) parcel_id, kind, pin_verified, photo_sha256, signature, id_document_kind,
                   id_check_result, lat, lng, created_at
            FROM delivery_proofs WHERE parcel_id = ANY($1::uuid[]) ORDER BY parcel_id, created_at DESC
            """,
            list(parcel_ids),
        )
        return {r["parcel_id"]: r for r in rows}

    async def parcel_extras(self, parcel_ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
        """What booking and delivery added to a parcel, for readers entitled to it."""
        rows = await self._conn.fetch(
            """
            SELECT id, label_code, pin_locked_at IS NOT NULL AS pin_locked, locker_id, locker_pickup_code,
                   deposited_at, cancellation_fee_minor, cancelled_at
            FROM parcels WHERE id = ANY($1::uuid[])
            """,
            list(parcel_ids),
        )
        return {r["id"]: r for r in rows}


class OfferDecisionRepository:
    """Writes that decide an offer, and a courier's own offers to read."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def decide(
        self, offer_id: UUID, source: OfferStatus, target: OfferStatus, at: datetime, reason: str | None
    ) -> None:
        result = await self._conn.execute(
            """
            UPDATE offers SET status = $3, decided_at = COALESCE(decided_at, $4), updated_at = $4,
                decline_reason = COALESCE($5, decline_reason)
            WHERE id = $1 AND status = $2
            """,
            offer_id,
            source.value,
            target.value,
            at,
            reason,
        )
        if result.split()[-1] != "1":
            raise RuntimeError("the offer left its status under a lock")

    async def release_parcels(self, offer_id: UUID, parcel_ids: Sequence[UUID]) -> None:
        """The parcels are no longer in this offer: free for another."""
        await self._conn.execute(
            "UPDATE offer_parcels SET live = FALSE WHERE offer_id = $1 AND parcel_id = ANY($2::uuid[])",
            offer_id,
            list(parcel_ids),
        )

    async def live_parcels(self, offer_id: UUID) -> list[UUID]:
        rows = await self._conn.fetch(
            "SELECT parcel_id FROM offer_parcels WHERE offer_id = $1 AND live ORDER BY parcel_id", offer_id
        )
        return [r["parcel_id"] for r in rows]

    async def live_offers_of(self, parcel_ids: Sequence[UUID]) -> list[Offer]:
        """Open or accepted offers holding any of these parcels, locked, in id order."""
        rows = await self._conn.fetch(
            f"""
            SELECT {_OFFER_COLUMNS} FROM offers o
            WHERE o.id IN (SELECT offer_id FROM offer_parcels WHERE live AND parcel_id = ANY($1::uuid[]))
            ORDER BY o.id FOR UPDATE OF o
            """,
            list(parcel_ids),
        )
        return [_offer(r) for r in rows]

    async def add_finished_round(self, round_id: UUID, area_id: UUID, at: datetime) -> None:
        """A round row for offers written without the worker (the accept benchmark, tests)."""
        await self._conn.execute(
            """
            INSERT INTO matching_rounds (id, area_id, status, trigger, started_at, finished_at, created_at)
            VALUES ($1, $2, 'succeeded', 'schedule', $3, $3, $3)
            """,
            round_id,
            area_id,
            at,
        )

    async def status_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(offers per status, parcels per status)."""
        offers = await self._conn.fetch("SELECT status, count(*) AS n FROM offers GROUP BY status")
        parcels = await self._conn.fetch("SELECT status, count(*) AS n FROM parcels GROUP BY status")
        return {r["status"]: int(r["n"]) for r in offers}, {r["status"]: int(r["n"]) for r in parcels}

    async def list_for_courier(
        self, page: PageRequest, *, courier_id: UUID | None, status: OfferStatus | None, now: datetime
    ) -> Page[Offer]:
        """Filters on the status read at `now` (an open offer past its instant reads expired)."""
        where, args = keyset_clause(page, 5)
        effective = "(CASE WHEN o.status = 'open' AND o.expires_at <= $4 THEN 'expired' ELSE o.status END)"
        rows = await self._conn.fetch(
            f"""
            SELECT {_OFFER_COLUMNS} FROM offers o
            WHERE ($2::uuid IS NULL OR o.courier_id = $2) AND ($3::text IS NULL OR {effective} = $3)
              AND {where.replace("(created_at, id)", "(o.created_at, o.id)")}
            ORDER BY o.created_at, o.id LIMIT $1
            """,
            page.first + 1,
            courier_id,
            None if status is None else status.value,
            now,
            *args,
        )
        return page_of(rows, page, _offer)
