"""Bulk seeding for the reconciliation benchmark: settled payments and their entries, set-based.

Not used by the service: the service posts one entry per event through `LedgerRepository.insert_entry`.
This writes many postings in four statements, with the same rows (and the same database checks at
commit) so a day of 10,000 deliveries is seeded in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from uuid6 import uuid7

from marketplace.domain.ledger import Posting
from marketplace.repositories._base import Conn
from marketplace.repositories.ledger import LedgerRepository


@dataclass(frozen=True, slots=True)
class SettledPayment:
    job_id: UUID
    area_id: UUID
    organization_id: UUID
    payment_intent_id: str
    charge_id: str
    balance_transaction_id: str
    amount_minor: int
    fee_minor: int
    currency: str
    courier_id: UUID
    transfer_id: str
    destination: str
    pay_minor: int


async def seed_payments(conn: Conn, payments: Sequence[SettledPayment], *, at: datetime) -> None:
    ids = [uuid7() for _ in payments]
    await conn.execute(
        "INSERT INTO payments (id, job_id, area_id, organization_id, payment_intent_id, transfer_group, status,"
        " amount_minor, currency, captured_minor, charge_id, balance_transaction_id, fee_minor, created_at,"
        " updated_at, authorize_at, captured_at)"
        " SELECT id, job_id, area_id, org, pi, 'job_' || job_id::text, 'captured', amount, currency, amount, ch, txn,"
        " fee, $10, $10, $10, $10 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[],"
        " $7::text[], $8::text[], $9::text[], $11::bigint[])"
        " AS x(id, job_id, area_id, org, pi, amount, currency, ch, txn, fee)",
        ids,
        [p.job_id for p in payments],
        [p.area_id for p in payments],
        [p.organization_id for p in payments],
        [p.payment_intent_id for p in payments],
        [p.amount_minor for p in payments],
        [p.currency for p in payments],
        [p.charge_id for p in payments],
        [p.balance_transaction_id for p in payments],
        at,
        [p.fee_minor for p in payments],
    )
    await conn.execute(
        "INSERT INTO payment_transfers (id, payment_id, area_id, courier_id, transfer_id, destination, amount_minor,"
        " currency, created_at)"
        " SELECT gen_random_uuid(), pid, area_id, courier, tr, dest, amount, currency, $8"
        " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::text[])"
        " AS x(pid, area_id, courier, tr, dest, amount, currency)",
        ids,
        [p.area_id for p in payments],
        [p.courier_id for p in payments],
        [p.transfer_id for p in payments],
        [p.destination for p in payments],
        [p.pay_minor for p in payments],
        [p.currency for p in payments],
        at,
    )


async def seed_postings(conn: Conn, postings: Sequence[Posting], *, recorded_at: datetime) -> None:
    """Every posting as one entry with its lines (accounts opened first), in two statements."""
    accounts = await LedgerRepository(conn).open_accounts(
        (x.account for p in postings for x in p.lines), at=recorded_at
    )
    entry_ids = [uuid7() for _ in postings]
    await conn.execute(
        "INSERT INTO journal_entries (id, area_id, kind, source_id, description, occurred_at, recorded_at)"
        " SELECT id, area_id, kind, source_id, description, occurred_at, $7"
        " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])"
        " AS x(id, area_id, kind, source_id, description, occurred_at)",
        entry_ids,
        [p.area_id for p in postings],
        [p.kind.value for p in postings],
        [p.source_id for p in postings],
        [p.description for p in postings],
        [p.occurred_at for p in postings],
        recorded_at,
    )
    lines = [
        (entry_id, p, no, x) for entry_id, p in zip(entry_ids, postings, strict=True) for no, x in enumerate(p.lines, 1)
    ]
    await conn.execute(
        "INSERT INTO journal_lines (id, entry_id, line_no, account_id, area_id, currency, amount_minor, occurred_at,"
        " created_at)"
        " SELECT id, entry_id, line_no, account_id, area_id, currency, amount_minor, occurred_at, $9"
        " FROM unnest($1::uuid[], $2::uuid[], $3::smallint[], $4::uuid[], $5::uuid[], $6::text[], $7::bigint[],"
        " $8::timestamptz[]) AS x(id, entry_id, line_no, account_id, area_id, currency, amount_minor, occurred_at)",
        [uuid7() for _ in lines],
        [e for e, _, _, _ in lines],
        [no for _, _, no, _ in lines],
        [accounts[x.account].id for _, _, _, x in lines],
        [p.area_id for _, p, _, _ in lines],
        [x.currency for _, _, _, x in lines],
        [x.amount_minor for _, _, _, x in lines],
        [p.occurred_at for _, p, _, _ in lines],
        recorded_at,
    )


async def seed_delivered(
    conn: Conn,
    area_id: UUID,
    organization_id: UUID,
    authorized: dict[UUID, tuple[str, int]],
    *,
    pay_minor: int,
    at: datetime,
) -> None:
    """For the settlement benchmark: every job's parcels delivered under an accepted offer on one of the area's
    trips (parcels dealt round the trips), and its payment `authorized` under the given PaymentIntent."""
    trips = await conn.fetch("SELECT id, courier_id FROM trips WHERE area_id = $1 ORDER BY id", area_id)
    parcels = await conn.fetch(
        "SELECT p.id FROM parcels p JOIN jobs j ON j.id = p.job_id WHERE j.area_id = $1 ORDER BY p.id", area_id
    )
    round_id = uuid7()
    await conn.execute(
        "INSERT INTO matching_rounds (id, area_id, status, trigger, started_at, finished_at, created_at)"
        " VALUES ($1, $2, 'succeeded', 'schedule', $3, $3, $3)",
        round_id,
        area_id,
        at,
    )
    offers = [uuid7() for _ in trips]
    await conn.execute(
        "INSERT INTO offers (id, round_id, area_id, trip_id, courier_id, status, stops, detour_m, co2_g, pay_minor,"
        " currency, expires_at, decided_at, created_at, updated_at)"
        " SELECT id, $1, $2, trip, courier, 'accepted', '[]'::jsonb, 0, 0, $5, 'EUR',"
        " $6::timestamptz + interval '1 hour', $6, $6, $6"
        " FROM unnest($3::uuid[], $4::uuid[], $7::uuid[]) AS x(id, trip, courier)",
        round_id,
        area_id,
        offers,
        [t["id"] for t in trips],
        pay_minor,
        at,
        [t["courier_id"] for t in trips],
    )
    await conn.execute(
        "INSERT INTO offer_parcels (offer_id, parcel_id, area_id, live)"
        " SELECT offer, parcel, $3, TRUE FROM unnest($1::uuid[], $2::uuid[]) AS x(offer, parcel)",
        [offers[n % len(offers)] for n in range(len(parcels))],
        [p["id"] for p in parcels],
        area_id,
    )
    await conn.execute("UPDATE parcels SET status = 'delivered' WHERE id = ANY($1::uuid[])", [p["id"] for p in parcels])
    await conn.execute(
        "INSERT INTO payments (id, job_id, area_id, organization_id, payment_intent_id, transfer_group, status,"
        " amount_minor, currency, created_at, updated_at, authorize_at)"
        " SELECT gen_random_uuid(), job, $1, $2, pi, 'job_' || job::text, 'authorized', amount, 'EUR', $6, $6, $6"
        " FROM unnest($3::uuid[], $4::text[], $5::bigint[]) AS x(job, pi, amount)",
        area_id,
        organization_id,
        list(authorized),
        [pi for pi, _ in authorized.values()],
        [amount for _, amount in authorized.values()],
        at,
    )


async def jobs_of_area(conn: Conn, area_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM jobs WHERE area_id = $1 ORDER BY id", area_id)]


async def set_payout_account(conn: Conn, courier_id: UUID, account_id: str) -> None:
    """The seeded courier's connected account becomes one that exists at the (fake) Stripe."""
    await conn.execute("UPDATE payout_accounts SET account_id = $2 WHERE courier_id = $1", courier_id, account_id)


async def entry_count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM journal_entries"))
