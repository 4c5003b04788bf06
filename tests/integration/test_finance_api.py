"""Finance over HTTP: who reads which part of the books, the day's totals, statements and the CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar

from marketplace.domain import ledger
from marketplace.domain.accounts import Role
from marketplace.domain.money import Money
from marketplace.services.container import Services
from schema.types import global_id
from tests.factories import make_area, uuid_of
from tests.helpers import PASSWORD, GraphQL, fresh_token

BALANCES = """
query($asOf: DateTime, $kind: LedgerAccountKind, $first: Int, $after: String) {
  ledgerBalances(asOf: $asOf, kind: $kind, first: $first, after: $after) {
    edges { cursor node { account { code kind name courierId organizationId currency } debit { amountMinor }
                          credit { amountMinor } balance { amountMinor currency } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
STATEMENT = """
query($c: ID, $first: Int, $after: String) {
  courierStatement(courierId: $c, first: $first, after: $after) {
    edges { node { entryKind sourceId amount { amountMinor } debit { amountMinor } credit { amountMinor }
                   balanceAfter { amountMinor } account { code courierId } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CHARGES = """
query($o: ID) {
  organizationCharges(organizationId: $o) {
    edges { node { entryKind sourceId amount { amountMinor currency } account { organizationId } } }
  }
}
"""
SUMMARY = """
query($d: Date!) {
  dailyFinanceSummary(date: $d) {
    areaId date currency captured { amountMinor } revenue { amountMinor } cancellationFees { amountMinor }
    courierEarnings { amountMinor } refunds { amountMinor } stripeFees { amountMinor } claimsPaid { amountMinor }
    claimsRecovered { amountMinor } netRevenue { amountMinor } transfers { amountMinor }
    transferReversals { amountMinor } payouts { amountMinor }
  }
}
"""


@dataclass
class Town:
    area_id: UUID
    shop_a: UUID
    shop_b: UUID
    courier_x: UUID
    courier_y: UUID
    tokens: dict[str, str]
    api_key: str


@pytest.fixture
async def town(app_and_gql: tuple[Litestar, GraphQL], services: Services) -> Town:
    gql = app_and_gql[1]
    area = await make_area(services)
    a = await gql.sign_up("a@example.com", "RETAILER", organization="Shop A")
    b = await gql.sign_up("b@example.com", "RETAILER", organization="Shop B")
    x = await gql.sign_up("x@example.com", "COURIER")
    y = await gql.sign_up("y@example.com", "COURIER")
    for role in (Role.FINANCE, Role.ADMIN):
        await services.accounts.create_user(email=f"{role.value}@example.com", password=PASSWORD, role=role)
    tokens = {who: await fresh_token(gql, f"{who}@example.com") for who in ("a", "b", "x", "y", "finance", "admin")}
    key = await gql('mutation { createApiKey(input: {name: "books"}) { secret } }', token=tokens["a"])
    t = Town(
        area.id,
        uuid_of(a["organization"]["id"], "Organization"),
        uuid_of(b["organization"]["id"], "Organization"),
        uuid_of(x["id"], "User"),
        uuid_of(y["id"], "User"),
        tokens,
        key["data"]["createApiKey"]["secret"],
    )
    now = services.clock.now()
    eur = "EUR"
    postings = [
        ledger.charge_captured(
            source_id="pi_a", area_id=t.area_id, organization_id=t.shop_a, charged=Money(1310, eur),
            courier_id=t.courier_x, courier_pay=Money(500, eur), at=now,
        ),
        ledger.stripe_fee(source_id="txn_a", area_id=t.area_id, fee=Money(43, eur), at=now),
        ledger.transfer(source_id="tr_a", area_id=t.area_id, courier_id=t.courier_x, amount=Money(500, eur), at=now),
        ledger.charge_captured(
            source_id="pi_b", area_id=t.area_id, organization_id=t.shop_b, charged=Money(2000, eur),
            courier_id=t.courier_y, courier_pay=Money(700, eur), at=now,
        ),
        ledger.refund(source_id="re_a", area_id=t.area_id, organization_id=t.shop_a, amount=Money(310, eur), at=now),
        ledger.cancellation_fee(source_id="cf_b", area_id=t.area_id, organization_id=t.shop_b, fee=Money(250, eur),
                                at=now),
        ledger.claim_upheld(source_id="cl_b", area_id=t.area_id, organization_id=t.shop_b, amount=Money(900, eur),
                            courier_id=t.courier_y, charged_to_courier=Money(300, eur), at=now),
    ]  # fmt: skip
    async with services.db.uow() as uow:
        for posting in postings:
            await services.ledger.post(uow, posting)
        await uow.commit()
    return t


def _data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_finance_reads_every_balance_and_the_days_totals(gql: GraphQL, town: Town) -> None:
    found = _data(await gql(BALANCES, {"first": 100}, token=town.tokens["finance"]), "ledgerBalances")
    balances: dict[tuple[str, str | None], int] = {}
    for edge in found["edges"]:
        account = edge["node"]["account"]
        node = edge["node"]
        assert node["debit"]["amountMinor"] - node["credit"]["amountMinor"] == node["balance"]["amountMinor"]
        owner = account["courierId"] or account["organizationId"]
        balances[(account["code"], owner)] = node["balance"]["amountMinor"]
    x, y = global_id("User", town.courier_x), global_id("User", town.courier_y)
    # Card clearing: 1310 - 43 - 500 + 2000 - 310 + 250 - 900 (the reversal of 300 is not posted yet).
    assert balances[("1100", None)] == 1807
    assert balances[("2100", x)] == 0  # earned 500, transferred 500
    assert balances[("2100", y)] == -400  # earned 700, charged 300 for the claim
    assert balances[("4000", None)] == -(810 + 1300)
    assert sum(balances.values()) == 0

    summary = _data(await gql(SUMMARY, {"d": "2026-11-24"}, token=town.tokens["finance"]), "dailyFinanceSummary")
    assert len(summary) == 1
    day = {k: v["amountMinor"] if isinstance(v, dict) else v for k, v in summary[0].items()}
    assert (day["captured"], day["revenue"], day["cancellationFees"]) == (3310, 2110, 250)
    assert (day["courierEarnings"], day["refunds"], day["stripeFees"]) == (1200, 310, 43)
    assert (day["claimsPaid"], day["claimsRecovered"], day["transfers"], day["transferReversals"]) == (900, 300, 500, 0)
    assert day["netRevenue"] == 2110 + 250 - 310 - 43 - 900 + 300
    assert day["currency"] == "EUR"
    # The area's local day: nothing is on the day before.
    assert _data(await gql(SUMMARY, {"d": "2026-11-23"}, token=town.tokens["admin"]), "dailyFinanceSummary") == []


async def test_balances_page_with_cursors_and_filter_by_kind(gql: GraphQL, town: Town) -> None:
    token = town.tokens["finance"]
    seen: list[str] = []
    after = None
    while True:
        page = _data(await gql(BALANCES, {"first": 2, "after": after}, token=token), "ledgerBalances")
        seen += [
            f"{a['code']} {a['courierId']} {a['organizationId']}" for a in (e["node"]["account"] for e in page["edges"])
        ]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    everything = _data(await gql(BALANCES, {"first": 100}, token=token), "ledgerBalances")["edges"]
    assert len(seen) == len(set(seen)) == len(everything)
    payables = _data(await gql(BALANCES, {"kind": "COURIER_PAYABLE"}, token=token), "ledgerBalances")["edges"]
    assert {e["node"]["account"]["kind"] for e in payables} == {"COURIER_PAYABLE"}
    assert len(payables) == 2
    early = _data(await gql(BALANCES, {"asOf": "2026-11-24T07:59:59Z"}, token=token), "ledgerBalances")["edges"]
    assert {e["node"]["balance"]["amountMinor"] for e in early} == {0}
    bad = await gql(BALANCES, {"asOf": "0001-01-01T00:00:00+14:00"}, token=token)
    assert _codes(bad) == ["BAD_USER_INPUT"]


async def test_a_courier_reads_only_its_own_statement(gql: GraphQL, town: Town) -> None:
    mine = _data(await gql(STATEMENT, {}, token=town.tokens["x"]), "courierStatement")["edges"]
    assert [(n["node"]["entryKind"], n["node"]["amount"]["amountMinor"]) for n in mine] == [
        ("CHARGE_CAPTURED", -500),
        ("TRANSFER", 500),
    ]
    assert [n["node"]["balanceAfter"]["amountMinor"] for n in mine] == [-500, 0]
    assert [(n["node"]["debit"]["amountMinor"], n["node"]["credit"]["amountMinor"]) for n in mine] == [
        (0, 500),
        (500, 0),
    ]
    assert {n["node"]["account"]["courierId"] for n in mine} == {global_id("User", town.courier_x)}
    # Naming itself is the same; naming another courier reads as nothing.
    named = _data(
        await gql(STATEMENT, {"c": global_id("User", town.courier_x)}, token=town.tokens["x"]), "courierStatement"
    )
    assert named["edges"] == mine
    other = await gql(STATEMENT, {"c": global_id("User", town.courier_y)}, token=town.tokens["x"])
    assert _data(other, "courierStatement")["edges"] == []
    # Finance reads any courier's, and must name one.
    theirs = _data(
        await gql(STATEMENT, {"c": global_id("User", town.courier_y)}, token=town.tokens["finance"]), "courierStatement"
    )["edges"]
    assert [n["node"]["sourceId"] for n in theirs] == ["pi_b", "cl_b"]
    assert [n["node"]["balanceAfter"]["amountMinor"] for n in theirs] == [-700, -400]
    unnamed = await gql(STATEMENT, {}, token=town.tokens["finance"])
    assert _codes(unnamed) == ["BAD_USER_INPUT"]
    # Couriers and retailers never read the books.
    for who in ("x", "a"):
        assert _codes(await gql(BALANCES, {}, token=town.tokens[who])) == ["FORBIDDEN"]
        assert _codes(await gql(SUMMARY, {"d": "2026-11-24"}, token=town.tokens[who])) == ["FORBIDDEN"]
    assert _codes(await gql(STATEMENT, {}, token=town.tokens["a"])) == ["FORBIDDEN"]


async def test_a_retailer_reads_only_its_own_organisations_charges(gql: GraphQL, town: Town) -> None:
    for token in (town.tokens["a"], town.api_key):
        mine = _data(await gql(CHARGES, {}, token=token), "organizationCharges")["edges"]
        assert {n["node"]["account"]["organizationId"] for n in mine} == {global_id("Organization", town.shop_a)}
        assert [(n["node"]["sourceId"], n["node"]["amount"]["amountMinor"]) for n in mine] == [
            ("pi_a", 1310),
            ("pi_a", -1310),
            ("re_a", -310),
            ("re_a", 310),
        ]
        other = await gql(CHARGES, {"o": global_id("Organization", town.shop_b)}, token=token)
        assert _data(other, "organizationCharges")["edges"] == []
    b_for_finance = await gql(CHARGES, {"o": global_id("Organization", town.shop_b)}, token=town.tokens["finance"])
    assert {n["node"]["sourceId"] for n in _data(b_for_finance, "organizationCharges")["edges"]} == {
        "pi_b",
        "cf_b",
        "cl_b",
    }
    assert _codes(await gql(CHARGES, {}, token=town.tokens["x"])) == ["FORBIDDEN"]


async def test_the_ledger_exports_as_csv_for_finance_only(app_and_gql: tuple[Litestar, GraphQL], town: Town) -> None:
    client = app_and_gql[1].client
    url = "/ledger.csv?from=2026-11-24&until=2026-11-24"
    response = await client.get(url, headers={"Authorization": f"Bearer {town.tokens['finance']}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 5 + 2 + 2 + 5 + 4 + 4 + 6  # the lines of the seven entries
    assert sum(int(r["debit_minor"]) for r in rows) == sum(int(r["credit_minor"]) for r in rows)
    by_entry: dict[str, int] = {}
    for r in rows:
        by_entry[r["entry_id"]] = by_entry.get(r["entry_id"], 0) + int(r["debit_minor"]) - int(r["credit_minor"])
    assert set(by_entry.values()) == {0}
    assert {r["source_id"] for r in rows} == {"pi_a", "txn_a", "tr_a", "pi_b", "re_a", "cf_b", "cl_b"}
    assert {r["area_id"] for r in rows} == {str(town.area_id)}

    area_url = f"{url}&area={global_id('ServiceArea', town.area_id)}"
    assert (
        await client.get(area_url, headers={"Authorization": f"Bearer {town.tokens['admin']}"})
    ).text == response.text
    empty = await client.get(
        "/ledger.csv?from=2026-11-25&until=2026-11-30", headers={"Authorization": f"Bearer {town.tokens['finance']}"}
    )
    assert empty.text.strip().split("\r\n") == [",".join(csv_header())]
    assert (await client.get(url)).status_code == 401
    for who in ("x", "a"):
        assert (await client.get(url, headers={"Authorization": f"Bearer {town.tokens[who]}"})).status_code == 403
    assert (await client.get(url, headers={"Authorization": f"Bearer {town.api_key}"})).status_code == 403
    finance = {"Authorization": f"Bearer {town.tokens['finance']}"}
    assert (await client.get("/ledger.csv?from=2026-11-24&until=24-11-2026", headers=finance)).status_code == 400
    assert (await client.get("/ledger.csv?from=2026-11-24&until=2026-11-23", headers=finance)).status_code == 400
    assert (await client.get("/ledger.csv?from=2026-01-01&until=2026-12-31", headers=finance)).status_code == 400


def csv_header() -> tuple[str, ...]:
    from marketplace.services.finance import CSV_HEADER

    return CSV_HEADER
