"""Access tokens (JWT, HS256 only) and opaque secrets (refresh tokens, API keys)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

import jwt

from marketplace.domain.accounts import Role

ALGORITHM = "HS256"
REFRESH_TOKEN_PREFIX = "csr_"
API_KEY_PREFIX = "csk_"


class TokenProblem(StrEnum):
    MISSING = "TOKEN_MISSING"
    MALFORMED = "TOKEN_MALFORMED"
    EXPIRED = "TOKEN_EXPIRED"
    NOT_YET_VALID = "TOKEN_NOT_YET_VALID"
    BAD_SIGNATURE = "TOKEN_BAD_SIGNATURE"
    WRONG_ALGORITHM = "TOKEN_WRONG_ALGORITHM"
    WRONG_AUDIENCE = "TOKEN_WRONG_AUDIENCE"
    WRONG_ISSUER = "TOKEN_WRONG_ISSUER"
    REVOKED = "TOKEN_REVOKED"
    UNKNOWN_API_KEY = "API_KEY_UNKNOWN"


class InvalidTokenError(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    role: Role
    session_id: UUID
    organization_id: UUID | None
    jti: UUID
    expires_at: datetime


class AccessTokens:
    def __init__(self, *, signing_key: str, issuer: str, audience: str, ttl_s: int) -> None:
        self._key = signing_key
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s

    def issue(self, *, user_id: UUID, role: Role, session_id: UUID, organization_id: UUID | None, now: datetime) -> str:
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "role": role.value,
            "sid": str(session_id),
            "jti": str(uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self.ttl_s),
        }
        if organization_id is not None:
            claims["org"] = str(organization_id)
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        """Checks signature, algorithm, issuer, audience and times against the given clock."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError(TokenProblem.MALFORMED) from None
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError(TokenProblem.WRONG_ALGORITHM)
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidTokenError(TokenProblem.BAD_SIGNATURE) from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError(TokenProblem.WRONG_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError(TokenProblem.WRONG_ISSUER) from None
        except jwt.InvalidAlgorithmError:
            raise InvalidTokenError(TokenProblem.WRONG_ALGORITHM) from None
        except jwt.PyJWTError:
            raise InvalidTokenError(TokenProblem.MALFORMED) from None
        # Times are checked here, against our clock, rather than by PyJWT against the wall clock.
        try:
            stamp = now.timestamp()
            if stamp >= float(claims["exp"]):
                raise InvalidTokenError(TokenProblem.EXPIRED)
            if stamp < float(claims["nbf"]):
                raise InvalidTokenError(TokenProblem.NOT_YET_VALID)
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                role=Role(claims["role"]),
                session_id=UUID(claims["sid"]),
                organization_id=UUID(claims["org"]) if claims.get("org") else None,
                jti=UUID(claims["jti"]),
                expires_at=datetime.fromtimestamp(float(claims["exp"]), tz=now.tzinfo),
            )
        except (KeyError, ValueError, TypeError):
            raise InvalidTokenError(TokenProblem.MALFORMED) from None


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """Returns (prefix, full key). The prefix finds the row; only the key's hash is stored."""
    prefix = secrets.token_hex(6)
    return prefix, f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, _ = key[len(API_KEY_PREFIX) :].partition("_")
    return prefix if sep and len(prefix) == 12 else None


def secret_hash(secret: str) -> bytes:
    """SHA-256 suffices: these secrets carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).digest()


def same_secret(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
