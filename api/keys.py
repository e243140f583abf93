"""Typed application keys: every resource the API shares between handlers."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from collector.settings import Settings
from collector.storage.connections import Stores

SETTINGS = web.AppKey("settings", Settings)
STORES = web.AppKey("stores", Stores)
VERSION = web.AppKey("version", str)
SchedulerState = Callable[[], dict[str, object]]
SCHEDULER_STATE: web.AppKey[SchedulerState] = web.AppKey("scheduler_state")
"""Reports the scheduler's state; ``{"status": "absent"}`` when the API runs without a collector."""

REGISTRIES: web.AppKey[list[CollectorRegistry]] = web.AppKey("registries")
"""Metric registries served on ``/metrics``: the process's own, plus the collector's when it runs here."""
