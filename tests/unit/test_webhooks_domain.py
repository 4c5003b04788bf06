"""Pure webhook and notification rules: addresses never called, URL shape, back-off, templates, languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.errors import DomainError
from marketplace.domain.notifications import NotificationFacts, NotificationKind, language_for, render, sms_text
from marketplace.domain.webhooks import WebhookPolicy, address_allowed, check_url


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "10.255.1.2", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "224.0.0.1", "not-an-ip"],
)  # fmt: skip
def test_loopback_private_link_local_and_metadata_addresses_are_never_called(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_called(address: str) -> None:
    assert address_allowed(address)


def test_urls_need_https_and_no_credentials_unless_insecure_is_allowed() -> None:
    assert check_url(" https://hooks.example.com/in?x=1 ", "url", allow_insecure=False) == (
        "https://hooks.example.com/in?x=1",
        "hooks.example.com",
    )
    for bad, code in [
        ("http://hooks.example.com/", "INSECURE_URL"),
        ("https://u:p@hooks.example.com/", "INVALID"),
        ("https://hooks.example.com/#frag", "INVALID"),
        ("mailto:ops@example.com", "INVALID"),
        ("https:///nohost", "INVALID"),
    ]:
        with pytest.raises(DomainError) as raised:
            check_url(bad, "url", allow_insecure=False)
        assert raised.value.errors[0].code == code, bad
    assert check_url("http://127.0.0.1:9/", "url", allow_insecure=True)[1] == "127.0.0.1"


def test_back_off_doubles_from_the_initial_delay_up_to_two_hours() -> None:
    policy = WebhookPolicy()
    assert [policy.next_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert policy.next_delay(40) == timedelta(hours=2)


def _facts(**overrides: object) -> NotificationFacts:
    values: dict[str, object] = {
        "kind": NotificationKind.BOOKED,
        "language": "en",
        "recipient_name": "Ada",
        "sender": "Corner Shop",
        "tracking_url": "https://t.example/t/abc",
        "parcel_status": ParcelStatus.BOOKED,
        "pin": "4711",
        "window_start_at": datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
        "window_end_at": datetime(2026, 11, 24, 17, 0, tzinfo=UTC),
        "time_zone": "Europe/Berlin",
        "failure_action": "locker",
    }
    values.update(overrides)
    return NotificationFacts(**values)  # type: ignore[arg-type]


def test_the_booked_message_carries_the_pin_until_the_parcel_is_handed_over() -> None:
    assert "4711" in render(_facts()).body
    for status in (ParcelStatus.DELIVERED, ParcelStatus.IN_LOCKER, ParcelStatus.COLLECTED, ParcelStatus.RETURNING):
        assert "4711" not in render(_facts(parcel_status=status)).body
    assert "4711" not in render(_facts(kind=NotificationKind.OUT_FOR_DELIVERY)).body


def test_windows_are_told_in_the_area_s_local_time_and_language() -> None:
    german = render(_facts(kind=NotificationKind.OUT_FOR_DELIVERY, language="de"))
    assert german.subject == "Ihr Paket wird zugestellt"
    assert "zwischen 12:00 und 18:00 (24.11.2026)" in german.body
    english = render(_facts(kind=NotificationKind.OUT_FOR_DELIVERY))
    assert "between 12:00 - 18:00 (2026-11-24)" in english.body
    assert "Packstation" in render(_facts(kind=NotificationKind.FAILED_ATTEMPT, language="de")).body


def test_the_recipient_s_language_else_the_area_s_else_english() -> None:
    assert language_for("de", "NL") == "de"
    assert language_for(None, "AT") == "de"
    assert language_for("fr", "DE") == "de"  # no French templates yet: the area's
    assert language_for(None, "NL") == "en"


def test_an_sms_is_the_body_on_one_line_within_three_segments() -> None:
    text = sms_text(render(_facts()))
    assert "\n" not in text
    assert len(text) <= 459
    assert text.startswith("Hello Ada, Corner Shop has booked your delivery.")
