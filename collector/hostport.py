"""Splitting ``host:port``: the one reading of an address for registration, the server rows and ``listen``.

A host may be a name, an IPv4 address or a bracketed IPv6 address (``[::1]:9100``), as in Prometheus's
targets. An unbracketed IPv6 address (``fe80::1``) is a host without a port: its colons are not a separator.
"""

from __future__ import annotations


def split_host_port(address: str) -> tuple[str, int | None]:
    """The host (without IPv6 brackets) and the port of ``address``; the port is None when there is none."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if address.count(":") != 1:
        return address, None
    host, _, port = address.partition(":")
    return (host, int(port)) if port.isdigit() else (address, None)
