"""The paths of the Prometheus-compatible API, named once (a leaf module: the middlewares import it too)."""

from __future__ import annotations

import re
from typing import Final

QUERY: Final = "/api/v1/query"
QUERY_RANGE: Final = "/api/v1/query_range"
QUERY_EXEMPLARS: Final = "/api/v1/query_exemplars"
SERIES: Final = "/api/v1/series"
LABELS: Final = "/api/v1/labels"
LABEL_VALUES: Final = "/api/v1/label/{name}/values"
METADATA: Final = "/api/v1/metadata"
BUILDINFO: Final = "/api/v1/status/buildinfo"
TARGETS: Final = "/api/v1/targets"
TARGETS_METADATA: Final = "/api/v1/targets/metadata"
RULES: Final = "/api/v1/rules"
ALERTS: Final = "/api/v1/alerts"
FEDERATE: Final = "/federate"

READ_ONLY_POSTS: Final = frozenset({QUERY, QUERY_RANGE, QUERY_EXEMPLARS, SERIES, LABELS})
"""POST routes that change nothing: Prometheus takes a long query as a form body. They are not audited and do
not end the principal cache, as other POSTs do."""

_FIXED: Final = frozenset(
    {
        QUERY,
        QUERY_RANGE,
        QUERY_EXEMPLARS,
        SERIES,
        LABELS,
        METADATA,
        BUILDINFO,
        TARGETS,
        TARGETS_METADATA,
        RULES,
        ALERTS,
        FEDERATE,
    }
)
_LABEL_VALUES = re.compile(r"/api/v1/label/[^/]+/values")


def is_prometheus_path(path: str) -> bool:
    """Whether ``path`` is one of the Prometheus-compatible routes, which answer in Prometheus's envelope."""
    return path in _FIXED or _LABEL_VALUES.fullmatch(path) is not None
