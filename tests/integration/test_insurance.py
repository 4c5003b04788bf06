"""Insurance over HTTP: register, verify, count until the exact end instant; and the standings matching reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.couriers import (
    DocumentClaim,
    DocumentKind,
    NewPolicy,
    NewVerificationRequest,
    PolicyStatus,
    matching_cover,
)
from marketplace.domain.paging import PageRequest
from marketplace.repositories.couriers import CourierRepository
from marketplace.services.container import Services
from tests.helpers import PASSWORD, GraphQL, admin_token, fresh_token

US = timedelta(microseconds=1)
DAY = timedelta(days=1)

POLICY_FIELDS = """
id insurer policyNumber status countsNow validFrom validUntil createdAt decidedAt reason
coverPerParcel { amountMinor currency } coverPerTrip { amountMinor currency }
courier { id } decidedBy { email }
"""
REGISTER = f"""
mutation($i: RegisterInsurancePolicyInput!) {{
  registerInsurancePolicy(input: $i) {{ policy {{ {POLICY_FIELDS} }} errors {{ field code message }} }}
}}
"""
VERIFY = f"""
mutation($i: VerifyInsurancePolicyInput!) {{
  verifyInsurancePolicy(input: $i) {{ policy {{ {POLICY_FIELDS} }} errors {{ field code message }} }}
}}
"""
REJECT = f"""
mutation($i: RejectInsurancePolicyInput!) {{
  rejectInsurancePolicy(input: $i) {{ policy {{ {POLICY_FIELDS} }} errors {{ field code message }} }}
}}
"""
POLICY = f"query($id: ID!) {{ insurancePolicy(id: $id) {{ {POLICY_FIELDS} }} }}"
POLICIES = """
query($first: Int, $after: String, $status: InsurancePolicyStatus, $c: ID) {
  insurancePolicies(first: $first, after: $after, status: $status, courierId: $c) {
    edges { node { id status countsNow courier { id } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def policy_input(clock: ManualClock, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "insurer": "Acme Mutual",
        "policyNumber": "pl-2026-001",
        "coverPerParcel": {"amountMinor": 50_000, "currency": "EUR"},
        "coverPerTrip": {"amountMinor": 250_000, "currency": "EUR"},
        "validFrom": (clock.now() - 30 * DAY).isoformat(),
        "validUntil": (clock.now() + 30 * DAY).isoformat(),
    }
    values.update(overrides)
    return {"i": values}


async def register(gql: GraphQL, token: str, variables: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(REGISTER, variables, token=token))["data"]["registerInsurancePolicy"]
    assert payload["errors"] == [], payload
    return payload["policy"]  # type: ignore[no-any-return]


async def verify(gql: GraphQL, token: str, policy_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(VERIFY, {"i": {"policyId": policy_id}}, token=token))["data"][
        "verifyInsurancePolicy"
    ]
    assert payload["errors"] == [], payload
    return payload["policy"]  # type: ignore[no-any-return]


async def read(gql: GraphQL, token: str, policy_id: str) -> dict[str, Any]:
    body = await gql(POLICY, {"id": policy_id}, token=token)
    assert "errors" not in body, body
    return body["data"]["insurancePolicy"]  # type: ignore[no-any-return]


async def test_a_verified_policy_counts_until_the_exact_instant_it_ends(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    ends = clock.now() + 30 * DAY
    registered = await register(
        gql, courier["accessToken"], policy_input(clock, insurer="  Acme   Mutual ", validUntil=ends.isoformat())
    )
    assert registered["status"] == "PENDING"
    assert registered["countsNow"] is False
    assert (registered["insurer"], registered["policyNumber"]) == ("Acme Mutual", "PL-2026-001")
    assert registered["coverPerParcel"] == {"amountMinor": 50_000, "currency": "EUR"}
    assert registered["coverPerTrip"] == {"amountMinor": 250_000, "currency": "EUR"}
    assert registered["courier"] == {"id": courier["user"]["id"]}

    verified = await verify(gql, admin, registered["id"])
    assert (verified["status"], verified["countsNow"]) == ("VERIFIED", True)
    assert (verified["decidedAt"], verified["decidedBy"]) == (clock.now().isoformat(), {"email": "ops@example.com"})

    clock.advance(ends - US - clock.now())
    token = await fresh_token(gql, "rider@example.com")
    seen = await read(gql, token, registered["id"])
    assert (seen["countsNow"], seen["decidedBy"]) == (True, None)  # the courier is not told who verified it
    clock.advance(US)
    assert (await read(gql, token, registered["id"]))["countsNow"] is False
    listed = (await gql(POLICIES, {}, token=token))["data"]["insurancePolicies"]["edges"]
    assert [(e["node"]["status"], e["node"]["countsNow"]) for e in listed] == [("VERIFIED", False)]


async def test_a_policy_that_starts_later_counts_from_its_first_instant(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    starts = clock.now() + timedelta(minutes=5)
    policy = await register(gql, courier["accessToken"], policy_input(clock, validFrom=starts.isoformat()))
    assert (await verify(gql, admin, policy["id"]))["countsNow"] is False
    clock.advance(starts - US - clock.now())
    assert (await read(gql, courier["accessToken"], policy["id"]))["countsNow"] is False
    clock.advance(US)
    assert (await read(gql, courier["accessToken"], policy["id"]))["countsNow"] is True


async def test_an_invalid_policy_reports_every_problem_and_writes_nothing(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    variables = policy_input(
        clock,
        insurer="",
        policyNumber="x" * 101,
        coverPerParcel={"amountMinor": 0, "currency": "EUR"},
        coverPerTrip={"amountMinor": 250_000, "currency": "GBP"},
        validFrom=(clock.now() - DAY).isoformat(),
        validUntil=(clock.now() - 2 * DAY).isoformat(),
        idempotencyKey="bad-policy",
    )
    payload = (await gql(REGISTER, variables, token=courier["accessToken"]))["data"]["registerInsurancePolicy"]
    assert payload["policy"] is None
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("insurer", "REQUIRED"),
        ("policyNumber", "TOO_LONG"),
        ("coverPerTrip.currency", "CURRENCY_MISMATCH"),
        ("coverPerParcel.amountMinor", "OUT_OF_RANGE"),
        ("validUntil", "WINDOW_ORDER"),
    }
    expired = policy_input(
        clock, validUntil=clock.now().isoformat(), coverPerTrip={"amountMinor": 1, "currency": "EUR"}
    )
    payload = (await gql(REGISTER, expired, token=courier["accessToken"]))["data"]["registerInsurancePolicy"]
    assert {(e["field"], e["code"]) for e in payload["errors"]} == {
        ("validUntil", "IN_THE_PAST"),
        ("coverPerTrip.amountMinor", "OUT_OF_RANGE"),
    }
    unsupported = policy_input(clock, coverPerParcel={"amountMinor": 1, "currency": "USD"})
    payload = (await gql(REGISTER, unsupported, token=courier["accessToken"]))["data"]["registerInsurancePolicy"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("coverPerParcel.currency", "UNSUPPORTED_CURRENCY")]
    assert await db.fetchval("SELECT count(*) FROM insurance_policies") == 0
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_the_same_policy_again_is_a_duplicate_until_it_is_rejected(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    first = await register(gql, courier["accessToken"], policy_input(clock))
    again = policy_input(clock, insurer="ACME mutual", policyNumber=" PL-2026-001 ")
    duplicate = (await gql(REGISTER, again, token=courier["accessToken"]))["data"]["registerInsurancePolicy"]
    assert [(e["field"], e["code"]) for e in duplicate["errors"]] == [("policyNumber", "DUPLICATE_POLICY")]
    assert await db.fetchval("SELECT count(*) FROM insurance_policies") == 1

    no_reason = (await gql(REJECT, {"i": {"policyId": first["id"], "reason": ""}}, token=admin))["data"]
    assert [(e["field"], e["code"]) for e in no_reason["rejectInsurancePolicy"]["errors"]] == [("reason", "REQUIRED")]
    rejected = (await gql(REJECT, {"i": {"policyId": first["id"], "reason": "scan unreadable"}}, token=admin))["data"]
    assert rejected["rejectInsurancePolicy"]["policy"]["status"] == "REJECTED"
    assert rejected["rejectInsurancePolicy"]["policy"]["reason"] == "scan unreadable"
    await register(gql, courier["accessToken"], again)
    # Another courier's policy numbers are none of this courier's business.
    other = await gql.session("other@example.com")
    await register(gql, other["accessToken"], policy_input(clock))


async def test_deciding_a_policy_that_is_not_pending_is_refused(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    admin = await admin_token(gql, services)
    policy = await register(gql, courier["accessToken"], policy_input(clock))
    await verify(gql, admin, policy["id"])
    twice = (await gql(VERIFY, {"i": {"policyId": policy["id"]}}, token=admin))["data"]["verifyInsurancePolicy"]
    late = (await gql(REJECT, {"i": {"policyId": policy["id"], "reason": "no"}}, token=admin))["data"]
    for payload in (twice, late["rejectInsurancePolicy"]):
        assert payload["policy"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("policyId", "POLICY_NOT_PENDING")]
    assert await db.fetchval("SELECT status FROM insurance_policies") == "verified"


async def test_another_couriers_policy_reads_exactly_like_a_missing_one(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    alice = await gql.session("alice@example.com")
    bob = await gql.session("bob@example.com")
    admin = await admin_token(gql, services)
    policy = await register(gql, alice["accessToken"], policy_input(clock))

    foreign = await gql(POLICY, {"id": policy["id"]}, token=bob["accessToken"])
    missing = await gql(POLICY, {"id": str(relay.GlobalID("InsurancePolicy", str(uuid4())))}, token=bob["accessToken"])
    assert foreign["data"] == missing["data"] == {"insurancePolicy": None}
    assert foreign["errors"][0]["message"] == missing["errors"][0]["message"]
    assert foreign["errors"][0]["extensions"] == missing["errors"][0]["extensions"] == {"code": "NOT_FOUND"}

    for variables in ({"c": alice["user"]["id"]}, {}):
        assert (await gql(POLICIES, variables, token=bob["accessToken"]))["data"]["insurancePolicies"]["edges"] == []
    queue = (await gql(POLICIES, {"status": "PENDING"}, token=admin))["data"]["insurancePolicies"]["edges"]
    assert [e["node"]["id"] for e in queue] == [policy["id"]]
    by_courier = (await gql(POLICIES, {"c": bob["user"]["id"]}, token=admin))["data"]["insurancePolicies"]["edges"]
    assert by_courier == []


async def test_a_retried_registration_returns_the_first_policy(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    variables = policy_input(clock, idempotencyKey="policy-1")
    first = await gql(REGISTER, variables, token=courier["accessToken"])
    assert first["data"]["registerInsurancePolicy"]["errors"] == []
    retry = await gql(REGISTER, variables, token=courier["accessToken"])
    assert retry == first
    assert await db.fetchval("SELECT count(*) FROM insurance_policies") == 1
    changed = policy_input(clock, idempotencyKey="policy-1", policyNumber="PL-2026-002")
    reused = (await gql(REGISTER, changed, token=courier["accessToken"]))["data"]["registerInsurancePolicy"]
    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_couriers_cannot_verify_or_reject_policies(
    gql: GraphQL, clock: ManualClock, db: asyncpg.Connection
) -> None:
    courier = await gql.session("rider@example.com")
    policy = await register(gql, courier["accessToken"], policy_input(clock))
    for document, variables in (
        (VERIFY, {"i": {"policyId": policy["id"]}}),
        (REJECT, {"i": {"policyId": policy["id"], "reason": "no"}}),
    ):
        body = await gql(document, variables, token=courier["accessToken"])
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await db.fetchval("SELECT status FROM insurance_policies") == "pending"


# --- standings, as the matching bridge reads them ---------------------------------------------------


async def courier_principal(services: Services, email: str) -> Principal:
    user = await services.accounts.create_user(email=email, password=PASSWORD, role=Role.COURIER)
    return Principal(role=Role.COURIER, user_id=user.id, organization_id=None)


async def verified_policy(
    services: Services, courier: Principal, admin: Principal, number: str, per_parcel: int, until: timedelta
) -> UUID:
    now = services.clock.now()
    checked = await services.couriers.register_insurance_policy(
        courier,
        NewPolicy(
            insurer="Acme Mutual",
            policy_number=number,
            cover_per_parcel=(per_parcel, "EUR"),
            cover_per_trip=(per_parcel * 4, "EUR"),
            valid_from=now - DAY,
            valid_until=now + until,
        ),
    )
    await services.couriers.verify_insurance_policy(admin, policy_id=checked.policy.id)
    return checked.policy.id


async def granted(services: Services, courier: Principal, admin: Principal, level: int, until: timedelta) -> None:
    expires_at = services.clock.now() + until
    documents = [DocumentClaim(DocumentKind.PASSPORT, "NL", expires_at, "1234")]
    if level == 2:
        documents.append(DocumentClaim(DocumentKind.BACKGROUND_CHECK, "NL", expires_at, "5678"))
    request = await services.couriers.submit_verification(courier, NewVerificationRequest(level, tuple(documents)))
    await services.couriers.approve_verification(admin, request_id=request.id)


async def test_standings_carry_each_couriers_level_and_counting_policies_at_the_instant(
    services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    admin_user = await services.accounts.create_user(email="ops@example.com", password=PASSWORD, role=Role.ADMIN)
    admin = Principal(role=Role.ADMIN, user_id=admin_user.id, organization_id=None)
    valid = await courier_principal(services, "valid@example.com")
    expiring = await courier_principal(services, "expiring@example.com")
    pending = await courier_principal(services, "pending@example.com")
    assert valid.user_id is not None
    assert expiring.user_id is not None
    assert pending.user_id is not None

    await granted(services, valid, admin, 2, 90 * DAY)
    best = await verified_policy(services, valid, admin, "V-1", 80_000, 60 * DAY)
    small = await verified_policy(services, valid, admin, "V-2", 20_000, 60 * DAY)
    await granted(services, expiring, admin, 1, 10 * DAY)
    await verified_policy(services, expiring, admin, "E-1", 50_000, 10 * DAY)
    await services.couriers.register_insurance_policy(
        pending,
        NewPolicy(
            insurer="Acme Mutual",
            policy_number="P-1",
            cover_per_parcel=(50_000, "EUR"),
            cover_per_trip=(50_000, "EUR"),
            valid_from=clock.now(),
            valid_until=clock.now() + 60 * DAY,
        ),
    )
    stranger = uuid4()
    ids = [valid.user_id, expiring.user_id, pending.user_id, stranger]

    repository = CourierRepository(db)
    end_of_expiring = clock.now() + 10 * DAY
    await repository.standings([stranger], clock.now())  # asyncpg's one-off type introspection, not counted
    statements: list[str] = []
    db.add_query_logger(lambda record: statements.append(record.query))

    before = await repository.standings(ids, end_of_expiring - US)
    await asyncio.sleep(0)  # the query logger's callbacks land on the next loop turn
    assert len(statements) == 2
    assert set(before) == set(ids)
    assert (before[valid.user_id].level, before[valid.user_id].level_valid_until) == (2, clock.now() + 90 * DAY)
    assert {p.id for p in before[valid.user_id].policies} == {best, small}
    assert all(p.status is PolicyStatus.VERIFIED for p in before[valid.user_id].policies)
    chosen = matching_cover(before[valid.user_id].policies)
    assert chosen is not None
    assert chosen.id == best
    assert (before[expiring.user_id].level, len(before[expiring.user_id].policies)) == (1, 1)
    assert (before[pending.user_id].level, before[pending.user_id].policies) == (0, ())
    assert (before[stranger].level, before[stranger].level_valid_until, before[stranger].policies) == (0, None, ())

    after = await repository.standings(ids, end_of_expiring)
    assert (after[expiring.user_id].level, after[expiring.user_id].policies) == (0, ())
    assert after[valid.user_id] == before[valid.user_id]
    await asyncio.sleep(0)
    assert len(statements) == 4

    assert await services.couriers.standings(ids, end_of_expiring) == after
    assert await repository.standings([], clock.now()) == {}


async def test_a_revoked_level_stops_counting_in_standings_at_the_revocation(
    services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    admin_user = await services.accounts.create_user(email="ops@example.com", password=PASSWORD, role=Role.ADMIN)
    admin = Principal(role=Role.ADMIN, user_id=admin_user.id, organization_id=None)
    courier = await courier_principal(services, "rider@example.com")
    assert courier.user_id is not None
    await granted(services, courier, admin, 1, 30 * DAY)
    clock.advance(DAY)
    await services.couriers.revoke_verification(admin, courier_id=courier.user_id, reason="fraud")
    repository = CourierRepository(db)
    assert (await repository.standings([courier.user_id], clock.now() - US))[courier.user_id].level == 1
    assert (await repository.standings([courier.user_id], clock.now()))[courier.user_id].level == 0
    listed = await services.couriers.insurance_policies(courier, PageRequest(first=5))
    assert listed.items == ()
