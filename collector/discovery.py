"""The targets of a job: target groups from ``static_configs`` and ``file_sd_configs``, and scrape targets.

Discovery is split so that the caller keeps state and this module stays pure apart from reading files:
:func:`discover` reads every source of a job once and reports each source's groups or problems;
:func:`merge_discovered` folds that into the caller's previous groups, so a file_sd file that is broken
mid-edit keeps its last good targets (as Prometheus does) while a file that is gone takes its targets with it.

:func:`build_target` turns one discovered address into a :class:`Target` the way Prometheus builds target
labels: ``__address__``, group labels, then ``job``, ``__scheme__``, ``__metrics_path__``,
``__scrape_interval__``, ``__scrape_timeout__`` and ``__param_<name>`` where not already set; then
``relabel_configs``; then ``__meta_*`` labels are removed and ``instance`` defaults to ``__address__``. The
scrape URL, interval and timeout are read from the ``__`` labels after relabeling, and labels starting with
``__`` are not part of the target's public labels.

Beyond Prometheus, a ``__params_<name>`` label gives *every* value of URL parameter ``<name>``, comma
separated, replacing the job's: ``__param_<name>`` can carry only one, and a registered server's collectors
are several ``collect[]`` parameters (:mod:`collector.registered`).
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from collector.config.configfile import ConfigError, ConfigProblem, YamlDocument, parse_yaml
from collector.config.fields import Fields, LabelPairs
from collector.config.job_sections import target_address_problem
from collector.config.relabel_actions import relabel
from collector.config.scrape_job import Params, ScrapeJob
from collector.config.units import format_duration, parse_duration

ADDRESS_LABEL = "__address__"
SCHEME_LABEL = "__scheme__"
METRICS_PATH_LABEL = "__metrics_path__"
SCRAPE_INTERVAL_LABEL = "__scrape_interval__"
SCRAPE_TIMEOUT_LABEL = "__scrape_timeout__"
PARAM_LABEL_PREFIX = "__param_"
PARAM_VALUES_LABEL_PREFIX = "__params_"
META_LABEL_PREFIX = "__meta_"
FILE_SD_PATH_LABEL = "__meta_filepath"
STATIC_SOURCE = "static"


@dataclass(frozen=True)
class TargetGroup:
    """Addresses that share labels; ``source`` says where they came from (``static:0``, ``<file>:<i>``)."""

    source: str
    targets: tuple[str, ...]
    labels: LabelPairs = ()


@dataclass(frozen=True)
class SourceResult:
    """What one source (``static`` or a file_sd file path) yielded: its groups, or why it could not be read.

    When ``problems`` is not empty, ``groups`` is empty and the caller should keep the source's previous
    groups (see :func:`merge_discovered`) and log the problems.
    """

    source: str
    groups: tuple[TargetGroup, ...]
    problems: tuple[ConfigProblem, ...] = ()


@dataclass(frozen=True)
class Target:
    """A target ready to scrape.

    ``labels`` are the public labels (sorted, none starting with ``__``) attached to every sample;
    ``identity`` is a stable hash of the job name, the full label set after relabeling and the URL: equal
    across reloads for an unchanged target, so it keys reload diffs and the target's scrape phase offset.
    """

    job_name: str
    url: str
    labels: LabelPairs
    scrape_interval_s: float
    scrape_timeout_s: float
    params: Params
    identity: str
    discovered_labels: LabelPairs


@dataclass(frozen=True)
class DroppedTarget:
    """A discovered address that will not be scraped, and why.

    ``is_error`` is false when a relabel rule dropped it on purpose, true when its labels after relabeling
    cannot be scraped (no address, a bad interval ...), which deserves a warning in the log.
    """

    job_name: str
    discovered_labels: LabelPairs
    reason: str
    is_error: bool


def discover(job: ScrapeJob, base_dir: Path) -> list[SourceResult]:
    """Read every source of ``job`` once: its static groups and each file matched by its file_sd patterns.

    File patterns are relative to ``base_dir`` (the target file's directory) unless absolute. A pattern
    that matches nothing yields nothing, as in Prometheus.
    """
    results = []
    if job.static_configs:
        groups = tuple(
            TargetGroup(f"{STATIC_SOURCE}:{index}", static.targets, static.labels)
            for index, static in enumerate(job.static_configs)
        )
        results.append(SourceResult(STATIC_SOURCE, groups))
    seen: set[str] = set()
    for sd in job.file_sd_configs:
        for pattern in sd.files:
            for name in sorted(glob.glob(str(base_dir / pattern), include_hidden=True)):
                if name not in seen:
                    seen.add(name)
                    results.append(read_file_sd(Path(name)))
    return results


def merge_discovered(
    previous: Mapping[str, tuple[TargetGroup, ...]], results: Iterable[SourceResult]
) -> dict[str, tuple[TargetGroup, ...]]:
    """The groups per source after a discovery round.

    A source read without problems replaces its groups; a source with problems keeps its previous groups
    (none if it never read cleanly); a source missing from ``results`` (a deleted file) is dropped.
    """
    merged = {}
    for result in results:
        if not result.problems:
            merged[result.source] = result.groups
        elif result.source in previous:
            merged[result.source] = previous[result.source]
    return merged


def read_file_sd(path: Path) -> SourceResult:
    """Read a file_sd file: a JSON (``.json``) or YAML list of ``{targets: [...], labels: {...}}``.

    Every group gets the ``__meta_filepath`` label. Unknown keys in a group are an error in YAML files only,
    as in Prometheus (which decodes YAML strictly and JSON leniently).
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return SourceResult(source, (), (ConfigProblem(source, "(file)", f"cannot be read: {exc}"),))
    is_json = path.suffix.lower() == ".json"
    if is_json:
        try:
            doc = YamlDocument(source, json.loads(text))
        except json.JSONDecodeError as exc:
            problem = ConfigProblem(source, "(syntax)", f"not valid JSON: {exc.msg}", line=exc.lineno)
            return SourceResult(source, (), (problem,))
    else:
        try:
            doc = parse_yaml(text, source)
        except ConfigError as exc:
            return SourceResult(source, (), exc.problems)
    problems: list[ConfigProblem] = []
    groups = _file_groups(doc, problems, strict=not is_json)
    return SourceResult(source, () if problems else groups, tuple(problems))


def _file_groups(doc: YamlDocument, problems: list[ConfigProblem], strict: bool) -> tuple[TargetGroup, ...]:
    if doc.data is None:
        return ()
    if not isinstance(doc.data, list):
        problems.append(doc.problem((), "expected a list of target groups ({targets: [...], labels: {...}})"))
        return ()
    groups = []
    for index, item in enumerate(doc.data):
        fields = None
        if item is None:
            problems.append(doc.problem((index,), "empty entry; expected a target group"))
        else:
            fields = Fields.of(doc, (index,), item, problems, "a target group with targets and labels")
        if fields is None:
            continue
        if strict:
            fields.check_keys(("targets", "labels"))
        labels = {**dict(fields.labels("labels")), FILE_SD_PATH_LABEL: doc.file}
        groups.append(
            TargetGroup(f"{doc.file}:{index}", fields.text_list("targets"), tuple(sorted(labels.items())))
        )
    return tuple(groups)


def build_target(job: ScrapeJob, address: str, group_labels: Mapping[str, str]) -> Target | DroppedTarget:
    """Build the target for ``address`` of a group with ``group_labels``, or say why it is dropped."""
    labels = {ADDRESS_LABEL: address}
    for name, value in group_labels.items():
        if name != ADDRESS_LABEL and value:
            labels[name] = value
    defaults = (
        ("job", job.job_name),
        (SCRAPE_INTERVAL_LABEL, format_duration(job.scrape_interval_s)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(job.scrape_timeout_s)),
        (METRICS_PATH_LABEL, job.metrics_path),
        (SCHEME_LABEL, job.scheme),
        *((PARAM_LABEL_PREFIX + name, values[0]) for name, values in job.params if values),
    )
    for name, value in defaults:
        if not labels.get(name):
            labels[name] = value
    discovered = _pairs(labels)
    final = relabel(labels, job.relabel_configs)
    if final is None:
        return DroppedTarget(job.job_name, discovered, "dropped by relabel_configs", is_error=False)
    checked = _check_scrape_labels(final)
    if isinstance(checked, str):
        return DroppedTarget(job.job_name, discovered, checked, is_error=True)
    interval_s, timeout_s = checked
    for name in [name for name in final if name.startswith(META_LABEL_PREFIX)]:
        del final[name]
    if not final.get("instance"):
        final["instance"] = final[ADDRESS_LABEL]
    params = _params(job.params, final)
    url = _url(final, params)
    identity = json.dumps([job.job_name, _pairs(final), url], ensure_ascii=False, separators=(",", ":"))
    return Target(
        job_name=job.job_name,
        url=url,
        labels=tuple(pair for pair in _pairs(final) if not pair[0].startswith("__")),
        scrape_interval_s=interval_s,
        scrape_timeout_s=timeout_s,
        params=params,
        identity=hashlib.sha256(identity.encode()).hexdigest(),
        discovered_labels=discovered,
    )


def build_targets(job: ScrapeJob, groups: Iterable[TargetGroup]) -> tuple[list[Target], list[DroppedTarget]]:
    """Build the targets of every address in ``groups``; an address found twice is scraped once."""
    targets: dict[str, Target] = {}
    dropped: list[DroppedTarget] = []
    for group in groups:
        group_labels = dict(group.labels)
        for address in group.targets:
            built = build_target(job, address, group_labels)
            if isinstance(built, DroppedTarget):
                dropped.append(built)
            else:
                targets.setdefault(built.identity, built)
    return list(targets.values()), dropped


def _pairs(labels: Mapping[str, str]) -> LabelPairs:
    return tuple(sorted(labels.items()))


def _check_scrape_labels(labels: Mapping[str, str]) -> tuple[float, float] | str:
    """(interval, timeout) in seconds read from the labels after relabeling, or why they cannot be used."""
    address = labels.get(ADDRESS_LABEL, "")
    if not address:
        return "no __address__ label after relabeling"
    problem = target_address_problem(address)
    if problem is not None:
        return f"__address__ {address!r} after relabeling: {problem}"
    scheme = labels.get(SCHEME_LABEL, "")
    if scheme not in ("http", "https"):
        return f"__scheme__ {scheme!r} after relabeling: expected http or https"
    durations = []
    for name in (SCRAPE_INTERVAL_LABEL, SCRAPE_TIMEOUT_LABEL):
        text = labels.get(name, "")
        try:
            seconds = float(parse_duration(text))
        except ValueError:
            return f"{name} {text!r} after relabeling: expected a duration such as 15s"
        if seconds <= 0:
            return f"{name} {text!r} after relabeling: must be longer than zero"
        durations.append(seconds)
    interval_s, timeout_s = durations
    if timeout_s > interval_s:
        return (
            f"{SCRAPE_TIMEOUT_LABEL} {labels[SCRAPE_TIMEOUT_LABEL]!r} is longer than "
            f"{SCRAPE_INTERVAL_LABEL} {labels[SCRAPE_INTERVAL_LABEL]!r} after relabeling"
        )
    return interval_s, timeout_s


def _params(job_params: Params, labels: Mapping[str, str]) -> Params:
    """The job's params with each ``__param_<name>`` label replacing the first value of ``<name>``, and each
    ``__params_<name>`` label all of them."""
    params = {name: list(values) for name, values in job_params}
    for name, value in labels.items():
        if name.startswith(PARAM_LABEL_PREFIX):
            values = params.setdefault(name[len(PARAM_LABEL_PREFIX) :], [])
            values[:1] = [value]
    for name, value in labels.items():
        if name.startswith(PARAM_VALUES_LABEL_PREFIX):
            params[name[len(PARAM_VALUES_LABEL_PREFIX) :]] = [v for v in value.split(",") if v]
    return tuple(sorted((name, tuple(values)) for name, values in params.items()))


def _url(labels: Mapping[str, str], params: Params) -> str:
    path = labels.get(METRICS_PATH_LABEL, "")
    if not path.startswith("/"):
        path = "/" + path
    # Escape the path and query as Go's net/url does, so URLs match Prometheus's for the same labels.
    url = f"{labels[SCHEME_LABEL]}://{labels[ADDRESS_LABEL]}{quote(path, safe='/$&+,:;=@')}"
    query = urlencode([(name, value) for name, values in params for value in values])
    return f"{url}?{query}" if query else url
