"""Which address a sign-in failure or an API request is counted against (core.client_ip)."""

from __future__ import annotations

import ipaddress

import pytest

from core.client_ip import client_address

pytestmark = pytest.mark.unit

HOSPITAL_PROXY = [ipaddress.ip_network("10.0.0.5/32")]
PROXY_TIER = [ipaddress.ip_network("10.0.0.0/24")]


def test_without_trusted_proxies_the_connecting_address_is_the_source_whatever_the_header_says() -> None:
    assert client_address("198.51.100.9", "203.0.113.1", []) == "198.51.100.9"


def test_behind_the_hospital_proxy_the_address_it_recorded_is_the_source() -> None:
    assert client_address("10.0.0.5", "203.0.113.7", HOSPITAL_PROXY) == "203.0.113.7"


def test_a_forged_header_sent_through_the_proxy_cannot_choose_the_source() -> None:
    # The client wrote "1.2.3.4"; the proxy appended the address it really saw.
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7", HOSPITAL_PROXY) == "203.0.113.7"


def test_a_header_sent_straight_to_the_application_past_the_proxy_is_ignored() -> None:
    assert client_address("203.0.113.7", "10.0.0.9", HOSPITAL_PROXY) == "203.0.113.7"


def test_a_chain_of_trusted_proxies_is_walked_back_to_the_first_address_outside_it() -> None:
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7, 10.0.0.6", PROXY_TIER) == "203.0.113.7"


def test_a_malformed_entry_stops_at_the_last_proxy_known_to_be_ours() -> None:
    assert client_address("10.0.0.5", "not-an-address", HOSPITAL_PROXY) == "10.0.0.5"


def test_a_trusted_proxy_without_a_header_is_itself_the_source() -> None:
    assert client_address("10.0.0.5", None, HOSPITAL_PROXY) == "10.0.0.5"


def test_ipv6_clients_behind_an_ipv4_proxy_are_told_apart() -> None:
    assert client_address("10.0.0.5", "2001:db8::7", HOSPITAL_PROXY) == "2001:db8::7"
