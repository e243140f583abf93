"""``/api/v1/targets``: the scrape targets with their health, last error and last scrape.

The targets are built as the collector builds them: the target file (its static and file_sd groups) plus
the servers registered through the API, relabeled by each job's ``relabel_configs``. Health, last error,
last scrape and its duration come from the live layer (each server's status in Redis); a target without
one has not been scraped yet (``unknown``). When the API runs where the target file cannot be read, the
servers the live layer knows are listed from their status alone, without a URL.

A viewer sees the targets of the servers granted to it; dropped targets, which belong to no server, are an
admin's only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg
from aiohttp import web

from api.auth.authz import allowed_servers
from api.keys import SETTINGS, STORES
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import history_errors, live_errors
from api.prometheus.models import READ_ERRORS, PrometheusError, TargetsParams, TargetsResponse
from api.prometheus.params import invalid, read_form
from api.prometheus.render import success_of
from collector.config.configfile import ConfigError
from collector.config.settings import Settings
from collector.config.targets import TargetsConfig, load_targets
from collector.config.units import format_duration
from collector.discovery import DroppedTarget, Target, build_targets, discover, merge_discovered
from collector.registered import registered_config
from collector.result import server_id_for
from collector.storage.live_read import ServerStatus, list_servers
from collector.storage.servers import registered_targets

routes = ApiRoutes()

NEVER = "0001-01-01T00:00:00Z"
"""Go's zero time, which Prometheus shows for a target never scraped."""
_HEALTH = {"up": "up", "warning": "up", "down": "down"}
"""A server's live status as scrape health: ``warning`` is about its summary, its scrape succeeded."""


@dataclass(frozen=True)
class Configured:
    """The targets the collector is configured to scrape, and the ones relabeling dropped."""

    active: list[Target]
    dropped: list[DroppedTarget]


def build_all(config: TargetsConfig, base_dir: Path) -> Configured:
    """Every job's targets, discovered and relabeled as the scrape manager does (reads file_sd files)."""
    active: list[Target] = []
    dropped: list[DroppedTarget] = []
    for job in config.jobs:
        groups = merge_discovered({}, discover(job, base_dir))
        built, gone = build_targets(job, [group for source in groups.values() for group in source])
        active.extend(built)
        dropped.extend(gone)
    return Configured(active, dropped)


def _rfc3339(seconds: float | None) -> str:
    if seconds is None:
        return NEVER
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def active_target(target: Target, status: ServerStatus | None) -> dict[str, object]:
    """A configured target in Prometheus's shape, with its live status when there is one."""
    return {
        "discoveredLabels": dict(target.discovered_labels),
        "labels": dict(target.labels),
        "scrapePool": target.job_name,
        "scrapeUrl": target.url,
        "globalUrl": target.url,
        "lastError": (status.last_error or "") if status else "",
        "lastScrape": _rfc3339(status.last_scrape if status else None),
        "lastScrapeDuration": (status.scrape_duration_s or 0.0) if status else 0.0,
        "health": _HEALTH.get(status.status, "unknown") if status else "unknown",
        "scrapeInterval": format_duration(target.scrape_interval_s),
        "scrapeTimeout": format_duration(target.scrape_timeout_s),
    }


def live_only_target(status: ServerStatus) -> dict[str, object]:
    """A target known from its live status alone (the target file is not readable here)."""
    labels = {**status.labels, "job": status.job, "instance": status.instance}
    return {
        "discoveredLabels": {},
        "labels": labels,
        "scrapePool": status.job,
        "scrapeUrl": "",
        "globalUrl": "",
        "lastError": status.last_error or "",
        "lastScrape": _rfc3339(status.last_scrape),
        "lastScrapeDuration": status.scrape_duration_s or 0.0,
        "health": _HEALTH.get(status.status, "unknown"),
        "scrapeInterval": "",
        "scrapeTimeout": "",
    }


def server_of(target: Target) -> UUID:
    """The server a configured target's samples belong to."""
    return server_id_for(target.job_name, dict(target.labels).get("instance", ""))


def listing(
    configured: Configured | None,
    statuses: Mapping[str, ServerStatus],
    allowed: set[UUID] | None,
    *,
    state: str,
    pool: str | None,
) -> dict[str, list[dict[str, object]]]:
    """The ``data`` of ``/api/v1/targets`` for a caller allowed ``allowed`` servers (None: all)."""
    active: list[dict[str, object]] = []
    dropped: list[dict[str, object]] = []
    if state in ("active", "any"):
        if configured is not None:
            for target in configured.active:
                server = server_of(target)
                if (allowed is None or server in allowed) and pool in (None, target.job_name):
                    active.append(active_target(target, statuses.get(str(server))))
        else:
            for status in statuses.values():
                if (allowed is None or UUID(status.server_id) in allowed) and pool in (None, status.job):
                    active.append(live_only_target(status))
    if state in ("dropped", "any") and allowed is None and configured is not None:
        dropped = [
            {"discoveredLabels": dict(target.discovered_labels)}
            for target in configured.dropped
            if pool in (None, target.job_name)
        ]
    return {"activeTargets": active, "droppedTargets": dropped}


async def configured_targets(settings: Settings, pg: asyncpg.Pool) -> Configured | None:
    """The targets of the target file and of the servers registered through the API, built as the collector
    builds them; None when the target file cannot be read here. PostgreSQL's errors are raised."""
    path = settings.targets
    try:
        config = await asyncio.to_thread(load_targets, path)
    except (OSError, ConfigError):
        return None
    registered = await registered_targets(pg)
    api_pools = registered_config(registered, config.global_, settings.registration)
    merged = dataclasses.replace(config, jobs=(*config.jobs, *api_pools.jobs))
    return await asyncio.to_thread(build_all, merged, path.parent)


async def _configured(request: web.Request) -> Configured | None:
    with history_errors():
        return await configured_targets(request.app[SETTINGS], request.app[STORES].pg)


def _by_server(statuses: Sequence[ServerStatus]) -> dict[str, ServerStatus]:
    return {status.server_id: status for status in statuses}


@routes.get(
    paths.TARGETS,
    summary="Scrape targets and their health (Prometheus API)",
    tag="prometheus",
    role="viewer",
    form=TargetsParams,
    response=TargetsResponse,
    error_body=PrometheusError,
    errors=READ_ERRORS,
)
async def targets(request: web.Request) -> web.Response:
    """Active targets (``state=active``), dropped ones (``dropped``) or both (``any``, the default)."""
    form = await read_form(request)
    state = form.get("state") or "any"
    if state not in ("active", "dropped", "any"):
        raise invalid("state", f'unknown state "{state}": expected active, dropped or any')
    configured = await _configured(request)
    with live_errors():
        statuses = _by_server(await list_servers(request.app[STORES].redis))
    data = listing(
        configured,
        statuses,
        await allowed_servers(request),
        state=state,
        pool=form.get("scrapePool") or None,
    )
    return success_of(data)
