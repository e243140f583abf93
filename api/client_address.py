"""Who the client is: the connection's peer, or the address a trusted reverse proxy says it forwarded.

``X-Forwarded-For`` is believed only from the networks in ``http.trusted_proxies``. Its list is read from the
right: each proxy appends the address it received the request from, so the rightmost entry not itself a
trusted proxy is the client. Entries further left were written by the client and prove nothing. With no
trusted proxy configured the header is ignored, and every client behind a proxy shares the proxy's address.

Throttles and rate limits key on :func:`address_bucket`, which folds an IPv6 address into its /64: one host
usually holds a whole /64, and counting its addresses one by one would give it 2**64 budgets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web

from api.keys import SETTINGS

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
"""The address of a peer the socket does not name (a Unix socket)."""

_CLIENT: web.RequestKey[str] = web.RequestKey("client_address", str)
_IPV6_BUCKET_PREFIX = 64


def parse_address(text: str) -> IpAddress | None:
    """``text`` as an address, accepting ``[v6]:port`` and ``v4:port`` forms; IPv4-mapped IPv6 as IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, proxies: Sequence[IpNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def forwarded_client(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[IpNetwork]) -> str:
    """The client of a connection from ``peer`` carrying the ``X-Forwarded-For`` values ``forwarded_for``.

    Pure: the header is followed leftwards only while each hop is a trusted proxy; an entry that is not an
    address stops the walk at the last hop known good.
    """
    hop = parse_address(peer) if peer else None
    if hop is None:
        return UNKNOWN
    entries = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    for entry in reversed(entries):
        if not _trusted(hop, proxies):
            break
        previous = parse_address(entry)
        if previous is None:
            break
        hop = previous
    return str(hop)


def client_address(request: web.Request) -> str:
    """The client's address for ``request`` (see the module docstring), worked out once per request."""
    known = request.get(_CLIENT)
    if known is None:
        settings = request.app.get(SETTINGS)
        known = forwarded_client(
            request.remote,
            request.headers.getall("X-Forwarded-For", []),
            settings.http.trusted_proxies if settings is not None else (),
        )
        request[_CLIENT] = known
    return known


def address_bucket(address: str) -> str:
    """The key under which ``address`` is counted: itself for IPv4, its /64 network for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, _IPV6_BUCKET_PREFIX), strict=False))
    return address if parsed is None else str(parsed)
