"""The scrape of one target: fetch, parse, relabel, apply limits, add synthetic series, hand off.

A ``ScrapeLoop`` keeps what makes a steady-state scrape cheap: the parser's per-target series cache and a
second cache from each parsed series to its final key (after ``honor_labels`` merging and
``metric_relabel_configs``), so that relabeling runs once per new series, not once per sample. When the
series set is unchanged, the previous tuple and its id are reused.

Failure semantics follow Prometheus: a failed fetch, a parse error, or a limit exceeded fails the whole
scrape and stores nothing of it but the synthetic series (``up`` 0); every series of the previous
successful scrape is then reported stale. Without metric relabeling the sample limit is enforced while
parsing, so a page far over it is not parsed to the end; a job's ``line_limit`` is checked before parsing.
A page of more than :data:`THREAD_PARSE_LINES` lines or of :data:`OFFLOAD_BYTES` or more is parsed and
relabeled in one shared worker thread: a first full parse of a page of megabytes takes seconds of CPU, which
on the event loop would delay every other target's scrape and every API request. So is a target's first parse
of a page over :data:`FIRST_PARSE_THREAD_LINES` lines, since after a start every target's first parse comes in
the same interval. Only such pages go there: the GIL lets one thread run Python at a time, and handing every
ordinary page to threads costs more in handoffs than it saves.

An error never quotes a page that is not a metrics page (its content type is not a metrics one): it says
"not a metrics page (content type X, N bytes)". Jobs with ``quote_page_errors`` off (servers registered
through the API, whose address may be any internal service) never quote their page at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import aiohttp
import structlog

from collector.config.honor_labels import merge_target_labels
from collector.config.relabel_actions import relabel
from collector.config.scrape_job import ScrapeJob
from collector.discovery import Target
from collector.queue import ResultQueue
from collector.result import FamilyMetadata, Labels, ScrapeResult, SeriesKey, TargetInfo, server_id_for
from collector.scrape.fetch import FetchedPage, FetchError, FetchSpec, fetch
from collector.scrape.metrics import ScrapeMetrics
from collector.scrape.parser import (
    ParseError,
    SampleLimitError,
    describe_invalid_page,
    is_metrics_content_type,
    parse,
)
from collector.scrape.samples import Sample
from collector.scrape.seriescache import SeriesCache
from collector.scrape.shape import PageShape, picker

log = structlog.get_logger(__name__)

SYNTHETIC_NAMES: Final = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)

_DROPPED: Final = ("", ())  # cache marker: relabeling dropped this series

THREAD_PARSE_LINES: Final = 5_000
"""Pages longer than this are parsed off the event loop (a node_exporter page has 1,000 to 3,000 lines)."""
FIRST_PARSE_THREAD_LINES: Final = 200
"""A target's first parse (no series known yet: every series is relabeled and interned) of a page longer than
this is also done off the event loop. After a start, every target's first parse falls in the same interval; on
the loop they would hold it for seconds at a thousand targets."""
OFFLOAD_BYTES: Final = 1 << 20
"""Pages this large or larger are also parsed in :data:`_LARGE_PAGES`, off the event loop."""
_LARGE_PAGES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scrape-large-page")


class LimitExceededError(Exception):
    """A Prometheus scrape limit was exceeded; ``reason`` names the limit."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class TargetState:
    """What the API shows about a target: health, last scrape and its outcome."""

    health: str = "unknown"
    last_scrape_ms: int | None = None
    last_duration_s: float | None = None
    last_error: str | None = None
    last_samples: int = 0


def series_set_id(series: tuple[SeriesKey, ...]) -> str:
    """A stable id of a series set (its keys in order)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, labels in series:
        digest.update(name.encode())
        for label, value in labels:
            digest.update(b"\xff" + label.encode() + b"\xfe" + value.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _instance(target: Target) -> str:
    return dict(target.labels).get("instance", "")


class ScrapeLoop:
    """Scrapes one target on demand and remembers what the next scrape needs."""

    def __init__(
        self,
        target: Target,
        job: ScrapeJob,
        *,
        session: aiohttp.ClientSession,
        spec: FetchSpec,
        queue: ResultQueue,
        metrics: ScrapeMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.job = job
        self.info = TargetInfo(
            identity=target.identity,
            server_id=server_id_for(job.job_name, _instance(target)),
            job=job.job_name,
            instance=_instance(target),
            labels=target.labels,
            url=target.url,
            interval_s=target.scrape_interval_s,
            timeout_s=target.scrape_timeout_s,
        )
        self.state = TargetState()
        self._session = session
        self._spec = spec
        self._queue = queue
        self._metrics = metrics
        self._clock = clock
        self._parse_cache = SeriesCache()
        self._final: dict[tuple[str, Labels], SeriesKey] = {}
        self._synthetic: tuple[SeriesKey, ...] = tuple((name, target.labels) for name in SYNTHETIC_NAMES)
        self._synthetic_id = series_set_id(self._synthetic)
        # The scraped series of the last successful scrape, and that set with the synthetic series appended
        # (what results carry, and what the set id names).
        self._series: tuple[SeriesKey, ...] = ()
        self._all_series = self._synthetic
        self._series_id = self._synthetic_id
        self._running = False
        self._stopped = False
        self._shape: PageShape | None = None
        self._kept: Callable[[list[float]], tuple[float, ...]] | None = None
        self._current: list[SeriesKey] = []
        # The metadata of the last page parsed: the parse cache's own object, replaced only when the
        # metadata changes, so the page's fast path and steady pages hand storage the same object.
        self._metadata: FamilyMetadata = {}
        self._log = log.bind(job=job.job_name, target=target.url)

    @property
    def running(self) -> bool:
        """True while a scrape of this target is in flight."""
        return self._running

    def stop(self) -> None:
        """Scrape no more: a run the scheduler started before the target went away does nothing."""
        self._stopped = True

    async def scrape(self, planned_s: float | None = None) -> ScrapeResult | None:
        """Scrape once and queue the result; None (and counted) when the previous scrape still runs.

        None, and nothing fetched, once the loop is stopped. ``planned_s`` stamps the scrape with its
        planned time instead of its start: two collectors scraping one target then write the same
        timestamp, which history stores once.
        """
        if self._stopped:
            return None
        if self._running:
            self._metrics.skipped.labels(self.job.job_name).inc()
            return None
        self._running = True
        try:
            result = await self._scrape(planned_s)
        finally:
            self._running = False
        self._queue.put(result)
        return result

    async def _scrape(self, planned_s: float | None) -> ScrapeResult:
        # A planned time is rounded: two collectors' float sums for one slot may differ in the last bit.
        started_ms = int(self._clock() * 1000) if planned_s is None else round(planned_s * 1000)
        perf_start = time.perf_counter()
        timestamps: list[int] | None = None
        stale: tuple[SeriesKey, ...] = ()
        added = 0
        page = None
        # Samples are counted after metric relabeling; without it, the parser can count them.
        parse_limit = 0 if self.job.metric_relabel_configs else self.job.sample_limit
        try:
            page = await fetch(self._session, self._spec)
            fast = self._shape.values(page.body, page.content_type) if self._shape is not None else None
            if fast is not None:
                # Same page shape as last time: same series in the same order, only new values.
                scraped = len(fast)
                values = list(self._kept(fast)) if self._kept is not None else fast
            else:
                self._shape = None
                lines = page.body.count(b"\n")
                if self.job.line_limit and lines > self.job.line_limit:
                    raise LimitExceededError(
                        "line_limit", f"{lines} lines exceed the page line limit {self.job.line_limit}"
                    )
                first = not self._final
                if (
                    lines > THREAD_PARSE_LINES
                    or len(page.body) >= OFFLOAD_BYTES
                    or (first and lines > FIRST_PARSE_THREAD_LINES)
                ):
                    (
                        values,
                        timestamps,
                        scraped,
                        added,
                        stale,
                    ) = await asyncio.get_running_loop().run_in_executor(
                        _LARGE_PAGES, self._read_page, page, parse_limit
                    )
                else:
                    values, timestamps, scraped, added, stale = self._read_page(page, parse_limit)
        except (FetchError, LimitExceededError) as exc:
            return self._failed(started_ms, perf_start, exc.reason, str(exc))
        except SampleLimitError as exc:
            return self._failed(started_ms, perf_start, "sample_limit", str(exc))
        except ParseError as exc:
            assert page is not None
            error = self._parse_error(exc, page.content_type, page.body)
            return self._failed(started_ms, perf_start, "parse", error)
        duration = time.perf_counter() - perf_start
        result = ScrapeResult(
            target=self.info,
            timestamp_ms=started_ms,
            duration_s=duration,
            error=None,
            error_reason=None,
            series=self._all_series,
            series_set_id=self._series_id,
            values=[*values, 1.0, duration, float(scraped), float(len(values)), float(added)],
            timestamps_ms=None
            if timestamps is None
            else [*timestamps, *([started_ms] * len(SYNTHETIC_NAMES))],
            stale=stale,
            samples_scraped=scraped,
            series_added=added,
            metadata=self._metadata,
        )
        self._record(result)
        return result

    def _read_page(
        self, page: FetchedPage, parse_limit: int
    ) -> tuple[list[float], list[int] | None, int, int, tuple[SeriesKey, ...]]:
        """Parse and process a page the fast path could not read: values, timestamps, samples scraped,
        series added, series gone stale. Only this target's state is touched (and only one scrape of a
        target runs at a time), so a worker thread may run it."""
        parsed = parse(page.body, page.content_type, self._parse_cache, parse_limit)
        self._metadata = self._parse_cache.metadata
        values, timestamps, scraped = self._process(parsed.samples)
        added, stale = self._diff(self._current)
        if timestamps is None and not parsed.exemplars:
            shape = PageShape(page.body.decode(), page.content_type, parsed.format == "openmetrics")
            self._shape = shape if shape.count == scraped else None
        return values, timestamps, scraped, added, stale

    def _parse_error(self, exc: ParseError, content_type: str, body: bytes) -> str:
        if self.job.quote_page_errors and is_metrics_content_type(content_type):
            return f"invalid metrics page: {exc}"
        return describe_invalid_page(content_type, len(body), exc)

    def _process(self, samples: list[Sample]) -> tuple[list[float], list[int] | None, int]:
        """Values and (honored) timestamps of the samples that relabeling keeps; their series in ``_current``.

        Also notes which page positions were kept (``_kept``), for the fast path of the next scrape.
        """
        final_cache = self._final
        series: list[SeriesKey] = []
        values: list[float] = []
        stamps: list[int | None] = []
        kept: list[int] = []
        has_stamps = False
        for position, (name, labels, value, timestamp_ms) in enumerate(samples):
            key = final_cache.get((name, labels))
            if key is None:
                key = self._finalize(name, labels)
                final_cache[(name, labels)] = key
            if key is _DROPPED:
                continue
            series.append(key)
            values.append(value)
            stamps.append(timestamp_ms)
            kept.append(position)
            has_stamps = has_stamps or timestamp_ms is not None
        limit = self.job.sample_limit
        if limit and len(series) > limit:
            raise LimitExceededError("sample_limit", f"{len(series)} samples exceed sample_limit {limit}")
        timestamps = None
        if has_stamps and self.job.honor_timestamps:
            now_ms = int(self._clock() * 1000)
            timestamps = [now_ms if t is None else t for t in stamps]
        if len(final_cache) > 4 * max(len(series), 1000):
            # Churned series: forget keys not on this page rather than grow without bound.
            seen = {(n, ls) for n, ls, _, _ in samples}
            self._final = {k: v for k, v in final_cache.items() if k in seen}
        self._current = series
        self._kept = None if len(kept) == len(samples) else picker(kept)
        return values, timestamps, len(samples)

    def _finalize(self, name: str, labels: Labels) -> SeriesKey:
        """Merge target labels, apply metric relabeling and label limits to one new series."""
        merged = merge_target_labels(dict(labels), self.target.labels, self.job.honor_labels)
        if self.job.metric_relabel_configs:
            merged["__name__"] = name
            relabeled = relabel(merged, self.job.metric_relabel_configs)
            if relabeled is None:
                return _DROPPED
            name = relabeled.pop("__name__", "")
            if not name:
                return _DROPPED
            merged = relabeled
        self._check_label_limits(merged)
        return name, tuple(sorted(merged.items()))

    def _check_label_limits(self, labels: dict[str, str]) -> None:
        job = self.job
        if job.label_limit and len(labels) > job.label_limit:
            raise LimitExceededError(
                "label_limit", f"{len(labels)} labels exceed label_limit {job.label_limit}"
            )
        for label, value in labels.items():
            if job.label_name_length_limit and len(label) > job.label_name_length_limit:
                raise LimitExceededError(
                    "label_name_length_limit",
                    f"label name {label[:40]!r} is longer than label_name_length_limit "
                    f"{job.label_name_length_limit}",
                )
            if job.label_value_length_limit and len(value) > job.label_value_length_limit:
                raise LimitExceededError(
                    "label_value_length_limit",
                    f"value of label {label!r} is longer than label_value_length_limit "
                    f"{job.label_value_length_limit}",
                )

    def _diff(self, series: list[SeriesKey]) -> tuple[int, tuple[SeriesKey, ...]]:
        """Adopt ``series`` as the current set; the count of new series and the series gone stale."""
        if len(series) == len(self._series) and series == list(self._series):
            return 0, ()
        new = tuple(series)
        current = set(new)
        if len(current) != len(new):
            raise LimitExceededError("duplicate", "the page has the same series twice after relabeling")
        old = set(self._series)
        added = len(current - old)
        stale = tuple(k for k in self._series if k not in current)
        self._series = new
        self._all_series = new + self._synthetic
        self._series_id = series_set_id(self._all_series)
        return added, stale

    def _failed(self, started_ms: int, perf_start: float, reason: str, error: str) -> ScrapeResult:
        duration = time.perf_counter() - perf_start
        stale = self._series
        self._shape = None
        self._series = ()
        self._all_series = self._synthetic
        self._series_id = self._synthetic_id
        result = ScrapeResult(
            target=self.info,
            timestamp_ms=started_ms,
            duration_s=duration,
            error=error,
            error_reason=reason,
            series=self._synthetic,
            series_set_id=self._synthetic_id,
            values=[0.0, duration, 0.0, 0.0, 0.0],
            stale=stale,
        )
        self._record(result)
        return result

    def _record(self, result: ScrapeResult) -> None:
        job = self.job.job_name
        metrics = self._metrics
        previous = self.state.health
        self.state.health = "up" if result.up else "down"
        self.state.last_scrape_ms = result.timestamp_ms
        self.state.last_duration_s = result.duration_s
        self.state.last_error = result.error
        self.state.last_samples = len(result.values) - len(SYNTHETIC_NAMES) if result.up else 0
        metrics.duration.labels(job).observe(result.duration_s)
        if result.up:
            metrics.scrapes.labels(job, "success").inc()
            metrics.samples.labels(job).inc(self.state.last_samples)
        else:
            metrics.scrapes.labels(job, "failure").inc()
            metrics.failures.labels(job, result.error_reason or "unknown").inc()
        if previous != self.state.health:
            # The first success of every target at start-up is routine; a change afterwards is news.
            level = self._log.debug if previous == "unknown" and result.up else self._log.info
            level("target health changed", health=self.state.health, error=result.error)


async def drain(loops: list[ScrapeLoop], timeout_s: float) -> None:
    """Wait (at most ``timeout_s``) for in-flight scrapes of ``loops`` to finish."""
    deadline = time.monotonic() + timeout_s
    while any(loop.running for loop in loops) and time.monotonic() < deadline:  # noqa: ASYNC110 - loops own no event
        await asyncio.sleep(0.05)
