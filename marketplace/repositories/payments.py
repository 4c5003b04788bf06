"""Payments SQL: Stripe customers, courier payout accounts, payments per job, transfers, webhook events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from uuid6 import uuid7

from marketplace.domain.claims import HeldPay
from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.payments import HeldTransfer, ParcelOutcome, PaymentStatus, pay_shares
from marketplace.repositories._base import Conn, page_of

_HELD = (
    "h.id, h.courier_id, h.payment_id, p.job_id, h.area_id, h.amount_minor, h.deducted_minor, h.currency, "
    "h.reason, h.refusals, h.held_at"
)


def _held(r: asyncpg.Record) -> HeldTransfer:
    return HeldTransfer(
        id=r["id"],
        courier_id=r["courier_id"],
        payment_id=r["payment_id"],
        job_id=r["job_id"],
        area_id=r["area_id"],
        earned=Money(int(r["amount_minor"]), r["currency"]),
        deducted=Money(int(r["deducted_minor"]), r["currency"]),
        reason=r["reason"],
        refusals=int(r["refusals"]),
        held_at=r["held_at"],
    )


@dataclass(frozen=True, slots=True)
class CustomerRow:
    organization_id: UUID
    customer_id: str
    payment_method_id: str | None
    card_brand: str | None
    card_last4: str | None


CUSTOMER_COLUMNS = "organization_id, customer_id, payment_method_id, card_brand, card_last4"


@dataclass(frozen=True, slots=True)
class PayoutAccountRow:
    courier_id: UUID
    account_id: str
    payouts_enabled: bool
    requirements: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentRow:
    id: UUID
    job_id: UUID
    area_id: UUID
    organization_id: UUID
    payment_intent_id: str | None
    transfer_group: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    captured_minor: int | None
    charge_id: str | None
    balance_transaction_id: str | None
    fee_minor: int | None
    created_at: datetime
    authorize_at: datetime


@dataclass(frozen=True, slots=True)
class TransferRow:
    courier_id: UUID
    transfer_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class JobToSettle:
    job_id: UUID
    final: bool
    parcels: list[ParcelOutcome]


_PAYMENT = (
    "id, job_id, area_id, organization_id, payment_intent_id, transfer_group, status, amount_minor, currency, "
    "captured_minor, charge_id, balance_transaction_id, fee_minor, created_at, authorize_at"
)


def insert_payment(first_param: int) -> str:
    """One payment row from `payment_args`, its parameters numbered from `first_param`: a statement of its
    own, or a CTE of another (a booking writes its job and its payment in one statement)."""
    p = [f"${i}" for i in range(first_param, first_param + 15)]
    # created_at ($14) is also the first updated_at
    return f"INSERT INTO payments ({_PAYMENT}, updated_at) VALUES ({', '.join(p)}, {p[13]})"


def payment_args(payment: PaymentRow, at: datetime) -> list[object]:
    return [
        payment.id,
        payment.job_id,
        payment.area_id,
        payment.organization_id,
        payment.payment_intent_id,
        payment.transfer_group,
        payment.status.value,
        payment.amount_minor,
        payment.currency,
        payment.captured_minor,
        payment.charge_id,
        payment.balance_transaction_id,
        payment.fee_minor,
        at,
        payment.authorize_at,
    ]


def _payment(r: asyncpg.Record) -> PaymentRow:
    return PaymentRow(**{**dict(r), "status": PaymentStatus(r["status"])})


_FINAL = ("delivered", "collected", "returned", "handed_to_fleet", "cancelled")


class PaymentRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # --- retailers' customers -------------------------------------------------------------------

    async def customer(self, organization_id: UUID, *, for_update: bool = False) -> CustomerRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {CUSTOMER_COLUMNS} FROM payment_customers WHERE organization_id = $1{lock}", organization_id
        )
        return None if row is None else CustomerRow(**dict(row))

    async def add_customer(self, organization_id: UUID, customer_id: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO payment_customers (organization_id, customer_id, created_at, updated_at) "
            "VALUES ($1, $2, $3, $3) "
            "ON CONFLICT (organization_id) DO NOTHING",
            organization_id,
            customer_id,
            at,
        )

    async def set_card(
        self, organization_id: UUID, payment_method_id: str, brand: str | None, last4: str | None, at: datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE payment_customers SET payment_method_id = $2, card_brand = $3, card_last4 = $4, updated_at = $5 "
            "WHERE organization_id = $1",
            organization_id,
            payment_method_id,
            brand,
            last4,
            at,
        )

    # --- couriers' payout accounts --------------------------------------------------------------

    async def payout_account(self, courier_id: UUID) -> PayoutAccountRow | None:
        row = await self._conn.fetchrow(
            "SELECT courier_id, account_id, payouts_enabled, requirements, updated_at "
            "FROM payout_accounts WHERE courier_id = $1",
            courier_id,
        )
        return None if row is None else _account(row)

    async def payout_accounts(self, courier_ids: list[UUID]) -> dict[UUID, PayoutAccountRow]:
        rows = await self._conn.fetch(
            "SELECT courier_id, account_id, payouts_enabled, requirements, updated_at "
            "FROM payout_accounts WHERE courier_id = ANY($1::uuid[])",
            courier_ids,
        )
        return {r["courier_id"]: _account(r) for r in rows}

    async def courier_of_account(self, account_id: str) -> UUID | None:
        value = await self._conn.fetchval("SELECT courier_id FROM payout_accounts WHERE account_id = $1", account_id)
        return None if value is None else UUID(str(value))

    async def transfer_refusals(self, payment_id: UUID) -> dict[UUID, int]:
        """courier -> how many of its transfer keys Stripe refused for this payment (see `transfer_key`)."""
        rows = await self._conn.fetch(
            "SELECT courier_id, refusals FROM transfer_holds WHERE payment_id = $1", payment_id
        )
        return {r["courier_id"]: int(r["refusals"]) for r in rows}

    async def hold_transfer(
        self,
        payment: PaymentRow,
        courier_id: UUID,
        amount_minor: int,
        reason: str,
        at: datetime,
        *,
        refused_key_no: int | None,
    ) -> None:
        """The courier's transfer held. `refused_key_no`: Stripe refused the key of that number, so the next
        attempt takes the next one; counted once however many racing attempts saw the same refusal."""
        await self._conn.execute(
            """
            INSERT INTO transfer_holds (payment_id, courier_id, area_id, amount_minor, currency, refusals, reason,
                                        held_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, CASE WHEN $7::int IS NULL THEN 0 ELSE $7::int + 1 END, $6, $8, $8)
            ON CONFLICT (payment_id, courier_id) DO UPDATE
                SET refusals = CASE WHEN transfer_holds.refusals = $7::int THEN transfer_holds.refusals + 1
                                    ELSE transfer_holds.refusals END,
                    sending_minor = CASE WHEN transfer_holds.refusals = $7::int THEN NULL
                                         ELSE transfer_holds.sending_minor END,
                    reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at
            """,
            payment.id,
            courier_id,
            payment.area_id,
            amount_minor,
            payment.currency,
            reason,
            refused_key_no,
            at,
        )

    async def hold(self, payment_id: UUID, courier_id: UUID, *, for_update: bool = False) -> HeldPay | None:
        """The courier's hold on the job's pay, if its transfer was ever held; locked, it serialises the
        held transfer's start and a claim's deduction from it."""
        row = await self._conn.fetchrow(
            "SELECT amount_minor, deducted_minor, sending_minor, released_at FROM transfer_holds "
            "WHERE payment_id = $1 AND courier_id = $2" + (" FOR UPDATE" if for_update else ""),
            payment_id,
            courier_id,
        )
        if row is None:
            return None
        return HeldPay(
            earned_minor=int(row["amount_minor"]),
            deducted_minor=int(row["deducted_minor"]),
            sending_minor=None if row["sending_minor"] is None else int(row["sending_minor"]),
            released=row["released_at"] is not None,
        )

    async def holds(self, payment_id: UUID) -> dict[UUID, HeldPay]:
        rows = await self._conn.fetch(
            "SELECT courier_id, amount_minor, deducted_minor, sending_minor, released_at FROM transfer_holds "
            "WHERE payment_id = $1",
            payment_id,
        )
        return {
            r["courier_id"]: HeldPay(
                earned_minor=int(r["amount_minor"]),
                deducted_minor=int(r["deducted_minor"]),
                sending_minor=None if r["sending_minor"] is None else int(r["sending_minor"]),
                released=r["released_at"] is not None,
            )
            for r in rows
        }

    async def start_held_transfer(self, payment_id: UUID, courier_id: UUID, amount_minor: int, at: datetime) -> None:
        """The amount about to be sent under the hold's current key: claims no longer deduct from it."""
        await self._conn.execute(
            "UPDATE transfer_holds SET sending_minor = $3, updated_at = $4 "
            "WHERE payment_id = $1 AND courier_id = $2 AND released_at IS NULL",
            payment_id,
            courier_id,
            amount_minor,
            at,
        )

    async def deduct_held(self, payment_id: UUID, courier_id: UUID, amount_minor: int, at: datetime) -> None:
        """A claim's charge taken out of the held pay; a hold with nothing left closes (no transfer follows)."""
        await self._conn.execute(
            """
            UPDATE transfer_holds SET deducted_minor = deducted_minor + $3, updated_at = $4,
                   released_at = CASE WHEN deducted_minor + $3 = amount_minor THEN $4::timestamptz END
            WHERE payment_id = $1 AND courier_id = $2 AND released_at IS NULL AND sending_minor IS NULL
            """,
            payment_id,
            courier_id,
            amount_minor,
            at,
        )

    async def held_pay_of(self, courier_id: UUID) -> list[HeldTransfer]:
        """The courier's open holds, oldest first: what is owed to it and why it was not transferred."""
        rows = await self._conn.fetch(
            f"SELECT {_HELD} FROM transfer_holds h JOIN payments p ON p.id = h.payment_id "
            "WHERE h.courier_id = $1 AND h.released_at IS NULL ORDER BY h.held_at, h.id",
            courier_id,
        )
        return [_held(r) for r in rows]

    async def held_transfers(self, page: PageRequest, *, courier_id: UUID | None) -> Page[HeldTransfer]:
        """Every courier's open holds (or one courier's), oldest first, keyset-paged on (held_at, id)."""
        after = page.after
        rows = await self._conn.fetch(
            f"SELECT {_HELD} FROM transfer_holds h JOIN payments p ON p.id = h.payment_id "
            "WHERE h.released_at IS NULL AND ($1::uuid IS NULL OR h.courier_id = $1) "
            "AND ($2::timestamptz IS NULL OR (h.held_at, h.id) > ($2, $3)) "
            "ORDER BY h.held_at, h.id LIMIT $4",
            courier_id,
            None if after is None else after.created_at,
            None if after is None else after.id,
            page.first + 1,
        )
        return page_of(rows, page, _held)

    async def release_hold(self, payment_id: UUID, courier_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            "UPDATE transfer_holds SET released_at = $3, updated_at = $3 "
            "WHERE payment_id = $1 AND courier_id = $2 AND released_at IS NULL",
            payment_id,
            courier_id,
            at,
        )

    async def untransferred_pay(self, courier_id: UUID) -> list[tuple[UUID, UUID]]:
        """(job, payment) of each captured payment whose capture entry made `courier_id`'s pay payable and
        that has no transfer to the courier yet: the pay held while its account could not take it."""
        rows = await self._conn.fetch(
            """
            SELECT DISTINCT p.job_id, p.id
            FROM ledger_accounts a
            JOIN journal_lines l ON l.account_id = a.id AND l.amount_minor < 0
            JOIN journal_entries e ON e.id = l.entry_id AND e.kind IN ('charge_captured', 'cancellation_fee')
            JOIN payments p ON p.payment_intent_id = e.source_id AND p.status = 'captured'
            WHERE a.kind = 'courier_payable' AND a.courier_id = $1
              AND NOT EXISTS (SELECT 1 FROM payment_transfers t WHERE t.payment_id = p.id AND t.courier_id = $1)
              AND NOT EXISTS (SELECT 1 FROM transfer_holds h
                              WHERE h.payment_id = p.id AND h.courier_id = $1 AND h.released_at IS NOT NULL)
            ORDER BY p.job_id
            """,
            courier_id,
        )
        return [(r["job_id"], r["id"]) for r in rows]

    async def add_payout_account(self, courier_id: UUID, account_id: str, at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO payout_accounts (courier_id, account_id, created_at, updated_at) VALUES ($1, $2, $3, $3) "
            "ON CONFLICT (courier_id) DO NOTHING",
            courier_id,
            account_id,
            at,
        )

    async def set_account_state(
        self, account_id: str, payouts_enabled: bool, requirements: tuple[str, ...], at: datetime
    ) -> bool:
        status = await self._conn.execute(
            "UPDATE payout_accounts SET payouts_enabled = $2, requirements = $3, updated_at = $4 WHERE account_id = $1",
            account_id,
            payouts_enabled,
            list(requirements),
            at,
        )
        return str(status).endswith(" 1")

    # --- payments ---------------------------------------------------------------------------------

    async def add_payment(self, payment: PaymentRow, at: datetime) -> None:
        await self._conn.execute(insert_payment(1), *payment_args(payment, at))

    async def add_pending(self, payments: list[PaymentRow], at: datetime) -> None:
        """A bulk booking's payments, set-based: pending until the worker authorises each."""
        await self._conn.execute(
            """
            INSERT INTO payments (id, job_id, area_id, organization_id, transfer_group, status, amount_minor, currency,
                                  created_at, updated_at, authorize_at)
            SELECT id, job_id, area_id, organization_id, transfer_group, 'pending', amount, currency, $8, $8, $8
            FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::text[])
                 AS t(id, job_id, area_id, organization_id, transfer_group, amount, currency)
            """,
            [p.id for p in payments],
            [p.job_id for p in payments],
            [p.area_id for p in payments],
            [p.organization_id for p in payments],
            [p.transfer_group for p in payments],
            [p.amount_minor for p in payments],
            [p.currency for p in payments],
            at,
        )

    async def payment_of_job(self, job_id: UUID, *, for_update: bool = False) -> PaymentRow | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_PAYMENT} FROM payments WHERE job_id = $1{lock}", job_id)
        return None if row is None else _payment(row)

    async def payment_by_intent(self, payment_intent_id: str) -> PaymentRow | None:
        row = await self._conn.fetchrow(
            f"SELECT {_PAYMENT} FROM payments WHERE payment_intent_id = $1", payment_intent_id
        )
        return None if row is None else _payment(row)

    async def payments_of_organization(self, organization_id: UUID, limit: int = 100) -> list[PaymentRow]:
        rows = await self._conn.fetch(
            f"SELECT {_PAYMENT} FROM payments WHERE organization_id = $1 ORDER BY created_at DESC, id LIMIT $2",
            organization_id,
            limit,
        )
        return [_payment(r) for r in rows]

    async def set_captured(
        self,
        payment_id: UUID,
        captured_minor: int,
        charge_id: str,
        balance_transaction_id: str,
        fee_minor: int,
        at: datetime,
    ) -> bool:
        status = await self._conn.execute(
            "UPDATE payments SET status = 'captured', captured_minor = $2, charge_id = $3, "
            "balance_transaction_id = $4, "
            "fee_minor = $5, updated_at = $6, captured_at = $6 WHERE id = $1 AND status = 'authorized'",
            payment_id,
            captured_minor,
            charge_id,
            balance_transaction_id,
            fee_minor,
            at,
        )
        return str(status).endswith(" 1")

    async def set_authorized(self, payment_id: UUID, payment_intent_id: str | None, at: datetime) -> bool:
        """A pending payment authorised by the worker (or, with no intent, failed)."""
        status = await self._conn.execute(
            "UPDATE payments SET status = $3, payment_intent_id = $2, updated_at = $4 "
            "WHERE id = $1 AND status = 'pending'",
            payment_id,
            payment_intent_id,
            "authorized" if payment_intent_id else "failed",
            at,
        )
        return str(status).endswith(" 1")

    async def set_cancelled(self, payment_id: UUID, at: datetime) -> bool:
        status = await self._conn.execute(
            "UPDATE payments SET status = 'cancelled', updated_at = $2 WHERE id = $1 "
            "AND status IN ('authorized', 'pending', 'failed')",
            payment_id,
            at,
        )
        return str(status).endswith(" 1")

    async def transfers(self, payment_id: UUID) -> list[TransferRow]:
        rows = await self._conn.fetch(
            "SELECT courier_id, transfer_id, amount_minor, currency FROM payment_transfers WHERE payment_id = $1",
            payment_id,
        )
        return [TransferRow(**dict(r)) for r in rows]

    async def add_transfer(
        self,
        transfer_row_id: UUID,
        payment: PaymentRow,
        courier_id: UUID,
        transfer_id: str,
        destination: str,
        amount_minor: int,
        at: datetime,
    ) -> bool:
        status = await self._conn.execute(
            "INSERT INTO payment_transfers (id, payment_id, area_id, courier_id, transfer_id, destination, "
            "amount_minor, "
            "currency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            transfer_row_id,
            payment.id,
            payment.area_id,
            courier_id,
            transfer_id,
            destination,
            amount_minor,
            payment.currency,
            at,
        )
        return str(status).endswith(" 1")

    async def job_to_settle(self, job_id: UUID) -> JobToSettle:
        """Each parcel's outcome and its share of its accepted offer's pay (offers split evenly over parcels)."""
        rows = await self._conn.fetch(
            """
            SELECT p.id, p.status, p.deposited_at IS NOT NULL AS deposited,
                   COALESCE(p.cancellation_fee_minor, 0) AS fee,
                   EXISTS (SELECT 1 FROM parcel_events e WHERE e.parcel_id = p.id AND e.kind = 'failed_attempt')
                       AS failed_attempt,
                   o.id AS offer_id, o.pay_minor,
                   COALESCE(o.courier_id, (
                       -- A parcel cancelled out of its accepted offer: the courier its cancellation took it from.
                       SELECT (e.details ->> 'courier_id')::uuid FROM parcel_events e
                       WHERE e.parcel_id = p.id AND e.kind = 'offer_withdrawn'
                         AND e.reason_code = 'cancelled_by_retailer'
                       ORDER BY e.occurred_at DESC LIMIT 1
                   )) AS courier_id,
                   (SELECT array_agg(op2.parcel_id) FROM offer_parcels op2 WHERE op2.offer_id = o.id) AS offer_parcels
            FROM parcels p
            LEFT JOIN LATERAL (
                SELECT o.* FROM offer_parcels op JOIN offers o ON o.id = op.offer_id
                WHERE op.parcel_id = p.id AND o.status = 'accepted' ORDER BY o.decided_at DESC NULLS LAST LIMIT 1
            ) o ON TRUE
            WHERE p.job_id = $1
            ORDER BY p.position
            """,
            job_id,
        )
        outcomes = []
        for r in rows:
            share = 0
            if r["offer_id"] is not None:
                share = pay_shares(int(r["pay_minor"]), list(r["offer_parcels"] or []))[r["id"]]
            outcomes.append(
                ParcelOutcome(
                    parcel_id=r["id"],
                    status=ParcelStatus(r["status"]),
                    deposited_in_locker=bool(r["deposited"]),
                    failed_attempt=bool(r["failed_attempt"]),
                    cancellation_fee_minor=int(r["fee"]),
                    courier_id=r["courier_id"],
                    pay_share_minor=share,
                )
            )
        final = bool(outcomes) and all(o.status.value in _FINAL for o in outcomes)
        return JobToSettle(job_id, final, outcomes)

    # --- payouts to couriers ------------------------------------------------------------------------

    async def upsert_payout(
        self,
        payout_id: str,
        courier_id: UUID,
        account_id: str,
        amount_minor: int,
        currency: str,
        status: str,
        arrival_at: datetime,
        at: datetime,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO courier_payouts (payout_id, courier_id, account_id, amount_minor, currency, status, arrival_at,
                                         updated_at, id, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)
            ON CONFLICT (payout_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
            """,
            payout_id,
            courier_id,
            account_id,
            amount_minor,
            currency,
            status,
            arrival_at,
            at,
            uuid7(),
        )

    async def payouts_of(self, courier_id: UUID, limit: int = 100) -> list[asyncpg.Record]:
        return list(
            await self._conn.fetch(
                "SELECT payout_id, amount_minor, currency, status, arrival_at FROM courier_payouts "
                "WHERE courier_id = $1 ORDER BY arrival_at DESC, payout_id LIMIT $2",
                courier_id,
                limit,
            )
        )

    # --- webhook events -------------------------------------------------------------------------------

    async def record_event(
        self, event_id: str, type_: str, account_id: str | None, object_id: str, at: datetime
    ) -> bool:
        """True the first time an event id is seen: a redelivered event is acknowledged and dropped."""
        status = await self._conn.execute(
            "INSERT INTO stripe_events (id, type, account_id, object_id, received_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO NOTHING",
            event_id,
            type_,
            account_id,
            object_id,
            at,
        )
        return str(status).endswith(" 1")

    async def mark_event_processed(self, event_id: str, at: datetime) -> None:
        await self._conn.execute("UPDATE stripe_events SET processed_at = $2 WHERE id = $1", event_id, at)


def _account(r: asyncpg.Record) -> PayoutAccountRow:
    return PayoutAccountRow(
        r["courier_id"], r["account_id"], r["payouts_enabled"], tuple(r["requirements"]), r["updated_at"]
    )
