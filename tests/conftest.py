"""Test databases: one migrated template per run, and a fresh copy of it for every test.

TEST_DATABASE_URL points at a server we may create databases on; without it the embedded
PostgreSQL under .data/test-pg is used, so `make test` needs no database install.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar import Litestar

from marketplace.clock import ManualClock
from marketplace.db import migrations
from marketplace.db.pool import create_pool
from marketplace.logs import configure_logging
from marketplace.services.container import Services, build_services
from marketplace.settings import Environment, Settings, load_settings
from stripefake import FakeStripe, RunningFake
from tests.helpers import GraphQL, running_app

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from marketplace.db.embedded import embedded_dsn, start_embedded

    server = start_embedded(os.path.join(os.path.dirname(__file__), "..", ".data", "test-pg"))
    yield embedded_dsn(server)


async def _admin(admin_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(admin_dsn: str) -> Iterator[str]:
    name = f"crowdship_tmpl_{os.getpid()}"
    asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
    migrations.upgrade(with_database(admin_dsn, name))
    yield name
    asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def empty_database_url(admin_dsn: str) -> AsyncIterator[str]:
    """A database with no tables at all, for migration tests."""
    name = f"crowdship_e_{uuid.uuid4().hex[:12]}"
    await _admin(admin_dsn, f"CREATE DATABASE {name}")
    yield with_database(admin_dsn, name)
    await _admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def database_url(admin_dsn: str, template_database: str) -> AsyncIterator[str]:
    """A private, migrated database: tests are isolated and pass in any order."""
    name = f"crowdship_t_{uuid.uuid4().hex[:12]}"
    await _admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield with_database(admin_dsn, name)
    await _admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


STRIPE_KEY = "sk_test_crowdship_tests"
STRIPE_WEBHOOK_SECRET = "whsec_crowdship_tests"


@pytest.fixture(scope="session", autouse=True)
def stripe_fake() -> Iterator[RunningFake]:
    """One Stripe fake for the whole run (memory only; every test makes its own customers and accounts)."""
    with RunningFake(FakeStripe(clock=ManualClock(T0))) as server:
        os.environ["CROWDSHIP_TEST_STRIPE_API_BASE"] = server.url
        yield server


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        # The real stripe SDK against the project's own fake (the session's `stripe_fake`).
        "stripe_secret_key": STRIPE_KEY,
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        "stripe_api_base": os.environ.get("CROWDSHIP_TEST_STRIPE_API_BASE"),
        "environment": Environment.TEST,
        "database_url": database_url,
        "database_pool_max_size": 5,
        # Cheap hashing keeps the suite fast; production defaults are tested in unit tests.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 64,
        # Proof photos go to a folder of their own per run, never into the checkout's .data.
        "blob_dir": os.path.join(tempfile.gettempdir(), f"crowdship-test-blobs-{os.getpid()}"),
        # A test process starts hundreds of apps; freezing each one's garbage would keep it for good.
        "gc_freeze_after_start": False,
    }
    values.update(overrides)
    return load_settings(**values)


def production_settings(database_url: str, **overrides: object) -> Settings:
    """Production mode with every secret production demands, so a test sees production's rules, not its refusal.

    Its live Stripe key is never sent: the fake takes test keys only, so such a test books no payment."""
    values: dict[str, object] = {
        "environment": Environment.PRODUCTION,
        "jwt_signing_key": "p" * 48,
        "stripe_secret_key": "sk_live_crowdship_tests_never_sent",
        "stripe_webhook_secret": "whsec_crowdship_tests",
    }
    values.update(overrides)
    return make_settings(database_url, **values)


@pytest.fixture
def settings(database_url: str, stripe_fake: RunningFake) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app_and_gql(settings: Settings, clock: ManualClock) -> AsyncIterator[tuple[Litestar, GraphQL]]:
    async with running_app(settings, clock) as pair:
        yield pair


@pytest.fixture
def gql(app_and_gql: tuple[Litestar, GraphQL]) -> GraphQL:
    return app_and_gql[1]


@pytest.fixture
async def services(settings: Settings, clock: ManualClock) -> AsyncIterator[Services]:
    """Services on the test's own event loop (the test client runs the app on another)."""
    pool = await create_pool(settings.database_url or "", min_size=1, max_size=3)
    yield build_services(settings, pool, clock)
    await pool.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for asserting what was (not) written."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The application's JSON log, whose per-request lines count SQL statements."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", stream)
    yield stream
    root.handlers, root.level = handlers, level


@pytest.fixture
async def logged_gql(
    log_stream: io.StringIO, database_url: str, clock: ManualClock, stripe_fake: RunningFake
) -> AsyncIterator[GraphQL]:
    """The app on one pooled connection, so every request runs on the same warmed-up statement cache."""
    async with running_app(make_settings(database_url, database_pool_max_size=1), clock) as (_, gql):
        yield gql
