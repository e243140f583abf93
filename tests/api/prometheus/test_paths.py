"""Which paths answer in Prometheus's envelope, and which POSTs are read-only."""

from __future__ import annotations

import pytest

from api.prometheus.paths import READ_ONLY_POSTS, is_prometheus_path


@pytest.mark.parametrize(
    ("path", "ours"),
    [
        ("/api/v1/query", True),
        ("/api/v1/query_range", True),
        ("/api/v1/label/job/values", True),
        ("/api/v1/label/__name__/values", True),
        ("/federate", True),
        ("/api/v1/status/buildinfo", True),
        ("/api/v1/write", False),  # remote write belongs to its own module and error rules
        ("/api/v1/label/a/b/values", False),
        ("/api/v1/querys", False),
        ("/api/servers", False),
    ],
)
def test_prometheus_paths(path: str, ours: bool) -> None:
    assert is_prometheus_path(path) is ours


def test_only_query_like_posts_are_read_only() -> None:
    assert {"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels"} <= READ_ONLY_POSTS
    assert "/api/v1/write" not in READ_ONLY_POSTS and "/federate" not in READ_ONLY_POSTS
