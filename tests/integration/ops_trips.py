"""Sample calls of the trips operations for the authorization table (test_authorization.py).

Each entry: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from typing import Any

# Global IDs of nothing: base64 of "Trip:<nil uuid>" and friends.
_NO_TRIP = "VHJpcDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
_NO_COMMUTE = "Q29tbXV0ZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
_NO_VEHICLE = "VmVoaWNsZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
_PLACE = {"point": {"lat": 52.37, "lng": 4.89}, "label": "home"}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.trips": ("query { trips(first: 1) { edges { node { id status } } } }", {}),
    "Query.trip": ("query($id: ID!) { trip(id: $id) { id } }", {"id": _NO_TRIP}),
    "Query.commutes": ("query { commutes(first: 1) { edges { node { id } } } }", {}),
    "Mutation.createTrip": (
        "mutation($i: CreateTripInput!) { createTrip(input: $i) { errors { code } } }",
        {
            "i": {
                "vehicleId": _NO_VEHICLE,
                "origin": _PLACE,
                "destination": _PLACE,
                "departAfter": "2030-01-01T08:00:00+00:00",
                "arriveBy": "2030-01-01T09:00:00+00:00",
            }
        },
    ),
    "Mutation.updateTrip": (
        "mutation($i: UpdateTripInput!) { updateTrip(input: $i) { errors { code } } }",
        {"i": {"id": _NO_TRIP, "maxDetourM": 100}},
    ),
    "Mutation.cancelTrip": (
        "mutation($i: CancelTripInput!) { cancelTrip(input: $i) { errors { code } } }",
        {"i": {"id": _NO_TRIP}},
    ),
    "Mutation.createCommute": (
        "mutation($i: CreateCommuteInput!) { createCommute(input: $i) { errors { code } } }",
        {
            "i": {
                "vehicleId": _NO_VEHICLE,
                "origin": _PLACE,
                "destination": _PLACE,
                "weekdays": [1],
                "departTime": "08:00:00",
                "arriveTime": "09:00:00",
            }
        },
    ),
    "Mutation.updateCommute": (
        "mutation($i: UpdateCommuteInput!) { updateCommute(input: $i) { errors { code } } }",
        {"i": {"id": _NO_COMMUTE, "weekdays": [2]}},
    ),
    "Mutation.setCommuteActive": (
        "mutation($i: SetCommuteActiveInput!) { setCommuteActive(input: $i) { errors { code } } }",
        {"i": {"id": _NO_COMMUTE, "active": False}},
    ),
    "Mutation.scheduleCommuteTrips": (
        "mutation($i: ScheduleCommuteTripsInput!) { scheduleCommuteTrips(input: $i) { created errors { code } } }",
        {"i": {"days": 1}},
    ),
}
