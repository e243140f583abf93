"""What the OpenAPI document says about the Prometheus-compatible routes: their parameters and answers.

The handlers read their parameters themselves (:mod:`api.prometheus.params`) and write their answers as
text (:mod:`api.prometheus.render`); these models only describe both, in Prometheus's field names (camelCase
on the wire, hence the file-wide exception to the naming rule).
"""

# ruff: noqa: N815

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.openapi import QueryModel

TIME = "Unix seconds (with a fraction) or RFC 3339"
DURATION = "seconds or a Prometheus duration (30s, 1m30s)"
MATCH = "series selector; repeat the parameter for several (matched series are the union)"


class PrometheusError(BaseModel):
    """Prometheus's error envelope."""

    status: Literal["error"]
    errorType: str = Field(description="bad_data, execution, timeout, canceled, unavailable, internal, ...")
    error: str


class _Envelope(BaseModel):
    status: Literal["success"]
    warnings: list[str] | None = None


# -- parameters ----------------------------------------------------------------------------------------------


class NoParams(QueryModel):
    """No parameters; others are ignored, as Prometheus ignores them."""

    model_config = ConfigDict(extra="allow")


class InstantQueryParams(QueryModel):
    """Parameters of an instant query."""

    model_config = ConfigDict(extra="allow")

    query: str = Field(description="PromQL expression")
    time: str | None = Field(None, description=f"evaluation time, {TIME}; now by default")
    timeout: str | None = Field(None, description=f"evaluation timeout, {DURATION}; at most the configured")


class RangeQueryParams(QueryModel):
    """Parameters of a range query."""

    model_config = ConfigDict(extra="allow")

    query: str = Field(description="PromQL expression")
    start: str = Field(description=f"start time, {TIME}")
    end: str = Field(description=f"end time, {TIME}")
    step: str = Field(description=f"resolution step, {DURATION}")
    timeout: str | None = Field(None, description=f"evaluation timeout, {DURATION}; at most the configured")


class ExemplarParams(QueryModel):
    """Parameters of an exemplar query."""

    model_config = ConfigDict(extra="allow")

    query: str = Field(description="PromQL expression whose selectors name the series")
    start: str | None = Field(None, description=f"start time, {TIME}")
    end: str | None = Field(None, description=f"end time, {TIME}")


class SeriesParams(QueryModel):
    """Parameters of a series lookup."""

    model_config = ConfigDict(extra="allow")

    match: list[str] = Field(alias="match[]", description=MATCH)
    start: str | None = Field(None, description=f"start time, {TIME}")
    end: str | None = Field(None, description=f"end time, {TIME}")
    limit: int | None = Field(None, ge=0, description="at most this many series (0: no limit)")


class LabelsParams(QueryModel):
    """Parameters of a label names or label values lookup."""

    model_config = ConfigDict(extra="allow")

    match: list[str] | None = Field(None, alias="match[]", description=MATCH)
    start: str | None = Field(None, description=f"start time, {TIME}")
    end: str | None = Field(None, description=f"end time, {TIME}")
    limit: int | None = Field(None, ge=0, description="at most this many entries (0: no limit)")


class MetadataParams(QueryModel):
    """Parameters of a metadata lookup."""

    model_config = ConfigDict(extra="allow")

    metric: str | None = Field(None, description="only this metric")
    limit: int | None = Field(None, description="at most this many metrics (0: none, negative: no limit)")
    limit_per_metric: int | None = Field(
        None, description="at most this many entries per metric (0 or negative: no limit)"
    )


class TargetMetadataParams(QueryModel):
    """Parameters of a per-target metadata lookup."""

    model_config = ConfigDict(extra="allow")

    match_target: str | None = Field(None, description='a label selector of targets, e.g. {job="node"}')
    metric: str | None = Field(None, description="only this metric (the answer then names no metric)")
    limit: int | None = Field(
        None, description="stop adding targets' entries once this many are listed (negative: no limit)"
    )


class TargetsParams(QueryModel):
    """Parameters of the targets listing."""

    model_config = ConfigDict(extra="allow")

    state: Literal["active", "dropped", "any"] | None = Field(None, description="which targets (default any)")
    scrapePool: str | None = Field(None, description="only the targets of this job")


class RulesParams(QueryModel):
    """Parameters of the rules listing."""

    model_config = ConfigDict(extra="allow")

    type: Literal["alert", "record"] | None = Field(None, description="only alerting or recording rules")


class FederateParams(QueryModel):
    """Parameters of the federation endpoint."""

    model_config = ConfigDict(extra="allow")

    match: list[str] = Field(alias="match[]", description=MATCH)


# -- answers -------------------------------------------------------------------------------------------------

Point = tuple[float, str]
"""[Unix seconds, value as a string ("0.5", "NaN", "+Inf")]."""


class VectorSample(BaseModel):
    """One sample of an instant vector."""

    metric: dict[str, str]
    value: Point


class MatrixSeries(BaseModel):
    """One series of a range vector."""

    metric: dict[str, str]
    values: list[Point]


class QueryData(BaseModel):
    """A query's result and its type."""

    resultType: Literal["matrix", "vector", "scalar", "string"]
    result: list[VectorSample] | list[MatrixSeries] | Point


class QueryResponse(_Envelope):
    """The answer of an instant or range query."""

    data: QueryData


class SeriesResponse(_Envelope):
    """Label sets of the matching series."""

    data: list[dict[str, str]]


class NamesResponse(_Envelope):
    """Label names or values, sorted."""

    data: list[str]


class ExemplarsResponse(_Envelope):
    """Exemplars per series (none are stored)."""

    data: list[dict[str, Any]]


class MetricMetadata(BaseModel):
    """What a metric's HELP, TYPE and UNIT lines said."""

    type: str
    help: str
    unit: str


class MetadataResponse(_Envelope):
    """Metadata per metric name."""

    data: dict[str, list[MetricMetadata]]


class TargetMetricMetadata(MetricMetadata):
    """What one target's HELP, TYPE and UNIT lines said of one metric."""

    target: dict[str, str]
    metric: str | None = None


class TargetMetadataResponse(_Envelope):
    """Metadata per target and metric."""

    data: list[TargetMetricMetadata]


class BuildInfo(BaseModel):
    """The Prometheus API version this server speaks, and its own build."""

    version: str
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str


class BuildInfoResponse(_Envelope):
    """The build information."""

    data: BuildInfo


class ActiveTarget(BaseModel):
    """A target being scraped."""

    discoveredLabels: dict[str, str]
    labels: dict[str, str]
    scrapePool: str
    scrapeUrl: str
    globalUrl: str
    lastError: str
    lastScrape: str
    lastScrapeDuration: float
    health: Literal["up", "down", "unknown"]
    scrapeInterval: str
    scrapeTimeout: str


class DroppedTarget(BaseModel):
    """A discovered target that relabeling dropped."""

    discoveredLabels: dict[str, str]


class TargetsData(BaseModel):
    """Active and dropped targets."""

    activeTargets: list[ActiveTarget]
    droppedTargets: list[DroppedTarget]


class TargetsResponse(_Envelope):
    """The targets listing."""

    data: TargetsData


class PromAlert(BaseModel):
    """An active alert."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: Literal["pending", "firing"]
    activeAt: str
    value: str


class AlertingRule(BaseModel):
    """An alerting rule and its active alerts."""

    type: Literal["alerting"]
    name: str
    query: str
    duration: float
    keepFiringFor: float
    labels: dict[str, str]
    annotations: dict[str, str]
    alerts: list[PromAlert]
    health: Literal["ok", "unknown", "err"]
    lastError: str
    evaluationTime: float
    lastEvaluation: str
    state: Literal["inactive", "pending", "firing"]


class RuleGroup(BaseModel):
    """A group of rules."""

    name: str
    file: str
    rules: list[AlertingRule]
    interval: float
    limit: int
    evaluationTime: float
    lastEvaluation: str


class RulesData(BaseModel):
    """The rule groups."""

    groups: list[RuleGroup]


class RulesResponse(_Envelope):
    """The rules listing."""

    data: RulesData


class AlertsData(BaseModel):
    """The active alerts."""

    alerts: list[PromAlert]


class AlertsResponse(_Envelope):
    """The alerts listing."""

    data: AlertsData


QUERY_ERRORS = (
    (400, "bad_data: a parameter or the query is invalid"),
    (401, "Authentication required"),
    (403, "Needs the viewer role"),
    (422, "execution: the query failed while it was evaluated (too many samples, duplicate series, ...)"),
    (503, "timeout or unavailable: the query ran past its timeout, or the history store did not answer"),
)
"""The error statuses of the query routes, with Prometheus's error types."""
READ_ERRORS = (
    (400, "bad_data: a parameter is invalid"),
    (401, "Authentication required"),
    (403, "Needs the viewer role"),
    (503, "unavailable: the history store did not answer"),
)
"""The error statuses of the other read routes."""
