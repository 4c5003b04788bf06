"""Courier verification over HTTP: request, decision, level as of now, lapses at the exact instant, history."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from tests.conftest import make_settings
from tests.helpers import GraphQL, admin_token, fresh_token, running_app, statements_of_last_request

US = timedelta(microseconds=1)
DAY = timedelta(days=1)

REQUEST_FIELDS = """
id level status validUntil createdAt decidedAt reason
documents { kind issuingCountry expiresAt numberLast4 }
courier { id } decidedBy { email }
"""
SUBMIT = f"""
mutation($i: SubmitVerificationInput!) {{
  submitVerification(input: $i) {{ request {{ {REQUEST_FIELDS} }} errors {{ field code message }} }}
}}
"""
APPROVE = f"""
mutation($i: ApproveVerificationInput!) {{
  approveVerification(input: $i) {{ request {{ {REQUEST_FIELDS} }} errors {{ field code message }} }}
}}
"""
REJECT = f"""
mutation($i: RejectVerificationInput!) {{
  rejectVerification(input: $i) {{ request {{ {REQUEST_FIELDS} }} errors {{ field code message }} }}
}}
"""
VERIFICATION_FIELDS = """
level levelValidUntil courier { id }
history { at fromLevel toLevel cause reason actor { email } request { id level status } }
"""
REVOKE = f"""
mutation($i: RevokeVerificationInput!) {{
  revokeVerification(input: $i) {{ verification {{ {VERIFICATION_FIELDS} }} errors {{ field code message }} }}
}}
"""
VERIFICATION = f"query($c: ID) {{ verification(courierId: $c) {{ {VERIFICATION_FIELDS} }} }}"
REQUEST = f"query($id: ID!) {{ verificationRequest(id: $id) {{ {REQUEST_FIELDS} }} }}"
REQUESTS = """
query($first: Int, $after: String, $status: VerificationStatus, $c: ID) {
  verificationRequests(first: $first, after: $after, status: $status, courierId: $c) {
    edges { node { id level status courier { id } reason } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def at(clock: ManualClock, delta: timedelta) -> str:
    return (clock.now() + delta).isoformat()


def document(kind: str, expires_at: str, last4: str = "ab12", country: str = "nl") -> dict[str, str]:
    return {"kind": kind, "issuingCountry": country, "expiresAt": expires_at, "numberLast4": last4}


def level_1(clock: ManualClock, expires_in: timedelta = 365 * DAY, **extra: Any) -> dict[str, Any]:
    return {"i": {"level": 1, "documents": [document("PASSPORT", at(clock, expires_in))], **extra}}


async def submit(gql: GraphQL, token: str, variables: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(SUBMIT, variables, token=token))["data"]["submitVerification"]
    assert payload["errors"] == [], payload
    return payload["request"]  # type: ignore[no-any-return]


async def approve(gql: GraphQL, token: str, request_id: str, reason: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(APPROVE, {"i": {"requestId": request_id, "reason": reason}}, token=token))[
        "data"
    ]["approveVerification"]
    assert payload["errors"] == [], payload
    return payload["request"]  # type: ignore[no-any-return]


async def verification(gql: GraphQL, token: str, courier_id: str | None = None) -> dict[str, Any]:
    body = await gql(VERIFICATION, {"c": courier_id}, token=token)
    assert "errors" not in body, body
    return body["data"]["verification"]  # type: ignore[no-any-return]


async def test_an_approved_request_sets_the_level_until_its_first_document_expires(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    licence_expiry = clock.now() + 100 * DAY
    request = await submit(
        gql,
        courier["accessToken"],
        {
            "i": {
                "level": 1,
                "documents": [
                    document("PASSPORT", at(clock, 365 * DAY), last4=" x7k2 ", country=" de "),
                    document("DRIVING_LICENCE", licence_expiry.isoformat(), last4="9876"),
                ],
            }
        },
    )
    assert request["status"] == "PENDING"
    assert request["courier"] == {"id": courier["user"]["id"]}
    assert request["documents"][0] == {
        "kind": "PASSPORT",
        "issuingCountry": "DE",
        "expiresAt": at(clock, 365 * DAY),
        "numberLast4": "X7K2",
    }
    assert request["validUntil"] == licence_expiry.isoformat()
    assert (await verification(gql, courier["accessToken"]))["level"] == 0

    queue = (await gql(REQUESTS, {"status": "PENDING"}, token=admin))["data"]["verificationRequests"]["edges"]
    assert [edge["node"]["id"] for edge in queue] == [request["id"]]

    clock.advance(timedelta(minutes=10))
    decided = await approve(gql, admin, request["id"], reason="documents checked in person")
    assert decided["status"] == "APPROVED"
    assert decided["decidedAt"] == clock.now().isoformat()
    assert decided["decidedBy"] == {"email": "ops@example.com"}
    assert decided["reason"] == "documents checked in person"

    mine = await verification(gql, courier["accessToken"])
    assert mine["level"] == 1
    assert mine["levelValidUntil"] == licence_expiry.isoformat()
    assert mine["history"] == [
        {
            "at": clock.now().isoformat(),
            "fromLevel": 0,
            "toLevel": 1,
            "cause": "APPROVED",
            "reason": "documents checked in person",
            "actor": None,  # couriers learn the decision, not which operations user made it
            "request": {"id": request["id"], "level": 1, "status": "APPROVED"},
        }
    ]
    as_operations = await verification(gql, admin, courier["user"]["id"])
    assert as_operations["history"][0]["actor"] == {"email": "ops@example.com"}
    assert as_operations["history"][0] | {"actor": None} == mine["history"][0]
    assert {k: v for k, v in as_operations.items() if k != "history"} == {
        k: v for k, v in mine.items() if k != "history"
    }
    assert (await gql(REQUESTS, {"status": "PENDING"}, token=admin))["data"]["verificationRequests"]["edges"] == []
    stored = await db.fetch("SELECT number_last4 FROM verification_documents ORDER BY position")
    assert [row["number_last4"] for row in stored] == ["X7K2", "9876"]


async def test_a_rejected_request_carries_its_reason_and_grants_nothing(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    request = await submit(gql, courier["accessToken"], level_1(clock))

    missing_reason = (await gql(REJECT, {"i": {"requestId": request["id"], "reason": "  "}}, token=admin))["data"]
    assert missing_reason["rejectVerification"]["errors"] == [
        {"field": "reason", "code": "REQUIRED", "message": "give the courier a reason"}
    ]
    assert await db.fetchval("SELECT status FROM verification_requests") == "pending"

    rejected = await gql(REJECT, {"i": {"requestId": request["id"], "reason": "photo unreadable"}}, token=admin)
    assert rejected["data"]["rejectVerification"]["request"]["status"] == "REJECTED"

    seen = (await gql(REQUEST, {"id": request["id"]}, token=courier["accessToken"]))["data"]["verificationRequest"]
    assert (seen["status"], seen["reason"], seen["decidedBy"]) == ("REJECTED", "photo unreadable", None)
    seen_by_operations = (await gql(REQUEST, {"id": request["id"]}, token=admin))["data"]["verificationRequest"]
    assert seen_by_operations["decidedBy"] == {"email": "ops@example.com"}
    mine = await verification(gql, courier["accessToken"])
    assert (mine["level"], mine["levelValidUntil"], mine["history"]) == (0, None, [])
    assert await db.fetchval("SELECT count(*) FROM courier_level_grants") == 0
    # Once decided, the courier may try again.
    await submit(gql, courier["accessToken"], level_1(clock))


async def test_a_level_lapses_at_the_exact_instant_its_document_expires(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    expiry = clock.now() + 10 * DAY
    request = await submit(gql, courier["accessToken"], level_1(clock, 10 * DAY))
    await approve(gql, admin, request["id"])

    clock.advance(expiry - US - clock.now())
    token = await fresh_token(gql, "rider@example.com")
    just_before = await verification(gql, token)
    assert (just_before["level"], just_before["levelValidUntil"]) == (1, expiry.isoformat())
    assert [h["cause"] for h in just_before["history"]] == ["APPROVED"]

    clock.advance(US)
    lapsed = await verification(gql, token)
    assert (lapsed["level"], lapsed["levelValidUntil"]) == (0, None)
    assert lapsed["history"][-1] == {
        "at": expiry.isoformat(),
        "fromLevel": 1,
        "toLevel": 0,
        "cause": "LAPSED",
        "reason": None,
        "actor": None,
        "request": {"id": request["id"], "level": 1, "status": "APPROVED"},
    }


async def test_history_keeps_every_change_and_a_level_2_lapse_falls_back_to_level_1(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    start = clock.now()
    first = await submit(gql, courier["accessToken"], level_1(clock, 365 * DAY))
    await approve(gql, admin, first["id"], reason="passport seen")

    clock.advance(DAY)
    token, admin = await fresh_token(gql, "rider@example.com"), await fresh_token(gql, "ops@example.com")
    second = await submit(
        gql,
        token,
        {
            "i": {
                "level": 2,
                "documents": [
                    document("NATIONAL_ID", at(clock, 200 * DAY), last4="1111"),
                    document("BACKGROUND_CHECK", at(clock, 30 * DAY), last4="2222"),
                ],
            }
        },
    )
    await approve(gql, admin, second["id"])
    certificate_expiry = clock.now() + 30 * DAY
    assert (await verification(gql, token))["level"] == 2

    clock.advance(40 * DAY)
    token, admin = await fresh_token(gql, "rider@example.com"), await fresh_token(gql, "ops@example.com")
    now_level_1 = await verification(gql, token)
    assert (now_level_1["level"], now_level_1["levelValidUntil"]) == (1, (start + 365 * DAY).isoformat())

    await gql(
        REVOKE, {"i": {"courierId": courier["user"]["id"], "reason": "identity document reported stolen"}}, token=admin
    )
    history = (await verification(gql, token))["history"]
    assert [(h["at"], h["fromLevel"], h["toLevel"], h["cause"], h["request"]["id"]) for h in history] == [
        (start.isoformat(), 0, 1, "APPROVED", first["id"]),
        ((start + DAY).isoformat(), 1, 2, "APPROVED", second["id"]),
        (certificate_expiry.isoformat(), 2, 1, "LAPSED", second["id"]),
        (clock.now().isoformat(), 1, 0, "REVOKED", first["id"]),
    ]
    assert [h["reason"] for h in history] == ["passport seen", None, None, "identity document reported stolen"]
    assert [h["actor"] for h in history] == [None, None, None, None]
    as_operations = (await verification(gql, admin, courier["user"]["id"]))["history"]
    assert [h["actor"] for h in as_operations] == [
        {"email": "ops@example.com"},
        {"email": "ops@example.com"},
        None,
        {"email": "ops@example.com"},
    ]


async def test_revoking_ends_the_level_now_and_needs_a_level_to_revoke(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    request = await submit(gql, courier["accessToken"], level_1(clock))
    await approve(gql, admin, request["id"])
    clock.advance(DAY)
    admin = await fresh_token(gql, "ops@example.com")

    variables = {"i": {"courierId": courier["user"]["id"], "reason": "fraud"}}
    revoked = (await gql(REVOKE, variables, token=admin))["data"]["revokeVerification"]
    assert revoked["errors"] == []
    assert (revoked["verification"]["level"], revoked["verification"]["history"][-1]["cause"]) == (0, "REVOKED")
    assert await db.fetchval("SELECT revoked_at FROM courier_level_grants") == clock.now()

    again = (await gql(REVOKE, variables, token=admin))["data"]["revokeVerification"]
    assert again["errors"] == [
        {"field": "courierId", "code": "NOT_VERIFIED", "message": "the courier holds no level to revoke"}
    ]
    admin_id = (await gql("query { me { user { id } } }", token=admin))["data"]["me"]["user"]["id"]
    not_a_courier = (await gql(REVOKE, {"i": {"courierId": admin_id, "reason": "x"}}, token=admin))["data"]
    assert not_a_courier["revokeVerification"]["errors"][0]["code"] == "NOT_FOUND"


async def test_one_request_may_wait_for_a_decision_at_a_time(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    await submit(gql, courier["accessToken"], level_1(clock))
    other = {"i": {"level": 1, "documents": [document("NATIONAL_ID", at(clock, DAY), last4="zz99")]}}
    second = (await gql(SUBMIT, other, token=courier["accessToken"]))["data"]
    assert second["submitVerification"] == {
        "request": None,
        "errors": [
            {
                "field": None,
                "code": "VERIFICATION_PENDING",
                "message": "a verification request is already waiting for a decision",
            }
        ],
    }
    assert await db.fetchval("SELECT count(*) FROM verification_requests") == 1
    assert await db.fetchval("SELECT count(*) FROM verification_documents") == 1


async def test_deciding_a_request_that_is_not_pending_is_refused(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    request = await submit(gql, courier["accessToken"], level_1(clock))
    await approve(gql, admin, request["id"])

    twice = (await gql(APPROVE, {"i": {"requestId": request["id"]}}, token=admin))["data"]["approveVerification"]
    late = (await gql(REJECT, {"i": {"requestId": request["id"], "reason": "no"}}, token=admin))["data"]
    for payload in (twice, late["rejectVerification"]):
        assert payload["request"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("requestId", "VERIFICATION_NOT_PENDING")]
    assert await db.fetchval("SELECT count(*) FROM courier_level_grants") == 1
    assert await db.fetchval("SELECT status FROM verification_requests") == "approved"


async def test_a_request_whose_document_expired_while_waiting_cannot_be_approved(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    request = await submit(gql, courier["accessToken"], level_1(clock, DAY))
    clock.advance(DAY)
    admin = await fresh_token(gql, "ops@example.com")
    refused = (await gql(APPROVE, {"i": {"requestId": request["id"]}}, token=admin))["data"]["approveVerification"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("requestId", "DOCUMENT_EXPIRED")]
    assert await db.fetchval("SELECT count(*) FROM courier_level_grants") == 0
    assert await db.fetchval("SELECT status FROM verification_requests") == "pending"


async def test_an_invalid_request_reports_every_problem_and_writes_nothing(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    variables = {
        "i": {
            "level": 2,
            "documents": [
                document("PASSPORT", at(clock, -US), last4="12345"),
                document("DRIVING_LICENCE", at(clock, DAY), country="Holland", last4="a-1b"),
            ],
            "idempotencyKey": "bad-1",
        }
    }
    payload = (await gql(SUBMIT, variables, token=courier["accessToken"]))["data"]["submitVerification"]
    assert payload["request"] is None
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("documents[0].numberLast4", "INVALID"),
        ("documents[0].expiresAt", "DOCUMENT_EXPIRED"),
        ("documents[1].issuingCountry", "INVALID_COUNTRY"),
        ("documents[1].numberLast4", "INVALID"),
        ("documents", "DOCUMENTS_INSUFFICIENT"),
    }
    for table in ("verification_requests", "verification_documents", "idempotency_keys"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_another_couriers_request_and_verification_read_exactly_like_missing_ones(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    alice = await gql.session("alice@example.com")
    bob = await gql.session("bob@example.com")
    admin = await admin_token(gql, services)
    request = await submit(gql, alice["accessToken"], level_1(clock))
    await approve(gql, admin, request["id"])
    nobody_request = str(relay.GlobalID("VerificationRequest", str(uuid4())))
    nobody = str(relay.GlobalID("User", str(uuid4())))

    foreign = await gql(REQUEST, {"id": request["id"]}, token=bob["accessToken"])
    missing = await gql(REQUEST, {"id": nobody_request}, token=bob["accessToken"])
    assert foreign["data"] == missing["data"] == {"verificationRequest": None}
    assert foreign["errors"][0]["message"] == missing["errors"][0]["message"]
    assert foreign["errors"][0]["extensions"] == missing["errors"][0]["extensions"] == {"code": "NOT_FOUND"}

    foreign = await gql(VERIFICATION, {"c": alice["user"]["id"]}, token=bob["accessToken"])
    missing = await gql(VERIFICATION, {"c": nobody}, token=bob["accessToken"])
    garbage = await gql(VERIFICATION, {"c": "not an id"}, token=bob["accessToken"])
    assert foreign["data"] == missing["data"] == garbage["data"] == {"verification": None}
    assert (
        foreign["errors"][0]["extensions"]
        == missing["errors"][0]["extensions"]
        == garbage["errors"][0]["extensions"]
        == {"code": "NOT_FOUND"}
    )

    for variables in ({"c": alice["user"]["id"]}, {}):
        listed = (await gql(REQUESTS, variables, token=bob["accessToken"]))["data"]["verificationRequests"]
        assert listed["edges"] == []
    for_admin = (await gql(REQUESTS, {"c": alice["user"]["id"]}, token=admin))["data"]["verificationRequests"]
    assert [edge["node"]["id"] for edge in for_admin["edges"]] == [request["id"]]
    assert (await verification(gql, bob["accessToken"], bob["user"]["id"]))["level"] == 0


async def test_a_retried_submission_returns_the_first_request(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    variables = level_1(clock, timedelta(hours=1), idempotencyKey="verify-1")
    first = await gql(SUBMIT, variables, token=courier["accessToken"])
    assert first["data"]["submitVerification"]["errors"] == []
    # The document has expired since: the retry still answers with what the first call did.
    clock.advance(timedelta(hours=2))
    token = await fresh_token(gql, "rider@example.com")
    retry = await gql(SUBMIT, variables, token=token)
    assert retry == first
    assert await db.fetchval("SELECT count(*) FROM verification_requests") == 1

    other = level_1(clock, 30 * DAY, idempotencyKey="verify-1")
    reused = (await gql(SUBMIT, other, token=token))["data"]["submitVerification"]
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_couriers_cannot_decide_on_verification(gql: GraphQL, clock: ManualClock, db: asyncpg.Connection) -> None:
    courier = await gql.session("rider@example.com")
    request = await submit(gql, courier["accessToken"], level_1(clock))
    for document_, variables in (
        (APPROVE, {"i": {"requestId": request["id"]}}),
        (REJECT, {"i": {"requestId": request["id"], "reason": "no"}}),
        (REVOKE, {"i": {"courierId": courier["user"]["id"], "reason": "no"}}),
    ):
        body = await gql(document_, variables, token=courier["accessToken"])
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT status FROM verification_requests") == "pending"


async def test_the_review_queue_pages_oldest_first(gql: GraphQL, services: Services, clock: ManualClock) -> None:
    admin = await admin_token(gql, services)
    ids = []
    for n in range(3):
        courier = await gql.session(f"rider{n}@example.com")
        ids.append((await submit(gql, courier["accessToken"], level_1(clock)))["id"])
        clock.advance(timedelta(minutes=1))
    await approve(gql, admin, ids[1])

    seen: list[str] = []
    after = None
    while True:
        page = (await gql(REQUESTS, {"first": 1, "after": after, "status": "PENDING"}, token=admin))["data"]
        connection = page["verificationRequests"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [ids[0], ids[2]]
    approved = (await gql(REQUESTS, {"status": "APPROVED"}, token=admin))["data"]["verificationRequests"]["edges"]
    assert [edge["node"]["id"] for edge in approved] == [ids[1]]


async def test_listing_requests_and_reading_a_long_history_cost_the_same_statements_for_more_rows(
    log_stream: io.StringIO, database_url: str, services: Services, clock: ManualClock
) -> None:
    listing = f"query {{ verificationRequests(first: 50) {{ edges {{ node {{ {REQUEST_FIELDS} }} }} }} }}"
    async with running_app(make_settings(database_url), clock) as (_, gql):
        admin = await admin_token(gql, services)
        courier = await gql.session("steady@example.com")

        async def round_of_requests(first: int, last: int) -> None:
            for n in range(first, last):
                other = await gql.session(f"rider{n}@example.com")
                request = await submit(gql, other["accessToken"], level_1(clock))
                await approve(gql, admin, request["id"])
            request = await submit(gql, courier["accessToken"], level_1(clock))
            await approve(gql, admin, request["id"], reason=f"round {last}")

        await round_of_requests(0, 1)
        await gql(listing, token=admin)
        few_listed = statements_of_last_request(log_stream)
        await verification(gql, admin, courier["user"]["id"])
        short_history = statements_of_last_request(log_stream)

        clock.advance(timedelta(minutes=1))
        await round_of_requests(1, 6)
        body = await gql(listing, token=admin)
        many_listed = statements_of_last_request(log_stream)
        history = (await verification(gql, admin, courier["user"]["id"]))["history"]
        long_history = statements_of_last_request(log_stream)

    assert len(body["data"]["verificationRequests"]["edges"]) == 8
    assert all(
        e["node"]["decidedBy"] == {"email": "ops@example.com"} for e in body["data"]["verificationRequests"]["edges"]
    )
    assert [(h["fromLevel"], h["toLevel"], h["reason"]) for h in history] == [(0, 1, "round 1"), (1, 1, "round 6")]
    assert (many_listed, long_history) == (few_listed, short_history)
