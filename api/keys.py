"""Typed application keys: every resource the API shares between handlers, all defined here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractResolver
from prometheus_client import CollectorRegistry

from collector.config.settings import Settings
from collector.storage.connections import Stores

if TYPE_CHECKING:
    # Only as types: these modules read their keys from here, and the collector is a layer of its own.
    from api.auth.principal_cache import PrincipalCache, RefusedTokens
    from api.auth.state import AuthConfig
    from api.events import Broker, StreamConfig
    from api.fleet import FleetCache
    from api.httpserver import ShutdownBudget
    from api.openapi import Operation
    from api.ratelimit import AuthFailureLimiter
    from collector.actions.client import ActionsClient
    from collector.alerts.model import Clock
    from collector.ingest.receiver import RemoteWriteReceiver
    from collector.runtime import ScrapeService

SETTINGS = web.AppKey("settings", Settings)
SHUTDOWN_BUDGET: web.AppKey[ShutdownBudget] = web.AppKey("shutdown_budget")
"""The one time bound of the service's shutdown, started when it begins (see :mod:`api.httpserver`)."""
STORES = web.AppKey("stores", Stores)
VERSION = web.AppKey("version", str)
ROLE = web.AppKey("role", str)
"""What this process runs, reported by ``/api/health``: ``run``, ``api`` or ``collector``."""
SchedulerState = Callable[[], dict[str, object]]
SCHEDULER_STATE: web.AppKey[SchedulerState] = web.AppKey("scheduler_state")
"""Reports the scheduler's state; ``{"status": "absent"}`` when the API runs without a collector."""

REGISTRIES: web.AppKey[list[CollectorRegistry]] = web.AppKey("registries")
"""Metric registries served on ``/metrics``: the process's own, plus the collector's when it runs here."""

CONNECTION_TESTS = web.AppKey("connection_tests", asyncio.Semaphore)
"""The application's connection-test slots (``create_app`` makes them; see :mod:`api.probe`)."""
RESOLVER = web.AppKey("servers_resolver", AbstractResolver)
"""Replaces DNS for registration checks and connection tests (tests map names with it); unset: system's."""

AUTH_CONFIG: web.AppKey[AuthConfig] = web.AppKey("auth_config")
"""Token lifetimes and the JWT signing key (:func:`api.auth.setup_auth` makes it)."""
PRINCIPAL_CACHE: web.AppKey[PrincipalCache] = web.AppKey("principal_cache")
"""Callers checked within the last second, reused without a lookup."""
REFUSED_TOKENS: web.AppKey[RefusedTokens] = web.AppKey("refused_tokens")
"""Tokens refused within the last 10 s, refused again without a lookup."""
AUTH_FAILURES: web.AppKey[AuthFailureLimiter] = web.AppKey("auth_failure_limiter")
"""The per-address limit of refused tokens."""
FLEET: web.AppKey[FleetCache] = web.AppKey("fleet")
"""The listing's snapshot: see :mod:`api.fleet`."""
SILENCE_CLOCK: web.AppKey[Clock] = web.AppKey("silences.clock")
"""Where "now" is read (the wall clock when unset): tests set a clock they move."""
STREAM_CONFIG: web.AppKey[StreamConfig] = web.AppKey("events.config")
"""How event streams behave (heartbeat, retry, streams per user); tests replace it."""
BROKER: web.AppKey[Broker] = web.AppKey("events.broker")
"""The one Redis subscription the event streams share."""
OPERATIONS: web.AppKey[list[Operation]] = web.AppKey("openapi.operations")
"""Every operation registered on the app, in registration order: the document's source."""
OPENAPI_DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi.document")
"""The OpenAPI document, made once when the application starts."""
SCRAPE_SERVICE: web.AppKey[ScrapeService] = web.AppKey("scrape_service")
"""The scrape service when this process runs one (``run``, ``collector``): SIGHUP reloads its target file."""
RECEIVER: web.AppKey[RemoteWriteReceiver] = web.AppKey("remote_write_receiver")
"""The remote-write receiver of ``openmanager run`` (into the collector's queue) and ``openmanager api`` (into
a pipeline of its own, :mod:`openmanager.ingest`); ``collector`` serves no API."""
ACTIONS_CLIENT: web.AppKey[ActionsClient] = web.AppKey("actions.client")
"""The client of the exporters' actions listeners (:mod:`api.actions` opens it)."""
