"""Log redaction and the JSON line format."""

from __future__ import annotations

import io
import json
import logging
import string
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from marketplace.logs import REDACTED, configure_logging, get_logger, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEifQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
API_KEY = "csk_0123456789ab_Zm9vYmFyYmF6cXV4LW5vdC1hLXJlYWwta2V5"
REFRESH_TOKEN = "csr_Zm9vYmFyYmF6cXV4LW5vdC1hLXJlYWwtdG9rZW4"

TOKEN_CHARS = string.ascii_letters + string.digits + "-_."


def run(event: dict[str, Any]) -> dict[str, Any]:
    return dict(redact(None, "info", event))


# --- redact -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["password", "new_password", "refresh_token", "authorization", "Authorization", "api_key", "apikey",
     "jwt_signing_key", "stripe_webhook_secret", "cookie", "passwd"],
)  # fmt: skip
def test_redact_replaces_values_of_secret_looking_keys(key: str) -> None:
    assert run({key: "hunter2hunter2"}) == {key: REDACTED}


def test_redact_replaces_secret_keys_whatever_the_value_type() -> None:
    event = run({"password": {"nested": "x"}, "api_key": ["a", "b"], "token": 12345})

    assert event == {"password": REDACTED, "api_key": REDACTED, "token": REDACTED}


def test_redact_leaves_non_secret_values_untouched() -> None:
    event = {
        "event": "parcel.created",
        "user_id": "11111111-1111-4111-8111-111111111111",
        "email": "alice@crowdship.dev",
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "missing": None,
        "items": ["a", 1, {"city": "Lyon"}],
    }

    assert run(dict(event)) == event


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token was {JWT}", JWT),
        (f"api key {API_KEY} used", API_KEY),
        (f"refresh {REFRESH_TOKEN}", REFRESH_TOKEN),
        ("header Bearer xyz123.abc", "xyz123.abc"),
        ("header bearer   xyz123", "xyz123"),
    ],
)
def test_redact_removes_token_shaped_substrings_from_strings(text: str, secret: str) -> None:
    event = run({"event": text})

    assert secret not in event["event"]
    assert REDACTED in event["event"]


def test_redact_keeps_the_text_around_a_token() -> None:
    assert run({"event": f"login with {API_KEY} failed"}) == {"event": f"login with {REDACTED} failed"}


def test_redact_reaches_into_nested_dicts_and_lists() -> None:
    event = run(
        {
            "request": {
                "headers": {"Authorization": f"Bearer {JWT}", "accept": "application/json"},
                "body": {"input": {"password": "hunter2hunter2", "email": "alice@crowdship.dev"}},
                "args": [f"Bearer {JWT}", [REFRESH_TOKEN], ("plain", API_KEY)],
            }
        }
    )

    request = event["request"]
    assert request["headers"] == {"Authorization": REDACTED, "accept": "application/json"}
    assert request["body"] == {"input": {"password": REDACTED, "email": "alice@crowdship.dev"}}
    assert request["args"] == [REDACTED, [REDACTED], ["plain", REDACTED]]
    assert not any(s in json.dumps(event) for s in (JWT, REFRESH_TOKEN, API_KEY, "hunter2"))


def test_redact_returns_the_same_event_mapping() -> None:
    event: dict[str, Any] = {"password": "x"}

    assert redact(None, "info", event) is event


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64))
def test_redact_never_lets_an_api_key_through(body: str) -> None:
    key = "csk_" + body

    event = run({"event": f"using {key} now", "nested": {"list": [key]}})

    assert event == {"event": f"using {REDACTED} now", "nested": {"list": [REDACTED]}}
    assert key not in json.dumps(event)


@given(st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=64), st.sampled_from(["csk_", "csr_", "eyJ", "Bearer "]))
def test_redact_removes_every_token_shaped_value_entirely(body: str, prefix: str) -> None:
    assert run({"value": prefix + body}) == {"value": REDACTED}


@given(
    st.text(alphabet=string.ascii_lowercase + " ", max_size=40).filter(lambda s: "bearer" not in s and "eyj" not in s)
)
def test_redact_passes_plain_lowercase_text_unchanged(text: str) -> None:
    assert run({"note": text}) == {"note": text}


def test_redact_removes_tokens_from_bytes_values() -> None:
    event = run({"headers": [(b"authorization", b"Bearer " + JWT.encode())]})

    assert JWT not in json.dumps(event, default=repr)


# --- configure_logging ------------------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    touched = ["pgserver", "stripe", "uvicorn", "uvicorn.error", "uvicorn.access", "litestar"]
    saved = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate,
                    logging.getLogger(name).level) for name in touched}  # fmt: skip
    structlog_config = structlog.get_config()
    yield
    root.handlers = handlers
    root.setLevel(level)
    for name, (h, propagate, lvl) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = h, propagate
        logger.setLevel(lvl)
    structlog.configure(**structlog_config)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_configured_logger_writes_one_json_object_per_line_without_secrets() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = get_logger("unit.test")

    log.info("evt", password="hunter2hunter2", parcel_id=7)
    log.info("second", note=f"Bearer {JWT}")

    raw = stream.getvalue()
    assert "hunter2hunter2" not in raw
    assert JWT not in raw
    first, second = lines_of(stream)
    assert first["event"] == "evt"
    assert first["password"] == REDACTED
    assert first["parcel_id"] == 7
    assert first["level"] == "info"
    assert first["logger"] == "unit.test"
    assert first["timestamp"].endswith("Z")
    assert "T" in first["timestamp"]
    assert second["event"] == "second"
    assert second["note"] == REDACTED


@pytest.mark.usefixtures("restore_logging")
def test_configured_logging_drops_records_below_the_level() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream)
    log = get_logger("unit.test")

    log.info("quiet")
    log.warning("loud")

    assert [line["event"] for line in lines_of(stream)] == ["loud"]
    assert lines_of(stream)[0]["level"] == "warning"


@pytest.mark.usefixtures("restore_logging")
def test_standard_library_records_are_rendered_as_redacted_json() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    logging.getLogger("third.party").info("refreshing with %s", REFRESH_TOKEN)

    (line,) = lines_of(stream)
    assert line["event"] == f"refreshing with {REDACTED}"
    assert line["level"] == "info"
    assert line["logger"] == "third.party"
    assert "timestamp" in line


@pytest.mark.usefixtures("restore_logging")
def test_the_stripe_sdks_per_call_info_lines_are_dropped_unless_debugging() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    sdk = logging.getLogger("stripe")

    sdk.info("message='Request to Stripe api' method=post")
    sdk.warning("retrying")

    assert [line["event"] for line in lines_of(stream)] == ["retrying"]

    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    sdk.info("message='Request to Stripe api' method=post")
    assert [line["event"] for line in lines_of(stream)] == ["message='Request to Stripe api' method=post"]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_replaces_root_handlers() -> None:
    configure_logging("INFO", stream=io.StringIO())
    configure_logging("DEBUG", stream=io.StringIO())

    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert root.level == logging.DEBUG


def test_redact_hides_a_tracking_token_in_the_tracking_page_path() -> None:
    """The token is the recipient's credential: a request log line must not carry it."""
    token = "0123456789abcdef" * 4
    event = run({"event": "request", "path": f"/t/{token}"})
    assert event["path"] == f"/t/{REDACTED}"
    assert run({"path": "/t/static/tracking.js"})["path"] == "/t/static/tracking.js"
