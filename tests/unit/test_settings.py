"""Settings: defaults, environment variables, and one readable line per bad value."""

from __future__ import annotations

import pytest

from marketplace.settings import (
    DEV_SIGNING_KEY,
    Environment,
    LogLevel,
    Settings,
    SettingsError,
    load_settings,
)

GOOD_KEY = "k" * 48
PRODUCTION_URL = "postgresql://crowdship@db.internal:5432/crowdship"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable Settings reads, in either case, so the caller's environment cannot leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def error_lines(exc: SettingsError) -> list[str]:
    """The per-variable lines of the error, without the heading."""
    return [line.strip() for line in str(exc).splitlines()[1:]]


def test_defaults_load_without_any_environment() -> None:
    settings = load_settings()

    assert settings.environment is Environment.DEVELOPMENT
    assert settings.log_level is LogLevel.INFO
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.database_url is None
    assert (settings.database_pool_min_size, settings.database_pool_max_size) == (1, 10)
    assert settings.jwt_signing_key.get_secret_value() == DEV_SIGNING_KEY
    assert settings.jwt_issuer == "crowdship"
    assert settings.jwt_audience == "crowdship-api"
    assert settings.access_token_ttl_s == 900
    assert settings.refresh_token_ttl_s == 30 * 86400
    assert settings.stripe_secret_key is None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "3")
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "7")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)
    monkeypatch.setenv("ACCESS_TOKEN_TTL_S", "120")
    monkeypatch.setenv("GRAPHQL_MAX_DEPTH", "6")

    settings = load_settings()

    assert settings.environment is Environment.STAGING
    assert settings.log_level is LogLevel.DEBUG
    assert settings.host == "0.0.0.0"
    assert settings.port == 9123
    assert settings.database_url == PRODUCTION_URL
    assert (settings.database_pool_min_size, settings.database_pool_max_size) == (3, 7)
    assert settings.jwt_signing_key.get_secret_value() == GOOD_KEY
    assert settings.access_token_ttl_s == 120
    assert settings.graphql_max_depth == 6


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")

    assert load_settings(port=9999).port == 9999


def test_signing_key_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)

    settings = load_settings()

    assert GOOD_KEY not in repr(settings)
    assert GOOD_KEY not in str(settings)


def test_settings_are_frozen() -> None:
    settings = load_settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("ENVIRONMENT", "prod"),
        ("DATABASE_POOL_MIN_SIZE", "0"),
        ("DATABASE_POOL_MAX_SIZE", "501"),
        ("ACCESS_TOKEN_TTL_S", "5"),
        ("GRAPHQL_MAX_DEPTH", "1"),
        ("JWT_ISSUER", ""),
    ],
)
def test_bad_value_raises_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    lines = error_lines(caught.value)
    assert len(lines) == 1
    assert lines[0].startswith(f"{variable}: ")


def test_pool_min_size_above_max_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "20")
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "5")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "DATABASE_POOL_MIN_SIZE" in str(caught.value)
    assert len(error_lines(caught.value)) == 1


def test_pool_min_size_equal_to_max_size_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "5")
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "5")

    settings = load_settings()

    assert (settings.database_pool_min_size, settings.database_pool_max_size) == (5, 5)


def test_signing_key_shorter_than_32_characters_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SIGNING_KEY", "k" * 31)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "JWT_SIGNING_KEY" in str(caught.value)
    assert "k" * 31 not in str(caught.value)


def test_signing_key_of_exactly_32_characters_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SIGNING_KEY", "k" * 32)

    assert load_settings().jwt_signing_key.get_secret_value() == "k" * 32


def test_several_bad_values_produce_one_line_each_in_a_single_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    monkeypatch.setenv("ENVIRONMENT", "prod")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    lines = error_lines(caught.value)
    assert sorted(line.split(":", 1)[0] for line in lines) == ["ENVIRONMENT", "LOG_LEVEL", "PORT"]


def test_short_signing_key_is_reported_alongside_other_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    monkeypatch.setenv("JWT_SIGNING_KEY", "short")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "PORT" in str(caught.value)
    assert "JWT_SIGNING_KEY" in str(caught.value)


def test_production_refuses_the_development_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "JWT_SIGNING_KEY" in str(caught.value)
    assert "development key" in str(caught.value)


def test_production_refuses_the_development_signing_key_given_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.setenv("JWT_SIGNING_KEY", DEV_SIGNING_KEY)

    with pytest.raises(SettingsError, match="JWT_SIGNING_KEY"):
        load_settings()


def test_production_refuses_a_missing_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "DATABASE_URL" in str(caught.value)


def test_production_refuses_an_empty_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "")

    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings()


def test_production_refuses_to_start_without_real_stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert "STRIPE_SECRET_KEY: is required in production" in str(caught.value)
    assert "STRIPE_WEBHOOK_SECRET: is required in production" in str(caught.value)


def test_production_refuses_a_stripe_test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_crowdship_embedded_fake")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_abc")

    with pytest.raises(SettingsError, match="STRIPE_SECRET_KEY: must be a live key"):
        load_settings()


def test_production_accepts_a_proper_key_and_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "rk_live_crowdship")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_live")

    settings = load_settings()

    assert settings.environment is Environment.PRODUCTION
    assert settings.database_url == PRODUCTION_URL
    assert settings.jwt_signing_key.get_secret_value() == GOOD_KEY


def test_development_accepts_the_development_key_without_database_url() -> None:
    settings = load_settings(environment="development")

    assert settings.jwt_signing_key.get_secret_value() == DEV_SIGNING_KEY
    assert settings.database_url is None
