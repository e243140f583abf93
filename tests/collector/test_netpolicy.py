"""The address policy: every spelling of a refused address, the administrator's networks, and the check at
connect time against a real loopback server (names mapped by a fake resolver; nothing leaves loopback)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collector.netpolicy import (
    BASE_POLICY,
    DENIED,
    METADATA_REFUSED,
    NOT_ALLOWED,
    AddressRefusedError,
    NetworkPolicy,
    guarded_connector,
    inet_aton,
    parse_ip,
    refused_by_policy,
    resolve,
    socket_factory,
)
from tests.loopback import FakeResolver, OffLoopbackError, loopback_only


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    loopback_only(monkeypatch)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.170.2",
        "0xa9.0xfe.0xa9.0xfe",
        "0XA9.0XFE.0XA9.0XFE",
        "0xa9fea9fe",
        "2852039166",
        "0251.0376.0251.0376",
        "025177524776",
        "169.254.43518",
        "169.16689662",
        "0xa9.254.0251.254",
        "[::ffff:169.254.169.254]",
        "::ffff:a9fe:a9fe",
        "[0:0:0:0:0:ffff:a9fe:a9fe]",
        "[64:ff9b::a9fe:a9fe]",
        "64:ff9b::169.254.169.254",
        "64:ff9b:1:a9fe:a9:fe00::",
        "2002:a9fe:a9fe::1",
        "::169.254.169.254",
        "fe80::1",
        "[fe80::1%eth0]",
        "FE80::abcd",
        "fd00:ec2::254",
        "[fd00:ec2:0::254]",
        "100.100.100.200",
        "0x64.0x64.0x64.0xc8",
        "[::ffff:100.100.100.200]",
        "192.0.0.192",
        "168.63.129.16",
        "metadata.google.internal",
        "METADATA.Google.Internal.",
        "metadata",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    ],
)
def test_metadata_and_link_local_are_refused_in_every_spelling(host: str) -> None:
    assert BASE_POLICY.host_problem(host) == METADATA_REFUSED
    assert NetworkPolicy(allow=(ipaddress.ip_network("0.0.0.0/0"),)).host_problem(host) == METADATA_REFUSED


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "::1",
        "[::1]",
        "10.0.0.5",
        "192.168.1.10",
        "2001:db8::1",
        "[::ffff:10.0.0.5]",
        "64:ff9b::a00:5",
        "example.org",
        "metadata.example.org",
        "169.254.example.org",
        "1.2.3.4.5",
        "0x",
        "08.1.1.1",
        "100.100.100.201",
    ],
)
def test_ordinary_hosts_pass(host: str) -> None:
    assert BASE_POLICY.host_problem(host) is None


@pytest.mark.parametrize(
    "text",
    [
        "0xa9.0xfe.0xa9.0xfe",
        "2852039166",
        "0251.0376.0251.0376",
        "169.254.43518",
        "169.16689662",
        "127.1",
        "0x7f.1",
        "1.2.3.04",
        "00000000000000000001.1",
        "0",
        "4294967295",
        "4294967296",
        "0x100.1.1.1",
        "1.2.3.256",
        "1.2.65536",
        "08",
        "0x",
        "0x.1",
        "1.2.3.4.",
        "1..2",
        "1_0",
        "٣.1.1.1",
        "",
        "web-1",
    ],
)
def test_inet_aton_reads_what_the_c_library_reads(text: str) -> None:
    try:
        expected = socket.inet_ntoa(socket.inet_aton(text)) if text else None
    except OSError:
        expected = None
    found = inet_aton(text)
    assert (str(found) if found is not None else None) == expected


def test_parse_ip_strips_brackets_and_zones() -> None:
    assert parse_ip("[fe80::1%eth0]") == ipaddress.ip_address("fe80::1")
    assert parse_ip("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert parse_ip("example.org") is None


@pytest.mark.parametrize(
    ("allow", "deny", "host", "problem"),
    [
        ((), ("10.0.0.0/8",), "10.1.2.3", DENIED),
        ((), ("10.0.0.0/8",), "[::ffff:10.1.2.3]", DENIED),
        ((), ("10.0.0.0/8",), "0xa.1.2.3", DENIED),
        ((), ("127.0.0.0/8",), "127.0.0.1", DENIED),
        ((), ("10.0.0.0/8",), "192.168.0.1", None),
        (("10.0.0.0/8",), (), "10.1.2.3", None),
        (("10.0.0.0/8",), (), "[::ffff:10.1.2.3]", None),
        (("10.0.0.0/8",), (), "192.168.0.1", NOT_ALLOWED),
        (("10.0.0.0/8",), (), "127.0.0.1", NOT_ALLOWED),
        (("10.0.0.0/8",), (), "2001:db8::1", NOT_ALLOWED),
        (("10.0.0.0/8",), ("10.9.0.0/16",), "10.9.0.1", DENIED),
        (("169.254.0.0/16",), (), "169.254.169.254", METADATA_REFUSED),
        (("10.0.0.0/8",), (), "web-1.example.org", None),
    ],
)
def test_administrator_networks(
    allow: tuple[str, ...], deny: tuple[str, ...], host: str, problem: str | None
) -> None:
    policy = NetworkPolicy(
        tuple(ipaddress.ip_network(n) for n in allow), tuple(ipaddress.ip_network(n) for n in deny)
    )
    assert policy.host_problem(host) == problem


def test_resolved_addresses_are_judged_each() -> None:
    assert BASE_POLICY.addresses_problem(["127.0.0.1", "::1"]) is None
    assert BASE_POLICY.addresses_problem(["10.0.0.5", "169.254.169.254"]) == METADATA_REFUSED


@pytest.mark.parametrize(
    "sockaddr",
    [
        ("169.254.169.254", 80),
        ("::ffff:169.254.169.254", 80, 0, 0),
        ("fe80::1%lo", 80, 0, 1),
        ("100.100.100.200", 80),
    ],
)
def test_the_socket_factory_refuses_before_making_a_socket(sockaddr: tuple[object, ...]) -> None:
    family = socket.AF_INET6 if ":" in str(sockaddr[0]) else socket.AF_INET
    with pytest.raises(AddressRefusedError) as refused:
        socket_factory(BASE_POLICY)((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
    assert refused.value.strerror == f"refused by the address policy: {METADATA_REFUSED}"


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="up 1\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


async def _get(url: str, resolver: FakeResolver, policy: NetworkPolicy = BASE_POLICY) -> str:
    connector = guarded_connector(policy, resolver=resolver, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session, session.get(url) as response:
        return await response.text()


async def test_a_name_resolving_to_loopback_connects(server: TestServer) -> None:
    resolver = FakeResolver({"exporter.test": ["127.0.0.1"]})
    assert await _get(f"http://exporter.test:{server.port}/metrics", resolver) == "up 1\n"


@pytest.mark.parametrize(
    "addresses",
    [["169.254.169.254"], ["::ffff:169.254.169.254"], ["64:ff9b::a9fe:a9fe"], ["fd00:ec2::254"]],
)
async def test_a_name_resolving_to_metadata_is_refused_at_connect_time(
    server: TestServer, addresses: list[str]
) -> None:
    resolver = FakeResolver({"exporter.test": addresses})
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _get(f"http://exporter.test:{server.port}/metrics", resolver)
    assert refused_by_policy(caught.value) is not None
    assert resolver.asked == ["exporter.test"], "the check runs on what the name resolved to"


async def test_only_the_refused_addresses_of_a_name_are_skipped(server: TestServer) -> None:
    resolver = FakeResolver({"exporter.test": ["169.254.169.254", "127.0.0.1"]})
    assert await _get(f"http://exporter.test:{server.port}/metrics", resolver) == "up 1\n"


async def test_an_ip_literal_is_checked_too_although_aiohttp_skips_the_resolver(server: TestServer) -> None:
    resolver = FakeResolver({})
    denied = NetworkPolicy(deny=(ipaddress.ip_network("127.0.0.0/8"),))
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _get(f"http://127.0.0.1:{server.port}/metrics", resolver, denied)
    assert refused_by_policy(caught.value) is not None and resolver.asked == []
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await _get("http://169.254.169.254/latest/meta-data/", resolver)
    assert refused_by_policy(caught.value) is not None


async def test_the_tripwire_stops_a_connection_off_loopback() -> None:
    with socket.socket() as sock, pytest.raises(OffLoopbackError):
        sock.connect(("169.254.169.254", 80))


async def test_resolve_answers_addresses_as_themselves_and_none_for_unknown_names() -> None:
    resolver = FakeResolver({"a.test": ["10.0.0.1", "::1"]})
    assert await resolve("0x7f.1", 80, resolver) == ["127.0.0.1"]
    assert await resolve("a.test", 80, resolver) == ["10.0.0.1", "::1"]
    assert await resolve("b.test", 80, resolver) is None
