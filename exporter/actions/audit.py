"""The local record of every action request, one JSON object per line, whatever the outcome.

Each line has the protocol's fields (ts, remote, action, server_id, requested_by, nonce, outcome, exit_code,
duration_s) plus the parameters, and is also logged through structlog. The file is opened once, in append
mode and created 0640, and flushed after every line, so a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import structlog

log = structlog.get_logger("exporter.actions")


@dataclass
class Attempt:
    """One request as the audit log records it; fields the request never supplied stay None."""

    remote: str | None
    action: str
    server_id: str | None = None
    requested_by: str | None = None
    nonce: str | None = None
    params: dict[str, object] = field(default_factory=dict)
    outcome: str = "ok"
    exit_code: int | None = None
    duration_s: float = 0.0


class AuditLog:
    """Appends attempts to a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._file: IO[str] = os.fdopen(descriptor, "a", encoding="utf-8")

    def record(self, attempt: Attempt) -> None:
        """Write one line for `attempt`, and log it."""
        entry = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **asdict(attempt)}
        try:
            self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as exc:
            # A full disk must not turn an answer into a 500; the attempt still reaches the log below.
            log.error("cannot write the actions log", path=str(self.path), error=str(exc))
        if attempt.outcome == "ok":
            log.info("action run", **asdict(attempt))
        else:
            log.warning("action refused", **asdict(attempt))

    def close(self) -> None:
        """Close the file."""
        self._file.close()
