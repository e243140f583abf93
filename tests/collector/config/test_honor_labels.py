"""``honor_labels``: a target's labels merged into scraped labels, conflicts resolved as in Prometheus."""

from __future__ import annotations

import pytest

from collector.config.honor_labels import merge_target_labels


@pytest.mark.parametrize(
    ("scraped", "target", "honor", "expected"),
    [
        pytest.param(
            {"__name__": "up", "job": "pushed", "x": "1"},
            [("instance", "h:1"), ("job", "node")],
            False,
            {"__name__": "up", "job": "node", "instance": "h:1", "exported_job": "pushed", "x": "1"},
            id="target-wins-scraped-becomes-exported",
        ),
        pytest.param(
            {"__name__": "up", "job": "a", "exported_job": "b"},
            [("job", "node")],
            False,
            {"__name__": "up", "job": "node", "exported_job": "b", "exported_exported_job": "a"},
            id="exported-prefix-repeats-until-free",
        ),
        pytest.param(
            {"__name__": "up", "job": "j", "instance": "i"},
            [("exported_job", "t"), ("instance", "h:1"), ("job", "node")],
            False,
            {
                "__name__": "up",
                "job": "node",
                "instance": "h:1",
                "exported_job": "t",
                "exported_exported_job": "j",
                "exported_instance": "i",
            },
            id="target-labels-count-as-taken-names",
        ),
        pytest.param(
            {"__name__": "up", "job": "pushed"},
            [("instance", "h:1"), ("job", "node")],
            True,
            {"__name__": "up", "job": "pushed", "instance": "h:1"},
            id="honor-labels-keeps-scraped",
        ),
        pytest.param(
            {"__name__": "up", "instance": ""},
            [("instance", "h:1"), ("job", "node")],
            True,
            {"__name__": "up", "job": "node"},
            id="honor-labels-empty-scraped-value-removes-target-label",
        ),
        pytest.param(
            {"__name__": "up", "instance": ""},
            [("instance", "h:1")],
            False,
            {"__name__": "up", "instance": "h:1"},
            id="empty-scraped-value-is-no-conflict",
        ),
    ],
)
def test_merge_target_labels(
    scraped: dict[str, str], target: list[tuple[str, str]], honor: bool, expected: dict[str, str]
) -> None:
    assert merge_target_labels(scraped, target, honor) == expected


def test_merge_resolves_shorter_conflicting_names_first() -> None:
    # "a" is renamed before "exported_a", whatever order the target labels come in.
    scraped = {"a": "scraped-a", "exported_a": "scraped-ea"}
    target = [("exported_a", "t-ea"), ("a", "t-a")]
    assert merge_target_labels(scraped, target, honor_labels=False) == {
        "a": "t-a",
        "exported_a": "t-ea",
        "exported_exported_a": "scraped-a",
        "exported_exported_exported_a": "scraped-ea",
    }
