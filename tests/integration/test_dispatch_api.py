"""Dispatch over the API: operations run and open rounds, read the fleet manifest (GraphQL and CSV);
a parcel shows its placement."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from strawberry import relay

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from schema.types import global_id
from tests.conftest import T0
from tests.helpers import GraphQL, admin_token, fresh_token
from tests.integration.dispatch_city import seed_city

RUN = """mutation($i: RunMatchingRoundInput!) {
  runMatchingRound(input: $i) { round { id status trigger } alreadyLive errors { field code message } } }"""
ROUNDS = """query($a: ID!) { matchingRounds(areaId: $a, first: 10) {
  edges { node { id status offersCount timings { loadMs solveMs writeMs } } } pageInfo { hasNextPage } } }"""
ROUND = """query($id: ID!) { matchingRound(id: $id) {
  id status parcelsCount tripsCount assignedCount unassignedCount offersCount engineStats
  costs { crowd { amountMinor currency } total { amountMinor } boundLower { amountMinor } gap }
  plan { assignments { tripId parcelIds pay { amountMinor currency } stops { parcelId kind at } }
         unassigned { parcelId fallbackCost { amountMinor } reasons { code trips } } } } }"""
JOB = """query($id: ID!) { job(id: $id) { parcels { id placement { state roundId reasons { code trips } } } } }"""
MANIFEST = """query($a: ID!, $d: Date!) { fleetManifest(areaId: $a, date: $d) {
  date lines { parcelId pickupAddress dropoffAddress pickupUntil fallbackCost { amountMinor currency }
    reasons { code } }
  totalFallbackCost { amountMinor } } }"""


async def test_operations_run_a_round_open_its_plan_and_read_the_fleet_manifest(
    gql: GraphQL, services: Services, database_url: str, db: asyncpg.Connection, clock: ManualClock
) -> None:
    seeded = await seed_city(database_url, fleet_cutoff_s=1800)
    admin = await admin_token(gql, services)
    area = str(global_id("ServiceArea", seeded.area_id))

    first = (await gql(RUN, {"i": {"areaId": area, "idempotencyKey": "k1"}}, token=admin))["data"]["runMatchingRound"]
    assert first["errors"] == []
    assert first["round"]["status"] == "QUEUED"
    assert first["alreadyLive"] is False
    again = (await gql(RUN, {"i": {"areaId": area}}, token=admin))["data"]["runMatchingRound"]
    assert again["round"]["id"] == first["round"]["id"]
    assert again["alreadyLive"] is True
    missing = (await gql(RUN, {"i": {"areaId": "nope"}}, token=admin))["data"]["runMatchingRound"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]

    await services.rounds.run(seeded.area_id)  # what the worker does with the queued job

    # The same idempotency key answers with the first round, though a new request would queue another.
    retried = (await gql(RUN, {"i": {"areaId": area, "idempotencyKey": "k1"}}, token=admin))["data"]
    assert retried["runMatchingRound"]["round"]["id"] == first["round"]["id"]
    assert retried["runMatchingRound"]["round"]["status"] == "SUCCEEDED"

    rounds = (await gql(ROUNDS, {"a": area}, token=admin))["data"]["matchingRounds"]["edges"]
    assert [r["node"]["id"] for r in rounds] == [first["round"]["id"]]
    assert rounds[0]["node"]["timings"]["solveMs"] >= 0
    opened = (await gql(ROUND, {"id": first["round"]["id"]}, token=admin))["data"]["matchingRound"]
    assert opened["status"] == "SUCCEEDED"
    assert len(opened["plan"]["assignments"]) == opened["offersCount"] > 0
    assert len(opened["plan"]["unassigned"]) == opened["unassignedCount"]
    assert opened["costs"]["crowd"]["currency"] == "EUR"
    assert (
        sum(a["pay"]["amountMinor"] for a in opened["plan"]["assignments"]) == opened["costs"]["crowd"]["amountMinor"]
    )
    assert opened["engineStats"]

    # Each parcel shows its placement: offered, or not placed with the engine's reasons.
    unplaced = opened["plan"]["unassigned"][0]
    job_id = await db.fetchval("SELECT job_id FROM parcels WHERE id = $1", _uuid(unplaced["parcelId"]))
    job = (await gql(JOB, {"id": str(global_id("Job", job_id))}, token=admin))["data"]["job"]
    placement = job["parcels"][0]["placement"]
    assert placement["state"] == "NOT_PLACED"
    assert placement["roundId"] == first["round"]["id"]
    assert placement["reasons"] == unplaced["reasons"]
    offered_parcel = opened["plan"]["assignments"][0]["parcelIds"][0]
    job_id = await db.fetchval("SELECT job_id FROM parcels WHERE id = $1", _uuid(offered_parcel))
    job = (await gql(JOB, {"id": str(global_id("Job", job_id))}, token=admin))["data"]["job"]
    assert job["parcels"][0]["placement"]["state"] == "OFFERED"

    # At the cut-off the unplaced parcels go to the fleet and onto the manifest of their pickup date.
    latest = await db.fetchval(
        "SELECT max(j.pickup_until) FROM parcels p JOIN jobs j ON j.id = p.job_id WHERE p.status = 'booked'"
    )
    clock.at = latest - timedelta(minutes=30)
    handed = await services.fleet.hand_off_due()
    assert handed == opened["unassignedCount"]
    admin = await fresh_token(gql, "ops@example.com")  # hours later: the first token has expired
    day = T0.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()  # every pickup of the city opens that day
    manifest = (await gql(MANIFEST, {"a": area, "d": day}, token=admin))["data"]["fleetManifest"]
    assert {line["parcelId"] for line in manifest["lines"]} == {u["parcelId"] for u in opened["plan"]["unassigned"]}
    assert manifest["totalFallbackCost"]["amountMinor"] == sum(
        line["fallbackCost"]["amountMinor"] for line in manifest["lines"]
    )
    job = (
        await gql(
            JOB,
            {
                "id": str(
                    global_id(
                        "Job",
                        await db.fetchval("SELECT job_id FROM parcels WHERE id = $1", _uuid(unplaced["parcelId"])),
                    )
                )
            },
            token=admin,
        )
    )["data"]["job"]
    assert job["parcels"][0]["placement"]["state"] == "HANDED_TO_FLEET"
    assert job["parcels"][0]["placement"]["reasons"] == unplaced["reasons"]  # the last explanation is kept

    response = await gql.client.get(
        f"/areas/{area}/fleet-manifest.csv", params={"date": day}, headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {str(global_id("Parcel", _uuid_str(r["parcel_id"]))) for r in rows} == {
        line["parcelId"] for line in manifest["lines"]
    }
    assert all(r["pickup_address"] and r["dropoff_address"] and r["fallback_cost_minor"] for r in rows)

    courier = await gql.sign_up("courier@example.com")
    assert courier["role"] == "COURIER"
    refused = await gql.client.get(f"/areas/{area}/fleet-manifest.csv", params={"date": day})
    assert refused.status_code == 401


def _uuid(global_value: str) -> UUID:
    return UUID(relay.GlobalID.from_id(global_value).node_id)


def _uuid_str(value: str) -> UUID:
    return UUID(value)
