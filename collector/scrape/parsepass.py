"""One parse pass over a page's lines: the hot loops over cached series, and the slow path for the rest.

A line of a series in the :class:`~collector.scrape.seriescache.SeriesCache` costs a split at its last
space, a dict lookup, a few constant-time checks of the value and ``float()``; a known metadata line costs a
dict lookup. Anything else (timestamps, exemplars, new series, errors) goes through
:mod:`collector.scrape.lexer` and :mod:`collector.scrape.families`, which hold the rules of each format.

A pass reports a bad line with :class:`InvalidLineError` and a page past its sample limit with
:class:`OverSampleLimitError`; :func:`collector.scrape.parser.parse_format` turns them into the parser's
errors and decides whether a warm pass that failed is tried again cold.
"""

from __future__ import annotations

import sys

from collector.scrape.families import (
    OpenMetricsFamilies,
    text_has_one_sample_name,
    text_sample_labels,
    text_sample_names,
)
from collector.scrape.lexer import (
    EXEMPLAR_MAX_RUNES,
    EXEMPLAR_SAMPLE_SUFFIXES,
    ExemplarLine,
    LineError,
    MetaLine,
    TimestampOutOfRangeError,
    scan_exemplar,
    scan_metadata,
    scan_sample,
)
from collector.scrape.numbers import parse_openmetrics_timestamp, parse_text_timestamp, parse_value
from collector.scrape.samples import Exemplar, Format, MetricMeta, Sample
from collector.scrape.seriescache import CachedSeries, SeriesCache


class InvalidLineError(Exception):
    """Line ``number`` (1-based) of the page, ``line``, is invalid for the reason ``error`` gives."""

    def __init__(self, number: int, line: str, error: LineError) -> None:
        super().__init__(number, line, error)
        self.number = number
        self.line = line
        self.error = error


class OverSampleLimitError(Exception):
    """The page has more samples than the pass's ``sample_limit``; the pass stopped there."""


class TypesChangedError(Exception):
    """A TYPE differs from the scrape the cache was filled from, so cached labels may be stale."""


class ParsePass:
    """One parse attempt of one page: the hot loops, and the state the slow path checks lines against."""

    def __init__(
        self,
        lines: list[str],
        fmt: Format,
        cache: SeriesCache,
        clean: bool,
        warm: bool,
        *,
        sample_limit: int = 0,
    ) -> None:
        self.lines = lines
        self.sample_limit = sample_limit
        self.openmetrics = fmt == "openmetrics"
        self.clean = clean
        self.cache = cache
        self.warm = warm
        self.generation = cache.next_generation()
        self.keys = cache.keys
        self.series = cache.series
        self.known_metadata = cache.metadata_lines
        self.metadata_lines: dict[str, MetaLine] = {}
        self.samples: list[Sample] = []
        self.exemplars: list[Exemplar] = []
        self.stamped: set[tuple[CachedSeries, int]] = set()
        self.stamped_series: set[CachedSeries] = set()
        self.families = OpenMetricsFamilies()
        # The text format needs no more than the metadata and the names of the samples so far.
        self.helps = self.families.helps
        self.types = self.families.types
        self.names: set[str] = set()

    def run(self) -> dict[str, MetricMeta]:
        """Parse every line, then check and store what the cache needs for the next scrape.

        Returns the metadata of the page's families; its samples and exemplars are in :attr:`samples` and
        :attr:`exemplars`.
        """
        if self.openmetrics:
            self._openmetrics_loop()
        else:
            self._text_loop()
        # The hot loops only take series cached from the last parse, so only _add checks the limit as it
        # goes; this catches a cache filled under a higher limit.
        if self.sample_limit and len(self.samples) > self.sample_limit:
            raise OverSampleLimitError
        if self.warm and self.types != self.cache.types:
            raise TypesChangedError
        self._sweep()
        default_type = "unknown" if self.openmetrics else "untyped"
        return self.cache.remember_metadata(
            self.metadata_lines, self.helps, self.types, self.families.units, default_type
        )

    def _text_loop(self) -> None:
        get = self.keys.get
        known_metadata = self.known_metadata.get
        metadata_lines = self.metadata_lines
        helps = self.helps
        types = self.types
        previous_type = self.cache.types.get
        names = self.names
        samples = self.samples
        append = samples.append
        generation = self.generation
        clean = self.clean
        new = tuple.__new__
        slow = self._slow
        last_name = ""
        other = 0  # lines without a sample so far: with len(samples) it gives the line number
        for line in self.lines:
            key, _, value_text = line.rpartition(" ")
            entry = get(key)
            if entry is not None:
                if (
                    entry.gen != generation
                    and value_text.isascii()
                    and "_" not in value_text
                    and (clean or value_text[:1] > " " < value_text[-1:])
                ):
                    try:
                        value = float(value_text)
                    except ValueError:
                        pass
                    else:
                        # Of what is left, only a signed NaN passes float() and not the formats; other
                        # spellings of NaN than this one take the slow path.
                        if value == value or value_text == "NaN":  # noqa: PLR0124 - the fastest NaN test
                            entry.gen = generation
                            name = entry.name
                            if name is not last_name:
                                names.add(name)
                                last_name = name
                            append(new(Sample, (name, entry.labels, value, None)))
                            continue
            else:
                meta = known_metadata(line)
                if meta is not None:
                    # The usual cases of _text_metadata, inlined: a known line with nothing to report.
                    metadata_lines[line] = meta
                    kind, name = meta.kind, meta.name
                    if kind == "HELP":
                        if name not in helps:
                            helps[name] = meta.text
                            other += 1
                            continue
                    elif kind == "TYPE":
                        type_name = meta.text
                        if (
                            name not in types
                            and name not in names
                            and text_has_one_sample_name(type_name)
                            and previous_type(name) == type_name
                        ):
                            types[name] = type_name
                            other += 1
                            continue
                    else:
                        other += 1
                        continue
            other += slow(line, len(samples) + other + 1)

    def _openmetrics_loop(self) -> None:
        get = self.keys.get
        known_metadata = self.known_metadata.get
        metadata_lines = self.metadata_lines
        families = self.families
        allowed = families.allowed
        samples = self.samples
        append = samples.append
        generation = self.generation
        clean = self.clean
        new = tuple.__new__
        slow = self._slow
        other = 0
        for line in self.lines:
            key, _, value_text = line.rpartition(" ")
            entry = get(key)
            if entry is not None:
                if (
                    entry.gen != generation
                    and value_text.isascii()
                    and "_" not in value_text
                    and (clean or value_text[:1] > " " < value_text[-1:])
                ):
                    try:
                        value = float(value_text)
                    except ValueError:
                        pass
                    else:
                        # A sample of another family, or a NaN spelled otherwise, takes the slow path.
                        if entry.name in allowed and (value == value or value_text == "NaN"):  # noqa: PLR0124
                            entry.gen = generation
                            append(new(Sample, (entry.name, entry.labels, value, None)))
                            continue
            else:
                meta = known_metadata(line)
                if meta is not None:
                    metadata_lines[line] = meta
                    try:
                        self._openmetrics_metadata(meta)
                    except LineError as exc:
                        raise InvalidLineError(len(samples) + other + 1, line, exc) from None
                    other += 1
                    allowed = families.allowed
                    continue
            other += slow(line, len(samples) + other + 1)
            allowed = families.allowed

    def _slow(self, line: str, number: int) -> int:
        """Handle a line the hot loop could not; return 1 when it holds no sample."""
        try:
            if self.openmetrics:
                if not line:
                    raise LineError("blank line (not allowed in OpenMetrics)")
                if line[0] == "#":
                    self._metadata(line)
                    return 1
            else:
                first = line.lstrip(" \t")[:1]
                if not first:
                    return 1
                if first == "#":
                    self._metadata(line)
                    return 1
            self._sample(line)
        except TimestampOutOfRangeError:
            return 1
        except LineError as exc:
            raise InvalidLineError(number, line, exc) from None
        return 0

    def _sample(self, line: str) -> None:
        body = line.partition(" # ")[0] if self.openmetrics else line
        resolved = self._resolve(body)
        if resolved is None:
            parsed = scan_sample(line, self.openmetrics)
            entry = self._entry(line, parsed.name, parsed.labels, parsed.series_end)
            self._add(entry, parsed.value, parsed.timestamp_ms, parsed.exemplar)
            return
        entry, value, timestamp_ms = resolved
        exemplar = scan_exemplar(line, len(body) + 3) if len(body) < len(line) else None
        self._add(entry, value, timestamp_ms, exemplar)

    def _resolve(self, body: str) -> tuple[CachedSeries, float, int | None] | None:
        """A cached series with value (and timestamp) when ``body`` splits cleanly into them.

        The key is only ever a complete series text, so a hit means the split is where the lexer would
        put it; anything that does not split cleanly goes to the lexer instead.
        """
        key, _, token = body.rpartition(" ")
        try:
            entry = self.keys.get(key)
            if entry is not None:
                return entry, parse_value(token), None
            key, _, value_token = key.rpartition(" ")
            entry = self.keys.get(key)
            if entry is not None:
                parse_timestamp = parse_openmetrics_timestamp if self.openmetrics else parse_text_timestamp
                return entry, parse_value(value_token), parse_timestamp(token)
        except ValueError:
            pass
        return None

    def _entry(self, line: str, name: str, pairs: list[tuple[str, str]], series_end: int) -> CachedSeries:
        """The series of a freshly tokenized line, cached under its series text."""
        if self.openmetrics:
            self.families.sample(name)
            pairs = self.families.sample_labels(name, pairs)
        elif self.types:
            pairs = text_sample_labels(self.types, name, pairs)
        labels = tuple(sorted(pairs))
        entry = self.series.get((name, labels))
        if entry is None:
            entry = CachedSeries(sys.intern(name), labels)
            self.series[(name, labels)] = entry
            # Another spelling of a cached series (label order, quoting) is left uncached: it is
            # then parsed in full each time, and the cache stays one key per series.
            self.keys[line[:series_end]] = entry
        return entry

    def _add(
        self,
        entry: CachedSeries,
        value: float,
        timestamp_ms: int | None,
        exemplar: ExemplarLine | None,
    ) -> None:
        """Append a sample after the checks the hot loop makes, or finds it cannot make."""
        if self.sample_limit and len(self.samples) >= self.sample_limit:
            raise OverSampleLimitError
        if self.openmetrics:
            self.families.sample(entry.name)
            if exemplar is not None:
                if not entry.name.endswith(EXEMPLAR_SAMPLE_SUFFIXES):
                    raise LineError(f"exemplars belong on _total and _bucket samples, not on {entry.name}")
                if sum(len(name) + len(value) for name, value in exemplar.labels) > EXEMPLAR_MAX_RUNES:
                    exemplar = None
        if timestamp_ms is None:
            if entry.gen == self.generation:
                raise LineError(f"duplicate sample for series {entry.text()}")
            entry.gen = self.generation
        else:
            stamp = (entry, timestamp_ms)
            if stamp in self.stamped:
                return  # storage holds one value per millisecond: the first one stays, as in Prometheus
            self.stamped.add(stamp)
            self.stamped_series.add(entry)
        self.samples.append(Sample(entry.name, entry.labels, value, timestamp_ms))
        self.names.add(entry.name)
        if exemplar is not None:
            self.exemplars.append(
                Exemplar(len(self.samples) - 1, exemplar.labels, exemplar.value, exemplar.timestamp_ms)
            )

    def _metadata(self, line: str) -> None:
        known = self.known_metadata
        meta = known[line] if line in known else scan_metadata(line, self.openmetrics)
        self.metadata_lines[line] = meta
        if meta.kind == "COMMENT":
            return
        if self.openmetrics:
            self._openmetrics_metadata(meta)
        else:
            self._text_metadata(meta)

    def _text_metadata(self, meta: MetaLine) -> None:
        name = meta.name
        if meta.kind == "HELP":
            if name in self.helps:
                raise LineError(f"second HELP line for {name!r}")
            self.helps[name] = meta.text
            return
        if name in self.types:
            raise LineError(f"second TYPE line for {name!r}")
        for sample_name in text_sample_names(name, meta.text):
            if sample_name in self.names:
                raise LineError(f"TYPE line for {name!r} after its sample {sample_name!r}")
        self.types[name] = meta.text
        self._check_type_unchanged(name, meta.text)

    def _openmetrics_metadata(self, meta: MetaLine) -> None:
        self.families.metadata(meta)
        if meta.kind == "TYPE":
            self._check_type_unchanged(meta.name, meta.text)

    def _check_type_unchanged(self, name: str, type_name: str) -> None:
        """Stop a warm parse as soon as a TYPE differs from the page the cache was filled from."""
        if self.warm and self.cache.types.get(name) != type_name:
            raise TypesChangedError

    def _sweep(self) -> None:
        """Drop the series this page did not have."""
        cache, generation = self.cache, self.generation
        stamped = self.stamped_series
        touched = len(self.samples) - len(self.stamped) + sum(1 for e in stamped if e.gen != generation)
        if touched != len(self.series):
            cache.keys = {k: e for k, e in self.keys.items() if e.gen == generation or e in stamped}
            cache.series = {k: e for k, e in self.series.items() if e.gen == generation or e in stamped}
