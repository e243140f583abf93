"""What the natural-language endpoint answers: :class:`AskAnswer` and its parts, typed for the API and MCP."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Intent = Literal[
    "fleet_status",
    "server_status",
    "down_servers",
    "warning_servers",
    "top_n",
    "threshold",
    "metric_history",
    "active_alerts",
    "alert_history",
    "disk_forecast",
    "top_processes",
    "diagnose",
    "help",
    "unknown",
]
Language = Literal["ko", "en"]
Cell = str | float | int | None


class ServerRef(BaseModel):
    """A server the question named, as matched against the registry."""

    id: str
    name: str
    matched: str = Field(description="the words of the question that named it")
    score: float = Field(description="fuzzy-match score, 0 to 100")


class Entities(BaseModel):
    """The slots read from the question; a slot the question did not fill is null."""

    servers: list[ServerRef] = Field(default_factory=list)
    metric: str | None = Field(default=None, description="cpu, memory, disk, network, load, swap, iowait")
    threshold: float | None = None
    comparison: Literal["above", "below"] | None = None
    period_s: int | None = Field(default=None, description="the period asked about, in seconds")
    period_end_s: float | None = Field(default=None, description="end of the period (Unix s); null: now")
    top_n: int | None = None
    order: Literal["desc", "asc"] | None = None


class Table(BaseModel):
    """Rows for the chat page to show as a table."""

    kind: Literal["table"] = "table"
    title: str
    columns: list[str]
    rows: list[list[Cell]]


class SeriesLine(BaseModel):
    """One line of a chart: a label and its points."""

    label: str
    values: list[float | None]


class Chart(BaseModel):
    """Time series for a small chart: shared timestamps (Unix s), one line per series."""

    kind: Literal["series"] = "series"
    title: str
    unit: str
    timestamps: list[float]
    lines: list[SeriesLine]


class AskAnswer(BaseModel):
    """The answer to one question: what was understood, the text, the data behind it, how it was read."""

    intent: Intent
    language: Language
    entities: Entities
    answer: str = Field(description="plain text; every number in it comes from `data`")
    data: list[Table | Chart] = Field(default_factory=list)
    queries: list[str] = Field(default_factory=list, description="the PromQL and SQL that were run")
    suggestions: list[str] = Field(default_factory=list, description="questions to ask next")
