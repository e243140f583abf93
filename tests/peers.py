"""Real peers that tests run on loopback: openmanager-exporter, Debian's node_exporter and Prometheus, and
pages served by the test itself."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from tests.ports import free_port, wait_port

NODE_EXPORTER = shutil.which("prometheus-node-exporter")


def target_file(addresses: dict[str, str]) -> str:
    """A target file (and Prometheus configuration) scraping each address every second, a job each."""
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{address}']\n"
        for job, address in addresses.items()
    )
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"


@contextmanager
def exporter_processes(
    node_job: str = "node_exporter", node_args: Sequence[str] = ()
) -> Iterator[dict[str, str]]:
    """Our exporter (job ``openmanager``) and, where Debian's package is installed, node_exporter (job
    ``node_job``, started with ``node_args`` too); job name to address."""
    ours, theirs = free_port(), free_port()
    commands = {
        "openmanager": [
            str(Path(sys.executable).parent / "openmanager-exporter"),
            "--listen",
            f"127.0.0.1:{ours}",
        ]
    }
    addresses = {"openmanager": f"127.0.0.1:{ours}"}
    if NODE_EXPORTER:
        commands[node_job] = [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{theirs}", *node_args]
        addresses[node_job] = f"127.0.0.1:{theirs}"
    procs = [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for argv in commands.values()
    ]
    try:
        for address in addresses.values():
            wait_port(int(address.rsplit(":", 1)[1]))
        yield addresses
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@asynccontextmanager
async def prometheus_process(tmp_path: Path, config: Path) -> AsyncIterator[str]:
    """Debian's Prometheus on 127.0.0.1:<free port> reading ``config`` (log in ``tmp_path``); yields its URL.

    Skips the test where Prometheus is not installed.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus')")
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
