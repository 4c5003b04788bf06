"""The fleet's van rounds through the service: hand-over queues the plan, the worker plans it with PyVRP,
the manifest carries the routes, and the van-only baseline is one mutation and one query away."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import asyncpg

from marketplace.clock import ManualClock
from marketplace.domain.geo import Point
from marketplace.domain.vans import DAY_S, FleetDepot, VanPlanKind
from marketplace.services.container import Services
from marketplace.services.fleet import CSV_HEADER, PLAN_VAN_ROUNDS_JOB, manifest_csv
from schema.types import global_id
from tests.helpers import GraphQL, admin_token
from tests.integration.dispatch_city import seed_city
from tests.integration.test_worker import eventually, worker

SET_DEPOT = """mutation($i: SetFleetDepotInput!) { setFleetDepot(input: $i) {
  depot { name vanCount } errors { code field } } }"""
PLAN = "mutation($i: PlanVanRoundsInput!) { planVanRounds(input: $i) { queued errors { code field } } }"
BASELINE = """query($a: ID!, $d: Date!) { vanBaseline(areaId: $a, date: $d) {
  kind parcels served stops distanceM co2G cost { amountMinor currency } costPerParcel { amountMinor }
  costPerStop { amountMinor } co2GPerParcel co2GPerKm routes { leg distanceM co2G cost { amountMinor } } } }"""
MANIFEST = """query($a: ID!, $d: Date!) { fleetManifest(areaId: $a, date: $d) {
  lines { parcelId } vanRounds { kind parcels served cost { amountMinor } routes { leg stops { parcelId } } } } }"""


async def test_handed_parcels_get_van_rounds_checked_and_summed_from_routes(
    gql: GraphQL, services: Services, database_url: str, db: asyncpg.Connection, clock: ManualClock
) -> None:
    seeded = await seed_city(database_url, parcels=30, trips=5, fleet_cutoff_s=1800)
    area = str(global_id("ServiceArea", seeded.area_id))
    admin = await admin_token(gql, services)
    centre = await db.fetchrow("SELECT avg(pickup_lat) AS lat, avg(pickup_lng) AS lng FROM jobs")
    assert centre is not None

    bad = await gql(SET_DEPOT, {"i": {"areaId": area, "name": "Hub", "point": {"lat": 91, "lng": 0}}}, token=admin)
    assert bad["data"]["setFleetDepot"]["errors"] == [{"code": "OUT_OF_RANGE", "field": "point.lat"}]
    depot = {
        "areaId": area,
        "name": "Hub",
        "point": {"lat": centre["lat"], "lng": centre["lng"]},
        "opensS": 0,
        "closesS": 2 * DAY_S,
        "vanCount": 20,
        "vanCapacityG": 500_000,
        "vanFixedCostMinor": 5_000,
        "vanCostPerKmMinor": 40,
        "vanCostPerHourMinor": 2_500,
        "vanCo2GPerKm": 250,
    }
    set_ = (await gql(SET_DEPOT, {"i": depot}, token=admin))["data"]["setFleetDepot"]
    assert set_ == {"depot": {"name": "Hub", "vanCount": 20}, "errors": []}
    read = await gql("query($a: ID!) { fleetDepot(areaId: $a) { vanCapacityG closesS } }", {"a": area}, token=admin)
    assert read["data"]["fleetDepot"] == {"vanCapacityG": 500_000, "closesS": 2 * DAY_S}

    # Every booked parcel's pickup window has closed: all go to the fleet, and their days get a plan job.
    last = await db.fetchval("SELECT max(pickup_open_until) FROM jobs")
    clock.at = last
    services.fleet.replan_delay = timedelta(0)
    handed = await services.fleet.hand_off_due()
    assert handed == 30
    admin = await admin_token(gql, services, "ops-later@example.com")  # the first token expired meanwhile
    days = await db.fetch(
        "SELECT DISTINCT (pickup_open_from AT TIME ZONE 'Europe/Berlin')::date AS d FROM jobs ORDER BY d"
    )
    queued = await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = $1", PLAN_VAN_ROUNDS_JOB)
    assert len(queued) == len(days)

    day: date = days[0]["d"]
    async with worker(services, database_url):

        async def planned() -> bool:
            n = await db.fetchval("SELECT count(*) FROM van_plans WHERE kind = 'fleet'")
            return bool(n == len(days))

        await eventually(planned, what="every day's fleet plan")

        # The van-only baseline of the first day, queued by operations.
        asked = await gql(PLAN, {"i": {"areaId": area, "date": day.isoformat(), "kind": "BASELINE"}}, token=admin)
        assert asked["data"]["planVanRounds"] == {"queued": True, "errors": []}

        async def baseline() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM van_plans WHERE kind = 'baseline'") == 1)

        await eventually(baseline, what="the baseline plan")

    plan = await services.fleet.van_plan(seeded.area_id, day, VanPlanKind.FLEET)
    assert plan is not None
    day_parcels = await db.fetch(
        """
        SELECT p.id, j.pickup_open_from, j.pickup_open_until, j.deliver_open_from, j.deliver_open_until
        FROM parcels p JOIN jobs j ON j.id = p.job_id
        WHERE (j.pickup_open_from AT TIME ZONE 'Europe/Berlin')::date = $1
        """,
        day,
    )
    windows = {r["id"]: r for r in day_parcels}
    assert plan.parcels == len(windows)
    assert plan.served > 0

    # Figures are sums over the stored routes, and every served parcel is collected, then delivered.
    assert plan.cost_minor == sum(r.cost_minor for r in plan.routes)
    assert plan.distance_m == sum(r.distance_m for r in plan.routes)
    assert plan.co2_g == sum(r.co2_g for r in plan.routes)
    collected = {s.parcel_id: r for r in plan.routes if r.leg == "collection" for s in r.stops}
    delivered = {s.parcel_id: (r, s) for r in plan.routes if r.leg == "delivery" for s in r.stops}
    assert set(delivered) | set(plan.unserved) == set(windows)
    for pid, (route, stop) in delivered.items():
        assert route.depart_at >= collected[pid].return_at + timedelta(seconds=600)  # released after collection
        assert windows[pid]["deliver_open_from"] <= stop.start_at <= windows[pid]["deliver_open_until"]
    for route in plan.routes:
        for s in route.stops:
            if route.leg == "collection":
                assert (
                    windows[s.parcel_id]["pickup_open_from"] <= s.start_at <= windows[s.parcel_id]["pickup_open_until"]
                )
            assert route.depart_at <= s.arrive_at <= s.start_at < s.end_at <= route.return_at

    # The manifest (GraphQL and CSV) carries the same routes.
    got = (await gql(MANIFEST, {"a": area, "d": day.isoformat()}, token=admin))["data"]["fleetManifest"]
    assert got["vanRounds"]["cost"]["amountMinor"] == plan.cost_minor
    assert got["vanRounds"]["served"] == plan.served
    assert len(got["vanRounds"]["routes"]) == len(plan.routes)
    manifest = await services.fleet.manifest(seeded.area_id, day)
    rows = manifest_csv(manifest).splitlines()
    assert rows[0].split(",")[-6:] == list(CSV_HEADER[-6:])
    served_row = next(r for r in rows[1:] if r.split(",")[0] in {str(p) for p in delivered})
    assert all(served_row.split(",")[-6:])

    # The baseline plans every parcel of the day (here all were handed over, so the same parcels).
    b = (await gql(BASELINE, {"a": area, "d": day.isoformat()}, token=admin))["data"]["vanBaseline"]
    assert b["kind"] == "BASELINE"
    assert b["parcels"] == len(windows)
    assert b["cost"]["amountMinor"] == sum(r["cost"]["amountMinor"] for r in b["routes"])
    assert b["distanceM"] == sum(r["distanceM"] for r in b["routes"])
    assert b["co2G"] == sum(r["co2G"] for r in b["routes"])
    served = b["served"]
    assert b["costPerParcel"]["amountMinor"] == (2 * b["cost"]["amountMinor"] + served) // (2 * served)
    assert b["costPerStop"]["amountMinor"] == (2 * b["cost"]["amountMinor"] + b["stops"]) // (2 * b["stops"])
    assert abs(b["co2GPerParcel"] - b["co2G"] / served) < 1e-9
    assert abs(b["co2GPerKm"] - b["co2G"] * 1000 / b["distanceM"]) < 1e-9


async def test_planning_needs_a_depot(gql: GraphQL, services: Services, database_url: str) -> None:
    seeded = await seed_city(database_url, parcels=2, trips=1)
    admin = await admin_token(gql, services)
    area = str(global_id("ServiceArea", seeded.area_id))
    asked = await gql(PLAN, {"i": {"areaId": area, "date": "2026-11-24"}}, token=admin)
    assert asked["data"]["planVanRounds"] == {"queued": False, "errors": [{"code": "NOT_FOUND", "field": "areaId"}]}
    assert await services.fleet.plan_van_rounds(seeded.area_id, date(2026, 11, 24), VanPlanKind.FLEET) is None


async def test_every_depot_area_gets_its_local_yesterdays_baseline_queued(
    services: Services, database_url: str, db: asyncpg.Connection, clock: ManualClock
) -> None:
    seeded = await seed_city(database_url, parcels=2, trips=1)
    await services.fleet.set_depot(
        FleetDepot(seeded.area_id, "Hub", Point(52.5, 13.4), 0, DAY_S, 1, 500_000, 5_000, 40, 2_500, 250)
    )
    clock.at = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Berlin
    assert await services.fleet.queue_baselines() == 1
    assert await services.fleet.queue_baselines() == 1  # the same job is not queued twice
    payloads = await db.fetch("SELECT payload FROM pgqueuer WHERE entrypoint = $1", PLAN_VAN_ROUNDS_JOB)
    assert [json.loads(p["payload"]) for p in payloads] == [
        {"area_id": str(seeded.area_id), "date": "2026-11-24", "kind": "baseline"}
    ]
