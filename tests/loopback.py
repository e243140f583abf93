"""Keeping tests on loopback while they name refused addresses: a fake resolver and a connect tripwire.

Tests of the address policy map names to metadata addresses. :class:`FakeResolver` answers for those names
instead of DNS, and :func:`loopback_only` makes any connection to an address off 127.0.0.0/8 and ::1 fail
in the test itself, before a packet leaves, so that a policy that failed to refuse shows as a test failure
rather than as a connection to a cloud's metadata service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult


class OffLoopbackError(AssertionError):
    """A test tried to connect somewhere other than loopback."""


class FakeResolver(AbstractResolver):
    """Resolves the names of ``answers`` (name → addresses, changeable between calls) and no other."""

    def __init__(self, answers: Mapping[str, Sequence[str]]) -> None:
        self.answers = {name: list(addresses) for name, addresses in answers.items()}
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses mapped to ``host``; ``OSError`` for a name not in the map."""
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host} is not in the fake resolver's map")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        """Nothing to release."""


def _check(address: object) -> None:
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        try:
            ip = ipaddress.ip_address(address[0].split("%", 1)[0])
        except ValueError:
            raise OffLoopbackError(f"a test connected to a name: {address!r}") from None
        if not ip.is_loopback:
            raise OffLoopbackError(f"a test tried to connect to {address!r}, off loopback")


def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection this test makes to an address off loopback, before it is attempted."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        _check(address)
        connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        _check(address)
        return connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
