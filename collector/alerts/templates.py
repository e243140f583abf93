"""Annotation templates: a rule's ``title`` and ``message`` rendered with Jinja2's sandbox.

A template sees ``labels`` (the alert's labels), ``value`` (the value that decided the condition, or None),
``threshold`` (the rule's, or None) and ``server`` (the server's name). The sandbox keeps a template from
reaching Python internals, so rules written through the API are safe to render.

A broken template is refused when the rule is validated (:func:`check_template` compiles it and renders it
once with sample values); at evaluation :func:`render` never raises: should a template still fail on real
values, the raw template text is shown and the failure logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import structlog
from jinja2 import Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

log = structlog.get_logger(__name__)

MAX_TEMPLATE_CHARS = 4096

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """The variables a template sees."""

    labels: Mapping[str, str]
    value: float | None
    threshold: float | None
    server: str

    def as_dict(self) -> dict[str, object]:
        """The variables by name."""
        return {
            "labels": dict(self.labels),
            "value": self.value,
            "threshold": self.threshold,
            "server": self.server,
        }


_SAMPLE = TemplateContext(
    labels={
        "alertname": "Sample",
        "severity": "warning",
        "server_id": "0",
        "job": "node",
        "instance": "h:9100",
    },
    value=95.5,
    threshold=90.0,
    server="h",
)


@lru_cache(maxsize=1024)
def _compile(text: str) -> Template:
    return _ENV.from_string(text)


def check_template(text: str) -> str:
    """Return ``text`` when it compiles and renders on sample values; raise ValueError saying why not."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        _compile(text).render(_SAMPLE.as_dict())
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ValueError(f"template does not render{where}: {exc.message or exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise ValueError(f"template fails on sample values: {exc}") from None
    return text


def render(text: str, context: TemplateContext) -> str:
    """Render ``text``; on any failure, the raw text (and a logged warning), never an exception."""
    try:
        return _compile(text).render(context.as_dict())
    except Exception as exc:  # a template must never stop evaluation
        log.warning("alert template failed", template=text[:200], error=str(exc) or type(exc).__name__)
        return text
