"""The audit log: one JSON line per attempt with the protocol's fields, appended, private to the exporter."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from exporter.actions.audit import Attempt, AuditLog


def test_each_attempt_is_one_json_line_appended(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    path.write_text('{"earlier": true}\n')
    audit = AuditLog(path)
    audit.record(Attempt("10.0.0.1", "restart", "web-01", "alice", "n1", {"unit": "a.service"}, "ok", 0, 1.5))
    audit.record(Attempt(None, "reboot", outcome="unknown_action"))
    audit.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"earlier": True}
    first, second = lines[1:]
    assert datetime.fromisoformat(first.pop("ts")).utcoffset() is not None
    assert first == {
        "remote": "10.0.0.1",
        "action": "restart",
        "server_id": "web-01",
        "requested_by": "alice",
        "nonce": "n1",
        "params": {"unit": "a.service"},
        "outcome": "ok",
        "exit_code": 0,
        "duration_s": 1.5,
    }
    assert (second["outcome"], second["server_id"], second["exit_code"]) == ("unknown_action", None, None)


def test_a_new_log_is_not_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    AuditLog(path).close()
    # Created 0640; the umask may only take more away.
    assert path.stat().st_mode & 0o137 == 0


def test_a_value_with_a_newline_stays_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    audit = AuditLog(path)
    audit.record(Attempt("127.0.0.1", "grep", params={"word": "a\nb"}, outcome="invalid_params"))
    audit.close()
    [line] = path.read_text().splitlines()
    assert json.loads(line)["params"] == {"word": "a\nb"}
