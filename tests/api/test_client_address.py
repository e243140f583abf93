"""The client's address: X-Forwarded-For only from trusted proxies, read from the right; IPv6 by /64.

The addresses are documentation ranges (RFC 5737, RFC 3849) and only ever parsed, never connected to.
"""

from __future__ import annotations

import ipaddress

import pytest

from api.client_address import IpNetwork, address_bucket, forwarded_client, parse_address

PROXIES: list[IpNetwork] = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # No proxy configured: the header is ignored, whoever sent it.
        ("127.0.0.1", ["203.0.113.5"], [], "127.0.0.1"),
        # A peer that is not a trusted proxy cannot name another client.
        ("198.51.100.9", ["203.0.113.5"], PROXIES, "198.51.100.9"),
        # A trusted proxy's header names the client.
        ("127.0.0.1", ["203.0.113.5"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", [], PROXIES, "127.0.0.1"),
        # Through two trusted proxies, in one header or two.
        ("127.0.0.1", ["203.0.113.5, 10.1.2.3"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["203.0.113.5", "10.1.2.3"], PROXIES, "203.0.113.5"),
        # What the client wrote itself, left of its own address, is not believed.
        ("127.0.0.1", ["192.0.2.66, 203.0.113.5"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["not-an-address, 203.0.113.5"], PROXIES, "203.0.113.5"),
        # A client inside the proxies' networks: the leftmost hop.
        ("127.0.0.1", ["10.9.9.9"], PROXIES, "10.9.9.9"),
        # Garbage where the proxy's entry should be: stop at the proxy.
        ("127.0.0.1", ["203.0.113.5, garbage"], PROXIES, "127.0.0.1"),
        # Ports and brackets some proxies add; IPv6 and IPv4-mapped forms.
        ("127.0.0.1", ["203.0.113.5:51234"], PROXIES, "203.0.113.5"),
        ("127.0.0.1", ["[2001:db8::7]:443"], PROXIES, "2001:db8::7"),
        ("::ffff:127.0.0.1", ["2001:db8::7"], PROXIES, "2001:db8::7"),
        # No peer address (a Unix socket).
        (None, ["203.0.113.5"], PROXIES, "unknown"),
    ],
)
def test_forwarded_client(
    peer: str | None, forwarded_for: list[str], trusted: list[IpNetwork], client: str
) -> None:
    assert forwarded_client(peer, forwarded_for, trusted) == client


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket


@pytest.mark.parametrize("text", ["", "garbage", "[::1", "999.1.1.1", "1.2.3.4:x:y"])
def test_what_is_not_an_address_parses_to_none(text: str) -> None:
    assert parse_address(text) is None
