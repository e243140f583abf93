"""The client of the actions listeners: listing and running against the exporter's listener in process,
the exporter's refusals with their status and code, and the ways no answer comes (connection, the address
policy, an answer that is not the protocol's)."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.actions.client import ActionsClient, ExporterRefusal, ExporterUnavailable, Requester, host_of
from collector.config.actions_settings import ActionsSettings
from collector.config.api_settings import RegistrationSettings
from tests.collector.actions.conftest import Listener
from tests.ports import free_port


async def open_client(port: int, registration: RegistrationSettings | None = None) -> ActionsClient:
    client = ActionsClient(
        ActionsSettings(port=port, scheme="http", timeout_s=5), registration or RegistrationSettings()
    )
    client.open()
    return client


@pytest.fixture
async def client(listener: Listener) -> AsyncIterator[ActionsClient]:
    opened = await open_client(listener.port)
    yield opened
    await opened.close()


def requester(listener: Listener) -> Requester:
    return Requester(server_id=listener.server_id, host="127.0.0.1", username="ana")


async def test_lists_and_runs_an_action(client: ActionsClient, listener: Listener) -> None:
    listing = await client.list_actions(listener.key, requester(listener))
    assert listing.server_id == str(listener.server_id)
    hello = listing.get("hello")
    assert hello is not None and hello.params[0].enum == ("world", "there") and not hello.destructive
    result = await client.run_action(listener.key, requester(listener), "hello", {"who": "there"})
    assert (result.exit_code, result.stdout, result.timed_out) == (0, "hello there\n", False)


@pytest.mark.parametrize(
    ("action", "params", "status", "code"),
    [
        ("hello", {"who": "everyone"}, 422, "invalid_params"),
        ("hello", {"who": "world\nrm"}, 422, "invalid_params"),
        ("reboot", {}, 404, "unknown_action"),
    ],
)
async def test_a_refusal_carries_the_exporters_status_and_code(
    client: ActionsClient, listener: Listener, action: str, params: dict[str, str], status: int, code: str
) -> None:
    with pytest.raises(ExporterRefusal) as refused:
        await client.run_action(listener.key, requester(listener), action, params)
    assert (refused.value.status, refused.value.code) == (status, code)


async def test_another_servers_id_and_another_key_are_refused(
    client: ActionsClient, listener: Listener
) -> None:
    other = Requester(server_id=uuid.uuid4(), host="127.0.0.1", username="ana")
    with pytest.raises(ExporterRefusal) as wrong_server:
        await client.list_actions(listener.key, other)
    assert (wrong_server.value.status, wrong_server.value.code) == (403, "wrong_server")
    with pytest.raises(ExporterRefusal) as wrong_key:
        await client.list_actions(Ed25519PrivateKey.generate(), requester(listener))
    assert (wrong_key.value.status, wrong_key.value.code) == (401, "bad_signature")


async def test_a_closed_port_is_a_connection_failure() -> None:
    client = await open_client(free_port())
    try:
        with pytest.raises(ExporterUnavailable) as failed:
            await client.list_actions(
                Ed25519PrivateKey.generate(), Requester(uuid.uuid4(), "127.0.0.1", "ana")
            )
        assert failed.value.code == "connection"
    finally:
        await client.close()


async def test_the_address_policy_is_applied_when_connecting(listener: Listener) -> None:
    denied = RegistrationSettings(deny_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    client = await open_client(listener.port, denied)
    try:
        with pytest.raises(ExporterUnavailable) as refused:
            await client.list_actions(listener.key, requester(listener))
        assert refused.value.code == "refused"
    finally:
        await client.close()


async def test_an_answer_that_is_not_the_protocols_is_a_bad_answer() -> None:
    async def not_json(_: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    async def wrong_shape(_: web.Request) -> web.Response:
        return web.json_response({"server_id": "x", "actions": [{"name": "a"}]})

    app = web.Application()
    app.router.add_post("/actions/hello", not_json)
    app.router.add_get("/actions", wrong_shape)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    client = await open_client(server.port)
    key, who = Ed25519PrivateKey.generate(), Requester(uuid.uuid4(), "127.0.0.1", "ana")
    try:
        for call in (client.run_action(key, who, "hello", {}), client.list_actions(key, who)):
            with pytest.raises(ExporterUnavailable) as bad:
                await call
            assert bad.value.code == "bad_answer"
    finally:
        await client.close()
        await server.close()


@pytest.mark.parametrize(
    ("address", "host"),
    [("10.0.0.5:9100", "10.0.0.5"), ("[::1]:9100", "::1"), ("web-1.example.org:9100", "web-1.example.org")],
)
def test_host_of_a_registered_address(address: str, host: str) -> None:
    assert host_of(address) == host
