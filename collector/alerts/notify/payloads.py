"""What a notification looks like on each kind of channel: e-mail text, the webhook document, Slack's message.

The webhook document (``version`` 1) is meant for programs::

    {"version": "1", "status": "firing" | "resolved", "channel": "...", "groupKey": "{alertname=\\"X\\"}",
     "groupLabels": {...}, "commonLabels": {...},
     "alerts": [{"status", "fingerprint", "labels", "annotations", "severity", "value",
                 "startsAt", "endsAt"}]}

Times are ISO 8601 in UTC; ``endsAt`` is null while an alert fires. Every function here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Final

from collector.alerts.model import Alert
from collector.alerts.notify.channels import EmailChannel
from collector.alerts.notify.dispatcher import Notification

WEBHOOK_VERSION: Final = "1"
SLACK_MAX_ALERTS: Final = 20
"""Alerts listed one by one in a Slack message; the rest are counted (Slack caps a message's blocks)."""


def iso_time(unix_s: float | None) -> str | None:
    """Unix seconds as ISO 8601 in UTC, None for None."""
    return None if unix_s is None else datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


def starts_at(alert: Alert) -> float:
    """When the alert began to fire (or, failing that, to be pending)."""
    return alert.fired_at if alert.fired_at is not None else alert.active_since


def common_labels(alerts: Sequence[Alert]) -> dict[str, str]:
    """The labels every alert has with the same value."""
    if not alerts:
        return {}
    first = alerts[0].labels
    return {k: v for k, v in first.items() if all(a.labels.get(k) == v for a in alerts[1:])}


def _describe_group(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if v) or "all alerts"


def subject(notification: Notification) -> str:
    """A one-line summary: ``[FIRING:2] HighCpu on web-1`` style."""
    n = notification
    counts = f"{n.status.upper()}:{len(n.firing) if n.firing else len(n.resolved)}"
    titles = sorted({a.title for a in (*n.firing, *n.resolved)})
    what = titles[0] if len(titles) == 1 else f"{_describe_group(n.group_labels)} ({len(titles)} kinds)"
    return f"[{counts}] {what}"


def _alert_text(alert: Alert) -> list[str]:
    lines = [f"- {alert.title} [{alert.severity}] {alert.state}"]
    if alert.message:
        lines.append(f"  {alert.message}")
    if alert.value is not None:
        lines.append(f"  value: {alert.value:g}")
    lines.append(f"  since: {iso_time(starts_at(alert))}")
    if alert.resolved_at is not None:
        lines.append(f"  resolved: {iso_time(alert.resolved_at)}")
    lines.append("  labels: " + ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())))
    return lines


def text_body(notification: Notification) -> str:
    """The plain-text listing of a notification's alerts (the e-mail body)."""
    n = notification
    lines = [f"OpenManager alerts for {_describe_group(n.group_labels)} (channel {n.channel.name})", ""]
    if n.firing:
        lines.append(f"Firing ({len(n.firing)}):")
        for alert in n.firing:
            lines.extend(_alert_text(alert))
        lines.append("")
    if n.resolved:
        lines.append(f"Resolved ({len(n.resolved)}):")
        for alert in n.resolved:
            lines.extend(_alert_text(alert))
        lines.append("")
    return "\n".join(lines)


def email_message(channel: EmailChannel, notification: Notification) -> EmailMessage:
    """The e-mail of a notification, addressed as the channel says."""
    message = EmailMessage()
    message["Subject"] = subject(notification)
    message["From"] = channel.from_address
    message["To"] = ", ".join(channel.to)
    message.set_content(text_body(notification))
    return message


def _alert_document(alert: Alert) -> dict[str, object]:
    return {
        "status": alert.state,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "severity": alert.severity,
        "value": alert.value,
        "startsAt": iso_time(starts_at(alert)),
        "endsAt": iso_time(alert.resolved_at),
    }


def webhook_document(notification: Notification) -> dict[str, object]:
    """The generic webhook's JSON document (see the module docstring)."""
    n = notification
    alerts = (*n.firing, *n.resolved)
    return {
        "version": WEBHOOK_VERSION,
        "status": n.status,
        "channel": n.channel.name,
        "groupKey": n.group_key,
        "groupLabels": dict(n.group_labels),
        "commonLabels": common_labels(alerts),
        "alerts": [_alert_document(a) for a in alerts],
    }


def slack_message(notification: Notification) -> dict[str, object]:
    """A Slack incoming-webhook message: ``text`` for notifications and clients without blocks, and blocks."""
    n = notification
    alerts = (*n.firing, *n.resolved)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": subject(n)[:150]}},
    ]
    for alert in alerts[:SLACK_MAX_ALERTS]:
        mark = ":red_circle:" if alert.state == "firing" else ":large_green_circle:"
        text = f"{mark} *{alert.title}* ({alert.severity}, {alert.state})"
        if alert.message:
            text += f"\n{alert.message}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(alerts) > SLACK_MAX_ALERTS:
        more = f"… and {len(alerts) - SLACK_MAX_ALERTS} more"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": subject(n), "blocks": blocks}
