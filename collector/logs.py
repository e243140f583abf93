"""Structured logging for the central service (structlog over the standard library).

JSON lines when the output is not a terminal (journald, files, log shippers), readable console output on
one. Standard-library loggers (aiohttp, asyncpg, apscheduler) are routed through the same processors so every
line has one shape.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from collector.config.settings import LogSettings

_CHATTY_LOGGERS = ("apscheduler", "pgserver", "aiohttp.access", "mcp")
_SECRET_KEYS = frozenset({"password", "token", "secret", "authorization", "dsn", "credentials", "cookie"})


def _redact(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """Blank out values of keys that name a secret, wherever a caller put one by mistake."""
    for key in event:
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library to ``stream`` (stderr) in the configured format."""
    stream = stream or sys.stderr
    use_console = settings.format == "console" or (settings.format == "auto" and stream.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # The console renderer formats tracebacks itself; JSON needs them as a string field.
            *([] if use_console else [structlog.processors.format_exc_info]),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # Above debug, one line per meaningful event: not one per scheduler job run (every slot, every 5 s),
    # nor pgserver's command lines, nor aiohttp's or the MCP SDK's per-request lines (the API logs its own).
    quiet = logging.WARNING if root.level > logging.DEBUG else logging.NOTSET
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
