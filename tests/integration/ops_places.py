"""Sample calls of the places operations for the authorization table (test_authorization.py).

Each entry: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from typing import Any

_NOBODY_AREA = "U2VydmljZUFyZWE6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # ServiceArea:0000...
_ADDRESS = {"street": "Damrak", "houseNumber": "1", "postalCode": "1012 LG", "city": "Amsterdam", "countryCode": "NL"}
_HOURS = [{"weekday": 1, "opens": "09:00", "closes": "17:00"}]

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.serviceAreas": ("query { serviceAreas(first: 1) { edges { node { id } } } }", {}),
    "Query.serviceArea": ("query($id: ID!) { serviceArea(id: $id) { id } }", {"id": _NOBODY_AREA}),
    "Query.locateServiceArea": ("query { locateServiceArea(point: {lat: 52.37, lng: 4.89}) { id } }", {}),
    "Query.pickupLocations": ("query { pickupLocations(first: 1) { edges { node { id } } } }", {}),
    "Query.pickupLocation": ('query { pickupLocation(id: "nothing") { id } }', {}),
    "Query.organizationUsers": ("query { organizationUsers(first: 1) { edges { node { id } } } }", {}),
    "Query.lockers": ("query { lockers(first: 1) { edges { node { id } } } }", {}),
    "Query.locker": ('query { locker(id: "nothing") { id } }', {}),
    "Query.compartmentSizes": ("query { compartmentSizes { size } }", {}),
    "Mutation.createServiceArea": (
        "mutation($i: CreateServiceAreaInput!) { createServiceArea(input: $i) { errors { code } } }",
        {
            "i": {
                "name": "",
                "countryCode": "NL",
                "currency": "EUR",
                "timeZone": "Europe/Amsterdam",
                "polygon": [],
                "fleetBaseMinor": 0,
                "fleetPerKmMinor": 0,
            }
        },
    ),
    "Mutation.updateServiceArea": (
        "mutation($i: UpdateServiceAreaInput!) { updateServiceArea(input: $i) { errors { code } } }",
        {"i": {"id": _NOBODY_AREA}},
    ),
    "Mutation.createPickupLocation": (
        "mutation($i: CreatePickupLocationInput!) { createPickupLocation(input: $i) { errors { code } } }",
        {
            "i": {
                "kind": "STORE",
                "name": "probe",
                "address": _ADDRESS,
                "point": {"lat": 0, "lng": 0},
                "openingHours": _HOURS,
            }
        },
    ),
    "Mutation.updatePickupLocation": (
        "mutation($i: UpdatePickupLocationInput!) { updatePickupLocation(input: $i) { errors { code } } }",
        {"i": {"id": "nothing"}},
    ),
    "Mutation.archivePickupLocation": (
        "mutation($i: ArchivePickupLocationInput!) { archivePickupLocation(input: $i) { errors { code } } }",
        {"i": {"id": "nothing"}},
    ),
    "Mutation.createOrganizationUser": (
        "mutation($i: CreateOrganizationUserInput!) { createOrganizationUser(input: $i) { errors { code } } }",
        {"i": {"email": "not-an-email", "password": "short"}},
    ),
    "Mutation.createLocker": (
        "mutation($i: CreateLockerInput!) { createLocker(input: $i) { errors { code } } }",
        {
            "i": {
                "kind": "LOCKER",
                "name": "probe",
                "operator": "probe",
                "address": _ADDRESS,
                "point": {"lat": 0, "lng": 0},
                "openingHours": _HOURS,
                "compartments": [{"size": "S", "count": 1}],
            }
        },
    ),
    "Mutation.updateLocker": (
        "mutation($i: UpdateLockerInput!) { updateLocker(input: $i) { errors { code } } }",
        {"i": {"id": "nothing"}},
    ),
}
