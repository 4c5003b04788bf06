"""Offers and delivery operations' documents, sample calls for the authorization table, and a world to
run them in: a shop, couriers with trips, and booked jobs offered to them.

The world's fixtures (`area`, `shop`, `courier`) are used by naming them at a module's top, as
`area, shop, courier = ops_delivery.area, ops_delivery.shop, ops_delivery.courier` (pytest finds
fixtures by module attribute)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from marketplace.domain.areas import ServiceArea
from marketplace.domain.offers import Offer
from marketplace.domain.trips import Trip
from marketplace.services.container import Services
from schema.types import global_id
from tests.dispatch_factories import make_offer, make_trip
from tests.factories import enable_payouts, make_area, uuid_of
from tests.helpers import GraphQL
from tests.integration.ops_jobs import Shop, open_shop, request_quote

ERRORS = "errors { field code message }"
OFFER_FIELDS = "id status tripId parcelIds stops { parcelId kind plannedAt } detourM co2G pay { amountMinor currency } "
OFFER_FIELDS += "expiresAt decidedAt declineReason createdAt"
EVENT_FIELDS = "kind fromStatus toStatus actorKind reasonCode position { lat lng } details occurredAt"
PARCEL_FIELDS = f"""
id jobId status labelCode recipientPin pinLocked lockerPickupCode cancellationFee {{ amountMinor currency }}
events {{ {EVENT_FIELDS} }}
proof {{ kind pinVerified photoUrl signature idCheck {{ documentKind result }} position {{ lat lng }} }}
"""

ACCEPT = (
    f"mutation($input: AcceptOfferInput!) {{ acceptOffer(input: $input) {{ offer {{ {OFFER_FIELDS} }} {ERRORS} }} }}"
)
DECLINE = (
    f"mutation($input: DeclineOfferInput!) {{ declineOffer(input: $input) {{ offer {{ {OFFER_FIELDS} }} {ERRORS} }} }}"
)
OFFER = f"query($id: ID!) {{ offer(id: $id) {{ {OFFER_FIELDS} }} }}"
MY_OFFERS = f"""
query($first: Int, $after: String, $status: OfferStatus) {{
  myOffers(first: $first, after: $after, status: $status) {{
    edges {{ cursor node {{ {OFFER_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
PARCEL = f"query($id: ID!) {{ parcel(id: $id) {{ {PARCEL_FIELDS} }} }}"
JOB_WITH_RECIPIENT = """
query($id: ID!) { job(id: $id) { id status recipient { name phone } parcels { id status labelCode events { kind } } } }
"""


def _step(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ parcel {{ {PARCEL_FIELDS} }} {ERRORS} }} }}"


ARRIVE_AT_PICKUP = _step("arriveAtPickup", "DeliveryStepInput")
CONFIRM_PICKUP = _step("confirmPickup", "ConfirmPickupInput")
ARRIVE_AT_DROPOFF = _step("arriveAtDropoff", "DeliveryStepInput")
DELIVER = _step("deliverParcel", "DeliverParcelInput")
FAILED_ATTEMPT = _step("reportFailedAttempt", "ReportFailedAttemptInput")
DEPOSIT = _step("depositInLocker", "DeliveryStepInput")
SAFE_PLACE = _step("deliverToSafePlace", "DeliverToSafePlaceInput")
CONFIRM_RETURN = _step("confirmReturn", "DeliveryStepInput")
COLLECT = _step("recordLockerCollection", "RecordLockerCollectionInput")
RESET_PIN = f"""
mutation($input: ResetRecipientPinInput!) {{
  resetRecipientPin(input: $input) {{ pin parcel {{ id pinLocked }} {ERRORS} }}
}}
"""
CANCEL_FIELDS = (
    "job { id status parcels { id status cancellationFee { amountMinor currency } } } "
    f"fee {{ amountMinor currency }} {ERRORS}"
)
CANCEL_JOB = f"mutation($input: CancelJobInput!) {{ cancelJob(input: $input) {{ {CANCEL_FIELDS} }} }}"
CANCEL_PARCEL = f"mutation($input: CancelParcelInput!) {{ cancelParcel(input: $input) {{ {CANCEL_FIELDS} }} }}"

NO_OFFER = str(global_id("Offer", UUID(int=0)))
NO_PARCEL = str(global_id("Parcel", UUID(int=0)))
NO_JOB = str(global_id("Job", UUID(int=0)))
HERE = {"lat": 52.36, "lng": 4.9}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.myOffers": (MY_OFFERS, {"first": 1}),
    "Query.offer": (OFFER, {"id": NO_OFFER}),
    "Query.parcel": (PARCEL, {"id": NO_PARCEL}),
    "Mutation.acceptOffer": (ACCEPT, {"input": {"offerId": NO_OFFER}}),
    "Mutation.declineOffer": (DECLINE, {"input": {"offerId": NO_OFFER}}),
    "Mutation.arriveAtPickup": (ARRIVE_AT_PICKUP, {"input": {"parcelId": NO_PARCEL}}),
    "Mutation.confirmPickup": (CONFIRM_PICKUP, {"input": {"parcelId": NO_PARCEL, "labelCode": "ABCDEFGH"}}),
    "Mutation.arriveAtDropoff": (ARRIVE_AT_DROPOFF, {"input": {"parcelId": NO_PARCEL}}),
    "Mutation.deliverParcel": (DELIVER, {"input": {"parcelId": NO_PARCEL, "proof": {"pin": "1234"}}}),
    "Mutation.reportFailedAttempt": (
        FAILED_ATTEMPT,
        {"input": {"parcelId": NO_PARCEL, "reason": "RECIPIENT_ABSENT", "position": HERE}},
    ),
    "Mutation.depositInLocker": (DEPOSIT, {"input": {"parcelId": NO_PARCEL}}),
    "Mutation.deliverToSafePlace": (
        SAFE_PLACE,
        {"input": {"parcelId": NO_PARCEL, "photoHash": "0" * 64, "position": HERE}},
    ),
    "Mutation.confirmReturn": (CONFIRM_RETURN, {"input": {"parcelId": NO_PARCEL}}),
    "Mutation.recordLockerCollection": (COLLECT, {"input": {"parcelId": NO_PARCEL, "pickupCode": "123456"}}),
    "Mutation.resetRecipientPin": (RESET_PIN, {"input": {"parcelId": NO_PARCEL}}),
    "Mutation.cancelJob": (CANCEL_JOB, {"input": {"jobId": NO_JOB}}),
    "Mutation.cancelParcel": (CANCEL_PARCEL, {"input": {"parcelId": NO_PARCEL}}),
}


@dataclass
class Courier:
    token: str
    user_id: UUID
    trip: Trip


async def courier_with_trip(gql: GraphQL, services: Services, area: ServiceArea, email: str) -> Courier:
    session = await gql.session(email, "COURIER")
    user_id = uuid_of(session["user"]["id"], "User")
    await enable_payouts(services, user_id)
    trip = await make_trip(services, user_id, area.id)
    return Courier(session["accessToken"], user_id, trip)


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


@pytest.fixture
async def shop(gql: GraphQL, services: Services, area: ServiceArea) -> Shop:
    """A retailer with a pickup location and a card on file."""
    return await open_shop(gql, services, area, "shop@example.com", "Shop")


@pytest.fixture
async def courier(gql: GraphQL, services: Services, area: ServiceArea) -> Courier:
    """A courier with payouts enabled and an open trip across the area."""
    return await courier_with_trip(gql, services, area, "courier@example.com")


@dataclass
class Booked:
    job_id: str
    parcel_ids: list[str]
    label_codes: list[str]
    pins: list[str]

    @property
    def parcel_uuids(self) -> list[UUID]:
        return [uuid_of(p, "Parcel") for p in self.parcel_ids]


BOOK = f"""
mutation($input: BookQuoteInput!) {{
  bookQuote(input: $input) {{ job {{ id parcels {{ id labelCode recipientPin }} }} {ERRORS} }}
}}
"""


async def book(gql: GraphQL, shop: Shop, **overrides: Any) -> Booked:
    quote = await request_quote(gql, shop.token, shop.request(**overrides))
    assert quote["errors"] == [], quote
    body = await gql(BOOK, {"input": {"quoteId": quote["quote"]["id"]}}, token=shop.token)
    booked = body["data"]["bookQuote"]
    assert booked["errors"] == [], booked
    parcels = booked["job"]["parcels"]
    return Booked(
        booked["job"]["id"],
        [p["id"] for p in parcels],
        [p["labelCode"] for p in parcels],
        [p["recipientPin"] for p in parcels],
    )


async def offered(services: Services, courier: Courier, booked: Booked, **kw: Any) -> Offer:
    return await make_offer(services, courier.trip, booked.parcel_uuids, **kw)


async def accept(gql: GraphQL, courier: Courier, offer: Offer, key: str | None = None) -> dict[str, Any]:
    body = await gql(
        ACCEPT, {"input": {"offerId": str(global_id("Offer", offer.id)), "idempotencyKey": key}}, token=courier.token
    )
    return body["data"]["acceptOffer"]  # type: ignore[no-any-return]


async def step(gql: GraphQL, token: str, document: str, **input: Any) -> dict[str, Any]:
    body = await gql(document, {"input": input}, token=token)
    assert "errors" not in body, body
    data: dict[str, Any] = next(iter(body["data"].values()))
    return data


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


__all__ = ["timedelta"]
