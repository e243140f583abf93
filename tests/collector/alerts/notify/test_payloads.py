"""The e-mail text, the webhook document and the Slack message of a notification."""

from __future__ import annotations

from collector.alerts.notify.channels import EmailChannel
from collector.alerts.notify.dispatcher import LogEntry, Notification
from collector.alerts.notify.payloads import (
    SLACK_MAX_ALERTS,
    email_message,
    iso_time,
    slack_message,
    subject,
    text_body,
    webhook_document,
)

from .support import T0, alert, resolved, stored, webhook


def notification(firing: int = 2, resolved_count: int = 1) -> Notification:
    channel = stored(webhook(name="ops"))
    fire = tuple(alert(server=f"web-{i}") for i in range(firing))
    gone = tuple(resolved(alert(server=f"db-{i}"), T0 + 300) for i in range(resolved_count))
    entry = LogEntry(channel.id, '{alertname="HighCpu"}', frozenset(), frozenset(), T0)
    return Notification(channel, '{alertname="HighCpu"}', {"alertname": "HighCpu"}, fire, gone, entry)


def test_the_webhook_document_lists_every_alert_with_its_times() -> None:
    doc = webhook_document(notification())
    assert (doc["version"], doc["status"], doc["channel"]) == ("1", "firing", "ops")
    assert doc["groupKey"] == '{alertname="HighCpu"}' and doc["groupLabels"] == {"alertname": "HighCpu"}
    assert doc["commonLabels"] == {"alertname": "HighCpu", "severity": "warning"}
    alerts = doc["alerts"]
    assert isinstance(alerts, list) and len(alerts) == 3
    first, last = alerts[0], alerts[-1]
    assert first["status"] == "firing" and first["endsAt"] is None
    assert first["startsAt"] == "2026-05-28T20:26:40Z" == iso_time(T0)
    assert first["labels"]["server_id"] == "web-0" and first["annotations"]["title"] == "HighCpu on web-0"
    assert last["status"] == "resolved" and last["endsAt"] == iso_time(T0 + 300)
    assert len({a["fingerprint"] for a in alerts}) == 3


def test_a_notification_without_firing_alerts_is_resolved() -> None:
    n = notification(firing=0, resolved_count=2)
    assert webhook_document(n)["status"] == "resolved"
    assert subject(n) == "[RESOLVED:2] alertname=HighCpu (2 kinds)"


def test_the_subject_names_the_single_kind_of_alert() -> None:
    n = notification(firing=1, resolved_count=0)
    assert subject(n) == "[FIRING:1] HighCpu on web-0"


def test_the_email_has_the_channels_addresses_and_a_plain_text_listing() -> None:
    channel = EmailChannel(
        name="m", to=("a@example.com", "b@example.com"), from_address="om@example.com", smtp_host="h"
    )
    message = email_message(channel, notification())
    assert message["To"] == "a@example.com, b@example.com" and message["From"] == "om@example.com"
    body = message.get_content()
    assert body == text_body(notification())
    assert "Firing (2):" in body and "Resolved (1):" in body
    assert "- HighCpu on web-1 [warning] firing" in body and "HighCpu is over its threshold on web-1" in body
    assert "value: 97.5" in body and f"resolved: {iso_time(T0 + 300)}" in body
    assert "server_id=web-1" in body


def test_the_slack_message_has_text_and_caps_its_blocks() -> None:
    small = slack_message(notification())
    assert small["text"] == subject(notification())
    blocks = small["blocks"]
    assert isinstance(blocks, list) and len(blocks) == 4  # a header and one section per alert
    big = slack_message(notification(firing=SLACK_MAX_ALERTS + 5, resolved_count=0))
    big_blocks = big["blocks"]
    assert isinstance(big_blocks, list) and len(big_blocks) == SLACK_MAX_ALERTS + 2
    assert "5 more" in str(big_blocks[-1])
