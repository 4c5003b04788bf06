"""The delivery lifecycle over HTTP: the courier's steps with their proof, each failure action end to end,
PIN locking, and a complete, ordered history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.services.container import Services
from schema.types import global_id
from tests.factories import make_locker
from tests.helpers import GraphQL, admin_token, fresh_token
from tests.integration import ops_delivery
from tests.integration.ops_delivery import (
    ARRIVE_AT_DROPOFF,
    ARRIVE_AT_PICKUP,
    COLLECT,
    CONFIRM_PICKUP,
    CONFIRM_RETURN,
    DELIVER,
    DEPOSIT,
    FAILED_ATTEMPT,
    HERE,
    PARCEL,
    RESET_PIN,
    SAFE_PLACE,
    Booked,
    Courier,
    accept,
    book,
    codes,
    courier_with_trip,
    offered,
    step,
)
from tests.integration.ops_jobs import Shop

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


area, shop, courier = ops_delivery.area, ops_delivery.shop, ops_delivery.courier


async def assigned(gql: GraphQL, services: Services, shop: Shop, courier: Courier, **overrides: Any) -> Booked:
    booked = await book(gql, shop, **overrides)
    assert (await accept(gql, courier, await offered(services, courier, booked)))["errors"] == []
    return booked


async def at_dropoff(gql: GraphQL, courier: Courier, booked: Booked) -> None:
    parcel = booked.parcel_ids[0]
    for document, extra in (
        (ARRIVE_AT_PICKUP, {}),
        (CONFIRM_PICKUP, {"labelCode": booked.label_codes[0].lower()}),
        (ARRIVE_AT_DROPOFF, {}),
    ):
        payload = await step(gql, courier.token, document, parcelId=parcel, position=HERE, **extra)
        assert payload["errors"] == [], payload


async def status_of(db: asyncpg.Connection, table: str) -> str:
    return str(await db.fetchval(f"SELECT status FROM {table}"))


async def test_a_full_delivery_leaves_a_complete_ordered_history(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    booked = await assigned(gql, services, shop, courier)
    parcel = booked.parcel_ids[0]
    assert len(booked.pins[0]) == 4
    assert booked.pins[0].isdigit()

    early = await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=parcel)
    assert [(e["code"], e["message"]) for e in early["errors"]] == [
        ("INVALID_TRANSITION", "the parcel is assigned; it cannot become at_dropoff")
    ]
    first = await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=parcel, position=HERE, idempotencyKey="k1")
    again = await step(gql, courier.token, ARRIVE_AT_PICKUP, parcelId=parcel, position=HERE, idempotencyKey="k1")
    assert first["errors"] == []
    assert again == first  # a retry moves nothing twice
    wrong = await step(gql, courier.token, CONFIRM_PICKUP, parcelId=parcel, labelCode="WRONGCOD")
    assert codes(wrong) == ["WRONG_LABEL_CODE"]
    assert await status_of(db, "trips") == "matched"
    picked = await step(gql, courier.token, CONFIRM_PICKUP, parcelId=parcel, labelCode=booked.label_codes[0])
    assert picked["parcel"]["status"] == "PICKED_UP"
    assert await status_of(db, "trips") == "in_progress"
    assert await status_of(db, "jobs") == "in_transit"
    await step(gql, courier.token, ARRIVE_AT_DROPOFF, parcelId=parcel, position=HERE)
    signature = [[[0.1, 0.1], [0.5, 0.4], [0.9, 0.2]]]
    delivered = await step(
        gql,
        courier.token,
        DELIVER,
        parcelId=parcel,
        position=HERE,
        proof={"pin": booked.pins[0], "signature": signature},
        idempotencyKey="deliver",
    )
    assert delivered["errors"] == []
    assert delivered["parcel"]["status"] == "DELIVERED"
    assert delivered["parcel"]["proof"] is None  # the courier does not read the proof back
    assert await status_of(db, "jobs") == "delivered"
    assert await status_of(db, "trips") == "completed"

    read = (await gql(PARCEL, {"id": parcel}, token=shop.token))["data"]["parcel"]
    assert read["recipientPin"] is None  # shown once, at booking
    assert read["proof"]["pinVerified"] is True
    assert read["proof"]["signature"] == signature
    history = [(e["kind"], e["fromStatus"], e["toStatus"], e["actorKind"]) for e in read["events"]]
    assert history == [
        ("booked", None, "BOOKED", "RETAILER"),
        ("offered", "BOOKED", "OFFERED", "SYSTEM"),
        ("assigned", "OFFERED", "ASSIGNED", "COURIER"),
        ("at_pickup", "ASSIGNED", "AT_PICKUP", "COURIER"),
        ("picked_up", "AT_PICKUP", "PICKED_UP", "COURIER"),
        ("at_dropoff", "PICKED_UP", "AT_DROPOFF", "COURIER"),
        ("delivered", "AT_DROPOFF", "DELIVERED", "COURIER"),
    ]
    assert read["events"][-1]["position"] == HERE
    assert read["events"][-1]["details"]["pin_verified"] is True
    times = [e["occurredAt"] for e in read["events"]]
    assert times == sorted(times)
    job_events = await gql(
        "query($id: ID!) { job(id: $id) { events { kind } } }", {"id": booked.job_id}, token=shop.token
    )
    assert [e["kind"] for e in job_events["data"]["job"]["events"]] == [h[0] for h in history]
    # The history cannot be rewritten.
    with pytest.raises(asyncpg.RaiseError):
        await db.execute("DELETE FROM parcel_events")


async def test_five_wrong_pins_lock_the_handover_until_operations_reset_it(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    booked = await assigned(gql, services, shop, courier)
    await at_dropoff(gql, courier, booked)
    parcel = booked.parcel_ids[0]
    wrong_pin = "0000" if booked.pins[0] != "0000" else "1111"
    outcomes = []
    for n in range(5):
        payload = await step(
            gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": wrong_pin}, idempotencyKey=f"try-{n}"
        )
        outcomes += codes(payload)
    assert outcomes == ["WRONG_PIN"] * 4 + ["PIN_LOCKED"]
    right = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": booked.pins[0]})
    assert codes(right) == ["PIN_LOCKED"]
    assert await status_of(db, "parcels") == "at_dropoff"
    read = (await gql(PARCEL, {"id": parcel}, token=shop.token))["data"]["parcel"]
    assert read["pinLocked"] is True
    assert "pin_locked" in [e["kind"] for e in read["events"]]

    ops = await admin_token(gql, services)
    reset = await step(gql, ops, RESET_PIN, parcelId=parcel, newPin=True, idempotencyKey="reset-1")
    assert reset["errors"] == []
    assert reset["parcel"]["pinLocked"] is False
    hashed = await db.fetchval("SELECT pin_hash FROM parcels")
    # A retry replaces nothing again (the PIN handed out stays the one that works) and shows no PIN.
    retried = await step(gql, ops, RESET_PIN, parcelId=parcel, newPin=True, idempotencyKey="reset-1")
    assert (retried["errors"], retried["pin"]) == ([], None)
    assert await db.fetchval("SELECT pin_hash FROM parcels") == hashed
    replaced = await db.fetchval("SELECT count(*) FROM parcel_events WHERE kind = 'pin_replaced'")
    assert replaced == 1
    old = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": booked.pins[0]})
    if reset["pin"] != booked.pins[0]:
        assert codes(old) == ["WRONG_PIN"]
    done = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": reset["pin"]})
    assert done["errors"] == []
    assert done["parcel"]["status"] == "DELIVERED"


async def test_an_id_check_parcel_needs_a_passed_check(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier
) -> None:
    parcel_input = {
        "weightG": 1_500,
        "lengthMm": 300,
        "widthMm": 200,
        "heightMm": 100,
        "declaredValue": {"amountMinor": 4_999, "currency": "EUR"},
        "adultsOnly": True,
    }
    booked = await assigned(gql, services, shop, courier, parcels=[parcel_input])
    await at_dropoff(gql, courier, booked)
    parcel, pin = booked.parcel_ids[0], booked.pins[0]
    missing = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": pin})
    assert codes(missing) == ["ID_CHECK_REQUIRED"]
    failed_check = {"documentKind": "NATIONAL_ID", "result": "FAILED"}
    refused = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": pin, "idCheck": failed_check})
    assert codes(refused) == ["ID_CHECK_FAILED"]
    passed = {"documentKind": "PASSPORT", "result": "PASSED"}
    done = await step(gql, courier.token, DELIVER, parcelId=parcel, proof={"pin": pin, "idCheck": passed})
    assert done["errors"] == []
    read = (await gql(PARCEL, {"id": parcel}, token=shop.token))["data"]["parcel"]
    assert read["proof"]["idCheck"] == {"documentKind": "PASSPORT", "result": "PASSED"}


async def test_locker_fallback_deposit_then_collection(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, area: ServiceArea, db: asyncpg.Connection
) -> None:
    locker = await make_locker(services, area)
    booked = await assigned(
        gql, services, shop, courier, onFailure="LOCKER", fallbackLockerId=str(global_id("Locker", locker.id))
    )
    assert await db.fetchval("SELECT status FROM locker_reservations") == "held"
    await at_dropoff(gql, courier, booked)
    parcel = booked.parcel_ids[0]
    failed = await step(gql, courier.token, FAILED_ATTEMPT, parcelId=parcel, reason="RECIPIENT_ABSENT", position=HERE)
    assert failed["parcel"]["status"] == "TO_LOCKER"
    deposited = await step(gql, courier.token, DEPOSIT, parcelId=parcel, position=HERE)
    assert deposited["parcel"]["status"] == "IN_LOCKER"
    assert deposited["parcel"]["lockerPickupCode"] is None  # for the recipient, not the courier
    assert await status_of(db, "jobs") == "in_locker"
    assert await status_of(db, "trips") == "completed"
    assert await db.fetchval("SELECT status FROM locker_reservations") == "occupied"

    code = (await gql(PARCEL, {"id": parcel}, token=shop.token))["data"]["parcel"]["lockerPickupCode"]
    assert len(code) == 6
    ops = await admin_token(gql, services)
    wrong = await step(gql, ops, COLLECT, parcelId=parcel, pickupCode="000000" if code != "000000" else "111111")
    assert codes(wrong) == ["WRONG_PICKUP_CODE"]
    collected = await step(gql, ops, COLLECT, parcelId=parcel, pickupCode=code)
    assert collected["parcel"]["status"] == "COLLECTED"
    assert await status_of(db, "jobs") == "delivered"
    assert await db.fetchval("SELECT status FROM locker_reservations") == "released"
    kinds = [e["kind"] for e in collected["parcel"]["events"]]
    assert kinds[-4:] == ["failed_attempt", "to_locker", "in_locker", "collected"]


async def test_a_parcel_not_collected_in_time_goes_back(
    gql: GraphQL,
    services: Services,
    shop: Shop,
    courier: Courier,
    area: ServiceArea,
    db: asyncpg.Connection,
    clock: ManualClock,
) -> None:
    locker = await make_locker(services, area)
    booked = await assigned(gql, services, shop, courier, dropoff={"lockerId": str(global_id("Locker", locker.id))})
    await at_dropoff(gql, courier, booked)
    deposited = await step(gql, courier.token, DEPOSIT, parcelId=booked.parcel_ids[0])
    assert deposited["errors"] == []
    clock.advance(timedelta(hours=72) - timedelta(microseconds=1))
    assert await services.delivery.return_uncollected() == 0
    clock.advance(timedelta(microseconds=1))
    assert await services.delivery.return_uncollected() == 1
    assert await services.delivery.return_uncollected() == 0
    assert await status_of(db, "parcels") == "returned"
    assert await status_of(db, "jobs") == "returned"
    assert await db.fetchval("SELECT status FROM locker_reservations") == "released"
    last = await db.fetchrow("SELECT kind, actor_kind, reason_code FROM parcel_events ORDER BY seq DESC LIMIT 1")
    assert last is not None
    assert (last["kind"], last["actor_kind"], last["reason_code"]) == ("returned", "system", "not_collected_in_time")


async def test_safe_place_delivery_with_a_photo(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    booked = await assigned(
        gql,
        services,
        shop,
        courier,
        onFailure="SAFE_PLACE",
        recipient={"name": "Ada de Vries", "phone": "+31612345678", "safePlace": "shed", "safePlaceConsent": True},
    )
    await at_dropoff(gql, courier, booked)
    parcel = booked.parcel_ids[0]
    failed = await step(gql, courier.token, FAILED_ATTEMPT, parcelId=parcel, reason="RECIPIENT_ABSENT", position=HERE)
    assert failed["parcel"]["status"] == "FAILED_ATTEMPT"
    unknown = await step(gql, courier.token, SAFE_PLACE, parcelId=parcel, photoHash="a" * 64, position=HERE)
    assert codes(unknown) == ["NOT_FOUND"]
    uploaded = await gql.client.post(
        "/uploads/photos", content=PNG, headers={"Authorization": f"Bearer {courier.token}"}
    )
    assert uploaded.status_code == 201
    photo = uploaded.json()["hash"]
    left = await step(gql, courier.token, SAFE_PLACE, parcelId=parcel, photoHash=photo, position=HERE)
    assert left["parcel"]["status"] == "DELIVERED"
    assert await status_of(db, "jobs") == "delivered"
    proof = (await gql(PARCEL, {"id": parcel}, token=shop.token))["data"]["parcel"]["proof"]
    assert proof["kind"] == "safe_place"
    image = await gql.client.get(proof["photoUrl"])
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"


async def test_a_failed_handover_returns_to_the_store(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, db: asyncpg.Connection
) -> None:
    booked = await assigned(gql, services, shop, courier)
    await at_dropoff(gql, courier, booked)
    parcel = booked.parcel_ids[0]
    no_position = await gql(FAILED_ATTEMPT, {"input": {"parcelId": parcel, "reason": "REFUSED"}}, token=courier.token)
    assert no_position["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    failed = await step(gql, courier.token, FAILED_ATTEMPT, parcelId=parcel, reason="REFUSED", position=HERE)
    assert failed["parcel"]["status"] == "RETURNING"
    safe = await step(gql, courier.token, SAFE_PLACE, parcelId=parcel, photoHash="a" * 64, position=HERE)
    assert codes(safe) == ["INVALID_TRANSITION"]
    returned = await step(gql, courier.token, CONFIRM_RETURN, parcelId=parcel, position=HERE)
    assert returned["parcel"]["status"] == "RETURNED"
    assert await status_of(db, "jobs") == "returned"
    assert await status_of(db, "trips") == "completed"
    events = [(e["kind"], e["reasonCode"]) for e in returned["parcel"]["events"]]
    assert events[-3:] == [("failed_attempt", "refused"), ("returning", "return_to_pickup"), ("returned", None)]


async def test_only_the_assigned_courier_may_act_and_everyone_else_gets_not_found(
    gql: GraphQL, services: Services, shop: Shop, courier: Courier, area: ServiceArea, clock: ManualClock
) -> None:
    booked = await assigned(gql, services, shop, courier)
    other = await courier_with_trip(gql, services, area, "other@example.com")
    parcel = booked.parcel_ids[0]
    for document, extra in (
        (ARRIVE_AT_PICKUP, {}),
        (CONFIRM_PICKUP, {"labelCode": booked.label_codes[0]}),
        (DELIVER, {"proof": {"pin": booked.pins[0]}}),
        (DEPOSIT, {}),
        (CONFIRM_RETURN, {}),
    ):
        payload = await step(gql, other.token, document, parcelId=parcel, **extra)
        assert codes(payload) == ["NOT_FOUND"]
    read = await gql(PARCEL, {"id": parcel}, token=other.token)
    assert read["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    clock.advance(timedelta(seconds=1))
    assert (await gql(PARCEL, {"id": parcel}, token=await fresh_token(gql, "courier@example.com")))["data"]["parcel"]
