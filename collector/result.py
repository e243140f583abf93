"""What one scrape of one target produces, as handed from the scrape engine to storage.

A target's series rarely change between scrapes, so a result carries its series set as one tuple (the same
object from scrape to scrape while the set is unchanged) with a stable ``series_set_id``, and the values as a
list aligned with it. Storage can then write a scrape as one row (target, time, set id, values) and the set
itself only when it changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name; the metric name is not among them."""
SeriesKey = tuple[str, Labels]
"""A series: its metric name and its final labels (target labels included)."""
FamilyMetadata = Mapping[str, tuple[str, str, str, str]]
"""A page's metric families by name, each as (name, type, help, unit): what HELP, TYPE and UNIT said."""

_SERVER_NAMESPACE = uuid.UUID("5f0c1f4e-7a53-4d0b-9a3e-0f6d6f70656e")


def server_id_for(job: str, instance: str) -> uuid.UUID:
    """The ``servers.id`` of the server a target stands for: the same on every collector and restart.

    A target is a server; deriving the id from (job, instance) lets Redis and PostgreSQL writers agree on it
    without a round trip, and a server registered through the API gets the id its target will have.
    """
    return uuid.uuid5(_SERVER_NAMESPACE, f"{job}\x00{instance}")


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """The identity and public labels of a scraped target."""

    identity: str
    """Stable hash of the target (job and full label set): survives restarts and reloads."""
    server_id: uuid.UUID
    """See :func:`server_id_for`."""
    job: str
    instance: str
    labels: Labels
    url: str
    interval_s: float
    timeout_s: float


@dataclass(slots=True)
class ScrapeResult:
    """One scrape: the samples kept after relabeling plus the synthetic series, or the failure."""

    target: TargetInfo
    timestamp_ms: int
    """When the scrape started, in Unix milliseconds: the timestamp of every sample without its own."""
    duration_s: float
    error: str | None
    """None when the scrape succeeded; otherwise what went wrong, for people."""
    error_reason: str | None
    """A short stable label of the failure (``timeout``, ``parse``, ``sample_limit`` …), for metrics."""
    series: tuple[SeriesKey, ...]
    series_set_id: str
    values: list[float]
    timestamps_ms: list[int] | None = None
    """Per-sample timestamps when the target exposed its own and ``honor_timestamps`` is on."""
    stale: tuple[SeriesKey, ...] = field(default=())
    """Series present in the previous scrape and gone now: they get a staleness marker."""
    samples_scraped: int = 0
    series_added: int = 0
    metadata: FamilyMetadata | None = None
    """The page's metric metadata on a successful scrape (the same object while it is unchanged, so a
    consumer can tell a change by identity); None when the result says nothing of it (a failure, a push)."""

    @property
    def up(self) -> bool:
        """True when the scrape succeeded."""
        return self.error is None
