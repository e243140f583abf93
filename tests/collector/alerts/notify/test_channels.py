"""Channel validation, routing helpers, redaction of secrets and keeping them across an update."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from collector.alerts.notify.channels import (
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    has_redacted_secret,
    keep_secrets,
    parse_channel,
    redact_channel,
    reveal_channel,
    without_secrets,
)

from .support import alert

EMAIL = {
    "kind": "email",
    "name": "ops mail",
    "to": ["ops@example.com"],
    "from_address": "om@example.com",
    "smtp_host": "smtp.example.com",
    "username": "om",
    "password": "s3cret-pw",
}
HOOK = {
    "kind": "webhook",
    "name": "hook",
    "url": "https://hooks.example/x",
    "headers": {"Authorization": "Bearer t0k"},
}
SLACK = {"kind": "slack", "name": "slack", "url": "https://hooks.slack.example/services/T/B/tok3n"}


def test_kind_selects_the_model_and_defaults_follow_alertmanager() -> None:
    channel = parse_channel(EMAIL)
    assert isinstance(channel, EmailChannel)
    assert (channel.smtp_port, channel.starttls, channel.tls) == (587, True, False)
    assert channel.group_by == ("alertname",) and channel.severities == ("info", "warning", "critical")
    assert (channel.group_wait_s, channel.group_interval_s, channel.repeat_interval_s) == (30, 300, 14400)
    assert channel.send_resolved and channel.enabled
    assert isinstance(parse_channel(HOOK), WebhookChannel) and isinstance(parse_channel(SLACK), SlackChannel)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**EMAIL, "kind": "pager"}, "does not match any of the expected tags"),
        ({**EMAIL, "colour": "red"}, "Extra inputs are not permitted"),
        ({**EMAIL, "to": ["not-an-address"]}, "'not-an-address' is not an e-mail address"),
        ({**EMAIL, "tls": True}, "tls (implicit TLS) and starttls exclude each other"),
        ({**EMAIL, "username": None}, "a password needs a username"),
        ({**HOOK, "url": "ftp://hooks.example/x"}, "url must be an http:// or https:// URL"),
        ({**HOOK, "headers": {"Bad Header": "x"}}, "'Bad Header' is not a valid HTTP header name"),
        ({**SLACK, "url": "hooks.slack.example"}, "url must be an http:// or https:// URL"),
        ({**SLACK, "group_by": ["alertname", "..."]}, "cannot be combined with other names"),
        ({**SLACK, "group_by": ["0bad"]}, "'0bad' is not a label name"),
        ({**SLACK, "severities": []}, "at least one severity is needed"),
        (
            {**SLACK, "matchers": [{"name": "job", "op": "=~", "value": "("}]},
            "not a valid regular expression",
        ),
        ({**SLACK, "group_interval_s": 0}, "greater than 0"),
    ],
)
def test_invalid_channels_are_refused_with_a_message_naming_the_problem(data: object, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_channel(data)
    assert message in str(raised.value)


def test_redaction_hides_every_secret_and_keeps_the_rest() -> None:
    email, hook, slack = parse_channel(EMAIL), parse_channel(HOOK), parse_channel(SLACK)
    assert redact_channel(email)["password"] == "***" and redact_channel(email)["username"] == "om"
    assert redact_channel(hook)["headers"] == {"Authorization": "***"}
    assert redact_channel(hook)["url"] == "***"  # receivers often take a token in the URL
    assert redact_channel(slack)["url"] == "***"
    for channel in (email, hook, slack):
        shown = str(redact_channel(channel))
        assert "s3cret-pw" not in shown and "t0k" not in shown and "tok3n" not in shown


def test_a_redacted_channel_parses_back_and_an_update_with_stars_keeps_the_stored_secrets() -> None:
    old = parse_channel(HOOK)
    edited = parse_channel({**redact_channel(old), "name": "renamed"})
    assert has_redacted_secret(edited)
    merged = keep_secrets(edited, old)
    assert isinstance(merged, WebhookChannel) and merged.name == "renamed"
    assert merged.headers["Authorization"].get_secret_value() == "Bearer t0k"
    assert not has_redacted_secret(merged)


def test_an_update_with_a_new_secret_replaces_the_stored_one() -> None:
    old = parse_channel(SLACK)
    merged = keep_secrets(parse_channel({**SLACK, "url": "https://hooks.slack.example/new"}), old)
    assert reveal_channel(merged)["url"] == "https://hooks.slack.example/new"


def test_stars_for_a_secret_that_was_never_stored_are_refused() -> None:
    old = parse_channel(HOOK)
    edited = parse_channel({**HOOK, "headers": {"Authorization": "***", "X-Other": "***"}})
    with pytest.raises(ValueError, match=r"headers\.X-Other is '\*\*\*' but there is no stored secret"):
        keep_secrets(edited, old)
    with pytest.raises(ValueError, match="url is"):
        keep_secrets(parse_channel({**SLACK, "url": "***"}), old)


@pytest.mark.parametrize(
    ("stored", "change", "refused"),
    [
        (EMAIL, {"smtp_host": "smtp.attacker.example"}, "smtp_host"),
        (EMAIL, {"smtp_port": 2525}, "smtp_port"),
        (EMAIL, {"starttls": False}, "starttls"),
        (EMAIL, {"starttls": False, "tls": True, "smtp_port": 465}, "smtp_port, tls, starttls"),
        (EMAIL, {"smtp_host": "SMTP.example.com."}, None),
        (EMAIL, {"to": ["other@example.com"], "name": "renamed", "username": "om2"}, None),
        (HOOK, {"url": "https://attacker.example/x"}, "url"),
        (HOOK, {"url": "https://hooks.example/y"}, "url"),
        (HOOK, {"url": "https://hooks.example:8443/x"}, "url"),
        (HOOK, {"url": "https://hooks.example/x"}, None),
        (HOOK, {"name": "renamed"}, None),
        (SLACK, {"name": "renamed", "severities": ["critical"]}, None),
    ],
)
def test_a_kept_secret_is_never_sent_to_a_new_destination(
    stored: dict[str, object], change: dict[str, object], refused: str | None
) -> None:
    old = parse_channel(stored)
    edited = parse_channel({**redact_channel(old), **change})
    if refused is None:
        merged = keep_secrets(edited, old)
        assert not has_redacted_secret(merged)
        return
    with pytest.raises(ValueError, match="would be sent to a new destination") as raised:
        keep_secrets(edited, old)
    message = str(raised.value)
    assert message.startswith(f"{refused} changed")
    assert "s3cret-pw" not in message and "t0k" not in message and "hooks.example" not in message
    # Given again, the secret goes to the new destination.
    secrets: dict[str, dict[str, object]] = {
        "email": {"password": "n3w-pw"},
        "webhook": {"headers": {"Authorization": "Bearer n3w"}},
    }
    again = parse_channel({**redact_channel(old), **change, **secrets[old.kind]})
    assert not has_redacted_secret(keep_secrets(again, old))


def test_routes_checks_severity_and_matchers() -> None:
    channel = parse_channel(
        {**SLACK, "severities": ["critical"], "matchers": [{"name": "env", "op": "!=", "value": "dev"}]}
    )
    assert channel.routes(alert(severity="critical", env="prod"))
    assert not channel.routes(alert(severity="warning", env="prod"))
    assert not channel.routes(alert(severity="critical", env="dev"))


def test_group_labels_take_the_group_by_values_and_empty_for_absent_ones() -> None:
    channel = parse_channel({**SLACK, "group_by": ["alertname", "cluster"]})
    assert channel.group_labels(alert().labels) == {"alertname": "HighCpu", "cluster": ""}


def test_without_secrets_blanks_every_secret_value() -> None:
    channel = parse_channel(
        {**HOOK, "url": "https://hooks.example/x?token=s3cr3t", "headers": {"Authorization": "Bearer t0ken"}}
    )
    echoed = "HTTP 401: Bearer t0ken refused for https://hooks.example/x?token=s3cr3t"
    assert without_secrets(echoed, channel) == "HTTP 401: *** refused for ***"
    assert without_secrets("HTTP 401: refused", channel) == "HTTP 401: refused"
