"""The jobs operations' documents, sample calls for the authorization table, and helpers their tests share.

OPERATIONS: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import Point
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.factories import ZUID, make_pickup_location, uuid_of
from tests.helpers import GraphQL

ERRORS = "errors { field code message }"
JOB_FIELDS = """
id reference status areaId pickupLocationId pickupPoint { lat lng }
dropoff { kind lockerId point { lat lng } address { street houseNumber postalCode city countryCode } }
pickupWindow { start end } deliveryWindow { start end }
pickupWindowOpen { start end } deliveryWindowOpen { start end }
parcels {
  id weightG lengthMm widthMm heightMm volumeCm3 declaredValue { amountMinor currency } fragile idCheck adultsOnly
}
price { amountMinor currency } parts { kind amount { amountMinor currency } description } distanceM
failureAction fallbackLockerId quoteId createdAt
recipient { name phone instructions safePlace safePlaceConsent neighbourConsent }
"""
QUOTE_FIELDS = """
id price { amountMinor currency } parts { kind amount { amountMinor currency } description }
distanceM createdAt expiresAt areaId jobId pickupWindowOpen { start end } deliveryWindowOpen { start end }
"""
REQUEST_QUOTE = f"""
mutation($input: RequestQuoteInput!) {{ requestQuote(input: $input) {{ quote {{ {QUOTE_FIELDS} }} {ERRORS} }} }}
"""
BOOK_QUOTE = f"""
mutation($input: BookQuoteInput!) {{ bookQuote(input: $input) {{ job {{ {JOB_FIELDS} }} {ERRORS} }} }}
"""
BOOK_JOBS = f"""
mutation($input: BookJobsInput!) {{ bookJobs(input: $input) {{ jobs {{ id reference }} {ERRORS} }} }}
"""
QUOTE = f"query($id: ID!) {{ quote(id: $id) {{ {QUOTE_FIELDS} }} }}"
JOB_BY_REFERENCE = f"""
query($reference: String!, $organizationId: ID) {{
  jobByReference(reference: $reference, organizationId: $organizationId) {{ {JOB_FIELDS} }}
}}
"""
JOB = f"query($id: ID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}"
JOBS = """
query($first: Int, $after: String, $status: JobStatus, $pickupFrom: DateTime, $pickupUntil: DateTime,
      $areaId: ID, $organizationId: ID) {
  jobs(first: $first, after: $after, status: $status, pickupFrom: $pickupFrom, pickupUntil: $pickupUntil,
       areaId: $areaId, organizationId: $organizationId) {
    edges { cursor node { id reference status } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

NO_PICKUP_LOCATION = str(global_id("PickupLocation", UUID(int=0)))


def window(start: datetime, hours: float) -> dict[str, str]:
    return {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}


def parcel(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "weightG": 1_500,
        "lengthMm": 300,
        "widthMm": 200,
        "heightMm": 100,
        "declaredValue": {"amountMinor": 4_999, "currency": "EUR"},
    }
    value.update(overrides)
    return value


def address(point: Point = ZUID, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "street": "Beethovenstraat",
        "houseNumber": "12",
        "postalCode": "1077 JH",
        "city": "Amsterdam",
        "countryCode": "NL",
        "point": {"lat": point.lat, "lng": point.lng},
    }
    value.update(overrides)
    return value


def quote_request(pickup_location_id: str, **overrides: Any) -> dict[str, Any]:
    """A request any Amsterdam test area serves: pickup 10-12h, delivery 12-18h on T0's day."""
    value: dict[str, Any] = {
        "pickupLocationId": pickup_location_id,
        "dropoff": address(),
        "pickupWindow": window(T0 + timedelta(hours=2), 2),
        "deliveryWindow": window(T0 + timedelta(hours=4), 6),
        "parcels": [parcel()],
        "recipient": {"name": "Ada de Vries", "phone": "+31 6 1234 5678", "instructions": "Ring twice"},
    }
    value.update(overrides)
    return value


async def organization_of(services: Services, session: dict[str, Any]) -> UUID:
    user_id = uuid_of(session["user"]["id"], "User")
    users = await services.accounts.users_by_id([user_id])
    org = users[user_id].organization_id
    assert org is not None
    return org


async def request_quote(gql: GraphQL, token: str, request: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = await gql(REQUEST_QUOTE, {"input": {**request, **extra}}, token=token)
    return body["data"]["requestQuote"]  # type: ignore[no-any-return]


async def book_quote(gql: GraphQL, token: str, quote_id: str, key: str | None = None) -> dict[str, Any]:
    body = await gql(BOOK_QUOTE, {"input": {"quoteId": quote_id, "idempotencyKey": key}}, token=token)
    return body["data"]["bookQuote"]  # type: ignore[no-any-return]


_SAMPLE_REQUEST = quote_request(NO_PICKUP_LOCATION)

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Mutation.requestQuote": (REQUEST_QUOTE, {"input": _SAMPLE_REQUEST}),
    "Mutation.bookQuote": (BOOK_QUOTE, {"input": {"quoteId": "UXVvdGU6bm9uZQ=="}}),
    "Mutation.bookJobs": (BOOK_JOBS, {"input": {"jobs": [_SAMPLE_REQUEST]}}),
    "Query.quote": (QUOTE, {"id": "UXVvdGU6bm9uZQ=="}),
    "Query.job": (JOB, {"id": "Sm9iOm5vbmU="}),
    "Query.jobs": (JOBS, {"first": 1}),
    "Query.jobByReference": (JOB_BY_REFERENCE, {"reference": "ORDER-1"}),
}


class Shop:
    """A retailer organisation with a signed-in user and one always-open store on Dam Square."""

    def __init__(self, token: str, organization_id: UUID, location_id: UUID) -> None:
        self.token = token
        self.organization_id = organization_id
        self.location_id = location_id

    @property
    def location(self) -> str:
        return str(global_id("PickupLocation", self.location_id))

    def request(self, **overrides: Any) -> dict[str, Any]:
        return quote_request(self.location, **overrides)


SETUP_PAYMENT_METHOD = """
mutation Setup($input: SetupPaymentMethodInput!) {
  setupPaymentMethod(input: $input) { card { brand last4 } errors { field code message } }
}
"""


async def add_card(gql: GraphQL, token: str, card: str = "pm_card_visa") -> dict[str, Any]:
    """The organisation's default card, set up as a client would (a SetupIntent through the real SDK)."""
    body = await gql(SETUP_PAYMENT_METHOD, {"input": {"paymentMethod": card}}, token=token)
    return body["data"]["setupPaymentMethod"]  # type: ignore[no-any-return]


async def open_shop(
    gql: GraphQL, services: Services, area: ServiceArea, email: str, name: str, *, card: str | None = "pm_card_visa"
) -> Shop:
    """`card`: the test card set up as the organisation's default (None: no card on file)."""
    session = await gql.session(email, "RETAILER", organization=name)
    organization_id = await organization_of(services, session)
    location = await make_pickup_location(services, organization_id, area)
    if card is not None:
        added = await add_card(gql, session["accessToken"], card)
        assert added["errors"] == [], added
    return Shop(session["accessToken"], organization_id, location.id)


async def count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))
