"""The per-target series cache that lets a steady scrape skip tokenizing, like Prometheus's scrape cache.

It maps the exact series text of a line (``name{labels}``, everything before the value) to its parsed name
and labels, and keeps the page's metadata lines and TYPEs, which the parse of a cached series depends on.
:class:`~collector.scrape.parsepass.ParsePass` reads and refills it; :func:`~collector.scrape.parser.parse`
decides when it starts over.
"""

from __future__ import annotations

from collector.scrape.lexer import Labels, MetaLine
from collector.scrape.samples import Format, MetricMeta


class CachedSeries:
    """A cached series; ``gen`` is the parse that last produced it without a timestamp."""

    __slots__ = ("gen", "labels", "name")

    def __init__(self, name: str, labels: Labels) -> None:
        self.name = name
        self.labels = labels
        self.gen = 0

    def text(self) -> str:
        """The series as an error message shows it: ``name{label='value',…}``."""
        labels = ",".join(f"{name}={value!r}" for name, value in self.labels)
        return f"{self.name}{{{labels}}}" if labels else self.name


class SeriesCache:
    """Per-target memory of parsed series, so a steady-state scrape skips tokenizing.

    Keys are the exact series texts of the last successful parse, so memory follows the target's current
    series: after each successful parse, series the page no longer has are dropped. The cache also keeps
    the page's TYPE lines, because ``le``/``quantile`` normalization and the OpenMetrics checks of a cached
    series depend on them: when they change, or a parse fails, the cache starts over. Not thread-safe; one
    per target. The attributes are the parse's working state, read and replaced by the parse pass.
    """

    def __init__(self) -> None:
        self.keys: dict[str, CachedSeries] = {}
        self.series: dict[tuple[str, Labels], CachedSeries] = {}
        self.metadata_lines: dict[str, MetaLine] = {}
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.units: dict[str, str] = {}
        self.metadata: dict[str, MetricMeta] = {}
        self.format: Format | None = None
        self.generation = 0

    def __len__(self) -> int:
        """The number of cached series."""
        return len(self.series)

    def clear(self) -> None:
        """Forget everything (the generation counter keeps counting)."""
        self.keys = {}
        self.series = {}
        self.metadata_lines = {}
        self.types = {}
        self.helps = {}
        self.units = {}
        self.metadata = {}

    def use_format(self, fmt: Format) -> None:
        """Start over when ``fmt`` is not the format the cache was filled from (text entries are laxer)."""
        if self.format != fmt:
            self.clear()
            self.format = fmt

    def next_generation(self) -> int:
        """A number for a new parse, so a series it produces can be told from the last parse's."""
        self.generation += 1
        return self.generation

    def remember_metadata(
        self,
        metadata_lines: dict[str, MetaLine],
        helps: dict[str, str],
        types: dict[str, str],
        units: dict[str, str],
        default_type: str,
    ) -> dict[str, MetricMeta]:
        """Keep a successful parse's metadata for the next one; return the metadata of the page's families."""
        if helps != self.helps or types != self.types or units != self.units or not self.metadata:
            self.metadata = {
                name: MetricMeta(
                    name, types.get(name, default_type), helps.get(name, ""), units.get(name, "")
                )
                for name in {**helps, **types, **units}
            }
        self.metadata_lines = metadata_lines
        self.types, self.helps, self.units = types, helps, units
        return self.metadata
