"""The HTTP server: endpoints, every metric family with its type, negotiation, refusals."""

from __future__ import annotations

import asyncio
import gzip
import re
from dataclasses import replace

import aiohttp
import pytest

from exporter import __version__
from exporter.config import CollectorOptions, ExporterConfig
from tests.exporter.conftest import Serve

NEVER = re.compile(r"(?!)")

# Every family the exporter serves on a Linux host without hwmon sensors or listed systemd units (those
# two are covered with fixture data in their collector tests), with the type Prometheus must see.
EXPECTED_TYPES = {
    "node_cpu_seconds_total": "counter",
    "node_cpu_guest_seconds_total": "counter",
    "node_load1": "gauge",
    "node_load5": "gauge",
    "node_load15": "gauge",
    "node_memory_MemTotal_bytes": "gauge",
    "node_memory_MemFree_bytes": "gauge",
    "node_memory_MemAvailable_bytes": "gauge",
    "node_memory_Buffers_bytes": "gauge",
    "node_memory_Cached_bytes": "gauge",
    "node_memory_SwapTotal_bytes": "gauge",
    "node_memory_SwapFree_bytes": "gauge",
    "node_filesystem_size_bytes": "gauge",
    "node_filesystem_free_bytes": "gauge",
    "node_filesystem_avail_bytes": "gauge",
    "node_filesystem_files": "gauge",
    "node_filesystem_files_free": "gauge",
    "node_filesystem_readonly": "gauge",
    "node_filesystem_device_error": "gauge",
    "node_disk_reads_completed_total": "counter",
    "node_disk_writes_completed_total": "counter",
    "node_disk_read_bytes_total": "counter",
    "node_disk_written_bytes_total": "counter",
    "node_disk_io_time_seconds_total": "counter",
    "node_disk_read_time_seconds_total": "counter",
    "node_disk_write_time_seconds_total": "counter",
    "node_network_receive_bytes_total": "counter",
    "node_network_transmit_bytes_total": "counter",
    "node_network_receive_packets_total": "counter",
    "node_network_transmit_packets_total": "counter",
    "node_network_receive_errs_total": "counter",
    "node_network_transmit_errs_total": "counter",
    "node_network_receive_drop_total": "counter",
    "node_network_transmit_drop_total": "counter",
    "node_boot_time_seconds": "gauge",
    "node_time_seconds": "gauge",
    "node_context_switches_total": "counter",
    "node_intr_total": "counter",
    "node_forks_total": "counter",
    "node_procs_running": "gauge",
    "node_procs_blocked": "gauge",
    "node_uname_info": "gauge",
    "node_scrape_collector_duration_seconds": "gauge",
    "node_scrape_collector_success": "gauge",
    "openmanager_cpu_usage_percent": "gauge",
    "openmanager_memory_usage_percent": "gauge",
    "openmanager_disk_usage_percent": "gauge",
    "openmanager_process_cpu_percent": "gauge",
    "openmanager_process_resident_memory_bytes": "gauge",
    "openmanager_processes": "gauge",
    "openmanager_exporter_build_info": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_open_fds": "gauge",
    "python_info": "gauge",
}

# Labels as node_exporter names them.
EXPECTED_LABELS = {
    "node_cpu_seconds_total": {"cpu", "mode"},
    "node_filesystem_avail_bytes": {"device", "fstype", "mountpoint"},
    "node_disk_read_bytes_total": {"device"},
    "node_network_receive_bytes_total": {"device"},
    "node_uname_info": {"sysname", "release", "version", "machine", "nodename", "domainname"},
    "openmanager_disk_usage_percent": {"mountpoint"},
    "openmanager_process_cpu_percent": {"pid", "name"},
}


@pytest.fixture
def config() -> ExporterConfig:
    # Include every network and block device so the families exist even on a host with only loopback.
    options = CollectorOptions(network_device_exclude=NEVER, disk_device_exclude=NEVER)
    return ExporterConfig(collectors=options)


async def fetch(
    client: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    """GET without compression unless the test asks for it (the client does not decompress)."""
    headers.setdefault("Accept-Encoding", "identity")
    async with client.get(url, headers=headers) as response:
        return response, await response.read()


def types_of(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


async def test_every_metric_family_is_served_with_its_type(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/metrics")
    assert response.status == 200
    served = types_of(body.decode())
    missing = {name: kind for name, kind in EXPECTED_TYPES.items() if served.get(name) != kind}
    assert missing == {}


async def test_labels_match_node_exporter(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    _, body = await fetch(client, f"{url}/metrics")
    text = body.decode()
    for name, labels in EXPECTED_LABELS.items():
        first = re.search(rf"^{name}\{{(.*)\}} ", text, re.MULTILINE)
        assert first is not None, name
        assert set(re.findall(r'(\w+)="', first.group(1))) == labels


async def test_cpu_modes_are_node_exporters(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    _, body = await fetch(client, f"{url}/metrics")
    modes = set(re.findall(r'^node_cpu_seconds_total\{cpu="0",mode="(\w+)"\}', body.decode(), re.MULTILINE))
    assert modes == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}


async def test_every_collector_reports_success(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    _, body = await fetch(client, f"{url}/metrics")
    results = dict(
        re.findall(r'^node_scrape_collector_success\{collector="(\w+)"\} (\S+)$', body.decode(), re.M)
    )
    assert set(results) == set(config.collectors.enabled) - {"systemd"}
    assert set(results.values()) == {"1.0"}


async def test_openmetrics_is_served_when_asked_and_gzipped(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(
        client,
        f"{url}/metrics",
        Accept="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        **{"Accept-Encoding": "gzip"},
    )
    assert response.headers["Content-Type"].startswith(
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert gzip.decompress(body).endswith(b"# EOF\n")


async def test_plain_request_gets_uncompressed_text_format(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/metrics", **{"Accept-Encoding": "identity"})
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Encoding" not in response.headers
    assert body.startswith(b"# HELP ")


async def test_index_page_names_the_version_and_links_metrics(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert __version__ in body.decode()
    assert 'href="/metrics"' in body.decode()


async def test_health_endpoint_says_ok(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/-/healthy")
    assert (response.status, body) == (200, b"OK")


@pytest.mark.parametrize(
    "path",
    [
        "/metrics?target=10.0.0.1",
        "/metrics?collect[]=cpu&target=10.0.0.1",
        "/?x",
        "/?collect[]=cpu",
        "/-/healthy?a=b",
    ],
)
async def test_query_parameters_are_refused(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig, path: str
) -> None:
    url = await serve(config)
    response, body = await fetch(client, url + path)
    assert response.status == 400
    assert b"no query parameters but collect[]" in body


async def test_collect_selects_collectors_as_node_exporter_does(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/metrics?collect[]=cpu&collect[]=memory")
    assert response.status == 200
    text = body.decode()
    served = types_of(text)
    assert "node_cpu_seconds_total" in served
    assert "node_memory_MemTotal_bytes" in served
    assert "node_filesystem_size_bytes" not in served
    assert "node_network_receive_bytes_total" not in served
    # The exporter's own metrics stay, and the timing gauges name only the selected collectors.
    assert "openmanager_exporter_build_info" in served
    assert set(re.findall(r'^node_scrape_collector_success\{collector="(\w+)"\}', text, re.MULTILINE)) == {
        "cpu",
        "memory",
    }
    _, everything = await fetch(client, f"{url}/metrics")
    assert "node_filesystem_size_bytes" in types_of(everything.decode()), "an unfiltered scrape has all"


async def test_an_unknown_collector_is_refused_without_echoing_it(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, body = await fetch(client, f"{url}/metrics?collect[]=cpu&collect[]=%3Cscript%3E")
    assert response.status == 400
    assert b"1 unknown collector" in body
    assert b"script" not in body
    assert b"cpu" in body, "the available names are listed"


async def test_other_methods_are_not_allowed(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    async with client.post(f"{url}/metrics", data=b"x") as response:
        assert response.status == 405


async def test_head_request_gets_headers_only(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    async with client.head(f"{url}/metrics") as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_unknown_path_is_404(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    response, _ = await fetch(client, f"{url}/debug/pprof")
    assert response.status == 404


async def test_concurrent_scrapes_all_succeed(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    url = await serve(config)
    results = await asyncio.gather(*(fetch(client, f"{url}/metrics") for _ in range(8)))
    assert [response.status for response, _ in results] == [200] * 8


async def test_disabled_collectors_are_not_served(
    serve: Serve, client: aiohttp.ClientSession, config: ExporterConfig
) -> None:
    options = replace(config.collectors, enabled=frozenset({"cpu"}))
    url = await serve(replace(config, collectors=options))
    _, body = await fetch(client, f"{url}/metrics")
    served = types_of(body.decode())
    assert "node_cpu_seconds_total" in served
    assert not any(
        name.startswith(("node_memory_", "node_filesystem_", "openmanager_cpu")) for name in served
    )
