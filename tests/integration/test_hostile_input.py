"""Hostile input over every operation: no string or instant a client can send ends as an internal error.

The inputs are generated from the schema itself, so an operation added later is swept too: every
argument gets a plausible value, then each string leaf in turn carries a NUL or an unpaired
surrogate and each DateTime leaf an instant near year 1 or 9999 with an extreme offset. Every
answer must be data or a typed error, never INTERNAL_SERVER_ERROR, and nothing may be written.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
)

from marketplace.clock import ManualClock
from marketplace.services.container import Services
from schema import build_schema
from schema.types import global_id
from tests.conftest import T0, make_settings
from tests.factories import make_area, make_locker, make_pickup_location, make_vehicle, uuid_of
from tests.helpers import PASSWORD, GraphQL
from tests.integration.ops_jobs import BOOK_JOBS, JOBS, REQUEST_QUOTE, address, open_shop
from tests.integration.test_authorization import CALLERS, WHO_MAY_CALL, Credentials, expected
from tests.live import replica

HOSTILE_STRINGS = ["probe\x00text", "probe\ud800text"]
HOSTILE_INSTANTS = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]

HOUR = timedelta(hours=1)

# Plausible values by argument or field name, so a call gets past the rules it does not probe; objects
# named by ID fields are real (see `world`), so the input reaches the code that stores it.
_BY_NAME: dict[str, Any] = {
    "email": "probe@example.com",
    "password": PASSWORD,
    "countryCode": "NL",
    "issuingCountry": "NL",
    "currency": "EUR",
    "timeZone": "Europe/Amsterdam",
    "lat": 52.37,
    "lng": 4.89,
    "weekday": 1,
    "weekdays": [1],
    "first": 1,
    "level": 1,
    "days": 1,
    "postalCode": "1012 LG",
    "houseNumber": "12",
    "phone": "+31612345678",
    "numberLast4": "1234",
    "opens": "08:00:00",
    "closes": "20:00:00",
    "departTime": "08:00:00",
    "arriveTime": "09:00:00",
    "amountMinor": 1_000,
    "weightG": 1_000,
    "lengthMm": 100,
    "widthMm": 100,
    "heightMm": 100,
    "start": (T0 + 2 * HOUR).isoformat(),
    "end": (T0 + 4 * HOUR).isoformat(),
    "departAfter": (T0 + 2 * HOUR).isoformat(),
    "arriveBy": (T0 + 4 * HOUR).isoformat(),
    "departFrom": T0.isoformat(),
    "departUntil": (T0 + 4 * HOUR).isoformat(),
    "pickupFrom": T0.isoformat(),
    "pickupUntil": (T0 + 4 * HOUR).isoformat(),
    "validFrom": (T0 - 24 * HOUR).isoformat(),
    "validUntil": (T0 + 24 * 365 * HOUR).isoformat(),
    "expiresAt": (T0 + 24 * 365 * HOUR).isoformat(),
}


def _value(name: str, type_: GraphQLInputType, ids: dict[str, str], depth: int = 0) -> Any:
    if name in ids:
        return ids[name]
    if name in _BY_NAME:
        return _BY_NAME[name]
    if isinstance(type_, GraphQLNonNull):
        return _value(name, type_.of_type, ids, depth)
    if isinstance(type_, GraphQLList):
        return [_value(name, type_.of_type, ids, depth)]
    if isinstance(type_, GraphQLInputObjectType):
        return {field: _value(field, f.type, ids, depth + 1) for field, f in type_.fields.items()}
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    assert isinstance(type_, GraphQLScalarType)
    return {
        "String": "probe text",
        "ID": "bm90aGluZw==",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "DateTime": (T0 + 2 * HOUR).isoformat(),
        "Time": "10:00:00",
        "Date": T0.date().isoformat(),
    }[type_.name]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _leaf_types(
    name: str, type_: GraphQLInputType, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], str]]:
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(named, GraphQLList):
        yield from _leaf_types(name, named.of_type, (*path, 0))
    elif isinstance(named, GraphQLInputObjectType):
        for field, f in named.fields.items():
            yield from _leaf_types(field, f.type, (*path, field))
    else:
        yield path, get_named_type(named).name


def _selection(field: GraphQLField) -> str:
    return " { __typename }" if isinstance(get_named_type(field.type), GraphQLObjectType) else ""


def operations(ids: dict[str, str]) -> Iterator[tuple[str, str, dict[str, Any], list[tuple[tuple[Any, ...], str]]]]:
    """(name, document, variables, [(leaf path, scalar name)]) for every root field with arguments."""
    strawberry_schema = build_schema()
    schema: GraphQLSchema = strawberry_schema._schema
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            if not field.args:
                continue
            params = ", ".join(f"${a}: {arg.type}" for a, arg in field.args.items())
            args = ", ".join(f"{a}: ${a}" for a in field.args)
            document = f"{kind}({params}) {{ {name}({args}){_selection(field)} }}"
            variables = {a: _value(a, arg.type, ids) for a, arg in field.args.items()}
            leaves = [((a, *p), t) for a, arg in field.args.items() for p, t in _leaf_types(a, arg.type)]
            yield f"{root.name}.{name}", document, variables, leaves


async def post(gql: GraphQL, document: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    """JSON escapes (ensure_ascii) carry a lone surrogate, as any client's JSON encoder may send one."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await gql.client.post(
        "/graphql", content=json.dumps({"query": document, "variables": variables}), headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def callers(database_url: str, clock: ManualClock, services: Services) -> AsyncIterator[Credentials]:
    settings = make_settings(
        database_url,
        login_max_attempts_per_address=100_000,
        login_max_attempts_per_email=100_000,
        signup_max_per_address=100_000,
    )
    async with replica(settings, clock) as server:
        callers = Credentials(server, services)
        await callers.setup()
        yield callers


async def _row_counts(db: asyncpg.Connection) -> dict[str, int]:
    """Rows of every table but those a login or a refused attempt touches by design."""
    tables = await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL($1::text[])",
        ["sessions", "refresh_tokens", "rate_limit_buckets", "alembic_version"],
    )
    return {t["tablename"]: int(await db.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"')) for t in tables}


@pytest.fixture
async def world(callers: Credentials, services: Services) -> dict[str, str]:
    """An area, the retailer's store, a locker and the courier's vehicle, by the ID fields that name them."""
    area = await make_area(services)
    retailer = await services.accounts.users_by_id(
        [(await services.accounts.login(email="retailer@example.com", password=PASSWORD, client_address=None)).user.id]
    )
    organization_id = next(iter(retailer.values())).organization_id
    assert organization_id is not None
    store = await make_pickup_location(services, organization_id, area)
    locker = await make_locker(services, area)
    courier = await services.accounts.login(email="courier@example.com", password=PASSWORD, client_address=None)
    vehicle = await make_vehicle(services, courier.user.id)
    return {
        "areaId": gid("ServiceArea", area.id),
        "pickupLocationId": gid("PickupLocation", store.id),
        "lockerId": gid("Locker", locker.id),
        "fallbackLockerId": gid("Locker", locker.id),
        "vehicleId": gid("Vehicle", vehicle.id),
    }


def gid(type_name: str, value: UUID) -> str:
    return str(global_id(type_name, value))


async def test_no_string_or_instant_any_caller_sends_is_an_internal_error(
    callers: Credentials, world: dict[str, str], db: asyncpg.Connection
) -> None:
    tokens = {caller: await callers.token(caller) for caller in CALLERS}
    before = await _row_counts(db)
    failures = []
    for name, document, variables, leaves in operations(world):
        allowed = [c for c in CALLERS if expected(WHO_MAY_CALL[name], c) is None]
        for path, scalar in leaves:
            if scalar in ("String", "ID"):
                hostile = HOSTILE_STRINGS
            elif scalar == "DateTime":
                hostile = HOSTILE_INSTANTS
            else:
                continue
            for value in hostile:
                sent = _replaced(variables, path, value)
                for caller in allowed:
                    body = await post(callers.gql, document, sent, tokens[caller])
                    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
                    if "INTERNAL_SERVER_ERROR" in codes:
                        failures.append((name, caller, path, value))
    assert failures == []
    assert await _row_counts(db) == before


# --- each kind, by hand: strings that skip the text rules ------------------------------------------

CREATE_API_KEY = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret errors { field code } } }"
REFRESH = (
    "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { session { accessToken } errors { field code } } }"
)
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { session { accessToken } errors { field code } } }"
SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { user { id } errors { field code } } }"


def payload(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    found: dict[str, Any] = next(iter(body["data"].values()))
    return found


def codes(found: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in found["errors"]]


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
async def test_an_api_key_or_organisation_name_with_a_nul_or_a_lone_surrogate_is_invalid(
    gql: GraphQL, db: asyncpg.Connection, hostile: str
) -> None:
    session = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    created = payload(await post(gql, CREATE_API_KEY, {"i": {"name": hostile}}, session["accessToken"]))
    assert codes(created) == [("name", "INVALID")]
    signed_up = payload(
        await post(
            gql,
            SIGN_UP,
            {
                "i": {
                    "email": "other@example.com",
                    "password": PASSWORD,
                    "role": "RETAILER",
                    "organizationName": hostile,
                }
            },
            None,
        )
    )
    assert codes(signed_up) == [("organizationName", "INVALID")]
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 0
    assert await db.fetchval("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
async def test_a_refresh_token_with_a_nul_or_a_lone_surrogate_is_simply_not_valid(
    gql: GraphQL, log_stream: io.StringIO, hostile: str
) -> None:
    session = await gql.session("courier@example.com")
    for token in (hostile, session["refreshToken"] + hostile):
        refreshed = payload(await post(gql, REFRESH, {"i": {"refreshToken": token}}, None))
        assert codes(refreshed) == [("refreshToken", "INVALID_REFRESH_TOKEN")]
    # Anyone may call refreshSession: nothing of it may reach the log as a traceback.
    assert "graphql_resolver_failed" not in log_stream.getvalue()
    # The real token still works: the hostile ones were not taken as a replay of it.
    assert codes(payload(await post(gql, REFRESH, {"i": {"refreshToken": session["refreshToken"]}}, None))) == []


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
async def test_passwords_with_a_nul_or_a_lone_surrogate_never_sign_up_and_never_log_in(
    gql: GraphQL, db: asyncpg.Connection, hostile: str
) -> None:
    await gql.sign_up("courier@example.com")
    password = PASSWORD + hostile
    signed_up = payload(
        await post(gql, SIGN_UP, {"i": {"email": "other@example.com", "password": password, "role": "COURIER"}}, None)
    )
    assert codes(signed_up) == [("password", "INVALID")]
    logged_in = payload(await post(gql, LOGIN, {"i": {"email": "courier@example.com", "password": password}}, None))
    assert codes(logged_in) == [(None, "INVALID_CREDENTIALS")]
    assert await db.fetchval("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
async def test_a_job_reference_or_house_number_with_a_nul_or_a_lone_surrogate_is_invalid(
    gql: GraphQL, services: Services, db: asyncpg.Connection, hostile: str
) -> None:
    area = await make_area(services)
    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    request = shop.request(reference=f"order {hostile}", dropoff=address(houseNumber=f"12{hostile}"))
    quoted = payload(await post(gql, REQUEST_QUOTE, {"input": request}, shop.token))
    assert sorted(codes(quoted)) == [("dropoff.houseNumber", "INVALID"), ("reference", "INVALID")]
    booked = payload(await post(gql, BOOK_JOBS, {"input": {"jobs": [request, request]}}, shop.token))
    assert sorted(codes(booked)) == [
        (f"jobs[{i}].{field}", "INVALID") for i in (0, 1) for field in ("dropoff.houseNumber", "reference")
    ]
    assert await db.fetchval("SELECT count(*) FROM quotes") == 0
    assert await db.fetchval("SELECT count(*) FROM jobs") == 0


# --- each kind, by hand: instants far from anything the marketplace plans --------------------------

CREATE_TRIP = "mutation($i: CreateTripInput!) { createTrip(input: $i) { trip { id } errors { field code } } }"
REGISTER_POLICY = """mutation($i: RegisterInsurancePolicyInput!) {
  registerInsurancePolicy(input: $i) { policy { id } errors { field code } } }"""


@pytest.mark.parametrize("extreme", HOSTILE_INSTANTS)
async def test_instants_near_year_1_or_9999_are_out_of_range_and_write_nothing(
    gql: GraphQL, services: Services, db: asyncpg.Connection, extreme: str
) -> None:
    area = await make_area(services)
    session = await gql.session("courier@example.com")
    courier = uuid_of(session["user"]["id"], "User")
    vehicle = await make_vehicle(services, courier)
    place = {"point": {"lat": 52.37, "lng": 4.89}, "label": "home"}
    trip = {
        "vehicleId": gid("Vehicle", vehicle.id),
        "origin": place,
        "destination": place,
        "departAfter": (T0 + HOUR).isoformat(),
        "arriveBy": (T0 + 2 * HOUR).isoformat(),
    }
    for name in ("departAfter", "arriveBy"):
        created = payload(await post(gql, CREATE_TRIP, {"i": {**trip, name: extreme}}, session["accessToken"]))
        assert ("input", "OUT_OF_RANGE") not in codes(created)
        assert (name, "OUT_OF_RANGE") in codes(created)

    policy = {
        "insurer": "Crowd Mutual",
        "policyNumber": "CM-1",
        "coverPerParcel": {"amountMinor": 100_000, "currency": "EUR"},
        "coverPerTrip": {"amountMinor": 300_000, "currency": "EUR"},
        "validFrom": (T0 - HOUR).isoformat(),
        "validUntil": (T0 + 24 * HOUR).isoformat(),
    }
    for name in ("validFrom", "validUntil"):
        registered = payload(await post(gql, REGISTER_POLICY, {"i": {**policy, name: extreme}}, session["accessToken"]))
        assert (name, "OUT_OF_RANGE") in codes(registered)

    shop = await open_shop(gql, services, area, "shop@example.com", "Shop")
    for name in ("pickupFrom", "pickupUntil"):
        body = await post(gql, JOBS, {name: extreme}, shop.token)
        assert body["data"] is None
        assert [
            (e["extensions"]["code"], e["extensions"]["field"], [x["code"] for x in e["extensions"]["errors"]])
            for e in body["errors"]
        ] == [("BAD_USER_INPUT", name, ["OUT_OF_RANGE"])]
    quoted = payload(
        await post(
            gql, REQUEST_QUOTE, {"input": shop.request(deliveryWindow={"start": extreme, "end": extreme})}, shop.token
        )
    )
    assert sorted(codes(quoted)) == [("deliveryWindow.end", "OUT_OF_RANGE"), ("deliveryWindow.start", "OUT_OF_RANGE")]

    for table in ("trips", "insurance_policies", "quotes", "jobs"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
