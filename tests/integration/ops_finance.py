"""Sample calls of the finance operations for the authorization table (test_authorization.py)."""

from __future__ import annotations

from typing import Any

_NO_USER = "VXNlcjowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="  # User:0000...
_NO_RUN = "UmVjb25jaWxpYXRpb25SdW46MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # ReconciliationRun:0000...
_NO_ORG = "T3JnYW5pemF0aW9uOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # Organization:0000...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.ledgerBalances": ("query { ledgerBalances(first: 1) { edges { node { balance { amountMinor } } } } }", {}),
    "Query.courierStatement": (
        "query($c: ID) { courierStatement(courierId: $c, first: 1) { edges { node { id } } } }",
        {"c": _NO_USER},
    ),
    "Query.organizationCharges": (
        "query($o: ID) { organizationCharges(organizationId: $o, first: 1) { edges { node { id } } } }",
        {"o": _NO_ORG},
    ),
    "Query.dailyFinanceSummary": ('query { dailyFinanceSummary(date: "2026-11-24") { currency } }', {}),
    "Query.reconciliationRuns": ("query { reconciliationRuns(first: 1) { edges { node { id matched } } } }", {}),
    "Query.reconciliationMismatches": (
        "query($r: ID!) { reconciliationMismatches(runId: $r, first: 1) { edges { node { id kind } } } }",
        {"r": _NO_RUN},
    ),
    "Query.payouts": (
        "query { payouts(first: 1) { edges { node { payoutId lines { net { amountMinor } } entries { entryId } } } } }",
        {},
    ),
    "Query.courierPayouts": (
        "query { courierPayouts(first: 1) { edges { node { payoutId courierEmail amount { amountMinor } } } } }",
        {},
    ),
}
