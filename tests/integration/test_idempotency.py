"""Retried mutations: the same key and input return the first result, once, even when racing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Organization
from marketplace.services.container import Services
from marketplace.services.idempotency import Idempotency
from tests.helpers import PASSWORD, SIGN_UP, GraphQL, wait_until_blocked_on_a_lock


@dataclass(frozen=True)
class NewOrganization:
    name: str


def sign_up_input(email: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"input": {"email": email, "password": PASSWORD, "role": "COURIER", "idempotencyKey": key, **extra}}


async def count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))


async def test_same_key_and_input_returns_the_first_result(gql: GraphQL, db: asyncpg.Connection) -> None:
    first = await gql(SIGN_UP, sign_up_input("retry@example.com", "key-1"))
    second = await gql(SIGN_UP, sign_up_input("retry@example.com", "key-1"))
    assert first["data"]["signUp"]["errors"] == []
    assert second == first
    assert await count(db, "users") == 1


async def test_same_key_with_different_input_is_a_typed_error(gql: GraphQL, db: asyncpg.Connection) -> None:
    await gql(SIGN_UP, sign_up_input("first@example.com", "key-2"))
    other = await gql(SIGN_UP, sign_up_input("second@example.com", "key-2"))
    assert other["data"]["signUp"] == {
        "user": None,
        "errors": [
            {
                "field": "idempotencyKey",
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": "this idempotency key was already used with a different input",
            }
        ],
    }
    assert await count(db, "users") == 1


async def test_a_changed_password_counts_as_different_input(gql: GraphQL) -> None:
    await gql(SIGN_UP, sign_up_input("pw@example.com", "key-3"))
    other = await gql(SIGN_UP, sign_up_input("pw@example.com", "key-3", password="another fine passphrase"))
    assert other["data"]["signUp"]["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_a_refused_request_does_not_use_up_its_key(gql: GraphQL, db: asyncpg.Connection) -> None:
    await gql.sign_up("taken@example.com")
    refused = await gql(SIGN_UP, sign_up_input("taken@example.com", "key-4"))
    assert refused["data"]["signUp"]["errors"][0]["code"] == "DUPLICATE_EMAIL"
    assert await count(db, "idempotency_keys") == 0
    fixed = await gql(SIGN_UP, sign_up_input("free@example.com", "key-4"))
    assert fixed["data"]["signUp"]["errors"] == []


async def test_keys_expire_after_their_time_to_live(gql: GraphQL, clock: ManualClock, services: Services) -> None:
    await gql(SIGN_UP, sign_up_input("old@example.com", "key-5"))
    clock.advance(timedelta(seconds=services.settings.idempotency_ttl_s + 1))
    later = await gql(SIGN_UP, sign_up_input("new@example.com", "key-5"))
    assert later["data"]["signUp"]["errors"] == []
    assert later["data"]["signUp"]["user"]["email"] == "new@example.com"


async def test_malformed_key_is_a_typed_error(gql: GraphQL, db: asyncpg.Connection) -> None:
    body = await gql(SIGN_UP, sign_up_input("k@example.com", "x" * 256))
    assert body["data"]["signUp"]["errors"][0]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await count(db, "users") == 0


async def test_concurrent_duplicates_over_http_create_one_user(gql: GraphQL, db: asyncpg.Connection) -> None:
    results = await asyncio.gather(*(gql(SIGN_UP, sign_up_input("race@example.com", "key-6")) for _ in range(5)))
    ids = {r["data"]["signUp"]["user"]["id"] for r in results}
    assert len(ids) == 1
    assert all(r["data"]["signUp"]["errors"] == [] for r in results)
    assert await count(db, "users") == 1


async def test_a_duplicate_arriving_mid_flight_waits_and_returns_the_first_result(
    services: Services, db: asyncpg.Connection, clock: ManualClock
) -> None:
    idempotency = Idempotency(clock, ttl_s=3600, fingerprint_key=b"test")
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def attempt(tag: str) -> UUID:
        async with services.db.uow() as uow:

            async def action() -> UUID:
                runs.append(tag)
                started.set()
                await release.wait()
                org = Organization(id=uuid4(), name=f"made by {tag}", created_at=clock.now())
                await uow.repos.organizations.add(org)
                return org.id

            result = await idempotency.run(
                uow,
                scope="test",
                operation="createOrganization",
                key="same",
                request=NewOrganization(name="x"),
                action=action,
                dump=lambda value: {"id": str(value)},
                load=lambda data: UUID(data["id"]),
            )
            await uow.commit()
            return result

    first = asyncio.create_task(attempt("first"))
    await started.wait()
    second = asyncio.create_task(attempt("second"))
    await wait_until_blocked_on_a_lock(db, "the duplicate request")
    release.set()
    first_id, second_id = await asyncio.gather(first, second)
    assert first_id == second_id
    assert runs == ["first"]
    assert await count(db, "organizations") == 1
