"""Acceptance (issue 10): one parcel's whole day over the application's real HTTP interface.

Operations define the area, a retailer opens a store, a courier registers a vehicle and an insured
trip past the store towards the drop-off; the retailer quotes and books; operations run a round,
which the test runs exactly as the worker's `matching_round` job would; the courier accepts the
offer, collects the parcel with its label code and hands it over against the PIN with a photo.
Then the job reads delivered, the retailer sees the proof and its photo, the trip is completed,
and the parcel's history is complete and in order. The clock moves between steps; nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from marketplace.services.rounds import ROUND_JOB, RunOutcome
from tests.conftest import T0
from tests.factories import AMSTERDAM, DAM_SQUARE, ZUID, enable_payouts, uuid_of
from tests.helpers import GraphQL, admin_token, fresh_token
from tests.integration.ops_delivery import (
    ACCEPT,
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    BOOK,
    CONFIRM_PICKUP,
    DELIVER,
    HERE,
    JOB_WITH_RECIPIENT,
    MY_OFFERS,
    PARCEL,
    step,
)
from tests.integration.ops_jobs import JOB, add_card, quote_request, request_quote

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ERRORS = "errors { field code message }"

CREATE_AREA = f"""
mutation($i: CreateServiceAreaInput!) {{ createServiceArea(input: $i) {{ serviceArea {{ id name }} {ERRORS} }} }}
"""
CREATE_LOCATION = f"""
mutation($i: CreatePickupLocationInput!) {{
  createPickupLocation(input: $i) {{ pickupLocation {{ id areaId }} {ERRORS} }}
}}
"""
REGISTER_VEHICLE = f"""
mutation($i: RegisterVehicleInput!) {{ registerVehicle(input: $i) {{ vehicle {{ id kind }} {ERRORS} }} }}
"""
REGISTER_POLICY = f"""
mutation($i: RegisterInsurancePolicyInput!) {{
  registerInsurancePolicy(input: $i) {{ policy {{ id status countsNow }} {ERRORS} }}
}}
"""
VERIFY_POLICY = f"""
mutation($i: VerifyInsurancePolicyInput!) {{
  verifyInsurancePolicy(input: $i) {{ policy {{ id status countsNow }} {ERRORS} }}
}}
"""
CREATE_TRIP = f"""
mutation($i: CreateTripInput!) {{ createTrip(input: $i) {{ trip {{ id status areaId }} {ERRORS} }} }}
"""
TRIP = "query($id: ID!) { trip(id: $id) { id status } }"
RUN_ROUND = f"""
mutation($i: RunMatchingRoundInput!) {{
  runMatchingRound(input: $i) {{ round {{ id status trigger }} alreadyLive {ERRORS} }}
}}
"""
ROUND = """
query($id: ID!) {
  matchingRound(id: $id) {
    id status parcelsCount tripsCount assignedCount unassignedCount offersCount
    plan { assignments { tripId parcelIds } unassigned { parcelId reasons { code trips } } }
  }
}
"""
JOB_EVENTS = "query($id: ID!) { job(id: $id) { id status events { kind fromStatus toStatus actorKind occurredAt } } }"
EVERY_DAY = [{"weekday": d, "opens": "07:00:00", "closes": "21:00:00"} for d in range(1, 8)]


def point(lat: float, lng: float) -> dict[str, float]:
    return {"lat": lat, "lng": lng}


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["errors"] == [], payload
    return payload


async def mutate(gql: GraphQL, token: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gql(document, variables, token=token)
    assert "errors" not in body, body
    return ok(next(iter(body["data"].values())))


async def query(gql: GraphQL, token: str, document: str, variables: dict[str, Any]) -> Any:
    body = await gql(document, variables, token=token)
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_one_parcel_from_quote_to_delivered_over_http(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    # --- The evening before (T0 = 08:00 UTC): operations, the retailer and the courier set up.
    ops = await admin_token(gql, services)
    area = await mutate(
        gql,
        ops,
        CREATE_AREA,
        {
            "i": {
                "name": "Amsterdam",
                "countryCode": "NL",
                "currency": "EUR",
                "timeZone": "Europe/Amsterdam",
                "polygon": [point(lat, lng) for lat, lng in AMSTERDAM],
                "fleetBaseMinor": 650,
                "fleetPerKmMinor": 60,
            }
        },
    )
    area_id = area["serviceArea"]["id"]

    shop = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    store = await mutate(
        gql,
        shop["accessToken"],
        CREATE_LOCATION,
        {
            "i": {
                "kind": "STORE",
                "name": "Flagship store",
                "address": {
                    "street": "Damrak",
                    "houseNumber": "1",
                    "postalCode": "1012 LG",
                    "city": "Amsterdam",
                    "countryCode": "NL",
                },
                "point": point(DAM_SQUARE.lat, DAM_SQUARE.lng),
                "openingHours": EVERY_DAY,
            }
        },
    )
    assert store["pickupLocation"]["areaId"] == area_id
    store_id = store["pickupLocation"]["id"]
    # The retailer's card: every booking is authorised on it.
    assert (await add_card(gql, shop["accessToken"]))["card"] == {"brand": "visa", "last4": "4242"}

    courier = await gql.session("courier@example.com", "COURIER")
    courier_token = courier["accessToken"]
    # Stripe Connect onboarding, completed in the courier's browser: only then is it offered paid work.
    await enable_payouts(services, uuid_of(courier["user"]["id"], "User"))
    vehicle = await mutate(gql, courier_token, REGISTER_VEHICLE, {"i": {"kind": "BICYCLE", "name": "Gazelle"}})
    policy = await mutate(
        gql,
        courier_token,
        REGISTER_POLICY,
        {
            "i": {
                "insurer": "Centraal Beheer",
                "policyNumber": "CB-2026-0042",
                "coverPerParcel": {"amountMinor": 50_000, "currency": "EUR"},
                "coverPerTrip": {"amountMinor": 150_000, "currency": "EUR"},
                "validFrom": (T0 - timedelta(days=1)).isoformat(),
                "validUntil": (T0 + timedelta(days=365)).isoformat(),
                "idempotencyKey": "policy-1",
            }
        },
    )
    assert policy["policy"]["status"] == "PENDING"
    verified = await mutate(gql, ops, VERIFY_POLICY, {"i": {"policyId": policy["policy"]["id"]}})
    assert (verified["policy"]["status"], verified["policy"]["countsNow"]) == ("VERIFIED", True)

    # The courier rides from near the store to near the drop-off, any time from 09:00 to 19:00 UTC:
    # around the parcel's pickup (10-12h) and delivery (12-18h) windows.
    trip = await mutate(
        gql,
        courier_token,
        CREATE_TRIP,
        {
            "i": {
                "vehicleId": vehicle["vehicle"]["id"],
                "origin": {"point": point(DAM_SQUARE.lat + 0.0014, DAM_SQUARE.lng - 0.0016), "label": "home"},
                "destination": {"point": point(ZUID.lat + 0.0006, ZUID.lng + 0.0013), "label": "work"},
                "departAfter": (T0 + timedelta(hours=1)).isoformat(),
                "arriveBy": (T0 + timedelta(hours=11)).isoformat(),
            }
        },
    )
    trip_id = trip["trip"]["id"]
    assert (trip["trip"]["status"], trip["trip"]["areaId"]) == ("OPEN", area_id)

    # --- The retailer quotes and books; the label code and the PIN come with the booking only.
    request = quote_request(store_id)  # to Amsterdam-Zuid; declared 49.99 EUR, under the level-1 threshold
    assert request["dropoff"]["point"] == point(ZUID.lat, ZUID.lng)
    assert request["parcels"][0]["declaredValue"]["amountMinor"] < 10_000
    quote = ok(await request_quote(gql, shop["accessToken"], request))
    booked_at = T0 + timedelta(minutes=2)
    clock.at = booked_at
    booking = await mutate(
        gql, shop["accessToken"], BOOK, {"input": {"quoteId": quote["quote"]["id"], "idempotencyKey": "book-1"}}
    )
    job_id = booking["job"]["id"]
    [booked_parcel] = booking["job"]["parcels"]
    parcel_id, label_code, pin = booked_parcel["id"], booked_parcel["labelCode"], booked_parcel["recipientPin"]
    assert len(label_code) == 8
    assert len(pin) == 4
    assert pin.isdigit()

    # Before any offer, the courier sees neither the job nor whom it is for.
    hidden = await gql(JOB_WITH_RECIPIENT, {"id": job_id}, token=courier_token)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # --- Operations run a round; the worker takes the queued job and runs it.
    round_at = T0 + timedelta(minutes=5)
    clock.at = round_at
    requested = await mutate(gql, ops, RUN_ROUND, {"i": {"areaId": area_id, "idempotencyKey": "round-1"}})
    assert (requested["round"]["status"], requested["round"]["trigger"]) == ("QUEUED", "OPERATIONS")
    assert requested["alreadyLive"] is False
    queued = await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = $1", ROUND_JOB)
    assert len(queued) == 1
    # As marketplace/worker.py's matching_round entrypoint: the area from the job's payload, then run.
    worker_area = UUID(json.loads(queued[0]["payload"])["area_id"])
    assert worker_area == uuid_of(area_id, "ServiceArea")
    outcome, done = await services.rounds.run(worker_area)
    assert outcome is RunOutcome.RAN
    assert done is not None

    ran = await query(gql, ops, ROUND, {"id": requested["round"]["id"]})
    assert ran["plan"]["unassigned"] == [], ran["plan"]  # the engine's reasons, should it refuse
    assert (ran["status"], ran["parcelsCount"], ran["tripsCount"]) == ("SUCCEEDED", 1, 1)
    assert (ran["assignedCount"], ran["unassignedCount"], ran["offersCount"]) == (1, 0, 1)
    assert ran["plan"]["assignments"] == [{"tripId": trip_id, "parcelIds": [parcel_id]}]

    # --- The courier reads the offer and accepts it; a retry with the same key changes nothing.
    accepted_at = round_at + timedelta(minutes=1)
    clock.at = accepted_at
    courier_token = await fresh_token(gql, "courier@example.com")
    offers = (await query(gql, courier_token, MY_OFFERS, {"status": "OPEN"}))["edges"]
    assert len(offers) == 1
    offer = offers[0]["node"]
    assert (offer["tripId"], offer["parcelIds"]) == (trip_id, [parcel_id])
    assert [s["kind"] for s in offer["stops"]] == ["PICKUP", "DROPOFF"]
    assert offer["pay"]["currency"] == "EUR"
    assert offer["pay"]["amountMinor"] > 0
    accept = {"input": {"offerId": offer["id"], "idempotencyKey": "accept-1"}}
    accepted = await mutate(gql, courier_token, ACCEPT, accept)
    assert accepted["offer"]["status"] == "ACCEPTED"
    assert await mutate(gql, courier_token, ACCEPT, accept) == accepted
    assert (await query(gql, courier_token, TRIP, {"id": trip_id}))["status"] == "MATCHED"

    # Now the courier sees whom the parcel is for, and still never its label code.
    job_seen = await query(gql, courier_token, JOB_WITH_RECIPIENT, {"id": job_id})
    assert job_seen["recipient"] == {"name": "Ada de Vries", "phone": "+31612345678"}
    assert job_seen["parcels"][0]["labelCode"] is None

    # --- At the store in the pickup window: arrive, then collect against the label code.
    at_pickup_at = T0 + timedelta(hours=2, minutes=10)
    clock.at = at_pickup_at
    courier_token = await fresh_token(gql, "courier@example.com")
    arrived = await step(gql, courier_token, ARRIVE_AT_PICKUP, parcelId=parcel_id, position=HERE)
    assert ok(arrived)["parcel"]["status"] == "AT_PICKUP"
    picked_up_at = at_pickup_at + timedelta(minutes=3)
    clock.at = picked_up_at
    picked = await step(gql, courier_token, CONFIRM_PICKUP, parcelId=parcel_id, labelCode=label_code, position=HERE)
    assert ok(picked)["parcel"]["status"] == "PICKED_UP"
    assert (await query(gql, courier_token, TRIP, {"id": trip_id}))["status"] == "IN_PROGRESS"

    # --- At the door in the delivery window: arrive, photograph, hand over against the PIN.
    at_dropoff_at = T0 + timedelta(hours=4, minutes=20)
    clock.at = at_dropoff_at
    courier_token = await fresh_token(gql, "courier@example.com")
    at_door = await step(gql, courier_token, ARRIVE_AT_DROPOFF, parcelId=parcel_id, position=HERE)
    assert ok(at_door)["parcel"]["status"] == "AT_DROPOFF"
    delivered_at = at_dropoff_at + timedelta(minutes=2)
    clock.at = delivered_at
    uploaded = await gql.client.post(
        "/uploads/photos", content=PNG, headers={"Authorization": f"Bearer {courier_token}"}
    )
    assert uploaded.status_code == 201, uploaded.text
    photo_hash = uploaded.json()["hash"]
    delivered = await step(
        gql,
        courier_token,
        DELIVER,
        parcelId=parcel_id,
        position=HERE,
        proof={"pin": pin, "photoHash": photo_hash},
        idempotencyKey="deliver-1",
    )
    assert ok(delivered)["parcel"]["status"] == "DELIVERED"

    # --- The end of the day: the job is delivered, the trip completed, the proof there to see.
    assert (await query(gql, courier_token, TRIP, {"id": trip_id}))["status"] == "COMPLETED"
    after = await query(gql, courier_token, JOB_WITH_RECIPIENT, {"id": job_id})
    assert after["status"] == "DELIVERED"
    assert after["recipient"] == {"name": "Ada de Vries", "phone": "+31612345678"}

    shop_token = await fresh_token(gql, "shop@example.com")
    job = await query(gql, shop_token, JOB, {"id": job_id})
    assert job["status"] == "DELIVERED"
    assert [p["id"] for p in job["parcels"]] == [parcel_id]
    parcel = await query(gql, shop_token, PARCEL, {"id": parcel_id})
    assert parcel["status"] == "DELIVERED"
    assert parcel["recipientPin"] is None  # shown once, at booking
    proof = parcel["proof"]
    assert (proof["kind"], proof["pinVerified"], proof["position"]) == ("handover", True, HERE)
    assert proof["photoUrl"]
    image = await gql.client.get(proof["photoUrl"])  # signed: no token needed
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"

    history = [(e["kind"], e["fromStatus"], e["toStatus"], e["actorKind"]) for e in parcel["events"]]
    assert history == [
        ("booked", None, "BOOKED", "RETAILER"),
        ("offered", "BOOKED", "OFFERED", "SYSTEM"),
        ("assigned", "OFFERED", "ASSIGNED", "COURIER"),
        ("at_pickup", "ASSIGNED", "AT_PICKUP", "COURIER"),
        ("picked_up", "AT_PICKUP", "PICKED_UP", "COURIER"),
        ("at_dropoff", "PICKED_UP", "AT_DROPOFF", "COURIER"),
        ("delivered", "AT_DROPOFF", "DELIVERED", "COURIER"),
    ]
    times = [instant(e["occurredAt"]) for e in parcel["events"]]
    assert times == sorted(times)  # non-decreasing
    assert times == [booked_at, round_at, accepted_at, at_pickup_at, picked_up_at, at_dropoff_at, delivered_at]
    assert parcel["events"][-1]["details"]["pin_verified"] is True

    job_events = await query(gql, shop_token, JOB_EVENTS, {"id": job_id})
    assert job_events["status"] == "DELIVERED"
    assert [(e["kind"], e["fromStatus"], e["toStatus"], e["actorKind"]) for e in job_events["events"]] == history
    assert [instant(e["occurredAt"]) for e in job_events["events"]] == times
