"""Sign-up, login, me, refresh and logout over HTTP, and every way they must refuse."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import jwt
import pytest

from marketplace.clock import ManualClock
from marketplace.settings import Settings
from tests.conftest import make_settings
from tests.helpers import LOGIN, LOGOUT, ME, PASSWORD, REFRESH, SIGN_UP, GraphQL, running_app


async def table_counts(db: asyncpg.Connection) -> dict[str, int]:
    tables = ["users", "organizations", "sessions", "refresh_tokens", "api_keys", "idempotency_keys"]
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_sign_up_login_me_refresh_logout(gql: GraphQL) -> None:
    user = await gql.sign_up("Rita@Shop.Example", "RETAILER", organization="Rita's Records")
    assert user["role"] == "RETAILER"
    assert user["organization"]["name"] == "Rita's Records"

    login = await gql.login("rita@shop.example")
    assert login["errors"] == []
    session = login["session"]
    me = await gql(ME, token=session["accessToken"])
    assert me["data"]["me"]["user"]["id"] == user["id"]
    assert me["data"]["me"]["organization"]["name"] == "Rita's Records"

    refreshed = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    assert refreshed["errors"] == []
    assert refreshed["session"]["refreshToken"] != session["refreshToken"]
    me_again = await gql(ME, token=refreshed["session"]["accessToken"])
    assert me_again["data"]["me"]["user"]["id"] == user["id"]

    out = await gql(LOGOUT, {"input": {}}, token=refreshed["session"]["accessToken"])
    assert out["data"]["logout"] == {"ok": True, "errors": []}
    after = await gql(ME, token=refreshed["session"]["accessToken"])
    assert after["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_REVOKED"}
    dead = (await gql(REFRESH, {"input": {"refreshToken": refreshed["session"]["refreshToken"]}}))["data"]
    assert dead["refreshSession"]["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_access_token_carries_the_required_claims(gql: GraphQL, settings: Settings) -> None:
    session = await gql.session("claims@example.com")
    claims = jwt.decode(
        session["accessToken"],
        settings.jwt_signing_key.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert set(claims) >= {"exp", "iat", "nbf", "iss", "aud", "sub", "role", "jti"}
    assert claims["role"] == "courier"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_s
    assert jwt.get_unverified_header(session["accessToken"])["alg"] == "HS256"


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "role": "COURIER"}, "email", "INVALID_EMAIL"),
        ({"email": "a@example.com", "password": "short", "role": "COURIER"}, "password", "WEAK_PASSWORD"),
        ({"email": "a@example.com", "password": "aaaaaaaaaaaaaaaa", "role": "COURIER"}, "password", "WEAK_PASSWORD"),
        ({"email": "a@example.com", "password": "x" * 129, "role": "COURIER"}, "password", "PASSWORD_TOO_LONG"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "RETAILER"}, "organizationName", "REQUIRED"),
        (
            {"email": "a@example.com", "password": PASSWORD, "role": "COURIER", "organizationName": "X"},
            "organizationName",
            "INVALID",
        ),
    ],
)
async def test_sign_up_refuses_bad_input_and_writes_nothing(
    gql: GraphQL, db: asyncpg.Connection, variables: dict[str, str], field: str, code: str
) -> None:
    before = await table_counts(db)
    body = await gql(SIGN_UP, {"input": variables})
    payload = body["data"]["signUp"]
    assert payload["user"] is None
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in payload["errors"]]
    assert await table_counts(db) == before


async def test_sign_up_reports_every_bad_field_at_once(gql: GraphQL) -> None:
    body = await gql(SIGN_UP, {"input": {"email": "nope", "password": "short", "role": "RETAILER"}})
    codes = {e["field"]: e["code"] for e in body["data"]["signUp"]["errors"]}
    assert codes == {"email": "INVALID_EMAIL", "password": "WEAK_PASSWORD", "organizationName": "REQUIRED"}


async def test_duplicate_email_is_refused_whatever_its_case(gql: GraphQL, db: asyncpg.Connection) -> None:
    await gql.sign_up("dup@example.com")
    before = await table_counts(db)
    body = await gql(
        SIGN_UP,
        {"input": {"email": "DUP@example.com", "password": PASSWORD, "role": "RETAILER", "organizationName": "Dup"}},
    )
    assert body["data"]["signUp"]["errors"] == [
        {"field": "email", "code": "DUPLICATE_EMAIL", "message": "an account with this email exists"}
    ]
    assert await table_counts(db) == before


async def test_wrong_password_and_unknown_email_look_the_same(gql: GraphQL, db: asyncpg.Connection) -> None:
    await gql.sign_up("who@example.com")
    before = await table_counts(db)
    wrong = await gql.login("who@example.com", "wrong horse battery staple")
    unknown = await gql.login("nobody@example.com", "wrong horse battery staple")
    assert (
        wrong
        == unknown
        == {
            "session": None,
            "errors": [{"field": None, "code": "INVALID_CREDENTIALS", "message": "email or password is wrong"}],
        }
    )
    assert await table_counts(db) == before


async def test_expired_access_token_is_refused(gql: GraphQL, clock: ManualClock, settings: Settings) -> None:
    session = await gql.session("late@example.com")
    clock.advance(timedelta(seconds=settings.access_token_ttl_s - 1))
    assert (await gql(ME, token=session["accessToken"]))["data"]["me"]["role"] == "COURIER"
    clock.advance(timedelta(seconds=1))
    body = await gql(ME, token=session["accessToken"])
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}


def _forge(claims: dict[str, object], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


async def _claims_of(token: str, settings: Settings) -> dict[str, object]:
    return jwt.decode(
        token,
        settings.jwt_signing_key.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("other_key", "TOKEN_BAD_SIGNATURE"),
        ("alg_none", "TOKEN_WRONG_ALGORITHM"),
        ("wrong_audience", "TOKEN_WRONG_AUDIENCE"),
        ("wrong_issuer", "TOKEN_WRONG_ISSUER"),
        ("garbage", "TOKEN_MALFORMED"),
    ],
)
async def test_forged_tokens_are_refused_and_change_nothing(
    gql: GraphQL, db: asyncpg.Connection, settings: Settings, tamper: str, reason: str
) -> None:
    session = await gql.session("shop@example.com", "RETAILER", organization="Shop")
    claims = await _claims_of(session["accessToken"], settings)
    key = settings.jwt_signing_key.get_secret_value()
    if tamper == "other_key":
        forged = _forge(claims, "another-signing-key-that-is-long-enough-000")
    elif tamper == "alg_none":
        forged = _forge(claims, "", algorithm="none")
    elif tamper == "wrong_audience":
        forged = _forge({**claims, "aud": "someone-else"}, key)
    elif tamper == "wrong_issuer":
        forged = _forge({**claims, "iss": "someone-else"}, key)
    else:
        forged = "not.a.jwt"
    before = await table_counts(db)
    body = await gql('mutation { createApiKey(input: {name: "ci"}) { secret errors { code } } }', token=forged)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    assert await table_counts(db) == before


async def test_reused_refresh_token_revokes_the_whole_family(gql: GraphQL, db: asyncpg.Connection) -> None:
    session = await gql.session("twice@example.com")
    first = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    assert first["errors"] == []
    tokens_before = await db.fetchval("SELECT count(*) FROM refresh_tokens")

    replay = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    assert replay["session"] is None
    assert replay["errors"][0]["code"] == "REFRESH_TOKEN_REUSED"
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens") == tokens_before

    # The thief's and the owner's newer tokens die with the family.
    newer = (await gql(REFRESH, {"input": {"refreshToken": first["session"]["refreshToken"]}}))["data"]
    assert newer["refreshSession"]["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    me = await gql(ME, token=first["session"]["accessToken"])
    assert me["errors"][0]["extensions"]["reason"] == "TOKEN_REVOKED"


async def test_expired_refresh_token_is_refused(gql: GraphQL, clock: ManualClock, settings: Settings) -> None:
    session = await gql.session("slow@example.com")
    clock.advance(timedelta(seconds=settings.refresh_token_ttl_s))
    body = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    assert body["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_logout_everywhere_ends_other_sessions(gql: GraphQL) -> None:
    phone = await gql.session("two@example.com")
    laptop = (await gql.login("two@example.com"))["session"]
    out = await gql(LOGOUT, {"input": {"everywhere": True}}, token=phone["accessToken"])
    assert out["data"]["logout"]["ok"] is True
    me = await gql(ME, token=laptop["accessToken"])
    assert me["errors"][0]["extensions"]["reason"] == "TOKEN_REVOKED"


async def test_login_is_rate_limited_per_email_across_replicas(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, login_max_attempts_per_email=3, login_window_s=600)
    async with running_app(settings, clock) as (_, replica_a), running_app(settings, clock) as (_, replica_b):
        await replica_a.sign_up("target@example.com")
        for replica in (replica_a, replica_b, replica_a):
            assert (await replica.login("target@example.com", "guess guess guess"))["errors"][0]["code"] == (
                "INVALID_CREDENTIALS"
            )
        blocked = await replica_b.login("target@example.com")  # even the right password
        assert blocked["session"] is None
        assert blocked["errors"][0]["code"] == "RATE_LIMITED"
        clock.advance(timedelta(seconds=600))
        assert (await replica_b.login("target@example.com"))["errors"] == []


async def test_login_is_rate_limited_per_client_address(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, login_max_attempts_per_address=4, login_max_attempts_per_email=100)
    async with running_app(settings, clock) as (_, gql):
        for n in range(4):
            assert (await gql.login(f"spray{n}@example.com", "guess guess guess"))["errors"][0]["code"] == (
                "INVALID_CREDENTIALS"
            )
        assert (await gql.login("spray9@example.com", "guess guess guess"))["errors"][0]["code"] == "RATE_LIMITED"


async def test_successful_login_resets_the_email_counter(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, login_max_attempts_per_email=2)
    async with running_app(settings, clock) as (_, gql):
        await gql.sign_up("forgetful@example.com")
        assert (await gql.login("forgetful@example.com", "guess guess guess"))["errors"][0]["code"] == (
            "INVALID_CREDENTIALS"
        )
        assert (await gql.login("forgetful@example.com"))["errors"] == []
        assert (await gql.login("forgetful@example.com", "guess guess guess"))["errors"][0]["code"] == (
            "INVALID_CREDENTIALS"
        )
        assert (await gql.login("forgetful@example.com"))["errors"] == []


async def test_login_mutation_document_is_valid(gql: GraphQL) -> None:
    body = await gql(LOGIN, {"input": {"email": "x@example.com", "password": "y" * 12}})
    assert "errors" not in body


async def test_sign_ups_are_rate_limited_per_client_address(database_url: str, clock: ManualClock) -> None:
    settings = make_settings(database_url, signup_max_per_address=3)
    async with running_app(settings, clock) as (_, gql):
        for n in range(3):
            await gql.sign_up(f"new{n}@example.com")
        body = await gql(SIGN_UP, {"input": {"email": "new9@example.com", "password": PASSWORD, "role": "COURIER"}})
        assert body["data"]["signUp"]["errors"][0]["code"] == "RATE_LIMITED"
        clock.advance(timedelta(seconds=settings.login_window_s))
        await gql.sign_up("new9@example.com")


async def test_a_replayed_expired_refresh_token_still_revokes_its_family(
    gql: GraphQL, clock: ManualClock, settings: Settings
) -> None:
    session = await gql.session("late-thief@example.com")
    rotated = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    clock.advance(timedelta(seconds=settings.refresh_token_ttl_s + 1))
    replay = (await gql(REFRESH, {"input": {"refreshToken": session["refreshToken"]}}))["data"]["refreshSession"]
    assert replay["errors"][0]["code"] == "REFRESH_TOKEN_REUSED"
    del rotated


UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { user { id firstName } errors { field code message } }
}
"""


async def test_a_first_name_is_given_at_sign_up_changed_and_removed_with_update_profile(
    gql: GraphQL, db: asyncpg.Connection
) -> None:
    body = await gql(
        SIGN_UP.replace("email role", "email role firstName"),
        {"input": {"email": "anna@example.com", "password": PASSWORD, "role": "COURIER", "firstName": "  Anna  "}},
    )
    assert body["data"]["signUp"]["errors"] == []
    assert body["data"]["signUp"]["user"]["firstName"] == "Anna"
    token = (await gql.login("anna@example.com"))["session"]["accessToken"]

    changed = (await gql(UPDATE_PROFILE, {"input": {"firstName": "Anne-Marie"}}, token=token))["data"]
    assert changed["updateProfile"]["errors"] == []
    assert changed["updateProfile"]["user"]["firstName"] == "Anne-Marie"
    me = await gql("query { me { user { firstName } } }", token=token)
    assert me["data"]["me"]["user"]["firstName"] == "Anne-Marie"

    removed = (await gql(UPDATE_PROFILE, {"input": {"firstName": "   "}}, token=token))["data"]["updateProfile"]
    assert (removed["errors"], removed["user"]["firstName"]) == ([], None)
    assert await db.fetchval("SELECT first_name FROM users WHERE email = 'anna@example.com'") is None


@pytest.mark.parametrize(
    ("first_name", "code"),
    [
        ("A" * 51, "TOO_LONG"),
        ("Anna\nSmith", "INVALID"),  # one line: a line break is refused, not folded away
        ("An\x00na", "INVALID"),
        ("An\x1bna", "INVALID"),
        ("Anna\u202e", "INVALID"),  # a text-direction control
    ],
)
async def test_a_first_name_must_be_one_short_line_without_control_characters(
    gql: GraphQL, db: asyncpg.Connection, first_name: str, code: str
) -> None:
    refused = await gql(
        SIGN_UP,
        {"input": {"email": "bob@example.com", "password": PASSWORD, "role": "COURIER", "firstName": first_name}},
    )
    assert [(e["field"], e["code"]) for e in refused["data"]["signUp"]["errors"]] == [("firstName", code)]
    assert await db.fetchval("SELECT count(*) FROM users") == 0

    token = (await gql.session("carl@example.com"))["accessToken"]
    assert (await gql(UPDATE_PROFILE, {"input": {"firstName": "Carl"}}, token=token))["data"]["updateProfile"][
        "errors"
    ] == []
    payload = (await gql(UPDATE_PROFILE, {"input": {"firstName": first_name}}, token=token))["data"]["updateProfile"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("firstName", code)]
    assert payload["user"] is None
    assert await db.fetchval("SELECT first_name FROM users WHERE email = 'carl@example.com'") == "Carl"
