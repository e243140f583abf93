"""Servers registered through the API, scraped in pools of their own built from safe defaults.

A registered server is a static target of the job it names, and its series carry that ``job`` label, but it
is never scraped with the settings of a target-file job of that name: those may hold credentials, TLS client
certificates, headers or relabeling meant for the file's own targets, and a server registered at an address
of a user's choosing must not receive them. The API refuses to register into a job of the target file
unless an administrator asks for it explicitly; even then the server only shares the job's name.

Each job name of registered servers becomes one pool (:func:`registered_config`) with the target file's
global interval and timeout and the ``registration`` settings' limits: no authorization, no TLS client
certificate (https verifies against the system's CAs), no relabeling, ``honor_labels`` off, redirects not
followed, the body limit counted inflated, sample, line and label limits. The collector scrapes these
pools with a session that applies the address policy at connect time (:mod:`collector.netpolicy`).

Per-server scheme, metrics path, interval and timeout travel as the target labels Prometheus defines for them
(``__scheme__``, ``__metrics_path__``, ``__scrape_interval__``, ``__scrape_timeout__``); its collectors as
``__params_collect[]`` (every ``collect[]`` parameter of the scrape URL, as node_exporter and ours take them).
They are part of the target's identity, so a changed setting is a diff for the scrape manager: the target's
loop restarts with it at the next re-read of the servers, no restart of the service. The server's name
becomes its ``name`` label (unless its labels set one), the label the dashboard and the fleet listing show
and search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from collector.config.api_settings import RegistrationSettings
from collector.config.scrape_job import ScrapeJob, StaticConfig
from collector.config.targets import GlobalConfig, TargetsConfig
from collector.config.units import format_duration
from collector.discovery import (
    METRICS_PATH_LABEL,
    PARAM_VALUES_LABEL_PREFIX,
    SCHEME_LABEL,
    SCRAPE_INTERVAL_LABEL,
    SCRAPE_TIMEOUT_LABEL,
)
from collector.storage.servers import RegisteredServer

NAME_LABEL = "name"
COLLECT_PARAM = "collect[]"


def _group(server: RegisteredServer, global_: GlobalConfig) -> StaticConfig:
    labels = {
        NAME_LABEL: server.name,
        **server.labels,
        SCHEME_LABEL: server.scheme,
        METRICS_PATH_LABEL: server.metrics_path,
    }
    interval_s = server.scrape_interval_s or global_.scrape_interval_s
    timeout_s = server.scrape_timeout_s or global_.scrape_timeout_s
    if server.scrape_interval_s is not None or server.scrape_timeout_s is not None:
        labels[SCRAPE_INTERVAL_LABEL] = format_duration(interval_s)
        # The API keeps timeout <= interval; a global interval changed since must not drop the target.
        labels[SCRAPE_TIMEOUT_LABEL] = format_duration(min(timeout_s, interval_s))
    if server.collectors:
        labels[PARAM_VALUES_LABEL_PREFIX + COLLECT_PARAM] = ",".join(server.collectors)
    return StaticConfig(targets=(server.address,), labels=tuple(sorted(labels.items())))


def registered_job(name: str, global_: GlobalConfig, limits: RegistrationSettings) -> ScrapeJob:
    """The pool of registered servers of job ``name``, before its targets: safe defaults only."""
    return ScrapeJob(
        job_name=name,
        scrape_interval_s=global_.scrape_interval_s,
        scrape_timeout_s=global_.scrape_timeout_s,
        follow_redirects=False,
        quote_page_errors=False,
        sample_limit=limits.sample_limit,
        line_limit=limits.line_limit,
        label_limit=limits.label_limit,
        label_name_length_limit=limits.label_name_length_limit,
        label_value_length_limit=limits.label_value_length_limit,
        body_size_limit_bytes=limits.body_size_limit_bytes,
    )


def registered_config(
    servers: Sequence[RegisteredServer], global_: GlobalConfig, limits: RegistrationSettings
) -> TargetsConfig:
    """One pool per job name of ``servers``, each server a static target of its job's pool."""
    groups: dict[str, list[StaticConfig]] = {}
    for server in servers:
        groups.setdefault(server.job, []).append(_group(server, global_))
    jobs = tuple(
        dataclasses.replace(registered_job(name, global_, limits), static_configs=tuple(static))
        for name, static in groups.items()
    )
    return TargetsConfig(global_=global_, jobs=jobs)
