"""Access tokens (HS256 JWT checked against an injected clock) and opaque secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.services.tokens import (
    API_KEY_PREFIX,
    REFRESH_TOKEN_PREFIX,
    AccessTokens,
    InvalidTokenError,
    TokenProblem,
    api_key_prefix,
    new_api_key,
    new_refresh_token,
    same_secret,
    secret_hash,
)

KEY = "unit-test-signing-key-" + "x" * 42  # 64 characters: long enough for HS512 without warnings
OTHER_KEY = "another-signing-key----" + "y" * 41
ISSUER = "crowdship"
AUDIENCE = "crowdship-api"
TTL_S = 900
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
USER_ID = UUID("11111111-1111-4111-8111-111111111111")
SESSION_ID = UUID("22222222-2222-4222-8222-222222222222")
ORG_ID = UUID("33333333-3333-4333-8333-333333333333")


def make_tokens(*, key: str = KEY, issuer: str = ISSUER, audience: str = AUDIENCE) -> AccessTokens:
    return AccessTokens(signing_key=key, issuer=issuer, audience=audience, ttl_s=TTL_S)


@pytest.fixture
def tokens() -> AccessTokens:
    return make_tokens()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def issue(tokens: AccessTokens, clock: ManualClock, organization_id: UUID | None = None) -> str:
    return tokens.issue(
        user_id=USER_ID, role=Role.RETAILER, session_id=SESSION_ID, organization_id=organization_id, now=clock.now()
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], claims: dict[str, Any], key: str = KEY) -> str:
    """Builds and HS256-signs a token byte by byte, so the header can say anything."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def valid_claims(now: datetime = T0) -> dict[str, Any]:
    stamp = int(now.timestamp())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(USER_ID),
        "role": Role.COURIER.value,
        "sid": str(SESSION_ID),
        "jti": str(uuid4()),
        "iat": stamp,
        "nbf": stamp,
        "exp": stamp + TTL_S,
    }


def problem_of(tokens: AccessTokens, token: str, now: datetime) -> TokenProblem:
    with pytest.raises(InvalidTokenError) as caught:
        tokens.verify(token, now=now)
    return caught.value.problem


# --- round trip -------------------------------------------------------------------------------------------------


def test_issued_token_verifies_with_the_same_claims(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(tokens, clock, organization_id=ORG_ID)
    clock.advance(timedelta(seconds=60))

    claims = tokens.verify(token, now=clock.now())

    assert claims.user_id == USER_ID
    assert claims.role is Role.RETAILER
    assert claims.session_id == SESSION_ID
    assert claims.organization_id == ORG_ID
    assert claims.expires_at == T0 + timedelta(seconds=TTL_S)
    assert isinstance(claims.jti, UUID)


def test_token_without_organization_verifies_with_no_organization(tokens: AccessTokens, clock: ManualClock) -> None:
    claims = tokens.verify(issue(tokens, clock), now=clock.now())

    assert claims.organization_id is None


def test_each_issued_token_has_a_distinct_jti(tokens: AccessTokens, clock: ManualClock) -> None:
    first = tokens.verify(issue(tokens, clock), now=clock.now())
    second = tokens.verify(issue(tokens, clock), now=clock.now())

    assert first.jti != second.jti


def test_issued_token_is_hs256_with_jwt_type(tokens: AccessTokens, clock: ManualClock) -> None:
    header = jwt.get_unverified_header(issue(tokens, clock))

    assert header == {"alg": "HS256", "typ": "JWT"}


def test_token_verifies_one_second_before_expiry(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(tokens, clock)
    clock.advance(timedelta(seconds=TTL_S - 1))

    assert tokens.verify(token, now=clock.now()).user_id == USER_ID


# --- times --------------------------------------------------------------------------------------------------------


def test_verify_refuses_token_at_exactly_its_expiry(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(tokens, clock)
    clock.advance(timedelta(seconds=TTL_S))

    assert problem_of(tokens, token, clock.now()) is TokenProblem.EXPIRED


def test_verify_refuses_token_long_after_expiry(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(tokens, clock)
    clock.advance(timedelta(days=3))

    assert problem_of(tokens, token, clock.now()) is TokenProblem.EXPIRED


def test_verify_refuses_token_whose_not_before_is_in_the_future(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(tokens, clock)

    assert problem_of(tokens, token, clock.now() - timedelta(seconds=1)) is TokenProblem.NOT_YET_VALID


def test_verify_refuses_hand_made_token_with_future_not_before(tokens: AccessTokens) -> None:
    claims = valid_claims()
    claims["nbf"] = claims["nbf"] + 60

    assert problem_of(tokens, hand_made_token({"alg": "HS256", "typ": "JWT"}, claims), T0) is TokenProblem.NOT_YET_VALID


def test_verify_uses_the_given_clock_not_the_wall_clock(tokens: AccessTokens) -> None:
    long_ago = ManualClock(datetime(2001, 1, 1, tzinfo=UTC))
    token = issue(tokens, long_ago)

    assert tokens.verify(token, now=long_ago.now()).user_id == USER_ID


# --- signature and algorithm --------------------------------------------------------------------------------------


def test_verify_refuses_token_signed_with_another_key(tokens: AccessTokens, clock: ManualClock) -> None:
    token = issue(make_tokens(key=OTHER_KEY), clock)

    assert problem_of(tokens, token, clock.now()) is TokenProblem.BAD_SIGNATURE


def test_verify_refuses_token_with_tampered_claims(tokens: AccessTokens, clock: ManualClock) -> None:
    header, _, signature = issue(tokens, clock).split(".")
    forged = valid_claims()
    forged["role"] = Role.ADMIN.value
    token = f"{header}.{b64url(json.dumps(forged).encode())}.{signature}"

    assert problem_of(tokens, token, clock.now()) is TokenProblem.BAD_SIGNATURE


def test_verify_refuses_unsigned_alg_none_token(tokens: AccessTokens) -> None:
    # "" is pyjwt's empty key for alg none (None no longer type-checks once cryptography is installed).
    token = jwt.encode(valid_claims(), "", algorithm="none")

    assert problem_of(tokens, token, T0) is TokenProblem.WRONG_ALGORITHM


def test_verify_refuses_alg_none_token_carrying_a_valid_hs256_signature(tokens: AccessTokens) -> None:
    token = hand_made_token({"alg": "none", "typ": "JWT"}, valid_claims())

    assert problem_of(tokens, token, T0) is TokenProblem.WRONG_ALGORITHM


def test_verify_refuses_hs512_token_signed_with_the_right_key(tokens: AccessTokens) -> None:
    token = jwt.encode(valid_claims(), KEY, algorithm="HS512")

    assert problem_of(tokens, token, T0) is TokenProblem.WRONG_ALGORITHM


def test_verify_refuses_rs256_labelled_token_signed_with_the_hmac_key(tokens: AccessTokens) -> None:
    token = hand_made_token({"alg": "RS256", "typ": "JWT"}, valid_claims())

    assert problem_of(tokens, token, T0) is TokenProblem.WRONG_ALGORITHM


def test_verify_refuses_token_whose_header_has_no_algorithm(tokens: AccessTokens) -> None:
    token = hand_made_token({"typ": "JWT"}, valid_claims())

    assert problem_of(tokens, token, T0) is TokenProblem.WRONG_ALGORITHM


def test_hand_made_hs256_token_with_valid_claims_verifies(tokens: AccessTokens) -> None:
    """Guards the helpers above: the hand-made tokens fail only for the reason each test gives."""
    claims = tokens.verify(hand_made_token({"alg": "HS256", "typ": "JWT"}, valid_claims()), now=T0)

    assert claims.role is Role.COURIER


# --- audience, issuer, claims ---------------------------------------------------------------------------------------


def test_verify_refuses_token_for_another_audience(clock: ManualClock) -> None:
    token = issue(make_tokens(audience="someone-else"), clock)

    assert problem_of(make_tokens(), token, clock.now()) is TokenProblem.WRONG_AUDIENCE


def test_verify_refuses_token_from_another_issuer(clock: ManualClock) -> None:
    token = issue(make_tokens(issuer="evil"), clock)

    assert problem_of(make_tokens(), token, clock.now()) is TokenProblem.WRONG_ISSUER


def test_verify_refuses_issuer_that_is_only_a_substring_of_ours(clock: ManualClock) -> None:
    token = issue(make_tokens(issuer="crowd"), clock)

    assert problem_of(make_tokens(), token, clock.now()) is TokenProblem.WRONG_ISSUER


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "role", "sid"])
def test_verify_refuses_token_missing_a_required_claim_as_malformed(tokens: AccessTokens, claim: str) -> None:
    claims = valid_claims()
    del claims[claim]

    assert problem_of(tokens, hand_made_token({"alg": "HS256", "typ": "JWT"}, claims), T0) is TokenProblem.MALFORMED


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", "not-a-uuid"), ("sid", "not-a-uuid"), ("role", "emperor"), ("org", "not-a-uuid")],
)
def test_verify_refuses_token_with_unparseable_claim_as_malformed(tokens: AccessTokens, claim: str, value: str) -> None:
    claims = valid_claims()
    claims[claim] = value

    assert problem_of(tokens, hand_made_token({"alg": "HS256", "typ": "JWT"}, claims), T0) is TokenProblem.MALFORMED


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "Bearer abc.def.ghi"],
)
def test_verify_refuses_garbage_as_malformed(tokens: AccessTokens, token: str) -> None:
    assert problem_of(tokens, token, T0) is TokenProblem.MALFORMED


def test_verify_refuses_header_with_non_string_key_id_as_malformed(tokens: AccessTokens) -> None:
    token = hand_made_token({"alg": "HS256", "typ": "JWT", "kid": 1}, valid_claims())

    assert problem_of(tokens, token, T0) is TokenProblem.MALFORMED


def test_invalid_token_error_carries_the_problem_code_as_its_message() -> None:
    error = InvalidTokenError(TokenProblem.EXPIRED)

    assert str(error) == "TOKEN_EXPIRED"
    assert error.problem is TokenProblem.EXPIRED


# --- opaque secrets ---------------------------------------------------------------------------------------------------


def test_new_api_key_prefix_is_recovered_from_the_full_key() -> None:
    prefix, key = new_api_key()

    assert key.startswith(API_KEY_PREFIX + prefix + "_")
    assert len(prefix) == 12
    assert all(c in string.hexdigits for c in prefix)
    assert api_key_prefix(key) == prefix


def test_new_api_keys_are_unique() -> None:
    keys = {new_api_key()[1] for _ in range(50)}

    assert len(keys) == 50


@pytest.mark.parametrize(
    "key",
    [
        "",
        "abcdefabcdef_secret",  # no csk_ prefix
        "csr_abcdefabcdef_secret",  # a refresh token, not an API key
        "CSK_abcdefabcdef_secret",  # prefix is case-sensitive
        "csk_abcdefabcdef",  # no separator after the prefix
        "csk_abcdef_secret",  # prefix too short
        "csk_abcdefabcdef0_secret",  # prefix too long
        "csk__secret",  # empty prefix
        "Bearer csk_abcdefabcdef_secret",
    ],
)
def test_api_key_prefix_rejects_malformed_keys(key: str) -> None:
    assert api_key_prefix(key) is None


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=60))
def test_api_key_prefix_is_none_or_twelve_characters_for_any_string(suffix: str) -> None:
    prefix = api_key_prefix(API_KEY_PREFIX + suffix)

    assert prefix is None or (len(prefix) == 12 and suffix.startswith(prefix + "_"))


def test_new_refresh_token_has_prefix_and_is_unique() -> None:
    tokens = {new_refresh_token() for _ in range(50)}

    assert len(tokens) == 50
    assert all(t.startswith(REFRESH_TOKEN_PREFIX) and len(t) > len(REFRESH_TOKEN_PREFIX) + 40 for t in tokens)


def test_secret_hash_is_deterministic_sha256_of_32_bytes() -> None:
    digest = secret_hash("csr_example")

    assert digest == secret_hash("csr_example")
    assert len(digest) == 32
    assert digest == hashlib.sha256(b"csr_example").digest()


def test_secret_hash_differs_for_different_secrets() -> None:
    assert secret_hash("csr_a") != secret_hash("csr_b")


@given(st.text(), st.text())
def test_same_secret_agrees_with_equality_of_hashes(a: str, b: str) -> None:
    assert same_secret(secret_hash(a), secret_hash(b)) is (a == b)
