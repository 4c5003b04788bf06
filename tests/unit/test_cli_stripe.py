"""The serving process hands its Stripe settings (the embedded fake's, if any) to the worker it starts."""

from __future__ import annotations

import pytest

from marketplace.cli import _stripe_environment, main
from marketplace.settings import load_settings


def test_worker_gets_the_same_stripe_as_the_service() -> None:
    settings = load_settings(
        stripe_secret_key="sk_test_crowdship_embedded_fake",
        stripe_webhook_secret="whsec_abc",
        stripe_api_base="http://127.0.0.1:40001",
    )

    assert _stripe_environment(settings) == {
        "STRIPE_SECRET_KEY": "sk_test_crowdship_embedded_fake",
        "STRIPE_WEBHOOK_SECRET": "whsec_abc",
        "STRIPE_API_BASE": "http://127.0.0.1:40001",
    }


def test_without_stripe_settings_the_worker_gets_none() -> None:
    settings = load_settings(stripe_secret_key=None, stripe_webhook_secret=None, stripe_api_base=None)

    assert _stripe_environment(settings) == {}


def test_serve_in_production_without_stripe_keys_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SIGNING_KEY", "a-production-signing-key-of-enough-length-0123")
    monkeypatch.setenv("DATABASE_URL", "postgresql://crowdship@db.internal:5432/crowdship")

    assert main(["serve"]) == 2
    assert "STRIPE_SECRET_KEY: is required in production" in capsys.readouterr().err
