"""The request and response models of ``/api/servers`` and the validators of their fields.

An address is ``host:port`` with a port and a host the address policy of :mod:`collector.netpolicy` does not
refuse as written; labels are Prometheus label names, none reserved; a scrape interval is between 5s and 1d,
a timeout between 1s and 10m and never longer than the interval (checked by the route, which knows the
stored and the global interval); collectors are exporter collector names (``collect[]``); tags are short
free texts; thresholds override alert threshold rules by name (:mod:`collector.alerts.server_thresholds`).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

from api.openapi import BodyModel, QueryModel
from collector.alerts.server_thresholds import ServerThreshold
from collector.config.job_sections import target_address_problem
from collector.config.relabel import is_valid_label_name
from collector.config.units import parse_duration
from collector.hostport import split_host_port
from collector.netpolicy import BASE_POLICY, NetworkPolicy

MIN_SCRAPE_INTERVAL_S = 5.0
MAX_SCRAPE_INTERVAL_S = 86_400.0
MIN_SCRAPE_TIMEOUT_S = 1.0
MAX_SCRAPE_TIMEOUT_S = 600.0
MAX_LABELS = 32
MAX_COLLECTORS = 64
MAX_TAGS = 32
MAX_THRESHOLDS = 32
_RESERVED_LABELS = frozenset({"job", "instance"})


def address_problem(address: str, policy: NetworkPolicy = BASE_POLICY) -> str | None:
    """Why ``address`` cannot be registered or tested as written, or None.

    It must be ``host:port`` with a port, and a host the policy does not refuse as written (before DNS:
    :func:`api.servers.resolved_problem` checks what a name resolves to).
    """
    problem = target_address_problem(address)
    if problem is not None:
        return problem
    host, port = split_host_port(address)
    if port is None:
        return "a port is required: host:port, such as 10.0.0.5:9100"
    why = policy.host_problem(host)
    return None if why is None else f"refused: {host} is {why}"


def _address(value: str) -> str:
    problem = address_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for name in value:
        if not is_valid_label_name(name):
            raise ValueError(f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if name.startswith("__"):
            raise ValueError(f"{name!r}: names starting with __ are reserved for internal use")
        if name in _RESERVED_LABELS:
            raise ValueError(f"{name!r} is set from the server's job and address")
    return value


def _interval(value: str) -> str:
    seconds = parse_duration(value)
    if not MIN_SCRAPE_INTERVAL_S <= seconds <= MAX_SCRAPE_INTERVAL_S:
        raise ValueError(f"the scrape interval must be between 5s and 1d, not {value}")
    return value


def _timeout(value: str) -> str:
    seconds = parse_duration(value)
    if not MIN_SCRAPE_TIMEOUT_S <= seconds <= MAX_SCRAPE_TIMEOUT_S:
        raise ValueError(f"the scrape timeout must be between 1s and 10m, not {value}")
    return value


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("names must not repeat")
    return values


Address = Annotated[
    str,
    Field(max_length=261, description="host:port with no scheme or path", examples=["127.0.0.1:9100"]),
    AfterValidator(_address),
]
Job = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
MetricsPath = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/[^\s?#]*$")]
Labels = Annotated[
    dict[str, Annotated[str, Field(max_length=1024)]],
    Field(description=f"at most {MAX_LABELS}; names [a-zA-Z_][a-zA-Z0-9_]*, not starting with __"),
    AfterValidator(_labels),
]
Interval = Annotated[
    str,
    Field(max_length=32, description="a duration of at least 5s, such as 30s or 1m", examples=["30s"]),
    AfterValidator(_interval),
]
Timeout = Annotated[
    str,
    Field(max_length=32, description="from 1s to 10m, not longer than the interval", examples=["10s"]),
    AfterValidator(_timeout),
]
Collectors = Annotated[
    list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]],
    Field(
        max_length=MAX_COLLECTORS,
        description="exporter collectors to scrape, sent as collect[] parameters (node_exporter and ours "
        "take them); empty or null: everything the exporter serves",
        examples=[["cpu", "memory", "filesystem"]],
    ),
    AfterValidator(_unique),
]
Tags = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f,]+$")]],
    Field(max_length=MAX_TAGS, description="free-form tags of the inventory (groups go in labels)"),
    AfterValidator(_unique),
]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[str, Field(max_length=4096)]
Scheme = Literal["http", "https"]


class ThresholdIn(BodyModel):
    """A threshold for one alert rule on this server; without ``clear_threshold`` the rule's hysteresis is
    kept."""

    threshold: float = Field(allow_inf_nan=False)
    clear_threshold: float | None = Field(None, allow_inf_nan=False)


class ServerCreate(BodyModel):
    """A server to register as a scrape target."""

    name: Name
    address: Address
    job: Job = "servers"
    scheme: Scheme = "http"
    metrics_path: MetricsPath = "/metrics"
    labels: Labels = Field(default_factory=dict)
    description: Description | None = None
    scrape_interval: Interval | None = Field(None, description="null: the collector's global interval")
    scrape_timeout: Timeout | None = Field(None, description="null: the global timeout")
    collectors: Collectors | None = None
    tags: Tags = Field(default_factory=list)
    enabled: bool = True
    join_target_file_job: bool = Field(
        False,
        description="administrators only: register into a job of the target file by its name. The server "
        "gets that job label and nothing else of the job: it is scraped with the registration defaults, "
        "never with the job's credentials, TLS client certificate or relabeling",
    )


class ServerPatch(BodyModel):
    """The fields to change; job and address are the server's identity and may only be repeated unchanged."""

    name: Name | None = None
    address: Address | None = None
    job: Job | None = None
    scheme: Scheme | None = None
    metrics_path: MetricsPath | None = None
    labels: Labels | None = None
    description: Description | None = None
    scrape_interval: Interval | None = Field(None, description="null: the collector's global interval")
    scrape_timeout: Timeout | None = Field(None, description="null: the global timeout")
    collectors: Collectors | None = None
    tags: Tags | None = None
    thresholds: dict[RuleName, ThresholdIn | None] | None = Field(
        None,
        max_length=MAX_THRESHOLDS,
        description="alert threshold rules overridden for this server, by rule name; null removes one",
    )
    enabled: bool | None = None


class TargetTest(BodyModel):
    """A target to test before registering it."""

    address: Address
    scheme: Scheme = "http"
    metrics_path: MetricsPath = "/metrics"


class ServerPage(QueryModel):
    """Paging of ``GET /api/servers``."""

    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000)


class LiveOut(BaseModel):
    """What the collector last saw of the server."""

    status: str
    last_scrape: float | None = Field(description="Unix seconds of the last scrape")
    last_error: str | None
    scrape_duration_s: float | None


class ServerOut(BaseModel):
    """One server; ``status`` is the live one when the collector has scraped it, else the stored one."""

    id: UUID
    name: str
    hostname: str
    description: str | None
    job: str | None
    address: str | None
    scheme: str
    metrics_path: str
    labels: dict[str, str]
    scrape_interval: str | None
    scrape_timeout: str | None
    collectors: list[str] | None = Field(description="null: everything the exporter serves")
    tags: list[str]
    thresholds: list[ServerThreshold] | None = Field(
        None, description="the server's alert thresholds; in the answers about one server only"
    )
    enabled: bool
    source: Literal["discovered", "api"]
    status: str
    created_at: float = Field(description="Unix seconds")
    updated_at: float = Field(description="Unix seconds")
    live: LiveOut | None


class ServerList(BaseModel):
    """A page of servers sorted by name, and how many the caller may see in all."""

    servers: list[ServerOut]
    total: int
    limit: int
    offset: int
