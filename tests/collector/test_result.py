"""A target is a server: its id is the same on every collector and across restarts."""

from __future__ import annotations

import uuid

from collector.result import server_id_for


def test_server_id_depends_only_on_job_and_instance() -> None:
    first = server_id_for("node", "web-1:9100")
    assert first == server_id_for("node", "web-1:9100")
    assert first.version == 5 and isinstance(first, uuid.UUID)
    assert first != server_id_for("node", "web-2:9100")
    assert first != server_id_for("app", "web-1:9100")
    # The separator keeps "a"+"b:1" and "ab"+":1" apart.
    assert server_id_for("a", "b:1") != server_id_for("ab", ":1")
