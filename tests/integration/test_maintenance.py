"""Housekeeping deletes only what no request can use any more."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from tests.helpers import PASSWORD, SIGN_UP, GraphQL


async def test_purge_removes_dead_rows_and_keeps_live_ones(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    old = await gql.session("old@example.com")
    await gql(
        SIGN_UP, {"input": {"email": "k@example.com", "password": PASSWORD, "role": "COURIER", "idempotencyKey": "k"}}
    )
    await gql.login("old@example.com", "wrong wrong wrong")
    nothing = await services.maintenance.purge()
    assert (nothing.idempotency_keys, nothing.rate_limit_buckets, nothing.sessions) == (0, 0, 0)

    clock.advance(timedelta(seconds=services.settings.refresh_token_ttl_s) + timedelta(days=8))
    fresh = await gql.session("fresh@example.com")
    purged = await services.maintenance.purge()
    assert purged.idempotency_keys == 1
    assert purged.sessions == 1
    # old@'s failed-login window; the address windows were reopened by fresh@'s sign-up and login.
    assert purged.rate_limit_buckets == 1
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1
    assert (await gql("query { me { user { email } } }", token=fresh["accessToken"]))["data"]["me"]["user"] == {
        "email": "fresh@example.com"
    }
    del old
