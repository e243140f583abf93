"""Logging: JSON lines off a terminal, secrets redacted, standard-library loggers in the same shape."""

from __future__ import annotations

import io
import json
import logging

import structlog

from collector.config.settings import LogSettings
from collector.logs import configure_logging


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_time_and_bound_context() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(level="info", format="auto"), stream)
    structlog.get_logger("om.test").bind(job="node", target="127.0.0.1:9110").info("scraped", samples=12)
    (line,) = _lines(stream)
    assert line["event"] == "scraped" and line["level"] == "info" and line["logger"] == "om.test"
    assert line["job"] == "node" and line["target"] == "127.0.0.1:9110" and line["samples"] == 12
    assert "timestamp" in line


def test_values_of_secret_keys_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format="json"), stream)
    structlog.get_logger("om.test").warning("login", password="hunter2", api_token="abc", user="bob")
    (line,) = _lines(stream)
    assert line["password"] == "[redacted]" and line["api_token"] == "[redacted]" and line["user"] == "bob"
    assert "hunter2" not in stream.getvalue()


def test_level_filters_and_stdlib_loggers_share_the_format() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(level="warning", format="json"), stream)
    logging.getLogger("asyncpg").info("hidden")
    logging.getLogger("asyncpg").warning("shown %s", "here")
    (line,) = _lines(stream)
    assert line["event"] == "shown here" and line["logger"] == "asyncpg"


def test_console_format_is_readable_text() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format="console"), stream)
    structlog.get_logger("om.test").info("hello", n=1)
    assert "hello" in stream.getvalue() and "n=1" in stream.getvalue()
