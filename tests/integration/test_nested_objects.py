"""Related objects next to their IDs over HTTP: right, only the parent owner's, and batched per request."""

from __future__ import annotations

import io
from typing import Any

import asyncpg
import pytest

from marketplace.domain.areas import ServiceArea
from marketplace.domain.geo import Point
from marketplace.services.container import Services
from schema.types import global_id
from tests.factories import OOST, UTRECHT, ZUID, make_area, make_locker, make_pickup_location, uuid_of
from tests.helpers import GraphQL, admin_token, statements_of_last_request
from tests.integration.ops_jobs import Shop, book_quote, open_shop, parcel, request_quote
from tests.integration.test_commutes import create_commute, schedule
from tests.integration.test_trips import UTRECHT_AREA, Courier, courier, create_trip, place

AREA = "id name fleetBaseMinor"
TRIP = f"""
query($id: ID!) {{
  trip(id: $id) {{
    id vehicleId areaId commuteId
    area {{ {AREA} }} vehicle {{ id name courier {{ id }} }} courier {{ id email }} commute {{ id vehicle {{ id }} }}
  }}
}}
"""
TRIPS_WITH_COMMUTES = """
query { trips(first: 20) { edges { node { commuteId commute { id weekdays vehicle { id } } } } } }
"""
JOB = f"""
query($id: ID!) {{
  job(id: $id) {{
    id areaId pickupLocationId fallbackLockerId
    area {{ {AREA} }}
    pickupLocation {{ id name organization {{ name }} area {{ id }} }}
    dropoff {{ kind lockerId locker {{ id name area {{ id }} }} }}
    fallbackLocker {{ id name }}
  }}
}}
"""
QUOTE_AREA = "mutation($input: RequestQuoteInput!) { requestQuote(input: $input) { quote { areaId area { id } } } }"
PLACES = """
query {
  pickupLocations(first: 10) { edges { node { id areaId area { id name } } } }
  lockers(first: 10) { edges { node { id areaId area { id name } } } }
}
"""


def gid(kind: str, value: Any) -> str:
    return str(global_id(kind, value))


@pytest.fixture
async def area(services: Services) -> ServiceArea:
    return await make_area(services)


async def test_a_trip_shows_its_area_vehicle_courier_and_commute(
    gql: GraphQL, services: Services, area: ServiceArea
) -> None:
    c = await courier(gql, services, "rider@example.com")
    trip = await create_trip(gql, c)
    body = await gql(TRIP, {"id": trip["id"]}, token=c.token)
    read = body["data"]["trip"]
    assert read["area"] == {"id": read["areaId"], "name": "Amsterdam", "fleetBaseMinor": None}
    assert read["vehicle"] == {"id": read["vehicleId"], "name": "my car", "courier": {"id": gid("User", c.id)}}
    assert read["courier"] == {"id": gid("User", c.id), "email": "rider@example.com"}
    assert read["commute"] is None

    # Admins see the same objects, and the area's fleet prices the courier does not.
    admin_read = (await gql(TRIP, {"id": trip["id"]}, token=await admin_token(gql, services)))["data"]["trip"]
    assert admin_read["vehicle"] == read["vehicle"]
    assert admin_read["area"]["fleetBaseMinor"] == 650


async def test_a_commute_trip_shows_its_commute_and_the_commute_its_vehicle(
    gql: GraphQL, services: Services, area: ServiceArea
) -> None:
    c = await courier(gql, services, "commuter@example.com")
    commute = await create_commute(gql, c, weekdays=[3, 4])
    assert (await schedule(gql, c.token, days=7))["created"] == 2
    body = await gql(TRIPS_WITH_COMMUTES, token=c.token)
    nodes = [e["node"] for e in body["data"]["trips"]["edges"]]
    assert len(nodes) == 2
    for node in nodes:
        assert node["commuteId"] == commute["id"]
        assert node["commute"] == {"id": commute["id"], "weekdays": [3, 4], "vehicle": {"id": c.vehicle_gid}}


async def test_a_trip_shows_no_vehicle_or_commute_of_another_courier(
    gql: GraphQL, services: Services, area: ServiceArea, db: asyncpg.Connection
) -> None:
    """Nested objects are looked up under the trip's own courier: a row pointing elsewhere shows nothing."""
    c = await courier(gql, services, "rider@example.com")
    other = await courier(gql, services, "other@example.com")
    other_commute = await create_commute(gql, other)
    trip = await create_trip(gql, c)
    # The foreign keys name the vehicle and template by id only; nothing in the table ties them to the courier.
    await db.execute(
        "UPDATE trips SET vehicle_id = $1, template_id = $2, template_date = '2026-11-24' WHERE id = $3",
        other.vehicle.id,
        uuid_of(other_commute["id"], "Commute"),
        uuid_of(trip["id"], "Trip"),
    )
    read = (await gql(TRIP, {"id": trip["id"]}, token=c.token))["data"]["trip"]
    assert read["vehicleId"] == other.vehicle_gid
    assert read["commuteId"] == other_commute["id"]
    assert (read["vehicle"], read["commute"]) == (None, None)
    assert read["area"]["name"] == "Amsterdam"


async def test_a_job_shows_its_area_pickup_location_and_lockers(
    gql: GraphQL, services: Services, area: ServiceArea, db: asyncpg.Connection
) -> None:
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    dropoff_locker = await make_locker(services, area, point=OOST)
    fallback = await make_locker(services, area, point=ZUID)

    to_address = await book(gql, shop, shop.request(onFailure="LOCKER", fallbackLockerId=gid("Locker", fallback.id)))
    read = (await gql(JOB, {"id": to_address}, token=shop.token))["data"]["job"]
    assert read["area"] == {"id": read["areaId"], "name": "Amsterdam", "fleetBaseMinor": None}
    assert read["pickupLocation"] == {
        "id": shop.location,
        "name": "Flagship store",
        "organization": {"name": "Shop"},
        "area": {"id": gid("ServiceArea", area.id)},
    }
    assert read["dropoff"] == {"kind": "ADDRESS", "lockerId": None, "locker": None}
    assert read["fallbackLocker"] == {"id": gid("Locker", fallback.id), "name": fallback.name}
    assert read["fallbackLockerId"] == read["fallbackLocker"]["id"]

    to_locker = await book(gql, shop, shop.request(dropoff={"lockerId": gid("Locker", dropoff_locker.id)}))
    read = (await gql(JOB, {"id": to_locker}, token=shop.token))["data"]["job"]
    assert read["dropoff"] == {
        "kind": "LOCKER",
        "lockerId": gid("Locker", dropoff_locker.id),
        "locker": {
            "id": gid("Locker", dropoff_locker.id),
            "name": dropoff_locker.name,
            "area": {"id": gid("ServiceArea", area.id)},
        },
    }
    assert read["fallbackLocker"] is None

    # A courier carrying a parcel of the job sees where to collect it.
    carrier = await gql.session("carrier@example.com", "COURIER")
    await db.execute(
        "UPDATE parcels SET assigned_courier_id = $1 WHERE job_id = $2",
        uuid_of(carrier["user"]["id"], "User"),
        uuid_of(to_locker, "Job"),
    )
    seen = (await gql(JOB, {"id": to_locker}, token=carrier["accessToken"]))["data"]["job"]
    assert seen["pickupLocation"]["id"] == shop.location
    assert seen["dropoff"]["locker"]["id"] == gid("Locker", dropoff_locker.id)

    quote = await gql(QUOTE_AREA, {"input": shop.request()}, token=shop.token)
    assert quote["data"]["requestQuote"]["quote"]["area"] == {"id": gid("ServiceArea", area.id)}


async def test_a_job_shows_no_pickup_location_of_another_organisation(
    gql: GraphQL, services: Services, area: ServiceArea, db: asyncpg.Connection
) -> None:
    """The job's pickup location is looked up under the job's organisation, whatever its row says."""
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    rival = await open_shop(gql, services, area, "rival@example.com", "Rival")
    job_id = await book(gql, shop, shop.request())
    await db.execute("UPDATE jobs SET pickup_location_id = $1 WHERE id = $2", rival.location_id, uuid_of(job_id, "Job"))
    read = (await gql(JOB, {"id": job_id}, token=shop.token))["data"]["job"]
    assert read["pickupLocationId"] == rival.location
    assert read["pickupLocation"] is None


async def test_pickup_locations_and_lockers_show_their_area(
    gql: GraphQL, services: Services, area: ServiceArea
) -> None:
    utrecht = await make_area(services, name="Utrecht", polygon=UTRECHT_AREA)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    await make_pickup_location(services, shop.organization_id, utrecht, point=UTRECHT, name="Utrecht store")
    locker = await make_locker(services, utrecht, point=UTRECHT)
    places = (await gql(PLACES, token=shop.token))["data"]
    locations = [e["node"] for e in places["pickupLocations"]["edges"]]
    assert sorted((n["area"]["name"], n["area"]["id"] == n["areaId"]) for n in locations) == [
        ("Amsterdam", True),
        ("Utrecht", True),
    ]
    lockers = [e["node"] for e in places["lockers"]["edges"]]
    assert lockers == [
        {
            "id": gid("Locker", locker.id),
            "areaId": gid("ServiceArea", utrecht.id),
            "area": {"id": gid("ServiceArea", utrecht.id), "name": "Utrecht"},
        }
    ]


async def book(gql: GraphQL, shop: Shop, request: dict[str, Any]) -> str:
    quote = await request_quote(gql, shop.token, request)
    assert quote["errors"] == [], quote
    booked = await book_quote(gql, shop.token, quote["quote"]["id"])
    assert booked["errors"] == [], booked
    return str(booked["job"]["id"])


# --- statement counts -----------------------------------------------------------------------------

TRIPS_PLAIN = "query { trips(first: 20) { edges { node { areaId vehicleId courierId } } } }"
TRIPS_NESTED = "query { trips(first: 20) { edges { node { area { name } vehicle { name } courier { email } } } } }"
JOBS_PLAIN = "query { jobs(first: 20) { edges { node { areaId pickupLocationId fallbackLockerId } } } }"
JOBS_NESTED = """
query {
  jobs(first: 20) {
    edges { node {
      area { name }
      pickupLocation { name area { name } organization { name } }
      dropoff { locker { name area { name } } }
      fallbackLocker { name }
    } }
  }
}
"""


async def test_listing_trips_with_nested_objects_takes_the_same_statements_for_more_rows(
    logged_gql: GraphQL, log_stream: io.StringIO, services: Services, area: ServiceArea
) -> None:
    gql = logged_gql
    utrecht = await make_area(services, name="Utrecht", polygon=UTRECHT_AREA)
    token = await admin_token(gql, services)

    async def couriers_with_trips(first: int, last: int) -> None:
        # Every courier has its own vehicle; every other one drives in the other area.
        for n in range(first, last):
            c = await courier(gql, services, f"rider{n}@example.com")
            await trip_in(gql, c, area if n % 2 == 0 else utrecht)

    await couriers_with_trips(0, 2)
    await gql(TRIPS_NESTED, token=token)  # warms the connection up: asyncpg looks types up once
    await gql(TRIPS_PLAIN, token=token)
    plain = statements_of_last_request(log_stream)
    await gql(TRIPS_NESTED, token=token)
    few = statements_of_last_request(log_stream)
    await couriers_with_trips(2, 12)
    body = await gql(TRIPS_NESTED, token=token)
    many = statements_of_last_request(log_stream)

    nodes = [e["node"] for e in body["data"]["trips"]["edges"]]
    assert len(nodes) == 12
    assert {n["area"]["name"] for n in nodes} == {"Amsterdam", "Utrecht"}
    assert len({n["courier"]["email"] for n in nodes}) == 12
    assert all(n["vehicle"]["name"] == "my car" for n in nodes)
    assert many == few
    # One read per kind of object (areas, vehicles, couriers), each a statement and the pool's reset.
    assert few - plain <= 3 * 2


async def test_listing_jobs_with_nested_objects_takes_the_same_statements_for_more_rows(
    logged_gql: GraphQL, log_stream: io.StringIO, services: Services, area: ServiceArea
) -> None:
    gql = logged_gql
    token = await admin_token(gql, services)
    lockers = [await make_locker(services, area, point=p) for p in (OOST, ZUID, Point(52.36, 4.90))]

    async def shops_with_jobs(first: int, last: int) -> None:
        # Every shop its own organisation and store; every other job goes to a locker.
        for n in range(first, last):
            shop = await open_shop(gql, services, area, f"shop{n}@example.com", f"Shop {n}")
            fallback = gid("Locker", lockers[n % 3].id)
            request = shop.request(onFailure="LOCKER", fallbackLockerId=fallback)
            if n % 2:
                request["dropoff"] = {"lockerId": gid("Locker", lockers[(n + 1) % 3].id)}
            await book(gql, shop, request)

    await shops_with_jobs(0, 2)
    await gql(JOBS_NESTED, token=token)  # warm-up
    await gql(JOBS_PLAIN, token=token)
    plain = statements_of_last_request(log_stream)
    await gql(JOBS_NESTED, token=token)
    few = statements_of_last_request(log_stream)
    await shops_with_jobs(2, 10)
    body = await gql(JOBS_NESTED, token=token)
    many = statements_of_last_request(log_stream)

    nodes = [e["node"] for e in body["data"]["jobs"]["edges"]]
    assert len(nodes) == 10
    assert {n["pickupLocation"]["organization"]["name"] for n in nodes} == {f"Shop {n}" for n in range(10)}
    assert all(n["pickupLocation"]["area"]["name"] == "Amsterdam" for n in nodes)
    assert sum(1 for n in nodes if n["dropoff"]["locker"] is not None) == 5
    assert all(n["fallbackLocker"] is not None for n in nodes)
    assert many == few
    # One read per kind of object (areas, pickup locations, organisations, lockers): a statement and a reset.
    assert few - plain <= 4 * 2


async def trip_in(gql: GraphQL, c: Courier, area: ServiceArea) -> None:
    if area.name == "Utrecht":
        await create_trip(gql, c, origin=place(UTRECHT, "home"), destination=place(Point(52.10, 5.10), "office"))
    else:
        await create_trip(gql, c)


JOBS_DELIVERY = """
query($first: Int!) {
  jobs(first: $first) {
    edges { node {
      parcels {
        events { kind } pinLocked lockerPickupCode cancellationFee { amountMinor } proof { kind }
        placement { state }
      }
      events { kind }
    } }
  }
}
"""

JOBS_PARCELS = "query($first: Int!) { jobs(first: $first) { edges { node { parcels { id status } } } } }"


async def test_listing_jobs_with_parcel_delivery_fields_takes_the_same_statements_for_more_rows(
    logged_gql: GraphQL, log_stream: io.StringIO, services: Services, area: ServiceArea
) -> None:
    """A retailer's parcel histories, extras and proofs come from per-request dataloaders, not a query a parcel."""
    gql = logged_gql
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")

    async def jobs(count: int) -> None:
        # Two parcels a job, so both the parcel and the job fields have more than one row to batch.
        for _ in range(count):
            await book(gql, shop, shop.request(parcels=[parcel(), parcel(weightG=800)]))

    await jobs(2)
    await gql(JOBS_DELIVERY, {"first": 50}, token=shop.token)  # warm-up
    await gql(JOBS_PARCELS, {"first": 50}, token=shop.token)
    plain = statements_of_last_request(log_stream)
    await gql(JOBS_DELIVERY, {"first": 50}, token=shop.token)
    few = statements_of_last_request(log_stream)
    await jobs(10)
    body = await gql(JOBS_DELIVERY, {"first": 50}, token=shop.token)
    many = statements_of_last_request(log_stream)

    nodes = [e["node"] for e in body["data"]["jobs"]["edges"]]
    assert len(nodes) == 12
    parcels = [p for n in nodes for p in n["parcels"]]
    assert len(parcels) == 24
    # The booking organisation follows its parcels: a history each, the extras, no proof before delivery.
    assert all(p["events"] and p["events"][0]["kind"] == "booked" for p in parcels)
    assert all(p["pinLocked"] is False and p["lockerPickupCode"] is None for p in parcels)
    assert all(p["cancellationFee"] is None and p["proof"] is None for p in parcels)
    assert all(p["placement"] is not None for p in parcels)
    assert all(len(n["events"]) == sum(len(p["events"]) for p in n["parcels"]) for n in nodes)
    assert many == few, (few, many)
    # One read per loader (parcel histories, extras, proofs, placements, job histories): a statement and a reset.
    assert few - plain <= 5 * 2, (plain, few)
