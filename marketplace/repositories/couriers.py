from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from marketplace.domain.couriers import (
    CourierStanding,
    DocumentKind,
    InsurancePolicy,
    LevelGrant,
    PolicyStatus,
    VerificationDocument,
    VerificationRequest,
    VerificationStatus,
    standing,
)
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, keyset_clause, page_of

_REQUEST_COLUMNS = "id, courier_id, level, status, created_at, decided_at, decided_by, reason"
_GRANT_COLUMNS = (
    "g.id, g.courier_id, g.level, g.request_id, g.granted_at, g.valid_until, g.granted_by,"
    " r.reason AS approval_reason, g.revoked_at, g.revoked_by, g.revoke_reason"
)
_POLICY_COLUMNS = (
    "id, courier_id, insurer, policy_number, cover_per_parcel_minor, cover_per_trip_minor, currency,"
    " valid_from, valid_until, status, created_at, decided_at, decided_by, reason"
)


def _request(row: asyncpg.Record, documents: Sequence[VerificationDocument]) -> VerificationRequest:
    return VerificationRequest(
        id=row["id"],
        courier_id=row["courier_id"],
        level=row["level"],
        status=VerificationStatus(row["status"]),
        documents=tuple(documents),
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        reason=row["reason"],
    )


def _document(row: asyncpg.Record) -> VerificationDocument:
    return VerificationDocument(
        kind=DocumentKind(row["kind"]),
        issuing_country=row["issuing_country"],
        expires_at=row["expires_at"],
        number_last4=row["number_last4"],
    )


def _grant(row: asyncpg.Record) -> LevelGrant:
    return LevelGrant(
        id=row["id"],
        courier_id=row["courier_id"],
        level=row["level"],
        request_id=row["request_id"],
        granted_at=row["granted_at"],
        valid_until=row["valid_until"],
        granted_by=row["granted_by"],
        approval_reason=row["approval_reason"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        revoke_reason=row["revoke_reason"],
    )


def _policy(row: asyncpg.Record) -> InsurancePolicy:
    return InsurancePolicy(
        id=row["id"],
        courier_id=row["courier_id"],
        insurer=row["insurer"],
        policy_number=row["policy_number"],
        cover_per_parcel=Money(row["cover_per_parcel_minor"], row["currency"]),
        cover_per_trip=Money(row["cover_per_trip_minor"], row["currency"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        status=PolicyStatus(row["status"]),
        created_at=row["created_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        reason=row["reason"],
    )


class CourierRepository:
    """Verification requests with their documents, level grants, and insurance policies."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- verification requests --------------------------------------------------------------

    async def add_request(self, request: VerificationRequest) -> bool:
        """False when the courier already has a pending request; the unique index decides, so racing
        submissions cannot both get in."""
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO verification_requests ({_REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (courier_id) WHERE status = 'pending' DO NOTHING
            RETURNING id
            """,
            request.id,
            request.courier_id,
            request.level,
            request.status.value,
            request.created_at,
            request.decided_at,
            request.decided_by,
            request.reason,
        )
        if row is None:
            return False
        docs = request.documents
        await self._conn.execute(
            """
            INSERT INTO verification_documents
                (id, request_id, position, kind, issuing_country, expires_at, number_last4)
            SELECT d.id, $1, d.position, d.kind, d.issuing_country, d.expires_at, d.number_last4
            FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
                AS d (id, position, kind, issuing_country, expires_at, number_last4)
            """,
            request.id,
            [uuid4() for _ in docs],
            list(range(len(docs))),
            [d.kind.value for d in docs],
            [d.issuing_country for d in docs],
            [d.expires_at for d in docs],
            [d.number_last4 for d in docs],
        )
        return True

    async def get_request(
        self, request_id: UUID, courier_id: UUID | None, *, for_update: bool = False
    ) -> VerificationRequest | None:
        """Scoped to the courier unless None (admins): another courier's request is 'not found'."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT {_REQUEST_COLUMNS} FROM verification_requests
            WHERE id = $1 AND ($2::uuid IS NULL OR courier_id = $2){lock}
            """,
            request_id,
            courier_id,
        )
        if row is None:
            return None
        documents = await self._documents([request_id])
        return _request(row, documents[request_id])

    async def requests_by_id(self, ids: Sequence[UUID]) -> dict[UUID, VerificationRequest]:
        rows = await self._conn.fetch(
            f"SELECT {_REQUEST_COLUMNS} FROM verification_requests WHERE id = ANY($1::uuid[])", list(ids)
        )
        documents = await self._documents([r["id"] for r in rows])
        return {r["id"]: _request(r, documents[r["id"]]) for r in rows}

    async def list_requests(
        self, page: PageRequest, *, courier_id: UUID | None, status: VerificationStatus | None
    ) -> Page[VerificationRequest]:
        """Oldest first, so the pending filter reads as the review queue; two statements per page."""
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_REQUEST_COLUMNS} FROM verification_requests
            WHERE ($2::uuid IS NULL OR courier_id = $2) AND ($3::text IS NULL OR status = $3) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            courier_id,
            None if status is None else status.value,
            *args,
        )
        has_next = len(rows) > page.first
        rows = rows[: page.first]
        documents = await self._documents([r["id"] for r in rows]) if rows else defaultdict(list)
        return Page(items=tuple(_request(r, documents[r["id"]]) for r in rows), has_next=has_next)

    async def _documents(self, request_ids: Sequence[UUID]) -> defaultdict[UUID, list[VerificationDocument]]:
        rows = await self._conn.fetch(
            """
            SELECT request_id, kind, issuing_country, expires_at, number_last4 FROM verification_documents
            WHERE request_id = ANY($1::uuid[])
            ORDER BY request_id, position
            """,
            list(request_ids),
        )
        found: defaultdict[UUID, list[VerificationDocument]] = defaultdict(list)
        for row in rows:
            found[row["request_id"]].append(_document(row))
        return found

    async def decide_request(
        self,
        request_id: UUID,
        *,
        status: VerificationStatus,
        decided_at: datetime,
        decided_by: UUID,
        reason: str | None,
    ) -> VerificationRequest:
        """Only a pending request is decided; callers lock and check it first."""
        row = await self._conn.fetchrow(
            f"""
            UPDATE verification_requests SET status = $2, decided_at = $3, decided_by = $4, reason = $5
            WHERE id = $1 AND status = 'pending'
            RETURNING {_REQUEST_COLUMNS}
            """,
            request_id,
            status.value,
            decided_at,
            decided_by,
            reason,
        )
        if row is None:
            raise LookupError(f"verification request {request_id} is not pending")
        documents = await self._documents([request_id])
        return _request(row, documents[request_id])

    # --- level grants -----------------------------------------------------------------------

    async def add_grant(self, grant: LevelGrant) -> None:
        await self._conn.execute(
            """
            INSERT INTO courier_level_grants
                (id, courier_id, level, request_id, granted_at, valid_until, granted_by,
                 revoked_at, revoked_by, revoke_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            grant.id,
            grant.courier_id,
            grant.level,
            grant.request_id,
            grant.granted_at,
            grant.valid_until,
            grant.granted_by,
            grant.revoked_at,
            grant.revoked_by,
            grant.revoke_reason,
        )

    async def grants_of(self, courier_id: UUID) -> tuple[LevelGrant, ...]:
        """Every grant the courier ever had, lapsed and revoked ones too: the history is made of them."""
        rows = await self._conn.fetch(
            f"""
            SELECT {_GRANT_COLUMNS}
            FROM courier_level_grants g JOIN verification_requests r ON r.id = g.request_id
            WHERE g.courier_id = $1
            ORDER BY g.granted_at, g.id
            """,
            courier_id,
        )
        return tuple(_grant(r) for r in rows)

    async def revoke_grants(self, courier_id: UUID, *, at: datetime, by: UUID, reason: str) -> int:
        """Ends every grant still running at `at`; returns how many there were."""
        result = await self._conn.execute(
            """
            UPDATE courier_level_grants SET revoked_at = $2, revoked_by = $3, revoke_reason = $4
            WHERE courier_id = $1 AND revoked_at IS NULL AND valid_until > $2
            """,
            courier_id,
            at,
            by,
            reason,
        )
        return int(result.split()[-1])

    # --- insurance policies -----------------------------------------------------------------

    async def add_policy(self, policy: InsurancePolicy) -> bool:
        """False when the courier already has this insurer's policy number, unless that one was rejected."""
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO insurance_policies ({_POLICY_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (courier_id, (lower(insurer)), policy_number) WHERE status <> 'rejected' DO NOTHING
            RETURNING id
            """,
            policy.id,
            policy.courier_id,
            policy.insurer,
            policy.policy_number,
            policy.cover_per_parcel.amount_minor,
            policy.cover_per_trip.amount_minor,
            policy.cover_per_parcel.currency,
            policy.valid_from,
            policy.valid_until,
            policy.status.value,
            policy.created_at,
            policy.decided_at,
            policy.decided_by,
            policy.reason,
        )
        return row is not None

    async def get_policy(
        self, policy_id: UUID, courier_id: UUID | None, *, for_update: bool = False
    ) -> InsurancePolicy | None:
        """Scoped to the courier unless None (admins): another courier's policy is 'not found'."""
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT {_POLICY_COLUMNS} FROM insurance_policies
            WHERE id = $1 AND ($2::uuid IS NULL OR courier_id = $2){lock}
            """,
            policy_id,
            courier_id,
        )
        return None if row is None else _policy(row)

    async def list_policies(
        self, page: PageRequest, *, courier_id: UUID | None, status: PolicyStatus | None
    ) -> Page[InsurancePolicy]:
        where, args = keyset_clause(page, 4)
        rows = await self._conn.fetch(
            f"""
            SELECT {_POLICY_COLUMNS} FROM insurance_policies
            WHERE ($2::uuid IS NULL OR courier_id = $2) AND ($3::text IS NULL OR status = $3) AND {where}
            ORDER BY created_at, id
            LIMIT $1
            """,
            page.first + 1,
            courier_id,
            None if status is None else status.value,
            *args,
        )
        return page_of(rows, page, _policy)

    async def decide_policy(
        self, policy_id: UUID, *, status: PolicyStatus, decided_at: datetime, decided_by: UUID, reason: str | None
    ) -> InsurancePolicy:
        """Only a pending policy is decided; callers lock and check it first."""
        row = await self._conn.fetchrow(
            f"""
            UPDATE insurance_policies SET status = $2, decided_at = $3, decided_by = $4, reason = $5
            WHERE id = $1 AND status = 'pending'
            RETURNING {_POLICY_COLUMNS}
            """,
            policy_id,
            status.value,
            decided_at,
            decided_by,
            reason,
        )
        if row is None:
            raise LookupError(f"insurance policy {policy_id} is not pending")
        return _policy(row)

    # --- for the matching bridge --------------------------------------------------------------

    async def standings(self, courier_ids: Sequence[UUID], at: datetime) -> dict[UUID, CourierStanding]:
        """Level and counting policies of each courier at `at`, in two statements whatever the number
        of couriers. Every id asked for is in the result; one with nothing on record has level 0."""
        ids = list(dict.fromkeys(courier_ids))
        grant_rows = await self._conn.fetch(
            f"""
            SELECT {_GRANT_COLUMNS}
            FROM courier_level_grants g JOIN verification_requests r ON r.id = g.request_id
            WHERE g.courier_id = ANY($1::uuid[]) AND g.granted_at <= $2 AND g.valid_until > $2
              AND (g.revoked_at IS NULL OR g.revoked_at > $2)
            """,
            ids,
            at,
        )
        policy_rows = await self._conn.fetch(
            f"""
            SELECT {_POLICY_COLUMNS} FROM insurance_policies
            WHERE courier_id = ANY($1::uuid[]) AND status = 'verified' AND valid_from <= $2 AND valid_until > $2
            """,
            ids,
            at,
        )
        grants: defaultdict[UUID, list[LevelGrant]] = defaultdict(list)
        for row in grant_rows:
            grants[row["courier_id"]].append(_grant(row))
        policies: defaultdict[UUID, list[InsurancePolicy]] = defaultdict(list)
        for row in policy_rows:
            policies[row["courier_id"]].append(_policy(row))
        return {cid: standing(grants[cid], policies[cid], at) for cid in ids}
