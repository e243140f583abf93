"""Fixtures of the service-level tests: a real exporter to scrape."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openmanager.running import Service
from tests.ports import free_port, wait_port


@pytest.fixture
def exporter() -> Iterator[str]:
    """Our exporter on a free loopback port; yields its address."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "openmanager-exporter"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[list[Service]]:
    services: list[Service] = []
    yield services
    for service in services:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.communicate()
