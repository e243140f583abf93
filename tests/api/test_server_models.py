"""The validators of ``/api/servers``' models: addresses as written, split into host and port."""

from __future__ import annotations

import pytest

from api.server_models import address_problem


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("10.0.0.5:9100", None),
        ("[2001:db8::1]:9100", None),
        ("web-1.example.org:443", None),
        ("10.0.0.5", "port"),
        ("http://10.0.0.5:9100", "scheme"),
        ("10.0.0.5:9100/metrics", "scheme"),
        ("10.0.0.5:0", "port"),
        ("169.254.169.254:80", "metadata"),
        ("[fd00:ec2::254]:80", "metadata"),
        ("[::ffff:169.254.169.254]:80", "metadata"),
        ("0xa9.0xfe.0xa9.0xfe:80", "metadata"),
        ("2852039166:80", "metadata"),
        ("0251.0376.0251.0376:80", "metadata"),
        ("[64:ff9b::a9fe:a9fe]:80", "metadata"),
        ("[fe80::1]:9100", "metadata"),
        ("metadata.google.internal:80", "metadata"),
        ("instance-data:80", "metadata"),
        ("100.100.100.200:80", "metadata"),
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    found = address_problem(address)
    assert (found is None) if problem is None else (found is not None and problem in found), found
