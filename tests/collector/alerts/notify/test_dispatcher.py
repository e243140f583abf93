"""Dispatcher timelines on a fake clock: grouping, group_wait, group_interval, repeats, muting, flapping."""

from __future__ import annotations

from collector.alerts.model import Alert
from collector.alerts.notify.channels import ChannelConfig, SlackChannel, StoredChannel
from collector.alerts.notify.dispatcher import Dispatcher, LogEntry, Notification, group_key

from .support import T0, FakeClock, alert, refired, resolved, stored, webhook


class Timeline:
    """A dispatcher on a fake clock whose deliveries all succeed; records what was sent and when."""

    def __init__(self, *channels: ChannelConfig) -> None:
        self.clock = FakeClock()
        self.muted: set[str] = set()
        self.channels = [stored(c) for c in channels] or [stored(webhook())]
        self.dispatcher = Dispatcher(self.clock, lambda a, now: a.fingerprint in self.muted)
        self.dispatcher.set_channels(self.channels)
        self.sent: list[tuple[float, Notification]] = []

    @property
    def channel(self) -> StoredChannel:
        return self.channels[0]

    def put(self, *alerts: Alert) -> None:
        self.dispatcher.put(alerts)

    def run_until(self, t: float, step_s: float = 1.0) -> None:
        """Tick every ``step_s`` up to ``t`` seconds after T0, delivering each notification at once."""
        while self.clock.t < T0 + t:
            self.clock.advance(step_s)
            for notification in self.dispatcher.flush_due().notifications:
                self.sent.append((self.clock.t - T0, notification))
                self.dispatcher.delivered(notification, ok=True)

    def times(self) -> list[float]:
        return [t for t, _ in self.sent]


def test_group_wait_batches_two_alerts_into_one_notification() -> None:
    tl = Timeline()
    tl.put(alert(server="web-1"))
    tl.run_until(10)
    tl.put(alert(server="web-2"))
    tl.run_until(29)
    assert tl.sent == []
    tl.run_until(31)
    assert tl.times() == [30]
    (_, notification) = tl.sent[0]
    assert {a.labels["server_id"] for a in notification.firing} == {"web-1", "web-2"}
    assert notification.group_labels == {"alertname": "HighCpu"} and notification.status == "firing"


def test_alerts_of_different_group_label_values_go_in_separate_notifications() -> None:
    tl = Timeline(webhook(group_by=["alertname", "server_id"]))
    tl.put(alert(server="web-1"), alert(server="web-2"))
    tl.run_until(31)
    assert sorted(n.group_key for _, n in tl.sent) == [
        group_key({"alertname": "HighCpu", "server_id": "web-1"}),
        group_key({"alertname": "HighCpu", "server_id": "web-2"}),
    ]


def test_a_new_alert_in_a_notified_group_waits_for_the_group_interval() -> None:
    tl = Timeline()
    tl.put(alert(server="web-1"))
    tl.run_until(40)
    tl.put(alert(server="web-2"))
    tl.run_until(400)
    assert tl.times() == [30, 330]
    assert len(tl.sent[1][1].firing) == 2


def test_a_firing_alert_repeats_once_per_repeat_interval_and_not_more() -> None:
    tl = Timeline(webhook(group_wait_s=30, group_interval_s=300, repeat_interval_s=3600))
    tl.put(alert())
    tl.run_until(3 * 3600 + 700, step_s=10)
    # Looks at 30, 330, 630 …; a repeat goes out at the first look at least an hour after the last send.
    assert tl.times() == [30, 3630, 7230, 10830]


def test_a_flapping_alert_inside_one_group_interval_sends_nothing_new() -> None:
    tl = Timeline()
    first = alert()
    tl.put(first)
    tl.run_until(31)
    for t in (60, 120, 180, 240):
        tl.run_until(t)
        tl.put(resolved(first, T0 + t))
        tl.run_until(t + 20)
        tl.put(refired(first, T0 + t + 20))
    tl.run_until(700)
    assert tl.times() == [30]


def test_a_resolution_is_told_once_and_the_group_then_disappears() -> None:
    tl = Timeline()
    a = alert()
    tl.put(a)
    tl.run_until(31)
    tl.put(resolved(a, T0 + 100))
    tl.run_until(1000)
    assert tl.times() == [30, 330]
    last = tl.sent[1][1]
    assert last.status == "resolved" and [x.fingerprint for x in last.resolved] == [a.fingerprint]
    assert tl.dispatcher.groups == {}
    assert tl.dispatcher.log_entry(tl.channel.id, last.group_key) is None


def test_without_send_resolved_a_resolution_is_silent_but_a_new_firing_is_news() -> None:
    tl = Timeline(webhook(send_resolved=False))
    a = alert()
    tl.put(a)
    tl.run_until(31)
    tl.put(resolved(a, T0 + 100))
    tl.run_until(700)
    assert tl.times() == [30]
    tl.put(refired(a, T0 + 700))
    tl.run_until(800)
    assert tl.times() == [30, 730]


def test_a_resolution_of_an_alert_never_told_firing_is_not_sent() -> None:
    tl = Timeline()
    a = alert()
    tl.put(a)
    tl.run_until(10)
    tl.put(resolved(a, T0 + 10))
    tl.run_until(1000)
    assert tl.sent == [] and tl.dispatcher.groups == {}


def test_muted_at_flush_time_sends_nothing_and_unmuting_resumes_at_the_next_flush() -> None:
    tl = Timeline()
    a = alert()
    tl.muted.add(a.fingerprint)
    tl.put(a)
    tl.run_until(700)
    assert tl.sent == []
    tl.muted.clear()
    tl.run_until(1000)
    assert tl.times() == [930]  # the group's look after 30, 330, 630


def test_an_alert_muted_after_it_was_told_is_news_again_when_the_silence_ends() -> None:
    tl = Timeline()
    a = alert()
    tl.put(a)
    tl.run_until(31)
    tl.muted.add(a.fingerprint)
    tl.run_until(700)
    tl.muted.clear()
    tl.run_until(1000)
    assert tl.times() == [30, 930]


def test_pending_alerts_are_never_grouped() -> None:
    tl = Timeline()
    tl.put(alert(state="pending"))
    tl.run_until(100)
    assert tl.dispatcher.groups == {} and tl.sent == []


def test_routing_by_severity_and_matchers() -> None:
    critical_only = webhook(severities=["critical"])
    prod_only = webhook(matchers=[{"name": "env", "op": "=", "value": "prod"}])
    tl = Timeline(critical_only, prod_only)
    tl.put(alert(severity="warning", env="prod"), alert("DiskFull", severity="critical", env="dev"))
    tl.run_until(31)
    by_channel = {n.channel.id: {a.name for a in n.firing} for _, n in tl.sent}
    assert by_channel == {tl.channels[0].id: {"DiskFull"}, tl.channels[1].id: {"HighCpu"}}


def test_a_disabled_channel_receives_nothing() -> None:
    tl = Timeline(webhook(enabled=False))
    tl.put(alert())
    tl.run_until(100)
    assert tl.sent == []


def test_a_failed_delivery_is_sent_again_at_the_next_look() -> None:
    tl = Timeline()
    tl.put(alert())
    tl.clock.advance(30)
    (first,) = tl.dispatcher.flush_due().notifications
    tl.dispatcher.delivered(first, ok=False)
    tl.run_until(331)
    assert tl.times() == [330]


def test_a_group_being_delivered_is_not_looked_at_again() -> None:
    tl = Timeline()
    tl.put(alert())
    tl.clock.advance(30)
    assert len(tl.dispatcher.flush_due().notifications) == 1
    tl.clock.advance(3600)
    assert tl.dispatcher.flush_due().notifications == []


def test_a_restored_log_suppresses_what_was_already_sent() -> None:
    tl = Timeline()
    a = alert()
    key = group_key({"alertname": "HighCpu"})
    tl.dispatcher.load_log([LogEntry(tl.channel.id, key, frozenset({a.fingerprint}), frozenset(), T0 - 600)])
    tl.put(a)
    tl.run_until(400)
    assert tl.sent == []
    tl.run_until(3600)
    assert tl.times() == [3030]  # the repeat: the first look an hour after the send before the restart


def test_group_by_every_label_makes_one_group_per_alert() -> None:
    tl = Timeline(
        SlackChannel.model_validate({"name": "s", "url": "https://hooks.example/T/B/x", "group_by": ["..."]})
    )
    tl.put(alert(server="web-1"), alert(server="web-2"))
    tl.run_until(31)
    assert len(tl.sent) == 2


def test_a_channel_added_later_hears_of_the_alerts_firing_now() -> None:
    tl = Timeline()
    tl.put(alert(server="web-1"), alert(server="web-2"))
    tl.put(resolved(alert(server="web-2"), T0))
    late = stored(webhook())
    tl.run_until(100)
    tl.dispatcher.set_channels([*tl.channels, late])
    tl.run_until(200)
    assert [(t, n.channel.id) for t, n in tl.sent] == [(30, tl.channel.id), (130, late.id)]
    assert [a.labels["server_id"] for a in tl.sent[1][1].firing] == ["web-1"]


def test_a_changed_channel_regroups_without_repeating_what_it_told() -> None:
    tl = Timeline()
    tl.put(alert(server="web-1"))
    tl.run_until(31)
    changed = StoredChannel(
        tl.channel.id,
        tl.channel.config.model_copy(update={"repeat_interval_s": 7200}),
        tl.channel.created_at,
        tl.channel.updated_at,
    )
    tl.dispatcher.set_channels([changed])
    tl.run_until(7000)
    assert tl.times() == [30]
    tl.run_until(7300)
    assert tl.times() == [30, 7261]  # the new group looks at 61, 361 …; two hours after the send


def test_a_channel_removed_or_disabled_loses_its_groups() -> None:
    tl = Timeline()
    tl.put(alert())
    tl.dispatcher.set_channels([])
    assert tl.dispatcher.groups == {}
    tl.run_until(100)
    assert tl.sent == []
