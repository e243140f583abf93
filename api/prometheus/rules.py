"""``/api/v1/rules`` and ``/api/v1/alerts``: our alert rules and active alerts in Prometheus's shape.

Our rules are not PromQL: a rule compares a server's summary metric (``cpu``, ``memory``, ``disk`` in
percent, ``network_rx``/``network_tx`` in bytes/s, ``load1``) with a threshold, or fires when a scrape fails
(``down``), or predicts a full disk. Each is listed as an alerting rule whose ``query`` writes that
condition in PromQL's notation (``cpu{env="prod"} > 90``, ``up == 0``, ``predict_linear(disk[6h], 24h) >=
100``), for people to read; it is not evaluated as PromQL. Rules are grouped by where they come from
(``default``, ``file``, ``api``); disabled rules are left out, as they are not evaluated. The engine
evaluates rules at every scrape wave, not on a group interval, so ``interval`` is 0 and the evaluation
times are unknown (Go's zero time, as Prometheus shows for a rule not evaluated yet).

Alerts are the active ones (pending or firing) from PostgreSQL; a viewer sees those of the servers granted
to it, and the rules ``/api/alerts/rules`` shows it (none confined to other servers). Values are written
as Prometheus writes them (``9.5e+01``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from aiohttp import web

from api.alert_rules import visible_rules
from api.auth.authz import allowed_servers
from api.keys import SETTINGS, STORES
from api.openapi import ApiRoutes
from api.prometheus import paths
from api.prometheus.context import history_errors
from api.prometheus.models import (
    READ_ERRORS,
    AlertsResponse,
    NoParams,
    PrometheusError,
    RulesParams,
    RulesResponse,
)
from api.prometheus.params import Form, invalid, read_form
from api.prometheus.render import success_of
from api.prometheus.targets import NEVER
from collector.alerts.alert_store import AlertRecord, list_alerts
from collector.alerts.rule_store import list_rules
from collector.alerts.rules import Rule
from collector.config.units import format_duration

routes = ApiRoutes()

MAX_ALERTS = 100_000
"""Active alerts listed at most (a fleet in trouble, not a page of a listing)."""
_GROUP_ORDER = ("default", "file", "api")


def format_alert_value(value: float | None) -> str:
    """A value as Go's ``strconv.FormatFloat(v, 'e', -1, 64)`` writes it, as Prometheus's alerts show it."""
    if value is None or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(np.format_float_scientific(value, unique=True, trim="-", exp_digits=2))


def _selector(name: str, rule: Rule) -> str:
    if not rule.matchers:
        return name
    inner = ",".join(f'{m.name}{m.op}"{m.value}"' for m in rule.matchers)
    return f"{name}{{{inner}}}"


def rule_query(rule: Rule) -> str:
    """The rule's condition in PromQL's notation (see the module docstring)."""
    if rule.kind == "threshold":
        assert rule.metric is not None and rule.threshold is not None
        return f"{_selector(rule.metric, rule)} {rule.op} {rule.threshold:g}"
    if rule.kind == "down":
        return f"{_selector('up', rule)} == 0"
    window = format_duration(rule.lookback_s)
    ahead = format_duration((rule.hours or 24.0) * 3600)
    return f"predict_linear({_selector('disk', rule)}[{window}], {ahead}) >= 100"


def prometheus_alert(alert: AlertRecord) -> dict[str, object]:
    """One active alert in Prometheus's shape."""
    started = alert.started_at or alert.timestamp
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state,
        "activeAt": started.isoformat().replace("+00:00", "Z"),
        "value": format_alert_value(alert.value),
    }


def prometheus_rule(rule: Rule, alerts: Sequence[AlertRecord]) -> dict[str, object]:
    """One rule in Prometheus's shape, with its active alerts."""
    states = {alert.state for alert in alerts}
    return {
        "type": "alerting",
        "name": rule.name,
        "query": rule_query(rule),
        "duration": rule.for_s,
        "keepFiringFor": rule.keep_firing_for_s,
        "labels": {**rule.labels, "severity": rule.severity},
        "annotations": rule.annotation_templates(),
        "alerts": [prometheus_alert(alert) for alert in alerts],
        "health": "ok",
        "lastError": "",
        "evaluationTime": 0,
        "lastEvaluation": NEVER,
        "state": "firing" if "firing" in states else "pending" if "pending" in states else "inactive",
    }


def rule_groups(
    rules: Iterable[Rule], alerts: Iterable[AlertRecord], *, rules_file: str, form: Form
) -> list[dict[str, object]]:
    """The rule groups, filtered by ``type``, ``rule_name[]``, ``rule_group[]`` and ``file[]``."""
    kind = form.get("type")
    if kind not in ("", "alert", "record"):
        raise invalid("type", f'unknown rule type "{kind}": expected alert or record')
    names, groups_wanted, files = (
        set(form.all("rule_name[]")),
        set(form.all("rule_group[]")),
        set(form.all("file[]")),
    )
    by_rule: dict[str, list[AlertRecord]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule_id or alert.type, []).append(alert)
    grouped: dict[str, list[dict[str, object]]] = {}
    for rule in rules:
        if not rule.enabled or kind == "record" or (names and rule.name not in names):
            continue
        grouped.setdefault(rule.source, []).append(prometheus_rule(rule, by_rule.get(rule.id, [])))
    out = []
    for source in _GROUP_ORDER:
        file = rules_file if source == "file" else ""
        if (
            source not in grouped
            or (groups_wanted and source not in groups_wanted)
            or (files and file not in files)
        ):
            continue
        out.append(
            {
                "name": source,
                "file": file,
                "rules": grouped[source],
                "interval": 0,
                "limit": 0,
                "evaluationTime": 0,
                "lastEvaluation": NEVER,
            }
        )
    return out


async def _active_alerts(request: web.Request) -> list[AlertRecord]:
    with history_errors():
        found, _ = await list_alerts(
            request.app[STORES].pg,
            state="active",
            allowed_servers=await allowed_servers(request),
            limit=MAX_ALERTS,
        )
    return found


@routes.get(
    paths.RULES,
    summary="Alert rules and their active alerts (Prometheus API)",
    tag="prometheus",
    role="viewer",
    form=RulesParams,
    response=RulesResponse,
    error_body=PrometheusError,
    errors=READ_ERRORS,
)
async def rules(request: web.Request) -> web.Response:
    """Every enabled alert rule the caller may see (as on ``/api/alerts/rules``) as an alerting rule, grouped
    by origin, with the caller's active alerts."""
    form = await read_form(request)
    with history_errors():
        stored = await visible_rules(request, await list_rules(request.app[STORES].pg))
    alerts = await _active_alerts(request)
    rules_file = request.app[SETTINGS].alerts.rules_file
    groups = rule_groups(stored, alerts, rules_file=str(rules_file or ""), form=form)
    return success_of({"groups": groups})


@routes.get(
    paths.ALERTS,
    summary="Active alerts (Prometheus API)",
    tag="prometheus",
    role="viewer",
    form=NoParams,
    response=AlertsResponse,
    error_body=PrometheusError,
    errors=READ_ERRORS,
)
async def alerts(request: web.Request) -> web.Response:
    """The pending and firing alerts of the servers the caller may see."""
    return success_of({"alerts": [prometheus_alert(alert) for alert in await _active_alerts(request)]})
