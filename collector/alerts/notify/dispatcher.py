"""The notifier's pure core: alerts grouped per channel, and the decision of when a group is sent.

:meth:`Dispatcher.put` files every firing or resolved alert into a group of each channel that routes it (the
group is named by the channel and the values of its ``group_by`` labels). :meth:`Dispatcher.flush_due` looks
at each group whose time has come: a new group ``group_wait_s`` after it appeared, then every
``group_interval_s``. A look at a group sends a :class:`Notification` when

- a firing alert that is not muted now was not in the last notification of the group, or
- an alert the receiver was last told is firing has resolved (and the channel sends resolutions), or
- the same firing alerts were last sent ``repeat_interval_s`` ago or longer.

Muting (silences, inhibition) is asked at that moment, so an alert whose silence has expired is sent at the
group's next look. What was last sent per group is the notification log (:class:`LogEntry`); the caller keeps
it in the database so that after a restart the same alerts are not sent again. A resolution is only told to a
receiver that was told the alert fired: one that resolved while muted or before its first notification is
dropped. Resolved alerts leave their group once told; an empty group is removed with its log entry.

Nothing here does I/O or reads the wall clock: the caller delivers the notifications, reports the outcome
with :meth:`Dispatcher.delivered`, and stores the log changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from uuid import UUID

from collector.alerts.model import Alert, Clock
from collector.alerts.notify.channels import StoredChannel

IsMuted = Callable[[Alert, float], bool]
"""Whether an alert is silenced or inhibited at a time (the engine's ``is_muted``)."""

GroupId = tuple[UUID, str]
"""A channel's id and a group key."""


def group_key(labels: Mapping[str, str]) -> str:
    """The stable name of a group within its channel, e.g. ``{alertname="HighCpu"}``."""
    return "{" + ",".join(f"{name}={json.dumps(labels[name])}" for name in sorted(labels)) + "}"


@dataclass(frozen=True)
class LogEntry:
    """What a channel was last told about a group."""

    channel_id: UUID
    group_key: str
    firing: frozenset[str]
    """Fingerprints of the firing alerts the receiver knows of."""
    resolved: frozenset[str]
    """Fingerprints of the resolutions in the last notification."""
    sent_at: float
    """When the last notification was sent (Unix seconds)."""


@dataclass(frozen=True)
class Notification:
    """One message to one channel about one group."""

    channel: StoredChannel
    group_key: str
    group_labels: Mapping[str, str]
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]
    entry: LogEntry
    """The notification log of the group once this is delivered."""

    @property
    def status(self) -> Literal["firing", "resolved"]:
        """``firing`` while any alert of the notification fires."""
        return "firing" if self.firing else "resolved"


@dataclass
class Group:
    """The alerts of one group of one channel, and when it is looked at next."""

    channel_id: UUID
    key: str
    labels: dict[str, str]
    next_flush_at: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    in_flight: bool = False
    """A notification of the group is being delivered; the group is not looked at until it is done."""


@dataclass(frozen=True)
class Flush:
    """What one :meth:`Dispatcher.flush_due` decided."""

    notifications: list[Notification]
    saved: list[LogEntry]
    """Log entries changed without a notification (alerts muted or resolved untold): store them."""
    removed: list[GroupId]
    """Groups removed: delete their log entries."""


class Dispatcher:
    """Groups per channel and the notification log, over a clock and a mute check."""

    def __init__(self, clock: Clock, is_muted: IsMuted) -> None:
        self._clock = clock
        self._is_muted = is_muted
        self._channels: dict[UUID, StoredChannel] = {}
        self._groups: dict[GroupId, Group] = {}
        self._log: dict[GroupId, LogEntry] = {}
        self._firing: dict[str, Alert] = {}
        """Every alert firing now, for channels that appear later."""

    @property
    def groups(self) -> Mapping[GroupId, Group]:
        """The current groups (read-only view for status pages and tests)."""
        return self._groups

    def log_entry(self, channel_id: UUID, key: str) -> LogEntry | None:
        """The notification log of one group, if anything was sent."""
        return self._log.get((channel_id, key))

    def load_log(self, entries: Iterable[LogEntry]) -> None:
        """Take the notification log as stored, at start-up, before the first :meth:`put`."""
        for entry in entries:
            self._log[(entry.channel_id, entry.group_key)] = entry

    def set_channels(self, channels: Iterable[StoredChannel]) -> None:
        """Use these channels from now on.

        Groups of channels gone or disabled are dropped. A channel that is new, enabled again or changed gets
        its groups afresh from the alerts firing now, so it hears of them without waiting for a change; the
        notification log keeps it from repeating what it was already told.
        """
        previous = self._channels
        self._channels = {c.id: c for c in channels if c.config.enabled}
        renewed = {c.id: c for c in self._channels.values() if previous.get(c.id) != c}
        stale = [gid for gid in self._groups if gid[0] not in self._channels or gid[0] in renewed]
        in_flight = {gid for gid in stale if self._groups[gid].in_flight}
        for gid in stale:
            del self._groups[gid]
        now = self._clock.now()
        for channel in renewed.values():
            for alert in self._firing.values():
                if channel.config.routes(alert):
                    self._file(channel, alert, now)
        for gid in in_flight & self._groups.keys():
            self._groups[gid].in_flight = True  # its delivery is still under way: no second one meanwhile

    def put(self, alerts: Iterable[Alert]) -> None:
        """File alerts that changed state into their groups; pending alerts are never notified."""
        now = self._clock.now()
        for alert in alerts:
            if alert.state == "pending":
                continue
            if alert.state == "firing":
                self._firing[alert.fingerprint] = alert
            else:
                self._firing.pop(alert.fingerprint, None)
            for channel in self._channels.values():
                if channel.config.routes(alert):
                    self._file(channel, alert, now)

    def _file(self, channel: StoredChannel, alert: Alert, now: float) -> None:
        labels = channel.config.group_labels(alert.labels)
        gid = (channel.id, group_key(labels))
        group = self._groups.get(gid)
        if group is None:
            told = self._log.get(gid)
            if alert.state == "resolved" and (told is None or alert.fingerprint not in told.firing):
                return  # the receiver never heard of it firing: nothing to tell
            group = Group(channel.id, gid[1], labels, next_flush_at=now + channel.config.group_wait_s)
            self._groups[gid] = group
        group.alerts[alert.fingerprint] = alert

    def next_flush_at(self) -> float | None:
        """When the earliest group is due, if there is any group."""
        return min((g.next_flush_at for g in self._groups.values()), default=None)

    def flush_due(self) -> Flush:
        """Look at every group whose time has come; returns the notifications to deliver and log changes."""
        now = self._clock.now()
        flush = Flush([], [], [])
        for gid, group in list(self._groups.items()):
            if group.in_flight or group.next_flush_at > now:
                continue
            self._flush(gid, group, now, flush)
        return flush

    def _flush(self, gid: GroupId, group: Group, now: float, flush: Flush) -> None:
        config = self._channels[gid[0]].config
        group.next_flush_at = now + config.group_interval_s
        told = self._log.get(gid)
        told_firing = told.firing if told is not None else frozenset()
        firing = tuple(a for a in group.alerts.values() if a.state == "firing" and not self._is_muted(a, now))
        resolved = tuple(
            a
            for a in group.alerts.values()
            if a.state == "resolved" and config.send_resolved and a.fingerprint in told_firing
        )
        resolved_fps = frozenset(a.fingerprint for a in resolved)
        for fp in [fp for fp, a in group.alerts.items() if a.state == "resolved" and fp not in resolved_fps]:
            del group.alerts[fp]
        firing_fps = frozenset(a.fingerprint for a in firing)
        repeat = told is not None and bool(firing) and now - told.sent_at >= config.repeat_interval_s
        if not firing_fps <= told_firing or resolved or repeat:
            entry = LogEntry(gid[0], gid[1], firing_fps, resolved_fps, now)
            group.in_flight = True
            flush.notifications.append(
                Notification(self._channels[gid[0]], gid[1], dict(group.labels), firing, resolved, entry)
            )
            return
        if told is not None and firing_fps != told_firing:
            # Some alerts are muted or resolved untold: forget them, so that they are news when they are back.
            self._log[gid] = replace(told, firing=firing_fps)
            flush.saved.append(self._log[gid])
        if not group.alerts:
            self._remove(gid)
            flush.removed.append(gid)

    def delivered(self, notification: Notification, ok: bool) -> bool:
        """Record a delivery's outcome; returns True when its group is now empty and removed.

        After a failure the log stays as it was, so the group's next look sends again.
        """
        gid = (notification.channel.id, notification.group_key)
        group = self._groups.get(gid)
        if group is None:
            return False  # the channel went away meanwhile
        group.in_flight = False
        if not ok:
            return False
        self._log[gid] = notification.entry
        for alert in notification.resolved:
            current = group.alerts.get(alert.fingerprint)
            if current is not None and current.state == "resolved":
                del group.alerts[alert.fingerprint]
        if group.alerts:
            return False
        self._remove(gid)
        return True

    def _remove(self, gid: GroupId) -> None:
        del self._groups[gid]
        self._log.pop(gid, None)
