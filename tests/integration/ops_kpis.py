"""Sample calls of the KPI queries for the authorization table (test_authorization.py)."""

from __future__ import annotations

from typing import Any

_NO_AREA = "U2VydmljZUFyZWE6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # ServiceArea:0000...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.deliveryKpis": (
        'query($a: ID!) { deliveryKpis(areaId: $a, date: "2026-11-24") { parcelsBooked } }',
        {"a": _NO_AREA},
    ),
    "Query.deliveryKpisByHour": ("query($a: ID!) { deliveryKpisByHour(areaId: $a) { startAt } }", {"a": _NO_AREA}),
}
