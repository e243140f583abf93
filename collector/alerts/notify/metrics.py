"""The notifier's own metrics, served on the collector's ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class NotifyMetrics:
    """Notifications delivered and given up, per kind of channel, in the registry given (or their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.sent = Counter(
            "openmanager_notifications_sent_total",
            "Notifications delivered, by kind of channel.",
            ["kind"],
            registry=self.registry,
        )
        self.failed = Counter(
            "openmanager_notifications_failed_total",
            "Notifications given up after their last attempt, by kind of channel.",
            ["kind"],
            registry=self.registry,
        )
