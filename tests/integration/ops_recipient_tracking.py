"""The recipient's tracking token: documents and sample calls for the authorization table."""

from __future__ import annotations

from typing import Any

ERRORS = "errors { field code message }"
TRACKED = (
    "status courierFirstName vehicleKind deliverFrom deliverUntil dropoffEtaAt dropoffLockerId dropoffLockerName "
    "safePlaceAllowed neighbourAllowed redirectable expiresAt"
)
TRACKED_PARCEL = f"""
subscription($token: String!) {{
  trackedParcel(token: $token) {{ parcel {{ {TRACKED} }} events {{ seq kind status occurredAt }} }}
}}
"""
REDIRECT = f"""
mutation($input: RedirectTrackedParcelInput!) {{
  redirectTrackedParcel(input: $input) {{ parcel {{ {TRACKED} }} {ERRORS} }}
}}
"""
NO_TOKEN = "0" * 64

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Subscription.trackedParcel": (TRACKED_PARCEL, {"token": NO_TOKEN}),
    "Mutation.redirectTrackedParcel": (REDIRECT, {"input": {"token": NO_TOKEN, "allowNeighbour": True}}),
}
