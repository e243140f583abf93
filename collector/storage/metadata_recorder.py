"""Servers' metric metadata into PostgreSQL, written only when it changed.

A wave observer of the storage pipeline. A successful scrape's result carries its page's metadata as the
scrape loop's parse cache holds it: the same object for as long as the page's HELP, TYPE and UNIT lines stay
the same. So a steady scrape costs one dict lookup here and no database work; a new object is compared by
a digest (the families and the target's labels) with what was last written for its server, and only a real
change is queued. A task of its own writes the queued servers in batches
(:func:`collector.storage.metric_metadata.replace_metadata`), retrying with a capped backoff while
PostgreSQL is away; the queue keeps only each server's latest metadata, so it is bounded by the fleet.

Types are kept in the words of Prometheus's API: the text format's ``untyped`` is ``unknown`` there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import structlog

from collector.backoff import Backoff
from collector.result import FamilyMetadata, ScrapeResult
from collector.storage.metric_metadata import Entry, ServerMetadata, replace_metadata
from collector.storage.queued_writer import QueuedWriter
from collector.storage.server_rows import TargetRow
from collector.summary import ServerSummary

log = structlog.get_logger(__name__)

_API_TYPES = {"untyped": "unknown"}
_REFUSED = (asyncpg.DataError, asyncpg.ProgramLimitExceededError)
"""Errors about the data itself: writing the same rows again cannot succeed."""


@dataclass(frozen=True)
class MetadataRecorderOptions:
    """Batching and retry of the metadata writer."""

    batch_max_entries: int = 50_000
    """Write at most about this many families in one transaction (a whole server's always go together)."""
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0


def families_of(metadata: FamilyMetadata) -> dict[str, Entry]:
    """A page's metadata as stored: (type, help, unit) by family name, types in the API's words, without
    the NUL characters a PostgreSQL text cannot hold."""
    return {
        name: (_API_TYPES.get(type_, type_), help_.replace("\x00", ""), unit)
        for name, (_, type_, help_, unit) in metadata.items()
    }


def _digest(update: ServerMetadata) -> int:
    return hash((update.target.labels, frozenset(update.families.items())))


class MetadataRecorder(QueuedWriter):
    """Keeps ``metric_metadata`` in step with what servers' pages say; see the module docstring."""

    def __init__(self, pool: asyncpg.Pool, options: MetadataRecorderOptions | None = None) -> None:
        self._options = options or MetadataRecorderOptions()
        super().__init__(
            "metric-metadata", Backoff(self._options.retry_initial_s, self._options.retry_max_s), _unavailable
        )
        self._pool = pool
        self._seen: dict[UUID, FamilyMetadata] = {}
        self._written: dict[UUID, int] = {}
        self._pending: dict[UUID, ServerMetadata] = {}
        self.writes_total = 0
        """Servers whose metadata was written since start."""

    def observe(self, results: Sequence[ScrapeResult], _summaries: Mapping[str, ServerSummary]) -> None:
        """Queue the servers of this wave whose metadata changed since it was last written."""
        for result in results:
            metadata = result.metadata
            if metadata is None:
                continue
            target = result.target
            server_id = target.server_id
            if self._seen.get(server_id) is metadata:
                continue
            self._seen[server_id] = metadata
            row = TargetRow(server_id, target.job, target.instance, target.labels)
            update = ServerMetadata(row, families_of(metadata))
            if self._written.get(server_id) == _digest(update):
                self._pending.pop(server_id, None)
                continue
            self._pending[server_id] = update
            self._wake()

    @property
    def pending(self) -> int:
        """Servers whose changed metadata waits to be written."""
        return len(self._pending)

    def _has_pending(self) -> bool:
        return bool(self._pending)

    async def _write_some(self) -> None:
        batch: list[ServerMetadata] = []
        entries = 0
        for update in self._pending.values():
            if batch and entries + len(update.families) > self._options.batch_max_entries:
                break
            batch.append(update)
            entries += len(update.families)
        try:
            await replace_metadata(self._pool, batch)
        except _REFUSED:
            # What PostgreSQL refuses (a family name too long for its index, say) would be refused again on
            # every retry: write the servers one by one, and drop the page it refuses until the page changes.
            for update in batch:
                try:
                    await replace_metadata(self._pool, [update])
                except _REFUSED as exc:
                    target = update.target
                    log.error(
                        "metric metadata refused by PostgreSQL, dropped until the page changes",
                        job=target.job,
                        instance=target.instance,
                        error=str(exc),
                    )
        for update in batch:
            server_id = update.target.server_id
            self._written[server_id] = _digest(update)
            # A newer page may have replaced the server's entry while this batch was being written.
            if self._pending.get(server_id) is update:
                del self._pending[server_id]
        self.writes_total += len(batch)


def _unavailable(_attempt: int, exc: Exception, delay_s: float) -> None:
    log.warning("metric metadata not written, kept for a retry", error=str(exc), retry_in_s=delay_s)
