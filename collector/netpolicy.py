"""The one address policy: which addresses the service may connect to on behalf of what users configure.

Servers registered through the API, their connection test and notification webhooks all pass through it;
the target file does not (its owner runs the service). Always refused, so that no user can make the service
read a cloud's instance credentials:

* link-local addresses, 169.254.0.0/16 and fe80::/10, where AWS, GCP, Azure, DigitalOcean and OpenStack
  serve instance metadata and ECS serves task credentials;
* the metadata addresses outside them: ``fd00:ec2::254`` (AWS over IPv6), ``100.100.100.200`` (Alibaba
  Cloud), ``192.0.0.192`` (Oracle Cloud Classic), ``168.63.129.16`` (Azure's WireServer);
* the names of metadata services (``metadata.google.internal``, ``instance-data`` ...), for a clear answer
  at registration, although their addresses are refused anyway.

An IPv6 address that carries an IPv4 one is judged by both: IPv4-mapped (``::ffff:169.254.169.254``),
IPv4-compatible, NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``) and 6to4 (``2002::/16``). Host text is read
the way the C library reads it, so ``0xa9.0xfe.0xa9.0xfe``, ``2852039166``, ``0251.0376.0251.0376`` and
``169.254.43518`` are the address they spell, not names.

On top, :class:`NetworkPolicy` carries the administrator's allow and deny networks for registration
(``registration.allow_networks`` / ``deny_networks`` in the settings); loopback is allowed unless denied.

The check that counts happens at connect time: :func:`guarded_connector` gives aiohttp a socket factory
that sees every address it is about to connect to, after DNS resolution and for IP literals alike (aiohttp
skips its resolver for those). A name that resolved to an allowed address at registration and resolves to
a metadata address later (DNS rebinding) is refused when the connection is made, whatever the URL said.
The text checks (:meth:`NetworkPolicy.host_problem`) only give an early, clear answer.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LINK_LOCAL_NETWORKS: Final[tuple[Network, ...]] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
)
METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192", "168.63.129.16")
)
METADATA_HOSTNAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
METADATA_REFUSED: Final = "a link-local or cloud metadata address"
DENIED: Final = "an address in a network the administrator denied (registration.deny_networks)"
NOT_ALLOWED: Final = "an address outside the networks the administrator allowed (registration.allow_networks)"

_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_HEX_DIGITS = frozenset(string.hexdigits)
_OCTAL_DIGITS = frozenset(string.octdigits)


class AddressRefusedError(OSError):
    """A connection the policy refused before it was attempted; ``strerror`` says why, without the address.

    The text is the same for every refused address of one kind, so that when a name resolves to several
    refused addresses the connector reports this error rather than a combination of them.
    """

    def __init__(self, why: str) -> None:
        super().__init__(errno.EACCES, f"refused by the address policy: {why}")


def _inet_aton_part(part: str) -> int | None:
    if part[:2].lower() == "0x":
        digits = part[2:]
        return int(digits, 16) if digits and set(digits) <= _HEX_DIGITS else None
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if set(part) <= _OCTAL_DIGITS else None
    return int(part) if part.isascii() and part.isdigit() else None


def inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``text`` spells in any form the C library's ``inet_aton`` accepts, else None.

    One to four parts, each decimal, octal (leading 0) or hex (``0x``); the last part fills the remaining
    bytes (``127.1`` is 127.0.0.1, ``2852039166`` is 169.254.169.254).
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [_inet_aton_part(part) for part in parts]
    if any(v is None for v in values):
        return None
    numbers = [v for v in values if v is not None]
    *head, last = numbers
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(numbers)):
        return None
    packed = 0
    for value in head:
        packed = packed << 8 | value
    return ipaddress.IPv4Address(packed << 8 * (5 - len(numbers)) | last)


def parse_ip(host: str) -> IPAddress | None:
    """The address a host names literally (IPv6 with or without brackets and zone, IPv4 in any form)."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    return inet_aton(text)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), else None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    packed = ip.packed
    if ip in _NAT64_WELL_KNOWN or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(packed[12:])
    if ip in _NAT64_LOCAL:
        # RFC 6052 with a /48 prefix: the IPv4 address sits around the reserved octet 8.
        return ipaddress.IPv4Address(packed[6:8] + packed[9:11])
    return None


def _forms(ip: IPAddress) -> tuple[IPAddress, ...]:
    inner = embedded_ipv4(ip)
    return (ip,) if inner is None else (ip, inner)


def is_metadata_ip(ip: IPAddress) -> bool:
    """Whether ``ip`` (or the IPv4 address it carries) is link-local or a cloud metadata address."""
    return any(
        form in METADATA_ADDRESSES or any(form in network for network in LINK_LOCAL_NETWORKS)
        for form in _forms(ip)
    )


def is_metadata_hostname(host: str) -> bool:
    """Whether ``host`` is the name of a cloud metadata service (any case, trailing dots ignored)."""
    return host.strip().rstrip(".").lower() in METADATA_HOSTNAMES


@dataclass(frozen=True)
class NetworkPolicy:
    """Link-local and metadata addresses refused, plus the administrator's allow and deny networks.

    ``allow`` empty means every network (but ``deny`` and the metadata addresses); an IPv6 address that
    carries an IPv4 one is allowed when either is in ``allow``, and denied when either is in ``deny``.
    """

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    def ip_problem(self, ip: IPAddress) -> str | None:
        """Why the policy refuses ``ip`` (a phrase: "a link-local or cloud metadata address" ...), or None."""
        if is_metadata_ip(ip):
            return METADATA_REFUSED
        forms = _forms(ip)
        if any(_within(form, self.deny) for form in forms):
            return DENIED
        if self.allow and not any(_within(form, self.allow) for form in forms):
            return NOT_ALLOWED
        return None

    def host_problem(self, host: str) -> str | None:
        """Why ``host`` is refused as written, before any DNS: an address in any form, or a metadata name."""
        ip = parse_ip(host)
        if ip is not None:
            return self.ip_problem(ip)
        return METADATA_REFUSED if is_metadata_hostname(host) else None

    def addresses_problem(self, addresses: Iterable[str]) -> str | None:
        """Why the policy refuses any of ``addresses`` (what a name resolved to), or None."""
        for address in addresses:
            ip = parse_ip(address)
            problem = METADATA_REFUSED if ip is None else self.ip_problem(ip)
            if problem is not None:
                return problem
        return None


BASE_POLICY: Final = NetworkPolicy()
"""Only the link-local and metadata refusal: for webhooks and other outgoing calls without a network list."""


def _within(ip: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


def socket_factory(policy: NetworkPolicy) -> aiohttp.SocketFactoryType:
    """A socket factory for aiohttp's connector that refuses, before connecting, what ``policy`` refuses."""

    def make(addr_info: aiohttp.AddrInfoType) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        ip = parse_ip(str(sockaddr[0]))
        why = METADATA_REFUSED if ip is None else policy.ip_problem(ip)
        if why is not None:
            raise AddressRefusedError(why)
        return socket.socket(family, kind, proto)

    return make


def guarded_connector(
    policy: NetworkPolicy, *, resolver: AbstractResolver | None = None, **options: Any
) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` that applies ``policy`` to every address it connects to (``options`` as aiohttp's).

    ``resolver`` replaces aiohttp's default (tests map names with it).
    """
    if resolver is not None:
        options["resolver"] = resolver
    return aiohttp.TCPConnector(socket_factory=socket_factory(policy), **options)


def refused_by_policy(exc: BaseException) -> AddressRefusedError | None:
    """The policy's refusal behind an aiohttp connection error, or None when it was something else."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefusedError):
        return exc.os_error
    return None


async def resolve(host: str, port: int, resolver: AbstractResolver) -> list[str] | None:
    """The addresses ``host`` resolves to (itself when it is an address), None when it does not resolve."""
    ip = parse_ip(host)
    if ip is not None:
        return [str(ip)]
    try:
        found = await resolver.resolve(host.strip("[]"), port, family=socket.AF_UNSPEC)
    except (OSError, ValueError, UnicodeError):
        return None
    return [result["host"] for result in found]
