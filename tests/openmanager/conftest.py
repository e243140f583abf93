"""Fixtures of the service-level tests: a real exporter to scrape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.openmanager.running import Service, start_exporter


@pytest.fixture
def exporter() -> Iterator[str]:
    """Our exporter on a free loopback port; yields its address."""
    proc, address = start_exporter()
    yield address
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
