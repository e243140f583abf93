"""The bounded Jinja2 sandbox that annotation templates render in: every render ends, soon and small.

Jinja2's sandbox keeps a template away from Python's internals, but not from CPU and memory: two nested
``range(100000)`` loops run for hours, ``"x" * 10**9`` or ``"x" | center(10**9)`` allocate a gigabyte. Rules,
and so templates, are written through the API, so :class:`BoundedEnvironment` bounds each render
(:class:`~collector.alerts.template_limits.RenderLimits`):

- steps: every loop iteration, call, filter and arithmetic operator is one step, ``max_steps`` at most;
- time: the render's deadline (``time_budget_s`` of the thread's CPU time, so that a busy machine taking
  the CPU away does not count against a template) is checked every few steps and at every piece of output;
- size: no value a template makes (a string, a list as text, an integer's digits) may be longer than
  ``max_value_chars``, and the output stops at ``max_output_chars``. Where an operation's result can be
  sized beforehand (repetition ``*``, ``**``, padding and format widths, ``join``, ``replace``, ``indent``,
  ``wordwrap``) it is refused before it allocates; every result is measured after;
- loops: ``range`` yields at most ``max_steps`` numbers; recursive loops are refused at compile time.

Each operation works on bounded values, so the work between two checks is bounded too and the deadline
holds. A render past a limit raises :class:`~collector.alerts.template_limits.TemplateLimitError` naming the
limit. Only calls a template needs are allowed: macros, the globals (``range``, ``dict``, ``cycler``,
``joiner``, ``namespace``) and the methods of strings, dicts, lists and loop helpers that cannot amplify
(``lipsum``, ``urlize`` and ``pprint`` are gone). The accounting (budget, size rules) is
:mod:`collector.alerts.template_limits`; this module hooks it into the compiled template.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from jinja2 import Template, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace

from collector.alerts.template_limits import (
    RenderLimits,
    SizeChecks,
    TemplateLimitError,
    budget_for,
    step,
    text_size,
)

_STR_METHODS: Final = frozenset(
    {
        *("capitalize", "casefold", "lower", "upper", "swapcase", "title"),
        *("count", "find", "rfind", "index", "rindex", "startswith", "endswith"),
        *("isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower"),
        *("isnumeric", "isprintable", "isspace", "istitle", "isupper"),
        *("strip", "lstrip", "rstrip", "removeprefix", "removesuffix"),
        *("split", "rsplit", "splitlines", "partition", "rpartition"),
        *("center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"),
    }
)
"""String methods a template may call; the last line's are checked for the size of what they make."""
_METHODS: Final[Mapping[type, frozenset[str]]] = {
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    LoopContext: frozenset({"cycle", "changed"}),
    Cycler: frozenset({"next", "reset"}),
    float: frozenset({"is_integer"}),
    int: frozenset({"bit_length"}),
}


class _Namespace(Namespace):
    """``namespace()``: Jinja's, printed without its contents, whose values are measured when used."""

    def __repr__(self) -> str:
        return "<namespace>"


class _BoundedFormat:
    """``str.format`` / ``format_map`` of one string, refused when what it would make is too long."""

    def __init__(self, sizes: SizeChecks, fmt: str, wrapped: Callable[..., str]) -> None:
        self._sizes = sizes
        self._fmt = fmt
        self._wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self._sizes.check_format(self._fmt, [*args, *kwargs.values()])
        return self._wrapped(*args, **kwargs)


class _BoundedBuffer(list[str]):
    """Where a block, a macro or a filter section collects its output: measured as it grows, so a loop
    cannot pile up more than a value may hold before the block is joined."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._chars = 0

    def append(self, piece: str) -> None:
        self._chars += len(piece)
        if self._chars > self._limit:
            raise TemplateLimitError(f"a block's output would be longer than {self._limit} characters")
        super().append(piece)

    def extend(self, pieces: Iterable[str]) -> None:
        for piece in pieces:
            self.append(piece)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator with every loop counted, every ``~`` and every block's output measured."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802
        for loop in list(node.find_all(nodes.For)):
            if loop.recursive:
                self.fail("recursive loops are not allowed in alert templates", loop.lineno)
            counted = nodes.Call(
                nodes.EnvironmentAttribute("loop_items"), [loop.iter], [], None, None, lineno=loop.lineno
            )
            loop.iter = counted.set_environment(self.environment)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        self.write("environment.concat_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose renders (through :func:`render_bounded`) stay within ``limits``."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, limits: RenderLimits | None = None, **options: Any) -> None:
        self.limits = limits or RenderLimits()
        self.sizes = SizeChecks(self.limits)
        super().__init__(finalize=self._finalize, **options)
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range
        self.globals["namespace"] = _Namespace
        # urlize adds its attributes to every URL, pprint indents by depth: both make far more than they read.
        self.filters.pop("urlize", None)
        self.filters.pop("pprint", None)
        self.filters = {name: self._bounded_filter(name, f) for name, f in self.filters.items()}
        self._allowed_calls: tuple[object, ...] = (self._range, dict, Cycler, Joiner, _Namespace)

    # --- the hooks the compiled template calls ------------------------------------------------------------

    def loop_items(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """``iterable`` with one step counted per item: what every ``{% for %}`` iterates."""
        for item in iterable:
            step()
            yield item

    def output_buffer(self) -> list[str]:
        """A new buffer for a block's output (see the code generator)."""
        return _BoundedBuffer(self.limits.max_value_chars)

    def concat_values(self, values: tuple[object, ...]) -> str:
        """The ``~`` operator, measured."""
        step()
        self.sizes.check_size(
            sum(text_size(value, self.limits.max_value_chars) for value in values), "a joined string (~)"
        )
        return "".join(str(value) for value in values)

    def concat(self, parts: Iterable[str]) -> str:
        """Joins the output of a block, a macro or a filter section, measured as it goes."""
        collected: list[str] = []
        total = 0
        for part in parts:
            total += len(part)
            self.sizes.check_size(total, "a block's output")
            collected.append(part)
        return "".join(collected)

    def _finalize(self, value: object) -> object:
        self.sizes.sized(value, "an expression's output")
        return value

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_steps:
            raise TemplateLimitError(f"range() of more than {self.limits.max_steps} numbers")
        return numbers

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic, refused before it makes something too large."""
        step()
        self.sizes.check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        self.sizes.sized(result, f"the result of {operator}")
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """A call from a template: allowed callables only, arguments and result measured."""
        step()
        if __obj == __self.loop_items:
            return __context.call(__obj, *args, **kwargs)
        __self._check_callable(__obj)
        measured = [value for key, value in kwargs.items() if key not in ("_loop_vars", "_block_vars")]
        for value in (*args, *measured):
            __self.sizes.sized(value, "a call's argument")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = __self.sizes.check_str_method(owner, __obj.__name__, args, kwargs)
        result = __context.call(__obj, *args, **kwargs)
        __self.sizes.sized(result, "a call's result")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map``, measured (see :meth:`SizeChecks.check_format`)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        return _BoundedFormat(self.sizes, value.__self__, wrapped)

    # --- what may be called -------------------------------------------------------------------------------

    def _check_callable(self, obj: object) -> None:
        # Calling an undefined name is let through to raise Jinja's own "is undefined" error.
        if isinstance(obj, Macro | _BoundedFormat | Joiner | Undefined):
            return
        if any(obj is allowed or obj == allowed for allowed in self._allowed_calls):
            return
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, str) and name in _STR_METHODS:
            return
        for kind, names in _METHODS.items():
            if isinstance(owner, kind) and name in names:
                return
        raise SecurityError(f"calling {name or type(obj).__name__!r} is not allowed in alert templates")

    # --- filters ------------------------------------------------------------------------------------------

    def _bounded_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            step()
            passed = [a for a in args if isinstance(a, Context | BoundedEnvironment | EvalContext)]
            values = args[len(passed) :]
            if name == "join" and values:
                values = (self.sizes.listed(values[0]), *values[1:])
            for value in (*values, *kwargs.values()):
                self.sizes.sized(value, f"the input of |{name}")
            self.sizes.check_filter(name, values, kwargs)
            result = func(*passed, *values, **kwargs)
            self.sizes.sized(result, f"the result of |{name}")
            return result

        return bounded


def render_bounded(template: Template, variables: Mapping[str, object]) -> str:
    """Render ``template``, compiled by a :class:`BoundedEnvironment`, within that environment's limits.

    Raises :class:`~collector.alerts.template_limits.TemplateLimitError` past a limit, and whatever the
    template itself raises.
    """
    environment = template.environment
    if not isinstance(environment, BoundedEnvironment):
        raise TypeError("render_bounded needs a template of a BoundedEnvironment")
    limits = environment.limits
    with budget_for(limits) as budget:
        pieces: list[str] = []
        total = 0
        # The render function itself, not Template.generate: that rewrites tracebacks for debugging, which
        # costs more than a short render.
        for piece in template.root_render_func(template.new_context(dict(variables))):
            total += len(piece)
            if total > limits.max_output_chars:
                raise TemplateLimitError(f"the output is longer than {limits.max_output_chars} characters")
            budget.tick()
            pieces.append(piece)
        return "".join(pieces)
