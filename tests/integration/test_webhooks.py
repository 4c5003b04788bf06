"""Retailer webhooks end to end: the outbox, the real worker, a receiver verifying with `standardwebhooks`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from marketplace.clock import ManualClock
from marketplace.domain.areas import ServiceArea
from marketplace.domain.delivery import SYSTEM
from marketplace.domain.jobs import JobStatus
from marketplace.domain.webhooks import WebhookPolicy
from marketplace.services.container import Services
from marketplace.services.dispatch_common import event
from marketplace.settings import Settings
from marketplace.webhook_http import WebhookSender
from tests.conftest import make_settings, production_settings
from tests.factories import make_area, uuid_of
from tests.helpers import GraphQL, fresh_token, running_app
from tests.integration.ops_jobs import Shop, book_quote, open_shop, request_quote, window
from tests.integration.test_worker import eventually, worker
from tests.receivers import WebhookReceiver, serving

CREATE = """
mutation($i: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $i) { endpoint { id url eventTypes enabled } secret errors { field code message } }
}
"""
ROTATE = """
mutation($i: RotateWebhookSecretInput!) {
  rotateWebhookSecret(input: $i) { endpoint { id previousSecretValidUntil } secret errors { field code } }
}
"""
LOG = """
query($id: ID!) {
  webhookEndpoint(id: $id) {
    deliveries(first: 20) {
      edges { node { id messageId eventType status attemptCount payload attempts { statusCode latencyMs error } } }
    }
  }
}
"""
REDELIVER = """
mutation($i: RedeliverWebhookEventInput!) {
  redeliverWebhookEvent(input: $i) { delivery { id status messageId } errors { field code } }
}
"""
PING = """
mutation($i: SendWebhookTestEventInput!) {
  sendWebhookTestEvent(input: $i) { delivery { id eventType } errors { field code } }
}
"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Receivers listen on 127.0.0.1 over http: allowed explicitly, outside production only.
    return make_settings(database_url, webhook_allow_private_addresses=True, webhook_retry_initial_s=0.05)


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


@pytest.fixture
async def shop(gql: GraphQL, services: Services, area: ServiceArea) -> Shop:
    return await open_shop(gql, services, area, "hooks@example.com", "Hook shop")


async def create_endpoint(gql: GraphQL, shop: Shop, url: str, event_types: list[str]) -> tuple[str, str]:
    body = await gql(CREATE, {"i": {"url": url, "eventTypes": event_types}}, token=shop.token)
    payload = body["data"]["createWebhookEndpoint"]
    assert payload["errors"] == [], payload
    return payload["endpoint"]["id"], payload["secret"]


async def book(gql: GraphQL, shop: Shop, at: datetime | None = None, **recipient: Any) -> dict[str, Any]:
    request = shop.request()
    if at is not None:
        request.update(
            pickupWindow=window(at + timedelta(hours=2), 2), deliveryWindow=window(at + timedelta(hours=4), 6)
        )
    request["recipient"].update(recipient)
    quote = await request_quote(gql, shop.token, request)
    assert quote["errors"] == [], quote
    booked = await book_quote(gql, shop.token, quote["quote"]["id"])
    assert booked["errors"] == [], booked
    return booked["job"]  # type: ignore[no-any-return]


async def delivery_log(gql: GraphQL, shop: Shop, endpoint_id: str) -> list[dict[str, Any]]:
    body = await gql(LOG, {"id": endpoint_id}, token=shop.token)
    return [e["node"] for e in body["data"]["webhookEndpoint"]["deliveries"]["edges"]]


async def test_every_delivery_verifies_with_standardwebhooks_and_carries_the_event_sequence(
    gql: GraphQL, services: Services, database_url: str, shop: Shop
) -> None:
    receiver = WebhookReceiver()
    async with serving(receiver) as port:
        endpoint_id, secret = await create_endpoint(
            gql, shop, f"http://127.0.0.1:{port}/hooks?src=crowdship", ["parcel.booked", "job.status_changed"]
        )
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)
        jobs = [await book(gql, shop) for _ in range(3)]
        async with worker(services, database_url):

            async def all_three() -> bool:
                return len(receiver.received) >= 3

            await eventually(all_three, 60, "three deliveries")
    assert len(receiver.received) == 3
    assert all(r.verified_by == [secret] for r in receiver.received)
    bodies = [json.loads(r.body) for r in receiver.received]
    assert {b["type"] for b in bodies} == {"parcel.booked"}
    assert sorted(b["data"]["jobId"] for b in bodies) == sorted(j["id"] for j in jobs)
    assert sorted(b["data"]["parcelId"] for b in bodies) == sorted(j["parcels"][0]["id"] for j in jobs)
    assert all(isinstance(b["data"]["sequence"], int) and b["data"]["toStatus"] == "BOOKED" for b in bodies)
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == 3
    assert all(i.startswith("msg_") for i in ids)
    log = await delivery_log(gql, shop, endpoint_id)
    assert sorted(d["status"] for d in log) == ["SUCCEEDED"] * 3
    assert all(d["attempts"][0]["statusCode"] == 200 for d in log)


async def test_a_receiver_answering_500_then_200_gets_the_same_webhook_id_twice_and_nothing_else(
    gql: GraphQL, services: Services, database_url: str, shop: Shop
) -> None:
    receiver = WebhookReceiver(statuses=[500, 200])
    async with serving(receiver) as port:
        endpoint_id, secret = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        receiver.secrets.append(secret)
        await book(gql, shop)
        async with worker(services, database_url):

            async def succeeded() -> bool:
                log = await delivery_log(gql, shop, endpoint_id)
                return [d["status"] for d in log] == ["SUCCEEDED"]

            await eventually(succeeded, 60, "the delivery to succeed")
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert first.verified_by == second.verified_by == [secret]
    (delivery,) = await delivery_log(gql, shop, endpoint_id)
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attemptCount"] == 2
    assert delivery["messageId"] == first.headers["webhook-id"]


async def test_a_forged_or_replayed_request_is_rejected_by_the_library(
    gql: GraphQL, services: Services, database_url: str, shop: Shop, clock: ManualClock
) -> None:
    receiver = WebhookReceiver()
    async with serving(receiver) as port:
        _, secret = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        receiver.secrets.append(secret)
        await book(gql, shop)
        async with worker(services, database_url):

            async def arrived() -> bool:
                return len(receiver.received) == 1

            await eventually(arrived, 60, "the delivery")
    genuine = receiver.received[0]
    assert Webhook(secret).verify(genuine.body, genuine.headers)["type"] == "parcel.booked"
    # Forged: another body under the same signature, or signed with another secret.
    tampered = genuine.body.replace(b"BOOKED", b"DELIVERED")
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(tampered, genuine.headers)
    forger = WebhookSender(WebhookPolicy())
    forged = forger.headers(genuine.headers["webhook-id"], genuine.body.decode(), ("whsec_" + "A" * 43 + "=",))
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(genuine.body, forged)
    # Replayed: the very request as it was signed ten minutes ago.
    ten_minutes_ago = ManualClock(datetime.now(UTC) - timedelta(minutes=10))
    old = WebhookSender(WebhookPolicy(), wall_clock=ten_minutes_ago).headers(
        genuine.headers["webhook-id"], genuine.body.decode(), (secret,)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(genuine.body, old)


async def test_redelivery_sends_the_same_message_again_and_the_test_ping_is_delivered(
    gql: GraphQL, services: Services, database_url: str, shop: Shop, clock: ManualClock
) -> None:
    receiver = WebhookReceiver(statuses=[500])
    async with serving(receiver) as port:
        endpoint_id, secret = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        receiver.secrets.append(secret)
        await book(gql, shop)
        (delivery,) = await delivery_log(gql, shop, endpoint_id)
        delivery_id = uuid_of(delivery["id"], "WebhookDelivery")
        # The first attempt fails; a day later the next one fails too, and the delivery is given up.
        assert await services.webhooks.deliver(delivery_id) == "pending"
        clock.advance(timedelta(hours=24, seconds=1))
        receiver.statuses.append(503)
        assert await services.webhooks.deliver(delivery_id) == "failed"
        shop.token = await fresh_token(gql, "hooks@example.com")
        (failed,) = await delivery_log(gql, shop, endpoint_id)
        assert failed["status"] == "FAILED"
        assert [a["statusCode"] for a in failed["attempts"]] == [500, 503]

        body = await gql(REDELIVER, {"i": {"deliveryId": delivery["id"]}}, token=shop.token)
        assert body["data"]["redeliverWebhookEvent"]["errors"] == []
        assert body["data"]["redeliverWebhookEvent"]["delivery"]["status"] == "PENDING"
        again = await gql(REDELIVER, {"i": {"deliveryId": delivery["id"]}}, token=shop.token)
        assert again["data"]["redeliverWebhookEvent"]["errors"] == [{"field": "deliveryId", "code": "DELIVERY_PENDING"}]
        ping = await gql(PING, {"i": {"endpointId": endpoint_id}}, token=shop.token)
        assert ping["data"]["sendWebhookTestEvent"]["delivery"]["eventType"] == "webhook.test"
        async with worker(services, database_url):

            async def both() -> bool:
                return len(receiver.received) == 4

            await eventually(both, 60, "the redelivery and the ping")
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids[0] == ids[1] == ids[2] == delivery["messageId"]
    assert {json.loads(r.body)["type"] for r in receiver.received[2:]} == {"parcel.booked", "webhook.test"}
    assert all(r.verified_by == [secret] for r in receiver.received)


async def test_a_rotated_secret_signs_alongside_the_old_one_until_the_overlap_ends(
    gql: GraphQL, services: Services, shop: Shop, clock: ManualClock
) -> None:
    receiver = WebhookReceiver()
    async with serving(receiver) as port:
        endpoint_id, old = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        body = await gql(ROTATE, {"i": {"id": endpoint_id, "overlapS": 3600}}, token=shop.token)
        new = body["data"]["rotateWebhookSecret"]["secret"]
        assert new.startswith("whsec_")
        assert new != old
        receiver.secrets.extend([old, new])
        await book(gql, shop)
        clock.advance(timedelta(minutes=59))
        shop.token = await fresh_token(gql, "hooks@example.com")
        await book(gql, shop)
        log = await delivery_log(gql, shop, endpoint_id)
        for d in reversed(log):
            assert await services.webhooks.deliver(uuid_of(d["id"], "WebhookDelivery")) == "succeeded"
            clock.advance(timedelta(minutes=2))  # the second is sent after the overlap
    first, second = receiver.received
    assert first.verified_by == [old, new]
    assert second.verified_by == [new]


async def test_an_endpoint_failing_for_three_days_is_switched_off_and_its_organisation_told(
    gql: GraphQL, services: Services, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    receiver = WebhookReceiver(statuses=[500] * 10)
    async with serving(receiver) as port:
        endpoint_id, _ = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        for _day in range(4):  # failing on days 0, 1 and 2 keeps it on; day 3 is three days of failures
            await book(gql, shop, at=clock.now())
            newest = (await delivery_log(gql, shop, endpoint_id))[0]
            await services.webhooks.deliver(uuid_of(newest["id"], "WebhookDelivery"))
            enabled = await db.fetchval("SELECT enabled FROM webhook_endpoints")
            assert enabled is (_day < 3)
            clock.advance(timedelta(days=1))
            shop.token = await fresh_token(gql, "hooks@example.com")
    row = await db.fetchrow(
        "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1", uuid_of(endpoint_id, "WebhookEndpoint")
    )
    assert row is not None
    assert (row["enabled"], row["disabled_reason"]) == (False, "failing")
    told = await db.fetch("SELECT kind, channel, address FROM notifications WHERE parcel_id IS NULL")
    assert [(r["kind"], r["channel"], r["address"]) for r in told] == [
        ("endpoint_disabled", "email", "hooks@example.com")
    ]
    # Switched off: new events are no longer delivered there.
    before = len(await delivery_log(gql, shop, endpoint_id))
    await book(gql, shop, at=clock.now())
    assert len(await delivery_log(gql, shop, endpoint_id)) == before


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost:8443/hooks",  # a name that resolves to loopback
        "https://[::1]/hooks",
        "https://[::ffff:10.0.0.1]/hooks",
    ],
)
async def test_production_refuses_endpoints_on_private_addresses(
    database_url: str, clock: ManualClock, services: Services, url: str
) -> None:
    production = production_settings(database_url, webhook_allow_private_addresses=False)
    area = await make_area(services)
    async with running_app(production, clock) as (_, gql):
        shop = await open_shop(gql, services, area, "prod@example.com", "Prod shop", card=None)
        body = await gql(CREATE, {"i": {"url": url, "eventTypes": ["parcel.booked"]}}, token=shop.token)
    errors = body["data"]["createWebhookEndpoint"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("url", "ADDRESS_NOT_ALLOWED")]
    assert "not a public address" in errors[0]["message"]


async def test_production_refuses_http_and_credentials_in_urls(
    database_url: str, clock: ManualClock, services: Services
) -> None:
    production = production_settings(database_url)
    area = await make_area(services)
    async with running_app(production, clock) as (_, gql):
        shop = await open_shop(gql, services, area, "prod@example.com", "Prod shop", card=None)
        codes = []
        for url in ("http://example.com/hooks", "https://user:secret@example.com/hooks", "ftp://example.com/"):
            body = await gql(CREATE, {"i": {"url": url, "eventTypes": ["parcel.booked"]}}, token=shop.token)
            codes.append([e["code"] for e in body["data"]["createWebhookEndpoint"]["errors"]])
    assert codes == [["INSECURE_URL"], ["INVALID"], ["INVALID"]]


async def test_the_address_is_checked_again_when_delivering_and_a_private_one_is_never_called(
    gql: GraphQL, services: Services, shop: Shop, db: asyncpg.Connection, clock: ManualClock
) -> None:
    receiver = WebhookReceiver()
    async with serving(receiver) as port:
        endpoint_id, _ = await create_endpoint(gql, shop, f"http://localhost:{port}/", ["parcel.booked"])
        await book(gql, shop)
        (delivery,) = await delivery_log(gql, shop, endpoint_id)
        production_policy = WebhookPolicy()  # what production runs with: no private addresses
        strict = services.webhooks.with_policy(production_policy)
        try:
            outcome = await strict.deliver(uuid_of(delivery["id"], "WebhookDelivery"))
        finally:
            await strict.sender.aclose()
    assert outcome == "pending"
    assert receiver.received == []
    (logged,) = await delivery_log(gql, shop, endpoint_id)
    assert logged["attempts"][0]["statusCode"] is None
    assert "is not a public address" in logged["attempts"][0]["error"]


async def test_the_purge_drops_settled_delivery_logs_after_thirty_days_and_keeps_the_rest(
    gql: GraphQL, services: Services, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    receiver = WebhookReceiver(statuses=[200, 500])
    async with serving(receiver) as port:
        endpoint_id, _ = await create_endpoint(gql, shop, f"http://127.0.0.1:{port}/", ["parcel.booked"])
        await book(gql, shop)
        await book(gql, shop)
        log = await delivery_log(gql, shop, endpoint_id)
        outcomes = [await services.webhooks.deliver(uuid_of(d["id"], "WebhookDelivery")) for d in reversed(log)]
    assert outcomes == ["succeeded", "pending"]
    clock.advance(timedelta(days=31))
    purged = await services.maintenance.purge()
    # The delivered one is gone with its attempts; the one still being tried stays, as do their events.
    assert purged.outbox_messages == 1
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    assert await db.fetchval("SELECT count(*) FROM webhook_attempts") == 1
    assert await db.fetchval("SELECT status FROM webhook_deliveries") == "pending"
    assert await db.fetchval("SELECT count(*) FROM parcel_events") == 2


async def test_redirects_are_not_followed_and_an_endless_answer_is_read_only_to_64_kb(
    gql: GraphQL, services: Services, shop: Shop
) -> None:
    redirecting = WebhookReceiver(statuses=[307])
    endless = WebhookReceiver(endless=True)
    async with serving(redirecting) as first_port, serving(endless) as second_port:
        first, _ = await create_endpoint(gql, shop, f"http://127.0.0.1:{first_port}/", ["parcel.booked"])
        second, _ = await create_endpoint(gql, shop, f"http://127.0.0.1:{second_port}/", ["parcel.booked"])
        await book(gql, shop)
        (redirected,) = await delivery_log(gql, shop, first)
        (streamed,) = await delivery_log(gql, shop, second)
        assert await services.webhooks.deliver(uuid_of(redirected["id"], "WebhookDelivery")) == "pending"
        assert await services.webhooks.deliver(uuid_of(streamed["id"], "WebhookDelivery")) == "succeeded"
    assert [r.headers.get("webhook-id") for r in redirecting.received] == [redirected["messageId"]]  # not followed
    (logged,) = await delivery_log(gql, shop, first)
    assert logged["attempts"][0]["statusCode"] == 307
    (read,) = await delivery_log(gql, shop, second)
    assert read["attempts"][0]["statusCode"] == 200
    assert read["attempts"][0]["error"] is None


async def test_an_event_and_its_outbox_rows_commit_or_roll_back_together(
    gql: GraphQL, services: Services, shop: Shop, clock: ManualClock, db: asyncpg.Connection
) -> None:
    await create_endpoint(gql, shop, "http://127.0.0.1:9/", ["parcel.pin_locked", "job.status_changed"])
    job = await book(gql, shop)
    parcel_id = uuid_of(job["parcels"][0]["id"], "Parcel")

    async def counts() -> tuple[int, ...]:
        row = await db.fetchrow(
            """
            SELECT (SELECT count(*) FROM parcel_events), (SELECT count(*) FROM outbox),
                   (SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM pgqueuer)
            """
        )
        assert row is not None
        return tuple(row)

    before = await counts()
    for commit in (False, True):
        async with services.db.uow() as uow:
            parcel = await uow.repos.delivery.parcel(parcel_id, for_update=True)
            assert parcel is not None
            await uow.repos.parcel_events.append([event(parcel, SYSTEM, clock.now(), kind="pin_locked")])
            await uow.repos.delivery.set_job_statuses({parcel.job_id: JobStatus.ASSIGNED}, clock.now())
            if commit:
                await uow.commit()
        if not commit:
            assert await counts() == before  # rolled back: nothing told, nothing queued
    # Committed: the event, its message and the job's, a delivery for each, and a worker job for each.
    assert await counts() == (before[0] + 1, before[1] + 2, before[2] + 2, before[3] + 2)
