"""Sample calls of the dispatch operations for the authorization table."""

from __future__ import annotations

from typing import Any

_NO_AREA = "U2VydmljZUFyZWE6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # ServiceArea:0000...
_NO_ROUND = "TWF0Y2hpbmdSb3VuZDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="  # MatchingRound:0000...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.matchingRounds": (
        "query($a: ID!) { matchingRounds(areaId: $a, first: 1) { edges { node { id } } } }",
        {"a": _NO_AREA},
    ),
    "Query.matchingRound": ("query($id: ID!) { matchingRound(id: $id) { id } }", {"id": _NO_ROUND}),
    "Query.fleetManifest": (
        'query($a: ID!) { fleetManifest(areaId: $a, date: "2026-11-24") { date } }',
        {"a": _NO_AREA},
    ),
    "Query.failedJobs": ("query { failedJobs(first: 1) { id } }", {}),
    "Query.fleetDepot": ("query($a: ID!) { fleetDepot(areaId: $a) { name } }", {"a": _NO_AREA}),
    "Query.vanBaseline": (
        'query($a: ID!) { vanBaseline(areaId: $a, date: "2026-11-24") { parcels } }',
        {"a": _NO_AREA},
    ),
    "Mutation.setFleetDepot": (
        "mutation($i: SetFleetDepotInput!) { setFleetDepot(input: $i) { errors { code } } }",
        {"i": {"areaId": _NO_AREA, "name": "Hub", "point": {"lat": 52.5, "lng": 13.4}}},
    ),
    "Mutation.planVanRounds": (
        "mutation($i: PlanVanRoundsInput!) { planVanRounds(input: $i) { errors { code } } }",
        {"i": {"areaId": _NO_AREA, "date": "2026-11-24"}},
    ),
    "Mutation.runMatchingRound": (
        "mutation($i: RunMatchingRoundInput!) { runMatchingRound(input: $i) { errors { code } } }",
        {"i": {"areaId": _NO_AREA}},
    ),
}
