"""From a query string to small frozen nodes, with promql-parser (Rust) as the grammar.

The adapter keeps the engine independent of the binding's classes and their quirks: durations become
int milliseconds, ``@`` a tagged value, vector matching one plain record; label matchers are the project's
one implementation (`collector.matchers.Matcher`). Parse errors are `BadDataError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import promql_parser as pp
from pydantic import ValidationError

from collector.matchers import Matcher, MatchOp
from collector.promql.errors import BadDataError
from collector.regex import RegexError

ValueType = Literal["scalar", "vector", "matrix", "string"]
Card = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]

# Prometheus 2.x's name for double exponential smoothing; promql-parser only knows the 3.x name.
pp.register_extra_functions(
    [
        pp.Function(
            "holt_winters",
            [pp.ValueType.Matrix, pp.ValueType.Scalar, pp.ValueType.Scalar],
            pp.ValueType.Vector,
        )
    ]
)

SCALAR_FUNCTIONS = frozenset({"time", "scalar", "pi"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_AT_DEBUG = re.compile(r"At\(\s*SystemTime \{\s*tv_sec: (-?\d+),\s*tv_nsec: (\d+)")
# The binding's enum values compare equal but are not hashable, hence pairs rather than dicts.
_MATCH_OPS: tuple[tuple[pp.MatchOp, MatchOp], ...] = (
    (pp.MatchOp.Equal, "="),
    (pp.MatchOp.NotEqual, "!="),
    (pp.MatchOp.Re, "=~"),
    (pp.MatchOp.NotRe, "!~"),
)
_CARDS: tuple[tuple[pp.VectorMatchCardinality, Card], ...] = (
    (pp.VectorMatchCardinality.OneToOne, "one-to-one"),
    (pp.VectorMatchCardinality.ManyToOne, "many-to-one"),
    (pp.VectorMatchCardinality.OneToMany, "one-to-many"),
    (pp.VectorMatchCardinality.ManyToMany, "many-to-many"),
)


@dataclass(frozen=True)
class At:
    """An ``@`` modifier: ``start()``, ``end()`` or a time in milliseconds."""

    kind: Literal["start", "end", "time"]
    time_ms: int = 0


@dataclass(frozen=True)
class NumberLiteral:
    """A number."""

    value: float


@dataclass(frozen=True)
class StringLiteral:
    """A string."""

    value: str


@dataclass(frozen=True)
class VectorSelector:
    """``name{matchers} offset @``; ``matchers`` include the ``__name__`` one when a name is given."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True)
class MatrixSelector:
    """``selector[range]``."""

    selector: VectorSelector
    range_ms: int


@dataclass(frozen=True)
class Subquery:
    """``expr[range:step] offset @``; ``step_ms`` 0 is the engine's default subquery step."""

    expr: Expr
    range_ms: int
    step_ms: int
    offset_ms: int = 0
    at: At | None = None


@dataclass(frozen=True)
class Call:
    """A function call."""

    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate:
    """An aggregation; ``grouping`` is the ``by`` list, or the ``without`` list when ``without``."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True)
class VectorMatching:
    """How two vectors' series pair up: ``on``/``ignoring`` labels, cardinality, ``group_x`` labels."""

    card: Card
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Binary:
    """A binary operation; ``matching`` is set when both sides are vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    matching: VectorMatching | None = None
    return_bool: bool = False


@dataclass(frozen=True)
class Unary:
    """Unary minus (the parser drops unary plus)."""

    expr: Expr


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | Subquery
    | Call
    | Aggregate
    | Binary
    | Unary
)


def parse(query: str) -> Expr:
    """Parse ``query``; a syntax or type error is `BadDataError` with the parser's message."""
    try:
        return _convert(pp.parse(query))
    except BadDataError:
        raise
    except BaseException as exc:
        # A panic inside the Rust parser arrives as pyo3's PanicException, a BaseException.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise BadDataError(f"parse error: {exc}") from None


def value_type(expr: Expr) -> ValueType:
    """The PromQL type of an expression."""
    match expr:
        case NumberLiteral():
            return "scalar"
        case StringLiteral():
            return "string"
        case MatrixSelector() | Subquery():
            return "matrix"
        case Call(func=func):
            return "scalar" if func in SCALAR_FUNCTIONS else "vector"
        case Binary(lhs=lhs, rhs=rhs):
            both_scalar = value_type(lhs) == "scalar" and value_type(rhs) == "scalar"
            return "scalar" if both_scalar else "vector"
        case Unary(expr=inner):
            return value_type(inner)
        case _:
            return "vector"


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else delta // _ONE_MS


def _at(node: pp.VectorSelector | pp.SubqueryExpr) -> At | None:
    modifier = node.at
    if modifier is None:
        return None
    kind = modifier.type
    if kind == pp.AtModifierType.Start:
        return At("start")
    if kind == pp.AtModifierType.End:
        return At("end")
    try:
        moment = modifier.at
    except BaseException as exc:
        # The binding cannot express times before 1970 as datetimes (it panics); its debug text can.
        if isinstance(exc, Exception) or type(exc).__name__ != "PanicException":
            raise
        found = _AT_DEBUG.findall(repr(node))
        if not found:
            raise BadDataError("parse error: unreadable @ timestamp") from None
        seconds, nanos = found[-1]
        return At("time", int(seconds) * 1000 + int(nanos) // 1_000_000)
    if moment is None:
        raise BadDataError("parse error: @ modifier without a timestamp")
    return At("time", (moment - _EPOCH) // _ONE_MS)


def _matcher(raw: pp.Matcher) -> Matcher:
    op = next(text for value, text in _MATCH_OPS if raw.op == value)
    try:
        return Matcher(name=raw.name, op=op, value=raw.value)
    except ValidationError as exc:
        # The matcher compiles its regex once, in its validation: a refused one is that error's cause.
        causes = [error.get("ctx", {}).get("error") for error in exc.errors()]
        refused = next((cause for cause in causes if isinstance(cause, RegexError)), None)
        if refused is not None:
            raise BadDataError(f"parse error: {refused}") from None
        raise BadDataError(f"parse error: {raw.name!r} is not a label name") from None


def _selector(node: pp.VectorSelector) -> VectorSelector:
    if node.matchers.or_matchers:
        raise BadDataError("parse error: 'or' between label matchers is not supported")
    matchers = [_matcher(raw) for raw in node.matchers.matchers]
    if node.name is not None:
        matchers.insert(0, Matcher(name="__name__", value=node.name))
    return VectorSelector(node.name, tuple(matchers), _ms(node.offset), _at(node))


def _matching(modifier: pp.BinModifier | None, op: str, both_vectors: bool) -> VectorMatching | None:
    if not both_vectors:
        return None
    set_op = op in ("and", "or", "unless")
    if modifier is None:
        return VectorMatching("many-to-many" if set_op else "one-to-one")
    fill = modifier.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise BadDataError("parse error: fill modifiers are not supported")
    matching = modifier.matching
    card: Card = "many-to-many"
    if not set_op:
        card = next(text for value, text in _CARDS if modifier.card == value)
    return VectorMatching(
        card,
        on=matching is not None and matching.type == pp.LabelModifierType.Include,
        labels=tuple(matching.labels) if matching is not None else (),
        include=tuple(modifier.group_labels or ()),
    )


def _convert(node: pp.Expr) -> Expr:
    match node:
        case pp.NumberLiteral():
            return NumberLiteral(float(node.val))
        case pp.StringLiteral():
            return StringLiteral(node.val)
        case pp.ParenExpr():
            return _convert(node.expr)
        case pp.UnaryExpr():
            return Unary(_convert(node.expr))
        case pp.VectorSelector():
            return _selector(node)
        case pp.MatrixSelector():
            return MatrixSelector(_selector(node.vector_selector), _ms(node.range))
        case pp.SubqueryExpr():
            return Subquery(_convert(node.expr), _ms(node.range), _ms(node.step), _ms(node.offset), _at(node))
        case pp.Call():
            return Call(node.func.name, tuple(_convert(arg) for arg in node.args))
        case pp.AggregateExpr():
            modifier = node.modifier
            return Aggregate(
                str(node.op),
                _convert(node.expr),
                None if node.param is None else _convert(node.param),
                tuple(modifier.labels) if modifier is not None else (),
                modifier is not None and modifier.type == pp.AggModifierType.Without,
            )
        case pp.BinaryExpr():
            op = str(node.op)
            lhs, rhs = _convert(node.lhs), _convert(node.rhs)
            both_vectors = value_type(lhs) == "vector" and value_type(rhs) == "vector"
            bin_modifier = node.modifier
            return Binary(
                op,
                lhs,
                rhs,
                _matching(bin_modifier, op, both_vectors),
                bin_modifier is not None and bin_modifier.return_bool,
            )
    raise BadDataError(f"parse error: unsupported expression {type(node).__name__}")
