"""The fleet tools called in-process: naming a server, filters, grants, process lists."""

from __future__ import annotations

import pytest
from aiohttp import web

from api.keys import STORES
from api.mcp.context import Backend
from api.mcp.spec import ToolError
from api.mcp.tools_fleet import (
    AlertsArgs,
    ListServersArgs,
    ProcessesArgs,
    resolve_server,
    run_list_alerts,
    run_list_servers,
    run_top_processes,
)
from collector.storage.live import LiveWriter
from tests.api.mcp.conftest import Fleet, context_for
from tests.collector.storage.test_live import summarized
from tests.collector.test_summary import make_result, make_target, node_samples


@pytest.mark.parametrize("ref", ["web-1", "WEB-1", "web-1:9100", " web-1 ", "id"])
async def test_a_server_is_named_by_id_name_instance_or_host(
    backend: Backend, fleet: Fleet, ref: str
) -> None:
    ctx = await context_for(backend, "admin")
    wanted = str(fleet.web.server_id) if ref == "id" else ref
    assert (await resolve_server(ctx, wanted)).server_id == str(fleet.web.server_id)


async def test_a_name_two_servers_share_asks_for_an_id(
    backend: Backend, fleet: Fleet, app: web.Application
) -> None:
    twin = make_target("web-1:9200", job=fleet.job, name="web-1")
    await summarized(LiveWriter(app[STORES].redis))([make_result(node_samples(target=twin), 1e9, twin)])
    ctx = await context_for(backend, "admin")
    with pytest.raises(ToolError, match="2 servers match") as refused:
        await resolve_server(ctx, "web-1")
    assert str(twin.server_id) in str(refused.value) and refused.value.status == 400
    assert (await resolve_server(ctx, "web-1:9200")).server_id == str(twin.server_id)


async def test_a_server_not_granted_is_as_unknown_as_one_that_does_not_exist(
    backend: Backend, fleet: Fleet
) -> None:
    ctx = await context_for(backend, "viewer", grants=[fleet.web.server_id])
    for ref in ("db-1", str(fleet.db.server_id), "nowhere"):
        with pytest.raises(ToolError, match="no server you may see") as refused:
            await resolve_server(ctx, ref)
        assert refused.value.status == 404


async def test_list_servers_filters_by_status_and_name(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "admin")
    every = (await run_list_servers(ctx, ListServersArgs())).data
    assert every["count"] == 2
    assert {s["summary"]["load1"] for s in every["servers"]} == {0.75, 2.5}
    named = (await run_list_servers(ctx, ListServersArgs(name="db-1"))).data
    assert [s["instance"] for s in named["servers"]] == ["db-1:9100"]
    assert (await run_list_servers(ctx, ListServersArgs(status="down"))).data["servers"] == []


async def test_alerts_of_granted_servers_only(backend: Backend, fleet: Fleet) -> None:
    granted = await context_for(backend, "viewer", grants=[fleet.db.server_id])
    alerts = (await run_list_alerts(granted, AlertsArgs(severity="critical"))).data["alerts"]
    assert [a["id"] for a in alerts] == [str(fleet.alert_id)]
    other = await context_for(backend, "viewer", grants=[fleet.web.server_id])
    assert (await run_list_alerts(other, AlertsArgs())).data == {"total": 0, "alerts": []}


async def test_top_processes_are_cut_to_the_limit(backend: Backend, fleet: Fleet) -> None:
    ctx = await context_for(backend, "admin")
    answer = await run_top_processes(ctx, ProcessesArgs(server="web-1", limit=1))
    assert [p["name"] for p in answer.data["by_cpu"]] == ["postgres"]
    assert [p["name"] for p in answer.data["by_memory"]] == ["java"]
    plain = await run_top_processes(ctx, ProcessesArgs(server="db-1"))
    assert plain.data["by_cpu"] == [] and plain.notes == [
        "this server's exporter reports no per-process series"
    ]
