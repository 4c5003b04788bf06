"""Sample calls of the vehicles operations for the authorization table (test_authorization.py).

Each entry: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from typing import Any

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.vehicles": ("query { vehicles(first: 1) { edges { node { id } } } }", {}),
    "Query.vehicle": ('query { vehicle(id: "nothing") { id } }', {}),
    "Query.vehicleKinds": ("query { vehicleKinds { kind } }", {}),
    "Mutation.registerVehicle": (
        "mutation($i: RegisterVehicleInput!) { registerVehicle(input: $i) { errors { code } } }",
        {"i": {"kind": "BICYCLE", "name": ""}},
    ),
    "Mutation.updateVehicle": (
        "mutation($i: UpdateVehicleInput!) { updateVehicle(input: $i) { errors { code } } }",
        {"i": {"id": "nothing"}},
    ),
    "Mutation.retireVehicle": (
        "mutation($i: RetireVehicleInput!) { retireVehicle(input: $i) { errors { code } } }",
        {"i": {"id": "nothing"}},
    ),
}
