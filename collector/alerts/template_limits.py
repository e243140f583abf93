"""How far one annotation template's render may go, and the accounting that holds it there.

:class:`RenderLimits` names the bounds; :func:`budget_for` runs a render's :class:`Budget` of steps and CPU
time, which :func:`step` charges from anywhere in the render; :class:`SizeChecks` refuses an operation whose
result would be longer than a value may hold, before it allocates where the size can be known beforehand
(:func:`text_size`, :func:`printf_widths`). The sandbox that calls all of these is
:mod:`collector.alerts.sandbox`.
"""

from __future__ import annotations

import itertools
import re
import string
import time
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, Sized, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final


class TemplateLimitError(Exception):
    """A render went past one of its :class:`RenderLimits`; the message says which."""


@dataclass(frozen=True)
class RenderLimits:
    """How far one render may go."""

    max_steps: int = 10_000
    """Loop iterations, calls, filters and arithmetic operators, together."""
    max_value_chars: int = 16_384
    """The longest value (as text) a template may make."""
    max_output_chars: int = 16_384
    time_budget_s: float = 0.05


@dataclass
class Budget:
    """The steps and CPU time one render has used, against its limits and its deadline."""

    limits: RenderLimits
    deadline: float
    steps: int = 0
    ticks: int = 0

    def step(self) -> None:
        """Count one step; a :class:`TemplateLimitError` past ``max_steps`` or the deadline."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(
                f"more than {self.limits.max_steps} loop iterations, calls and operations"
            )
        self.tick()

    def tick(self) -> None:
        """Check the deadline now and then (every piece of output and every step call this)."""
        # Reading a thread's CPU clock costs about a microsecond, more than a small step: every 8th step or
        # piece of output will do, as the work of each is bounded.
        self.ticks += 1
        if self.ticks % 8 == 0 and time.thread_time() > self.deadline:
            raise TemplateLimitError(f"rendering took longer than {self.limits.time_budget_s:g} s")


_BUDGET: ContextVar[Budget | None] = ContextVar("template_budget", default=None)
"""The running render's budget; None outside a render (while the compiler folds constants)."""


@contextmanager
def budget_for(limits: RenderLimits) -> Iterator[Budget]:
    """The budget of a render that starts now, charged by :func:`step` until the block ends."""
    budget = Budget(limits, time.thread_time() + limits.time_budget_s)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def step() -> None:
    """Count one step against the running render's budget (nothing outside a render)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.step()


_DIGITS: Final = re.compile(r"\d+")
_WIDTH_CHARS: Final = frozenset("0123456789*")
_MAX_JSON_INDENT: Final = 8


def printf_widths(fmt: str) -> Iterator[tuple[str, str]]:
    """The width and precision (digits, ``*`` or empty) of each ``%`` conversion in ``fmt``, in one pass."""
    length = len(fmt)
    at = fmt.find("%")
    while at != -1:
        at += 1
        if at < length and fmt[at] == "(":
            close = fmt.find(")", at)
            if close == -1:
                return  # Python refuses the format: no result to size
            at = close + 1
        while at < length and fmt[at] in "#0 +-":
            at += 1
        start = at
        while at < length and fmt[at] in _WIDTH_CHARS:
            at += 1
        width, precision = fmt[start:at], ""
        if at < length and fmt[at] == ".":
            at += 1
            start = at
            while at < length and fmt[at] in _WIDTH_CHARS:
                at += 1
            precision = fmt[start:at]
        yield width, precision
        at = fmt.find("%", at + 1)


def text_size(value: object, limit: int) -> int:
    """How many characters ``value`` takes as text, roughly: exact for strings, an upper bound for numbers
    and containers (nested ones included). Counting stops just past ``limit``, so the work is bounded."""
    if isinstance(value, str):
        return len(value)
    total = 0
    pending: list[object] = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, Mapping | ItemsView):
            total += 8 * len(item) + 2  # quotes, ": " and ", " around each entry
            if total <= limit:
                pending.extend(
                    itertools.chain.from_iterable(item.items() if isinstance(item, Mapping) else item)
                )
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView):
            total += 4 * len(item) + 2  # quotes and ", " around each item
            if total <= limit:
                pending.extend(item)
        elif isinstance(item, range):
            total += len(repr(item))
        else:
            # Other objects a template can reach (loop helpers, macros, undefined, generators, and namespaces,
            # see the sandbox's namespace) print as a short fixed text.
            total += 16
    return total


class SizeChecks:
    """The size rules of ``limits``: what a value may hold, and what an operation would make beforehand."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits

    def check_size(self, total: int, what: str) -> None:
        """A :class:`TemplateLimitError` when ``total`` characters are more than a value may hold."""
        if total > self.limits.max_value_chars:
            raise TemplateLimitError(f"{what} would be longer than {self.limits.max_value_chars} characters")

    def sized(self, value: object, what: str) -> int:
        """The size of ``value`` as text, refused (see :meth:`check_size`) when too long."""
        size = text_size(value, self.limits.max_value_chars)
        self.check_size(size, what)
        return size

    def _check_width(self, width: object, what: str) -> None:
        if isinstance(width, int):
            self.check_size(width, what)

    def check_format(self, fmt: str, args: Iterable[object], *, printf: bool = False) -> None:
        """Refuse a format string whose result could be too long (widths, fields × the longest argument)."""
        largest = max((self.sized(arg, "a format argument") for arg in args), default=0)
        widths = 0
        fields = 0
        if printf:
            for width, precision in printf_widths(fmt):
                if "*" in width or "*" in precision:
                    raise TemplateLimitError("a width or precision taken from an argument is not allowed")
                widths += sum(int(number) for number in (width, precision) if number)
                fields += 1
        else:
            for _, field, spec, _ in string.Formatter().parse(fmt):
                if field is None:
                    continue
                if spec and "{" in spec:
                    raise TemplateLimitError("a width or precision taken from an argument is not allowed")
                widths += sum(int(digits) for digits in _DIGITS.findall(spec or ""))
                fields += 1
        self.check_size(len(fmt) + widths + fields * largest, "the formatted text")

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        """Refuse arithmetic before it makes something too large."""
        limit = self.limits.max_value_chars
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self.check_size(text_size(seq, limit) * max(times, 0), "a repeated value (*)")
            if isinstance(left, int) and isinstance(right, int):
                self.check_size((left.bit_length() + right.bit_length()) // 3, "a product's digits")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            self.check_size(left.bit_length() * right // 3, "a power's digits")
        elif operator == "+":
            self.check_size(text_size(left, limit) + text_size(right, limit), "a sum (+)")
        elif operator == "%" and isinstance(left, str):
            self.check_format(left, right if isinstance(right, tuple) else [right], printf=True)

    def check_str_method(
        self, text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Any, ...]:
        """The arguments to call the string method with, once what it would make is known to be small."""
        if name in ("center", "ljust", "rjust", "zfill") and args:
            self._check_width(args[0], f"str.{name}()")
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            self.check_size(len(text) * (tabsize if isinstance(tabsize, int) else 8), "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            self._check_replace(text, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
        elif name == "join" and args:
            parts = self.listed(args[0])
            self._check_join(text, parts)
            return (parts, *args[1:])
        return args

    def listed(self, items: object) -> object:
        """``items`` as a list when it has no length (an iterator: so it can be measured, then used)."""
        if isinstance(items, Iterable) and not isinstance(items, Sized):
            listed = list(itertools.islice(items, self.limits.max_value_chars + 1))
            self.check_size(len(listed), "the number of items joined")
            return listed
        return items

    def _check_replace(self, text: object, old: object, new: object, count: object) -> None:
        if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
            return
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        self.check_size(len(text) + found * max(len(new) - len(old), 0), "replace()")

    def _check_join(self, separator: object, parts: object) -> None:
        # Iterators were listed first (listed()); a string or a range joins one separator per item too.
        if isinstance(parts, Sized):
            gaps = max(len(parts) - 1, 0) * text_size(separator, self.limits.max_value_chars)
            self.check_size(text_size(parts, self.limits.max_value_chars) + gaps, "join()")

    def check_filter(self, name: str, values: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Refuse a filter call whose result would be too long, by the filter's own arguments."""

        def arg(position: int, keyword: str, default: object = None) -> object:
            return values[position] if len(values) > position else kwargs.get(keyword, default)

        value = arg(0, "value", "")
        counts = {"center": "width", "batch": "linecount", "slice": "slices"}
        if name in counts:
            self._check_width(arg(1, counts[name]), f"|{name}")
        elif name == "indent":
            width = arg(1, "width", 4)
            pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            lines = str(value).count("\n") + 1
            self.check_size(len(str(value)) + lines * pad, "|indent")
        elif name == "wordwrap":
            wrap = arg(3, "wrapstring") or "\n"
            self.check_size(len(str(value)) * (1 + len(str(wrap))), "|wordwrap")
        elif name == "replace":
            self._check_replace(value, arg(1, "old"), arg(2, "new"), arg(3, "count", -1))
        elif name == "join":
            self._check_join(arg(1, "d", ""), value)
        elif name == "format" and isinstance(value, str):
            self.check_format(value, [*values[1:], *kwargs.values()], printf=True)
        elif name == "tojson":
            indent = arg(1, "indent")
            if isinstance(indent, int) and indent > _MAX_JSON_INDENT:
                raise TemplateLimitError(f"|tojson indents by at most {_MAX_JSON_INDENT}")
