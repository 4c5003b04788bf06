"""GET /metrics, scraped as Prometheus would: the rounds, the job queue and the webhook backlog as the
database has them at that instant, and GraphQL latency by operation."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from marketplace.clock import ManualClock
from marketplace.domain.rounds import RoundTrigger
from marketplace.domain.vans import VanPlan, VanPlanKind
from marketplace.metrics import MULTIPROC_ENV
from marketplace.repositories.vans import VanRepository
from marketplace.services.container import Services
from marketplace.settings import Settings
from tests.conftest import T0, make_settings
from tests.factories import make_area
from tests.helpers import GraphQL
from tests.integration.ops_jobs import book_quote, open_shop, request_quote
from tests.integration.test_webhooks import CREATE


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, webhook_allow_private_addresses=True)


async def scrape(gql: GraphQL) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await gql.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_metrics_carry_the_rounds_the_queue_and_the_webhook_backlog(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    area = await make_area(services, name="Utrecht")
    for minutes in (0, 5):
        clock.at = T0 + timedelta(minutes=minutes)
        await services.rounds.request(area.id, RoundTrigger.OPERATIONS)
        await services.rounds.run(area.id)

    shop = await open_shop(gql, services, area, "metrics@example.com", "Metrics shop")
    body = await gql(
        CREATE, {"i": {"url": "http://127.0.0.1:9/hook", "eventTypes": ["parcel.booked"]}}, token=shop.token
    )
    assert body["data"]["createWebhookEndpoint"]["errors"] == []
    quote = await request_quote(gql, shop.token, shop.request())
    assert (await book_quote(gql, shop.token, quote["quote"]["id"]))["errors"] == []
    assert "errors" in await gql("{ noSuchField }", token=shop.token)
    assert (await gql("{ __typename }", token=shop.token))["data"] == {"__typename": "Query"}

    clock.at = T0 + timedelta(minutes=6, seconds=30)
    m = await scrape(gql)
    utrecht = (("area", "Utrecht"),)
    # The newest round started at T0+5 min: 90 s ago, 300 s after the one before; it did not fail.
    assert m[("crowdship_round_seconds_since_last", utrecht)] == 90
    assert m[("crowdship_round_last_gap_seconds", utrecht)] == 300
    assert m[("crowdship_round_last_failed", utrecht)] == 0
    assert m[("crowdship_round_last_duration_seconds", (("area", "Utrecht"), ("phase", "total")))] == 0  # manual clock
    for phase in ("load", "solve", "write"):
        assert m[("crowdship_round_last_duration_seconds", (("area", "Utrecht"), ("phase", phase)))] >= 0
    # The booking's event waits for the worker: one webhook delivery pending, its job queued.
    assert m[("crowdship_webhook_backlog", (("status", "pending"),))] == 1
    assert m[("crowdship_webhook_backlog", (("status", "failed"),))] == 0
    booked_at_age = m[("crowdship_webhook_backlog_oldest_age_seconds", ())]
    assert booked_at_age == 90  # booked at T0+5 min on the manual clock, scraped at T0+6.5 min
    assert m[("crowdship_queue_jobs", (("entrypoint", "deliver_webhook"), ("status", "queued")))] == 1
    # GraphQL latency by operation: the booking counted under its root field, a bad field as invalid.
    booking = (("operation", "bookQuote"), ("operation_type", "mutation"))
    assert m[("crowdship_graphql_request_seconds_count", booking)] >= 1
    assert (
        m[("crowdship_graphql_request_seconds_count", (("operation", "invalid"), ("operation_type", "invalid")))] >= 1
    )

    # A later scrape reads the database afresh: another booking, another pending delivery.
    quote = await request_quote(gql, shop.token, shop.request())
    assert (await book_quote(gql, shop.token, quote["quote"]["id"]))["errors"] == []
    assert (await scrape(gql))[("crowdship_webhook_backlog", (("status", "pending"),))] == 2


def test_server_processes_sharing_a_metrics_directory_answer_with_all_of_their_requests(tmp_path: Path) -> None:
    """What `serve --workers N` sets up: each process writes its samples to the directory, any one sums them."""
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    observe = "from marketplace.metrics import GRAPHQL_SECONDS; GRAPHQL_SECONDS.labels('query', 'me').observe(0.02)"
    for _ in range(2):  # two server processes, one request each
        subprocess.run([sys.executable, "-c", observe], env=env, check=True, timeout=60)
    scrape = (
        "import sys; from marketplace.metrics import process_exposition; sys.stdout.buffer.write(process_exposition())"
    )
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True).stdout
    counts = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
        if s.name == "crowdship_graphql_request_seconds_count"
    }
    assert counts == {(("operation", "me"), ("operation_type", "query")): 2}


async def test_metrics_carry_each_areas_newest_van_plan_its_age_and_what_it_left_out(
    gql: GraphQL, services: Services, clock: ManualClock, db: asyncpg.Connection
) -> None:
    """A stored van plan tells no parcel and no organisation; operations hear of it here."""
    area = await make_area(services, name="Leiden")
    vans = VanRepository(db)
    for day, planned_at, unserved in (
        (date(2026, 11, 23), T0 - timedelta(days=1), ()),
        (date(2026, 11, 24), T0, (uuid4(),)),
    ):
        await vans.replace_plan(
            VanPlan(uuid4(), area.id, day, VanPlanKind.FLEET, planned_at, 3, unserved, (), 0, 0, 0, 0, "EUR", 0)
        )
    clock.at = T0 + timedelta(minutes=2)
    m = await scrape(gql)
    fleet = (("area", "Leiden"), ("kind", "fleet"))
    assert m[("crowdship_van_plan_seconds_since", fleet)] == 120  # the 24th's plan, not the 23rd's
    assert m[("crowdship_van_plan_unserved", fleet)] == 1
    assert ("crowdship_van_plan_seconds_since", (("area", "Leiden"), ("kind", "baseline"))) not in m
