"""split_host_port: names, IPv4, bracketed and bare IPv6, missing or invalid ports."""

from __future__ import annotations

import pytest

from collector.hostport import split_host_port


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("web-1:9100", ("web-1", 9100)),
        ("10.0.0.5:80", ("10.0.0.5", 80)),
        ("[::1]:9100", ("::1", 9100)),
        ("[fe80::1%eth0]:9100", ("fe80::1%eth0", 9100)),
        ("[::1]", ("::1", None)),
        ("web-1", ("web-1", None)),
        ("fe80::1", ("fe80::1", None)),
        ("web-1:http", ("web-1:http", None)),
        ("web-1:", ("web-1:", None)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
    ],
)
def test_addresses_split_into_host_and_port(address: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(address) == expected
