"""Refunds and claims SQL: refunds reserved then recorded under Stripe's id, claims with their photos."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from marketplace.domain.claims import Claim, ClaimKind, ClaimStatus, Refund, RefundReason, RefundStatus
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.repositories._base import Conn, keyset_clause, page_of

_REFUND = (
    "id, payment_id, job_id, area_id, organization_id, claim_id, amount_minor, currency, reason, note, status, "
    "refund_id, created_at, succeeded_at"
)

_CLAIM = (
    "c.id, c.parcel_id, c.job_id, c.payment_id, c.area_id, c.organization_id, c.kind, c.description, "
    "c.claimed_minor, c.currency, c.status, c.created_at, c.decided_at, c.decision_reason, c.upheld_minor, "
    "c.courier_at_fault, c.courier_id, c.insurance_policy_id, c.charged_to_courier_minor, c.refund_id, "
    "c.refunded_minor, c.reversal_id, c.reversal_error, c.paid_at, c.held_deducted_minor, "
    "ARRAY(SELECT ph.photo_sha256 FROM claim_photos ph WHERE ph.claim_id = c.id ORDER BY ph.position) AS photos"
)


@dataclass(frozen=True, slots=True)
class ClaimableParcel:
    """A parcel with what a claim on it needs: its value, its job's payment and who carried it."""

    parcel_id: UUID
    job_id: UUID
    area_id: UUID
    organization_id: UUID
    status: str
    declared_value: Money
    courier_id: UUID | None
    payment_id: UUID | None
    payment_status: str | None
    captured_at: datetime | None


@dataclass(frozen=True, slots=True)
class RefundablePayment:
    payment_id: UUID
    job_id: UUID
    area_id: UUID
    organization_id: UUID
    payment_intent_id: str | None
    status: str
    currency: str
    captured_minor: int
    refunded_minor: int  # every refund row, pending ones too: their amounts are reserved


def _refund(r: asyncpg.Record) -> Refund:
    return Refund(
        id=r["id"],
        payment_id=r["payment_id"],
        job_id=r["job_id"],
        area_id=r["area_id"],
        organization_id=r["organization_id"],
        claim_id=r["claim_id"],
        amount=Money(int(r["amount_minor"]), r["currency"]),
        reason=RefundReason(r["reason"]),
        note=r["note"],
        status=RefundStatus(r["status"]),
        refund_id=r["refund_id"],
        created_at=r["created_at"],
        succeeded_at=r["succeeded_at"],
    )


def _claim(r: asyncpg.Record) -> Claim:
    return Claim(
        id=r["id"],
        parcel_id=r["parcel_id"],
        job_id=r["job_id"],
        payment_id=r["payment_id"],
        area_id=r["area_id"],
        organization_id=r["organization_id"],
        kind=ClaimKind(r["kind"]),
        description=r["description"],
        claimed=Money(int(r["claimed_minor"]), r["currency"]),
        status=ClaimStatus(r["status"]),
        photo_hashes=tuple(r["photos"]),
        created_at=r["created_at"],
        decided_at=r["decided_at"],
        decision_reason=r["decision_reason"],
        upheld_minor=r["upheld_minor"],
        courier_at_fault=r["courier_at_fault"],
        courier_id=r["courier_id"],
        insurance_policy_id=r["insurance_policy_id"],
        charged_to_courier_minor=int(r["charged_to_courier_minor"]),
        refund_id=r["refund_id"],
        refunded_minor=r["refunded_minor"],
        reversal_id=r["reversal_id"],
        reversal_error=r["reversal_error"],
        paid_at=r["paid_at"],
        held_deducted_minor=r["held_deducted_minor"],
    )


class ClaimRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- refunds ------------------------------------------------------------------------------------

    async def refundable(self, job_id: UUID, *, for_update: bool = False) -> RefundablePayment | None:
        """The job's payment with what was captured and refunded so far; locked, refunds are serialised."""
        lock = " FOR UPDATE OF p" if for_update else ""
        row = await self._conn.fetchrow(
            f"""
            SELECT p.id, p.job_id, p.area_id, p.organization_id, p.payment_intent_id, p.status, p.currency,
                   COALESCE(p.captured_minor, 0) AS captured,
                   COALESCE((SELECT sum(r.amount_minor) FROM refunds r WHERE r.payment_id = p.id), 0) AS refunded
            FROM payments p WHERE p.job_id = $1{lock}
            """,
            job_id,
        )
        if row is None:
            return None
        return RefundablePayment(
            row["id"],
            row["job_id"],
            row["area_id"],
            row["organization_id"],
            row["payment_intent_id"],
            row["status"],
            row["currency"],
            int(row["captured"]),
            int(row["refunded"]),
        )

    async def add_refund(self, refund: Refund, requested_by: UUID | None) -> None:
        await self._conn.execute(
            f"INSERT INTO refunds ({_REFUND}, requested_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            refund.id,
            refund.payment_id,
            refund.job_id,
            refund.area_id,
            refund.organization_id,
            refund.claim_id,
            refund.amount.amount_minor,
            refund.amount.currency,
            refund.reason.value,
            refund.note,
            refund.status.value,
            refund.refund_id,
            refund.created_at,
            refund.succeeded_at,
            requested_by,
        )

    async def refund(self, refund_id: UUID, *, for_update: bool = False) -> Refund | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_REFUND} FROM refunds WHERE id = $1{lock}", refund_id)
        return None if row is None else _refund(row)

    async def refund_of_claim(self, claim_id: UUID) -> Refund | None:
        row = await self._conn.fetchrow(f"SELECT {_REFUND} FROM refunds WHERE claim_id = $1", claim_id)
        return None if row is None else _refund(row)

    async def refunds_of_job(self, job_id: UUID) -> list[Refund]:
        rows = await self._conn.fetch(
            f"SELECT {_REFUND} FROM refunds WHERE job_id = $1 ORDER BY created_at, id", job_id
        )
        return [_refund(r) for r in rows]

    async def set_refund_succeeded(self, refund_id: UUID, stripe_refund_id: str, at: datetime) -> bool:
        """Only a pending refund succeeds, once: a retried handler finds it done and records nothing."""
        status = await self._conn.execute(
            "UPDATE refunds SET status = 'succeeded', refund_id = $2, succeeded_at = $3 "
            "WHERE id = $1 AND status = 'pending'",
            refund_id,
            stripe_refund_id,
            at,
        )
        return str(status).endswith(" 1")

    # --- claims -------------------------------------------------------------------------------------

    async def claimable_parcel(self, parcel_id: UUID, organization_id: UUID | None) -> ClaimableParcel | None:
        """The parcel, if it is `organization_id`'s (any organisation's for None)."""
        row = await self._conn.fetchrow(
            """
            SELECT p.id, p.job_id, j.area_id, j.organization_id, p.status, p.declared_value_minor, p.currency,
                   p.assigned_courier_id, pay.id AS payment_id, pay.status AS payment_status, pay.captured_at
            FROM parcels p JOIN jobs j ON j.id = p.job_id
            LEFT JOIN payments pay ON pay.job_id = p.job_id
            WHERE p.id = $1 AND ($2::uuid IS NULL OR j.organization_id = $2)
            """,
            parcel_id,
            organization_id,
        )
        if row is None:
            return None
        return ClaimableParcel(
            row["id"],
            row["job_id"],
            row["area_id"],
            row["organization_id"],
            row["status"],
            Money(int(row["declared_value_minor"]), row["currency"]),
            row["assigned_courier_id"],
            row["payment_id"],
            row["payment_status"],
            row["captured_at"],
        )

    async def known_photos(self, hashes: list[str]) -> set[str]:
        rows = await self._conn.fetch("SELECT sha256 FROM photos WHERE sha256 = ANY($1::text[])", hashes)
        return {r["sha256"] for r in rows}

    async def add_claim(self, claim: Claim, filed_by_user_id: UUID | None) -> bool:
        """False when the parcel already has a live claim (filed, upheld or paid)."""
        status = await self._conn.execute(
            """
            INSERT INTO claims (id, parcel_id, job_id, payment_id, area_id, organization_id, kind, description,
                                claimed_minor, currency, status, filed_by_user_id, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'filed', $11, $12, $12)
            ON CONFLICT (parcel_id) WHERE status <> 'rejected' DO NOTHING
            """,
            claim.id,
            claim.parcel_id,
            claim.job_id,
            claim.payment_id,
            claim.area_id,
            claim.organization_id,
            claim.kind.value,
            claim.description,
            claim.claimed.amount_minor,
            claim.claimed.currency,
            filed_by_user_id,
            claim.created_at,
        )
        if not str(status).endswith(" 1"):
            return False
        if claim.photo_hashes:
            await self._conn.execute(
                "INSERT INTO claim_photos (claim_id, position, area_id, photo_sha256) "
                "SELECT $1, t.n - 1, $2, t.h FROM unnest($3::text[]) WITH ORDINALITY AS t(h, n)",
                claim.id,
                claim.area_id,
                list(claim.photo_hashes),
            )
        return True

    async def claim(
        self, claim_id: UUID, organization_id: UUID | None = None, *, for_update: bool = False
    ) -> Claim | None:
        lock = " FOR UPDATE OF c" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_CLAIM} FROM claims c WHERE c.id = $1 AND ($2::uuid IS NULL OR c.organization_id = $2){lock}",
            claim_id,
            organization_id,
        )
        return None if row is None else _claim(row)

    async def list_claims(
        self, page: PageRequest, *, organization_id: UUID | None, status: ClaimStatus | None
    ) -> Page[Claim]:
        where, args = keyset_clause(page, 4)
        where = where.replace("(created_at, id)", "(c.created_at, c.id)")
        rows = await self._conn.fetch(
            f"""
            SELECT {_CLAIM} FROM claims c
            WHERE ($2::uuid IS NULL OR c.organization_id = $2) AND ($3::text IS NULL OR c.status = $3) AND {where}
            ORDER BY c.created_at, c.id
            LIMIT $1
            """,
            page.first + 1,
            organization_id,
            None if status is None else status.value,
            *args,
        )
        return page_of(rows, page, _claim)

    async def reject(self, claim_id: UUID, *, by: UUID, reason: str, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE claims SET status = 'rejected', decided_by = $2, decided_at = $3, decision_reason = $4, "
            "updated_at = $3 WHERE id = $1 AND status = 'filed'",
            claim_id,
            by,
            at,
            reason,
        )

    async def uphold(
        self,
        claim_id: UUID,
        *,
        by: UUID,
        at: datetime,
        reason: str | None,
        upheld_minor: int,
        courier_at_fault: bool,
        courier_id: UUID | None,
        insurance_policy_id: UUID | None,
        charged_to_courier_minor: int,
    ) -> None:
        await self._conn.execute(
            """
            UPDATE claims SET status = 'upheld', decided_by = $2, decided_at = $3, decision_reason = $4,
                   upheld_minor = $5, courier_at_fault = $6, courier_id = $7, insurance_policy_id = $8,
                   charged_to_courier_minor = $9, updated_at = $3
            WHERE id = $1 AND status = 'filed'
            """,
            claim_id,
            by,
            at,
            reason,
            upheld_minor,
            courier_at_fault,
            courier_id,
            insurance_policy_id,
            charged_to_courier_minor,
        )

    async def transferred_to(self, payment_id: UUID, courier_id: UUID) -> tuple[str, int] | None:
        """The courier's transfer for the job (Stripe id, amount), if one was made."""
        row = await self._conn.fetchrow(
            "SELECT transfer_id, amount_minor FROM payment_transfers WHERE payment_id = $1 AND courier_id = $2",
            payment_id,
            courier_id,
        )
        return None if row is None else (str(row["transfer_id"]), int(row["amount_minor"]))

    async def earned_on(self, payment_id: UUID, courier_id: UUID) -> int:
        """What the courier earned on the job, from the ledger: its payable's credit in the job's capture
        (or cancellation fee) entry, whether the pay was transferred since or is still held."""
        return int(
            await self._conn.fetchval(
                """
                SELECT COALESCE(-sum(l.amount_minor), 0)
                FROM payments p
                JOIN journal_entries e ON e.source_id = p.payment_intent_id
                                      AND e.kind IN ('charge_captured', 'cancellation_fee')
                JOIN journal_lines l ON l.entry_id = e.id
                JOIN ledger_accounts a ON a.id = l.account_id AND a.kind = 'courier_payable' AND a.courier_id = $2
                WHERE p.id = $1
                """,
                payment_id,
                courier_id,
            )
        )

    async def set_held_deducted(self, claim_id: UUID, amount_minor: int, at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE claims SET held_deducted_minor = $2, updated_at = $3 "
            "WHERE id = $1 AND status = 'upheld' AND held_deducted_minor IS NULL",
            claim_id,
            amount_minor,
            at,
        )
        return str(status).endswith(" 1")

    async def charged_before(self, payment_id: UUID, courier_id: UUID) -> int:
        """What earlier upheld claims on the same job charged the same courier."""
        return int(
            await self._conn.fetchval(
                "SELECT COALESCE(sum(charged_to_courier_minor), 0) FROM claims "
                "WHERE payment_id = $1 AND courier_id = $2 AND status IN ('upheld', 'paid')",
                payment_id,
                courier_id,
            )
        )

    async def policy_at(self, courier_id: UUID, at: datetime) -> UUID | None:
        """The courier's verified insurance policy in force at `at` (the latest to start), if any."""
        value = await self._conn.fetchval(
            "SELECT id FROM insurance_policies WHERE courier_id = $1 AND status = 'verified' "
            "AND valid_from <= $2 AND valid_until > $2 ORDER BY valid_from DESC, id LIMIT 1",
            courier_id,
            at,
        )
        return None if value is None else UUID(str(value))

    async def set_claim_refunded(
        self, claim_id: UUID, refund_id: str | None, refunded_minor: int, at: datetime
    ) -> bool:
        status = await self._conn.execute(
            "UPDATE claims SET refund_id = $2, refunded_minor = $3, updated_at = $4 "
            "WHERE id = $1 AND status = 'upheld' AND refunded_minor IS NULL",
            claim_id,
            refund_id,
            refunded_minor,
            at,
        )
        return str(status).endswith(" 1")

    async def set_claim_reversed(
        self, claim_id: UUID, reversal_id: str | None, error: str | None, at: datetime
    ) -> bool:
        status = await self._conn.execute(
            "UPDATE claims SET reversal_id = $2, reversal_error = $3, updated_at = $4 "
            "WHERE id = $1 AND status = 'upheld' AND reversal_id IS NULL AND reversal_error IS NULL",
            claim_id,
            reversal_id,
            error,
            at,
        )
        return str(status).endswith(" 1")

    async def set_claim_paid(self, claim_id: UUID, at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE claims SET status = 'paid', paid_at = $2, updated_at = $2 WHERE id = $1 AND status = 'upheld'",
            claim_id,
            at,
        )
        return str(status).endswith(" 1")
