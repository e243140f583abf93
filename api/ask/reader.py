"""Reads for one answer: PromQL through the application's engine over the caller's servers, each query kept.

Every number of an answer comes through here, so ``queries`` lists exactly what the answer rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from uuid import UUID

from api.ask.env import AskEnv, source_for
from collector.promql.types import InstantVector, Matrix, Scalar
from collector.result import server_id_for

QUERY_TIMEOUT_S = 10.0
"""One question's queries are few and small; a slow one is cut short rather than hold the chat."""


@dataclass(frozen=True)
class Line:
    """One server's points of a range query (timestamps in Unix seconds)."""

    server_id: UUID
    timestamps: list[float]
    values: list[float]


@dataclass
class Reader:
    """Runs an answer's queries for one caller and records them."""

    env: AskEnv
    allowed: set[UUID] | None
    queries: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Record a query run elsewhere (SQL of the stores) for the answer's ``queries``."""
        if text not in self.queries:
            self.queries.append(text)

    async def instant(self, promql: str, at_s: float) -> dict[UUID, float]:
        """Each server's value of ``promql`` at ``at_s`` (NaN left out), keyed by server id."""
        self.note(promql)
        result = await self.env.engine.instant_query(
            promql,
            round(at_s * 1000),
            source=source_for(self.env, self.allowed),
            timeout_s=QUERY_TIMEOUT_S,
        )
        if isinstance(result, Scalar):
            return {}
        assert isinstance(result, InstantVector)
        out: dict[UUID, float] = {}
        for sample in result.samples:
            job, instance = sample.labels.get("job", ""), sample.labels.get("instance", "")
            if not math.isnan(sample.value):
                out[server_id_for(job, instance)] = sample.value
        return out

    async def range(self, promql: str, start_s: float, end_s: float, step_s: float) -> list[Line]:
        """Each server's points of ``promql`` from ``start_s`` to ``end_s`` every ``step_s``."""
        self.note(promql)
        result = await self.env.engine.range_query(
            promql,
            round(start_s * 1000),
            round(end_s * 1000),
            max(round(step_s * 1000), 1000),
            source=source_for(self.env, self.allowed),
            timeout_s=QUERY_TIMEOUT_S,
        )
        assert isinstance(result, Matrix)
        lines = []
        for series in result.series:
            job, instance = series.labels.get("job", ""), series.labels.get("instance", "")
            lines.append(
                Line(
                    server_id_for(job, instance),
                    [t / 1000 for t in series.ts.tolist()],
                    [float(x) for x in series.values.tolist()],
                )
            )
        return lines
