"""Reconciliation end to end: Stripe's side read through the real SDK from the fake, the ledger's from
PostgreSQL. A clean day has no mismatch; each injected discrepancy is found with both sides; running a
day again supersedes its run and keeps the old one.
"""

from __future__ import annotations

import csv
import io
from uuid import UUID

import asyncpg
import stripe

from marketplace.domain import ledger
from marketplace.domain.accounts import Role
from marketplace.domain.money import Money
from marketplace.services.container import Services
from marketplace.services.reconciliation import RECONCILE_JOB
from schema.types import global_id
from stripefake import RunningFake
from tests.conftest import STRIPE_KEY, T0
from tests.helpers import PASSWORD, GraphQL, fresh_token
from tests.integration import payment_setup
from tests.integration.ops_delivery import Courier
from tests.integration.ops_jobs import Shop
from tests.integration.payment_setup import assert_ledger_balanced, control, payable_of, payment_of, settled
from tests.integration.test_cli import crowdship
from tests.integration.test_worker import eventually, worker

# The payments tests' fixtures: a Stripe fake of this module's own (reset per test), a shop with a card,
# a courier with payouts enabled and a trip.
own_fake, fake, settings, sdk = payment_setup.own_fake, payment_setup.fake, payment_setup.settings, payment_setup.sdk
area, shop, courier = payment_setup.area, payment_setup.shop, payment_setup.courier

DAY = T0.date()


async def mismatches(db: asyncpg.Connection, run_id: UUID) -> list[asyncpg.Record]:
    return list(
        await db.fetch("SELECT * FROM reconciliation_mismatches WHERE run_id = $1 ORDER BY kind, object_id", run_id)
    )


async def test_book_deliver_payout_reconcile_finds_nothing_and_the_books_agree(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    db: asyncpg.Connection,
    sdk: stripe.StripeClient,
    fake: RunningFake,
) -> None:
    await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    account = str(await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id))

    run = await services.reconciliation.reconcile(DAY)
    # The charge, its fee and the transfer, each matched to its entry.
    assert (run.stripe_objects, run.ledger_entries, run.matched, run.mismatch_count) == (3, 3, 3, 0)

    # The courier's balance pays out two days later; the payout webhook is recorded (`refresh_payout`).
    await control(fake, "clock", {"advance_s": 3 * 86400})
    payout = sdk.v1.payouts.create(params={"amount": 450, "currency": "eur"}, options={"stripe_account": account})
    assert await services.payments.refresh_payout(payout.id, account)
    payout_day = (T0.date()).fromordinal(DAY.toordinal() + 3)
    paid = await services.reconciliation.reconcile(payout_day)
    assert (paid.stripe_objects, paid.matched, paid.mismatch_count) == (1, 1, 0)

    await assert_ledger_balanced(db)
    transfers = await db.fetchval("SELECT COALESCE(sum(amount_minor), 0) FROM payment_transfers")
    reversals = await db.fetchval(
        "SELECT COALESCE(sum(l.amount_minor), 0) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
        " JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE e.kind = 'transfer_reversal' AND a.kind = 'card_clearing'"
    )
    earned = -int(
        await db.fetchval(
            "SELECT sum(l.amount_minor) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
            " JOIN ledger_accounts a ON a.id = l.account_id"
            " WHERE a.kind = 'courier_payable' AND e.kind IN ('charge_captured', 'cancellation_fee')"
        )
    )
    # What the courier is owed is what it earned less what reached it: transfers minus reversals.
    assert -(await payable_of(db, courier.user_id)) == earned - (transfers - reversals)
    assert transfers - reversals == 450 == earned
    assert payment["status"] == "captured"


async def test_reconciliation_finds_each_injected_discrepancy_with_both_sides(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, sdk: stripe.StripeClient
) -> None:
    await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    account = str(await db.fetchval("SELECT account_id FROM payout_accounts WHERE courier_id = $1", courier.user_id))
    gateway = services.payments.gateway
    area_id = payment["area_id"]

    async def transfer(amount: int, key: str, group: str | None = None) -> str:
        """A transfer made outside the settlement (a dashboard, a script), straight through Stripe."""
        return await gateway.transfer(
            amount_minor=amount,
            currency="EUR",
            destination=account,
            transfer_group=group or f"manual-{key}",
            source_transaction=payment["charge_id"],
            metadata={},
            idempotency_key=f"injected:{key}",
        )

    async def post(source_id: str, amount: Money) -> UUID:
        """An entry posted by the ledger's own rules under a Stripe id, as a (faulty) handler would."""
        posting = ledger.transfer(
            source_id=source_id, area_id=area_id, courier_id=courier.user_id, amount=amount, at=services.clock.now()
        )
        async with services.db.uow() as uow:
            posted = await services.ledger.post(uow, posting)
            await uow.commit()
        return posted.entry.id

    (original,) = sdk.v1.transfers.list(params={"transfer_group": payment["transfer_group"]}).data
    twin = await transfer(original.amount, "twin", payment["transfer_group"])  # 1. the courier paid twice
    missing = await transfer(12, "missing")  # 2. Stripe moved money the books never heard of
    off_by_one = await transfer(30, "cent")  # 3. recorded one cent short
    off_entry = await post(off_by_one, Money(29, "EUR"))
    foreign = await transfer(20, "currency")  # 4. recorded in another currency
    foreign_entry = await post(foreign, Money(20, "GBP"))
    ghost_entry = await post("tr_NeverMadeAtStripe1", Money(50, "EUR"))  # and one Stripe never saw

    run = await services.reconciliation.reconcile(DAY)
    found = {(m["kind"], m["object_id"]): m for m in await mismatches(db, run.id)}
    assert set(found) == {
        ("missing_in_ledger", missing),
        ("amount_differs", off_by_one),
        ("currency_differs", foreign),
        ("duplicate", twin),
        ("missing_in_stripe", "tr_NeverMadeAtStripe1"),
    }
    assert run.mismatch_count == 5
    assert run.matched == 3  # the delivery's charge, fee and transfer still agree

    m = found[("missing_in_ledger", missing)]
    assert (m["stripe_amount_minor"], m["stripe_currency"], m["ledger_entry_id"]) == (-12, "EUR", None)
    m = found[("amount_differs", off_by_one)]
    assert (m["stripe_amount_minor"], m["ledger_amount_minor"], m["ledger_entry_id"]) == (-30, -29, off_entry)
    assert m["area_id"] == area_id
    m = found[("currency_differs", foreign)]
    assert (m["stripe_currency"], m["ledger_currency"], m["ledger_entry_id"]) == ("EUR", "GBP", foreign_entry)
    m = found[("duplicate", twin)]
    assert m["stripe_amount_minor"] == -original.amount
    assert m["ledger_entry_kind"] == "transfer"  # the entry of the first transfer, which the twin repeats
    m = found[("missing_in_stripe", "tr_NeverMadeAtStripe1")]
    assert (m["stripe_amount_minor"], m["ledger_amount_minor"], m["ledger_entry_id"]) == (None, -50, ghost_entry)


async def test_a_ledger_entry_recorded_twice_under_one_stripe_object_is_a_duplicate(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    """Raw SQL: a second entry of another kind under the same PaymentIntent (the capture booked as a fee too)."""
    await settled(gql, services, shop, courier, db)
    payment = await payment_of(db)
    captured = await db.fetchrow("SELECT * FROM journal_entries WHERE kind = 'charge_captured'")
    assert captured is not None
    async with db.transaction():
        entry_id = await db.fetchval(
            "INSERT INTO journal_entries (id, area_id, kind, source_id, description, occurred_at, recorded_at)"
            " VALUES (gen_random_uuid(), $1, 'cancellation_fee', $2, 'booked twice', $3, $3) RETURNING id",
            captured["area_id"],
            captured["source_id"],
            captured["occurred_at"],
        )
        await db.execute(
            "INSERT INTO journal_lines (id, entry_id, line_no, account_id, area_id, currency, amount_minor,"
            " occurred_at, created_at)"
            " SELECT gen_random_uuid(), $2, line_no, account_id, area_id, currency, amount_minor, occurred_at,"
            " created_at FROM journal_lines WHERE entry_id = $1",
            captured["id"],
            entry_id,
        )
    run = await services.reconciliation.reconcile(DAY)
    (m,) = await mismatches(db, run.id)
    assert (m["kind"], m["object_id"], m["object_type"]) == ("duplicate", payment["charge_id"], "charge")
    assert m["stripe_amount_minor"] == payment["captured_minor"]
    assert m["ledger_amount_minor"] == 2 * payment["captured_minor"]


async def test_reconciling_a_day_again_supersedes_its_run_and_keeps_the_history(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    await settled(gql, services, shop, courier, db)
    ghost = ledger.transfer(
        source_id="tr_Ghost1",
        area_id=(await payment_of(db))["area_id"],
        courier_id=courier.user_id,
        amount=Money(10, "EUR"),
        at=services.clock.now(),
    )
    async with services.db.uow() as uow:
        await services.ledger.post(uow, ghost)
        await uow.commit()
    first = await services.reconciliation.reconcile(DAY)
    second = await services.reconciliation.reconcile(DAY)
    assert first.mismatch_count == second.mismatch_count == 1
    rows = await db.fetch("SELECT id, superseded_at, superseded_by FROM reconciliation_runs ORDER BY created_at, id")
    assert [(r["id"], r["superseded_by"]) for r in rows] == [(first.id, second.id), (second.id, None)]
    assert rows[0]["superseded_at"] is not None
    assert len(await mismatches(db, first.id)) == len(await mismatches(db, second.id)) == 1


RUNS = """
query($d: Date, $first: Int, $after: String) {
  reconciliationRuns(date: $d, first: $first, after: $after) {
    edges { node { id date matched mismatchCount supersededAt supersededById stripeObjects ledgerEntries } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MISMATCHES = """
query($r: ID!, $k: ReconciliationMismatchKind, $first: Int, $after: String) {
  reconciliationMismatches(runId: $r, kind: $k, first: $first, after: $after) {
    edges { node { kind objectType objectId areaId stripeAmount { amountMinor currency } ledgerEntryKind
                   ledgerAmount { amountMinor currency } ledgerEntryId detail } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_finance_reads_runs_and_mismatches_in_graphql_and_csv_and_no_one_else_does(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    await settled(gql, services, shop, courier, db)
    area_id = (await payment_of(db))["area_id"]
    for n, source in enumerate(("tr_GhostA", "tr_GhostB", "tr_GhostC"), 1):
        posting = ledger.transfer(
            source_id=source, area_id=area_id, courier_id=courier.user_id, amount=Money(n, "EUR"), at=T0
        )
        async with services.db.uow() as uow:
            await services.ledger.post(uow, posting)
            await uow.commit()
    await services.reconciliation.reconcile(DAY)
    current = await services.reconciliation.reconcile(DAY)
    await services.accounts.create_user(email="books@example.com", password=PASSWORD, role=Role.FINANCE)
    finance = await fresh_token(gql, "books@example.com")

    body = await gql(RUNS, {"d": DAY.isoformat()}, token=finance)
    runs = [e["node"] for e in body["data"]["reconciliationRuns"]["edges"]]
    assert [(r["matched"], r["mismatchCount"]) for r in runs] == [(3, 3), (3, 3)]
    assert runs[0]["supersededById"] == runs[1]["id"] == global_id("ReconciliationRun", current.id)
    assert runs[1]["supersededAt"] is None

    seen, after = [], None
    while True:  # two at a time: keyset pages
        page = (await gql(MISMATCHES, {"r": runs[1]["id"], "first": 2, "after": after}, token=finance))["data"][
            "reconciliationMismatches"
        ]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted((m["objectId"], m["kind"], m["ledgerAmount"]["amountMinor"]) for m in seen) == [
        ("tr_GhostA", "MISSING_IN_STRIPE", -1),
        ("tr_GhostB", "MISSING_IN_STRIPE", -2),
        ("tr_GhostC", "MISSING_IN_STRIPE", -3),
    ]
    assert {m["areaId"] for m in seen} == {global_id("ServiceArea", area_id)}
    assert {m["stripeAmount"] for m in seen} == {None}
    only = await gql(MISMATCHES, {"r": runs[1]["id"], "k": "DUPLICATE"}, token=finance)
    assert only["data"]["reconciliationMismatches"]["edges"] == []
    missing_run = await gql(MISMATCHES, {"r": global_id("ReconciliationRun", courier.user_id)}, token=finance)
    assert missing_run["data"]["reconciliationMismatches"]["edges"] == []

    response = await gql.client.get(
        f"/reconciliation.csv?from={DAY.isoformat()}&until={DAY.isoformat()}",
        headers={"Authorization": f"Bearer {finance}"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="reconciliation-{DAY.isoformat()}-{DAY.isoformat()}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # Only the day's current run: the superseded one's mismatches are history, not the day's answer.
    assert sorted((r["object_id"], r["kind"], r["ledger_amount_minor"]) for r in rows) == [
        ("tr_GhostA", "missing_in_stripe", "-1"),
        ("tr_GhostB", "missing_in_stripe", "-2"),
        ("tr_GhostC", "missing_in_stripe", "-3"),
    ]
    assert {r["run_id"] for r in rows} == {str(current.id)}
    assert {r["area_id"] for r in rows} == {str(area_id)}

    # A courier and a retailer read none of it.
    for token in (courier.token, shop.token):
        refused = await gql(RUNS, {}, token=token)
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
        csv_answer = await gql.client.get(
            f"/reconciliation.csv?from={DAY.isoformat()}&until={DAY.isoformat()}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert csv_answer.status_code == 403
    assert (await gql.client.get("/reconciliation.csv?from=2026-11-24&until=2026-11-24")).status_code == 401
    too_long = await gql.client.get(
        "/reconciliation.csv?from=2026-01-01&until=2026-12-31", headers={"Authorization": f"Bearer {finance}"}
    )
    assert too_long.status_code == 400


async def test_the_daily_job_and_the_cli_reconcile_a_day(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection, database_url: str
) -> None:
    """The worker's `reconcile_day` job (as the 01:20 schedule enqueues it, here naming the day), then
    `crowdship finance reconcile --date` in a process of its own: the second run supersedes the first."""
    await settled(gql, services, shop, courier, db)
    async with services.db.uow() as uow:
        await uow.repos.job_queue.enqueue(RECONCILE_JOB, {"date": DAY.isoformat()}, dedupe_key=RECONCILE_JOB)
        await uow.commit()
    async with worker(services, database_url):

        async def reconciled() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM reconciliation_runs WHERE day = $1", DAY))

        await eventually(reconciled, 30, "the day reconciled by the worker")
    by_job = await db.fetchrow("SELECT id, matched, mismatch_count FROM reconciliation_runs")
    assert by_job is not None
    assert (by_job["matched"], by_job["mismatch_count"]) == (3, 0)

    base = services.settings.stripe_api_base or ""
    result = await crowdship(
        "finance",
        "reconcile",
        "--date",
        DAY.isoformat(),
        env={"DATABASE_URL": database_url, "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_API_BASE": base},
    )
    assert result.returncode == 0, result.stderr
    assert "3 matched, 0 mismatches" in result.stdout
    current = await db.fetchrow("SELECT id FROM reconciliation_runs WHERE superseded_at IS NULL")
    assert current is not None
    assert current["id"] != by_job["id"]
    assert (
        await db.fetchval("SELECT superseded_by FROM reconciliation_runs WHERE id = $1", by_job["id"]) == current["id"]
    )
    bad = await crowdship("finance", "reconcile", "--date", "24-11-2026", env={"DATABASE_URL": database_url})
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in bad.stderr
