"""Live tracking's documents and sample calls for the authorization table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from schema.types import global_id
from tests.conftest import T0

ERRORS = "errors { field code message }"
RECORD_PINGS = f"""
mutation($input: RecordLocationPingsInput!) {{
  recordLocationPings(input: $input) {{
    kept dropped flagged etas {{ parcelId kind etaAt windowEndAt late }} {ERRORS}
  }}
}}
"""
EVENT = "kind fromStatus toStatus actorKind reasonCode details occurredAt"
PARCEL_UPDATES = f"""
subscription($parcelId: ID!) {{
  parcelUpdates(parcelId: $parcelId) {{
    parcelId status seq courierPosition {{ position {{ lat lng }} recordedAt headingDeg }}
    pickupEtaAt dropoffEtaAt deliverFrom deliverUntil
    events {{ seq parcelId jobId event {{ {EVENT} }} }}
  }}
}}
"""
OFFER_UPDATES = "subscription { offerUpdates { change offer { id status parcelIds } } }"
ORGANIZATION_EVENTS = f"""
subscription($organizationId: ID, $afterSeq: Int) {{
  organizationParcelEvents(organizationId: $organizationId, afterSeq: $afterSeq) {{
    seq parcelId jobId event {{ {EVENT} }}
  }}
}}
"""

NO_PARCEL = str(global_id("Parcel", UUID(int=0)))


def ping(lat: float, lng: float, at: Any = T0, **extra: Any) -> dict[str, Any]:
    return {"recordedAt": at.isoformat(), "position": {"lat": lat, "lng": lng}, **extra}


OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Mutation.recordLocationPings": (RECORD_PINGS, {"input": {"pings": [ping(52.37, 4.89)]}}),
    "Subscription.parcelUpdates": (PARCEL_UPDATES, {"parcelId": NO_PARCEL}),
    "Subscription.offerUpdates": (OFFER_UPDATES, {}),
    "Subscription.organizationParcelEvents": (ORGANIZATION_EVENTS, {}),
}
