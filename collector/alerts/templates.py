"""Annotation templates: a rule's ``title`` and ``message`` rendered with Jinja2's sandbox, bounded.

A template sees ``labels`` (the alert's labels), ``value`` (the value that decided the condition, or None),
``threshold`` (the rule's, or None) and ``server`` (the server's name). The sandbox keeps a template from
reaching Python internals, so rules written through the API are safe to render; its bounds
(:mod:`collector.alerts.sandbox`) keep a template from running long or making huge text: a render takes at
most 10,000 steps (loop iterations, calls, operators), 50 ms and 16 KiB of output.

A broken template is refused when the rule is validated (:func:`check_template` compiles it and renders it
once with sample values, within the same bounds); at evaluation :func:`render` never raises: should a
template still fail or pass a bound on real values, the raw template text is shown and the failure logged
(once per template for a bound).

Rendering happens where the engine evaluates, on the event loop, and stays there on purpose: a worker thread
cannot be stopped, so the bound has to come from the render itself, and once it does a thread only adds a
hand-off per alert while still sharing the interpreter lock with the loop; a process could be killed but
costs a round trip per alert and would make the pure evaluator asynchronous. What the loop may lose is
bounded twice: each render by its time budget, and each template by an allowance of render time
(:class:`RenderAllowance`: renders under a millisecond are free, slower ones draw on half a second at once
and 5% of a second per second after that), past which it is shown unrendered until the allowance refills,
so that no template, however slow within its budget, can starve the loop when many alerts fire at once.
A typical template renders in tens of microseconds and never draws on its allowance.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import structlog
from jinja2 import Template, TemplateError

from collector.alerts.sandbox import BoundedEnvironment, render_bounded
from collector.alerts.template_limits import RenderLimits, TemplateLimitError

log = structlog.get_logger(__name__)

MAX_TEMPLATE_CHARS = 4096
LIMITS: Final = RenderLimits()

_ENV = BoundedEnvironment(LIMITS, autoescape=False, keep_trailing_newline=False)


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


class RenderAllowance:
    """How much render time each template may still take: a token bucket of seconds per template text.

    Render time is the thread's CPU time, as for the render's own budget; ``clock`` (wall time) refills.

    A template starts with ``burst_s`` and regains ``rate`` seconds per second, up to ``burst_s``; a render
    is allowed while the balance is positive and charged what it took when that is more than ``free_s``
    (so the many quick renders of a busy fleet cost nothing); a render past a bound leaves the
    balance at ``-burst_s``, so a template that always fails is tried again only every ``burst_s / rate``
    seconds.
    At most ``max_templates`` are tracked (the least recently used are forgotten: they start full again).
    """

    def __init__(
        self,
        *,
        burst_s: float = 0.5,
        rate: float = 0.05,
        free_s: float = 0.001,
        max_templates: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst_s = burst_s
        self.rate = rate
        self.free_s = free_s
        self._max_templates = max_templates
        self._clock = clock
        self._balances: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _balance(self, text: str, now: float) -> float:
        balance, at = self._balances.get(text, (self.burst_s, now))
        return min(self.burst_s, balance + (now - at) * self.rate)

    def allows(self, text: str) -> bool:
        """Whether ``text`` may be rendered now."""
        return self._balance(text, self._clock()) > 0

    def charge(self, text: str, spent_s: float) -> None:
        """Take ``spent_s`` from ``text``'s balance, unless it is at most ``free_s``."""
        if spent_s <= self.free_s:
            return
        now = self._clock()
        self._set(text, self._balance(text, now) - spent_s, now)

    def exhaust(self, text: str) -> None:
        """Leave ``text`` at ``-burst_s``: it went past a bound."""
        self._set(text, -self.burst_s, self._clock())

    def _set(self, text: str, balance: float, now: float) -> None:
        self._balances[text] = (balance, now)
        self._balances.move_to_end(text)
        while len(self._balances) > self._max_templates:
            self._balances.popitem(last=False)


_ALLOWANCE = RenderAllowance()
_REPORTED: OrderedDict[str, None] = OrderedDict()
"""Templates whose passing a bound was logged already (the most recent 1,024)."""


def _report_once(text: str, event: str, **fields: object) -> None:
    if text in _REPORTED:
        return
    _REPORTED[text] = None
    if len(_REPORTED) > 1024:
        _REPORTED.popitem(last=False)
    log.warning(event, template=text[:200], **fields)


def check_template(text: str) -> str:
    """Return ``text`` when it compiles and renders on sample values; raise ValueError saying why not."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    return _checked(text)


@lru_cache(maxsize=1024)
def _checked(text: str) -> str:
    # Cached: the rules are validated again at every reload, and a template's check does not change.
    try:
        render_bounded(_compile(text), _SAMPLE.as_dict())
    except TemplateLimitError as exc:
        raise ValueError(f"template goes past a rendering limit: {exc}") from None
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ValueError(f"template does not render{where}: {exc.message or exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        raise ValueError(f"template fails on sample values: {exc}") from None
    return text


def render(text: str, context: TemplateContext, allowance: RenderAllowance | None = None) -> str:
    """Render ``text``; on any failure, the raw text (and a logged warning), never an exception.

    ``allowance`` (the process's by default) is charged the time taken; a template that has used it up is
    shown unrendered until it refills.
    """
    allowance = allowance or _ALLOWANCE
    if not allowance.allows(text):
        _report_once(text, "alert template skipped: it used up its render time")
        return text
    started = time.thread_time()
    try:
        rendered = render_bounded(_compile(text), context.as_dict())
    except TemplateLimitError as exc:
        allowance.exhaust(text)
        _report_once(text, "alert template went past a rendering limit", error=str(exc))
        return text
    except Exception as exc:  # a template must never stop evaluation
        allowance.charge(text, time.thread_time() - started)
        log.warning("alert template failed", template=text[:200], error=str(exc) or type(exc).__name__)
        return text
    allowance.charge(text, time.thread_time() - started)
    return rendered
