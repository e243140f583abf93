"""A server's monitoring settings in ``/api/servers``: scrape timing, collectors, tags and alert thresholds.

Interval, timeout and collectors are columns of ``servers`` the collector re-reads every few seconds
(:mod:`collector.registered`): a change is a diff for its scrape manager and the next scrape uses it, with no
restart. The timeout may not exceed the interval in force: the one given, else the stored one, else the
target file's global interval. Thresholds are not columns: they are alert rules scoped to the server
(:mod:`collector.alerts.server_thresholds`), and the engine is told to reload them at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from api.alerts import announce
from api.errors import ApiError
from api.keys import SETTINGS, STORES
from api.server_models import ThresholdIn
from collector.alerts.server_thresholds import (
    Override,
    ServerThreshold,
    ThresholdError,
    server_thresholds,
    set_thresholds,
)
from collector.config.targets import GlobalConfig
from collector.config.units import format_duration, parse_duration
from collector.monitored import read_target_file
from collector.registered import NAME_LABEL
from collector.storage.servers import ServerRecord

SETTING_FIELDS = ("scrape_interval", "scrape_timeout", "collectors", "tags")


def _problem(field: str, message: str) -> ApiError:
    return ApiError(422, message, details=[{"field": field, "problem": message}])


async def _global(request: web.Request) -> GlobalConfig:
    config = await asyncio.to_thread(read_target_file, request.app[SETTINGS].targets)
    return config.global_ if config is not None else GlobalConfig()


async def settings_columns(
    request: web.Request, given: dict[str, Any], record: ServerRecord | None
) -> dict[str, object]:
    """The columns of the settings in ``given`` (the request's fields, removed from it as they are read);
    422 naming ``scrape_timeout`` when it would be longer than the interval in force."""
    columns: dict[str, object] = {}
    if "scrape_interval" in given:
        interval = given.pop("scrape_interval")
        columns["scrape_interval_s"] = parse_duration(interval) if interval else None
    if "scrape_timeout" in given:
        timeout = given.pop("scrape_timeout")
        columns["scrape_timeout_s"] = parse_duration(timeout) if timeout else None
    if "collectors" in given:
        # An empty selection would scrape nothing useful: it means "everything", like null.
        collectors = given.pop("collectors")
        columns["collectors"] = tuple(collectors) if collectors else None
    if "tags" in given:
        tags = given.pop("tags")
        if tags is None:
            raise _problem("tags", "tags cannot be null; send [] for none")
        columns["tags"] = tuple(tags)
    timeout_s = _seconds(columns, "scrape_timeout_s", record.scrape_timeout_s if record else None)
    if timeout_s is not None:
        interval_s = _seconds(columns, "scrape_interval_s", record.scrape_interval_s if record else None)
        if interval_s is None:
            interval_s = (await _global(request)).scrape_interval_s
        if timeout_s > interval_s:
            field = "scrape_timeout" if "scrape_timeout_s" in columns else "scrape_interval"
            raise _problem(
                field,
                f"the scrape timeout {format_duration(timeout_s)} is longer than the scrape interval "
                f"{format_duration(interval_s)}",
            )
    return columns


def _seconds(columns: Mapping[str, object], key: str, stored: float | None) -> float | None:
    value = columns.get(key, stored)
    return float(value) if isinstance(value, int | float) else None


def alert_labels(record: ServerRecord) -> dict[str, str]:
    """The labels rule scopes see for the server, as the engine builds them from its target."""
    labels = {NAME_LABEL: record.name, **record.labels}
    if record.job is not None:
        labels["job"] = record.job
    if record.address is not None:
        labels["instance"] = record.address
    return labels


async def thresholds_out(request: web.Request, record: ServerRecord) -> list[ServerThreshold]:
    """The server's alert thresholds now."""
    return await server_thresholds(request.app[STORES].pg, record.id, alert_labels(record))


async def apply_thresholds(
    request: web.Request, record: ServerRecord, changes: Mapping[str, ThresholdIn | None]
) -> list[ServerThreshold]:
    """Store the overrides, tell the engine, answer the thresholds after; 422 naming the bad field."""
    overrides = {
        name: None if value is None else Override(value.threshold, value.clear_threshold)
        for name, value in changes.items()
    }
    stores = request.app[STORES]
    try:
        after = await set_thresholds(stores.pg, record.id, alert_labels(record), overrides)
    except ThresholdError as exc:
        raise _problem(f"thresholds.{exc.field}", str(exc)) from None
    await announce(stores.redis, "server thresholds changed")
    return after
