"""Rate limits key on the client's address: behind our proxies, the hop they forwarded."""

from __future__ import annotations

import ipaddress

import pytest

from marketplace.app.client import client_address

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", []) == "203.0.113.9"


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_forwarded_client_counts() -> None:
    assert client_address("10.1.2.3", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_a_spoofed_left_hop_cannot_hide_the_real_client() -> None:
    """The client wrote 1.2.3.4 itself; our proxy appended the address it really saw."""
    assert client_address("10.1.2.3", "1.2.3.4, 198.51.100.1", PROXIES) == "198.51.100.1"


def test_chains_of_trusted_proxies_are_walked() -> None:
    assert client_address("10.0.0.1", "198.51.100.1, 10.9.9.9, fd00::1", PROXIES) == "198.51.100.1"


@pytest.mark.parametrize("header", [None, "", "not-an-ip"])
def test_missing_or_malformed_chains_fall_back_to_the_proxy(header: str | None) -> None:
    assert client_address("10.1.2.3", header, PROXIES) == "10.1.2.3"


def test_a_peer_that_is_not_an_address_is_kept() -> None:
    assert client_address("testclient", "198.51.100.1", PROXIES) == "testclient"


def test_a_bad_trusted_proxy_setting_is_refused_by_name() -> None:
    from marketplace.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings(trusted_proxies="10.0.0.0/8, not-a-network")
    assert load_settings(trusted_proxies="10.0.0.0/8, fd00::/8").trusted_proxy_networks == PROXIES
