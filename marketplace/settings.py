"""One typed settings object, read from the environment and validated at start-up."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SIGNING_KEY = "crowdship-dev-signing-key-not-for-production-use-0000"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class BlobStoreKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class EmailProvider(StrEnum):
    LOG = "log"  # development: the message is logged, nothing is sent
    SMTP = "smtp"


class SmsProvider(StrEnum):
    LOG = "log"  # the only provider so far; a real one implements marketplace.messaging.SmsSender


class Settings(BaseSettings):
    """Every knob the service reads. Names map to upper-case environment variables."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="")

    environment: Environment = Environment.DEVELOPMENT
    log_level: LogLevel = LogLevel.INFO

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000

    database_url: str | None = None
    database_pool_min_size: Annotated[int, Field(ge=1, le=100)] = 1
    database_pool_max_size: Annotated[int, Field(ge=1, le=500)] = 10
    embedded_data_dir: str = ".data/pg"

    jwt_signing_key: SecretStr = SecretStr(DEV_SIGNING_KEY)
    jwt_issuer: Annotated[str, Field(min_length=1)] = "crowdship"
    jwt_audience: Annotated[str, Field(min_length=1)] = "crowdship-api"
    access_token_ttl_s: Annotated[int, Field(ge=30, le=3600)] = 900
    refresh_token_ttl_s: Annotated[int, Field(ge=300, le=90 * 86400)] = 30 * 86400

    password_hash_time_cost: Annotated[int, Field(ge=1, le=10)] = 3
    password_hash_memory_kib: Annotated[int, Field(ge=8, le=1048576)] = 65536

    login_max_attempts_per_email: Annotated[int, Field(ge=1)] = 10
    login_max_attempts_per_address: Annotated[int, Field(ge=1)] = 100
    login_window_s: Annotated[int, Field(ge=1)] = 900
    signup_max_per_address: Annotated[int, Field(ge=1)] = 20
    # The recipient's tracking page (/t/<token>): uses per token and per client address per minute.
    tracking_max_per_token: Annotated[int, Field(ge=1)] = 60
    tracking_max_per_address: Annotated[int, Field(ge=1)] = 300
    # "Arriving soon": told once when a carried parcel's live drop-off ETA comes within this many seconds.
    arriving_soon_s: Annotated[int, Field(ge=60, le=3600)] = 600
    trusted_proxies: str = ""  # comma-separated CIDRs whose X-Forwarded-For is believed

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(c.strip()) for c in self.trusted_proxies.split(",") if c.strip()]

    idempotency_ttl_s: Annotated[int, Field(ge=60)] = 86400
    # Moves what start-up built (schema, modules, pool) out of the cyclic collector's reach: a full
    # collection then walks the requests' objects only (README, "Live tracking": pings benchmark).
    gc_freeze_after_start: bool = True

    graphql_max_depth: Annotated[int, Field(ge=2, le=50)] = 10
    graphql_max_cost: Annotated[int, Field(ge=10)] = 5000

    # Proof photos: stored by content hash in a local folder (the default blob store); the retailer and
    # operations read them through URLs signed for this long.
    blob_store: BlobStoreKind = BlobStoreKind.LOCAL
    blob_dir: str = ".data/blobs"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # unset: AWS itself; else MinIO, Ceph, R2 or any S3-compatible server
    s3_region: str | None = None
    photo_url_ttl_s: Annotated[int, Field(ge=10, le=3600)] = 300

    # Recipient notifications and retailer webhooks (marketplace/services/notifications.py, webhooks.py).
    public_base_url: str = "http://127.0.0.1:8000"  # tracking links: <PUBLIC_BASE_URL>/t/<token>
    email_provider: EmailProvider = EmailProvider.LOG
    smtp_host: str = "127.0.0.1"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: Annotated[float, Field(gt=0, le=120)] = 30.0
    mail_from: str = "Crowdship <no-reply@crowdship.example>"
    sms_provider: SmsProvider = SmsProvider.LOG
    # Receivers on loopback or private addresses, and plain http, for tests and local development
    # only: refused in production.
    webhook_allow_private_addresses: bool = False
    webhook_retry_initial_s: Annotated[float, Field(ge=0, le=3600)] = 5.0

    # Unset key: `crowdship serve` starts the embedded Stripe fake (state in EMBEDDED_STRIPE_FILE) and points
    # the three at it. Production needs a live key and a webhook secret.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    embedded_stripe_file: str = ".data/stripe.sqlite3"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for cidr in (c.strip() for c in value.split(",")):
            if cidr:
                try:
                    ipaddress.ip_network(cidr)
                except ValueError:
                    raise ValueError(f"{cidr!r} is not a network such as 10.0.0.0/8") from None
        return value

    @field_validator("jwt_signing_key")
    @classmethod
    def _long_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Checks that span several settings; every problem found is reported, one line each."""
        problems = []
        if self.database_pool_min_size > self.database_pool_max_size:
            problems.append("DATABASE_POOL_MIN_SIZE: must not exceed DATABASE_POOL_MAX_SIZE")
        if self.blob_store is BlobStoreKind.S3 and not self.s3_bucket:
            problems.append("S3_BUCKET: is required with BLOB_STORE=s3")
        if self.environment is Environment.PRODUCTION:
            if self.jwt_signing_key.get_secret_value() == DEV_SIGNING_KEY:
                problems.append("JWT_SIGNING_KEY: is the development key; set a secret one in production")
            if not self.database_url:
                problems.append("DATABASE_URL: is required in production (no embedded database)")
            key = self.stripe_secret_key.get_secret_value() if self.stripe_secret_key else ""
            if not key:
                problems.append("STRIPE_SECRET_KEY: is required in production (no embedded Stripe fake)")
            elif not key.startswith(("sk_live_", "rk_live_")):
                problems.append("STRIPE_SECRET_KEY: must be a live key (sk_live_ or rk_live_) in production")
            if not self.stripe_webhook_secret or not self.stripe_webhook_secret.get_secret_value():
                problems.append("STRIPE_WEBHOOK_SECRET: is required in production")
            if self.webhook_allow_private_addresses:
                problems.append("WEBHOOK_ALLOW_PRIVATE_ADDRESSES: is never allowed in production")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class SettingsError(Exception):
    """Raised with one readable line per bad environment variable."""


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; overrides win (used by tests and the CLI)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper()
            message = err["msg"].removeprefix("Value error, ")
            # Whole-model checks already name their variables, one per line.
            lines.extend(message.splitlines() if not name else [f"{name}: {message}"])
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
