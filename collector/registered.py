"""Servers registered through the API, scraped beside the target file's targets.

A registered server becomes a static target of the job it names. When the target file has a job of that
name, the server joins it and is scraped with that job's settings; otherwise a job of that name is made with
the target file's global settings. Per-server scheme, metrics path and interval travel as the target labels
Prometheus defines for them (``__scheme__``, ``__metrics_path__``, ``__scrape_interval__``,
``__scrape_timeout__``), which override a job's defaults target by target. The server's name becomes its
``name`` label (unless its labels set one), the label the dashboard and the fleet listing show and search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from collector.discovery import (
    METRICS_PATH_LABEL,
    SCHEME_LABEL,
    SCRAPE_INTERVAL_LABEL,
    SCRAPE_TIMEOUT_LABEL,
)
from collector.storage.servers import RegisteredServer
from collector.targets import ScrapeJob, StaticConfig, TargetsConfig
from collector.units import format_duration

NAME_LABEL = "name"


def _group(server: RegisteredServer, timeout_s: float) -> StaticConfig:
    labels = {
        NAME_LABEL: server.name,
        **server.labels,
        SCHEME_LABEL: server.scheme,
        METRICS_PATH_LABEL: server.metrics_path,
    }
    if server.scrape_interval_s is not None:
        labels[SCRAPE_INTERVAL_LABEL] = format_duration(server.scrape_interval_s)
        labels[SCRAPE_TIMEOUT_LABEL] = format_duration(min(timeout_s, server.scrape_interval_s))
    return StaticConfig(targets=(server.address,), labels=tuple(sorted(labels.items())))


def with_registered(config: TargetsConfig, servers: Sequence[RegisteredServer]) -> TargetsConfig:
    """``config`` plus a static target for every registered server."""
    if not servers:
        return config
    jobs = {job.job_name: job for job in config.jobs}
    added: dict[str, list[StaticConfig]] = {}
    for server in servers:
        existing = jobs.get(server.job)
        timeout_s = existing.scrape_timeout_s if existing else config.global_.scrape_timeout_s
        added.setdefault(server.job, []).append(_group(server, timeout_s))
    merged = []
    for job in config.jobs:
        extra = added.pop(job.job_name, [])
        merged.append(
            dataclasses.replace(job, static_configs=(*job.static_configs, *extra)) if extra else job
        )
    for name, groups in added.items():
        merged.append(
            ScrapeJob(
                job_name=name,
                scrape_interval_s=config.global_.scrape_interval_s,
                scrape_timeout_s=config.global_.scrape_timeout_s,
                static_configs=tuple(groups),
            )
        )
    return dataclasses.replace(config, jobs=tuple(merged))
