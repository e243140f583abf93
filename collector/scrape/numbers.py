"""Number syntax of the Prometheus text and OpenMetrics formats, stricter than Python's ``float()``.

Both formats accept the same sample values: decimal numbers with an optional sign, fraction and exponent
(``1``, ``-2.5``, ``.5``, ``5.``, ``1e-3``, ``1E+06``), infinity as ``inf`` or ``infinity`` with an optional
sign and NaN as ``nan``, the last two in any letter case (the OpenMetrics ABNF is case-insensitive there,
and Prometheus's Go ``ParseFloat`` is too). ``float()`` also accepts underscores (``1_2``), surrounding
whitespace (a CRLF line ending would otherwise pass unnoticed), non-ASCII digits and a signed NaN;
those are rejected here. Hexadecimal floats (``0x1p-3``) are rejected by ``float()`` itself, as
Prometheus rejects them.

Timestamps differ: the text format has integer milliseconds made of digits only (Prometheus's lexer
takes no sign), OpenMetrics has decimal seconds without infinities or NaN. Seconds are converted to
milliseconds exactly from the digits and truncated toward zero, where Prometheus multiplies a float and
can land one millisecond low (``1.001`` would give 1000).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_DOWN, Context, Decimal
from typing import Final

_NUMBER_CHARS: Final = "0123456789.eE+-"
"""Every character of a decimal number; a token made only of these is valid iff ``float()`` takes it."""

_NAMED_VALUES: Final[dict[str, float]] = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INT64_DIGITS: Final = 19
_SHOWN_CHARS: Final = 40
_TEXT_TIMESTAMP = re.compile(r"[0-9]+", re.ASCII)
_REAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# Enough digits for any int64 of milliseconds; rounding down keeps truncation toward zero exact.
_TIMESTAMP_CONTEXT: Final = Context(prec=60, rounding=ROUND_DOWN)
_MAX_SECONDS_EXPONENT: Final = 18


def _shown(token: str) -> str:
    """The token for an error message, cut short: a page can hold a megabyte on one line."""
    return repr(token if len(token) <= _SHOWN_CHARS else token[:_SHOWN_CHARS] + "…")


def parse_value(token: str) -> float:
    """The float of a sample value token; ValueError when the formats do not allow it."""
    if not token.strip(_NUMBER_CHARS):
        try:
            return float(token)
        except ValueError:
            pass
    elif token.isascii():
        named = _NAMED_VALUES.get(token.lower())
        if named is not None:
            return named
    raise ValueError(f"invalid number {_shown(token)}")


class TimestampRangeError(ValueError):
    """A well-formed timestamp outside the int64 milliseconds that storage can hold."""


def parse_text_timestamp(token: str) -> int:
    """Milliseconds from a text-format timestamp: decimal digits that fit in an int64."""
    if _TEXT_TIMESTAMP.fullmatch(token) is None:
        raise ValueError(f"invalid timestamp {_shown(token)} (expected integer milliseconds)")
    if len(token.lstrip("0")) > _INT64_DIGITS:  # before int(), which refuses very long strings
        raise ValueError(f"timestamp {_shown(token)} is out of range")
    milliseconds = int(token)
    if milliseconds > _INT64_MAX:
        raise ValueError(f"timestamp {_shown(token)} is out of range")
    return milliseconds


def parse_openmetrics_timestamp(token: str) -> int:
    """Milliseconds, truncated toward zero, from an OpenMetrics timestamp in decimal seconds."""
    if _REAL_NUMBER.fullmatch(token) is None:
        raise ValueError(f"invalid timestamp {_shown(token)} (expected seconds as a decimal number)")
    whole, _, fraction = token.partition(".")
    if "e" in token or "E" in token:
        seconds = Decimal(token)
        if seconds.adjusted() > _MAX_SECONDS_EXPONENT:
            raise TimestampRangeError(f"timestamp {_shown(token)} is out of range")
        milliseconds = int(seconds.scaleb(3, _TIMESTAMP_CONTEXT))
    else:
        negative = whole.startswith("-")
        digits = whole.lstrip("+-").lstrip("0") or "0"
        if len(digits) > _INT64_DIGITS:
            raise TimestampRangeError(f"timestamp {_shown(token)} is out of range")
        milliseconds = int(digits) * 1000 + int((fraction + "000")[:3])
        if negative:
            milliseconds = -milliseconds
    if not _INT64_MIN <= milliseconds <= _INT64_MAX:
        raise TimestampRangeError(f"timestamp {_shown(token)} is out of range")
    return milliseconds


def format_go_float(value: float) -> str:
    """The float as Prometheus writes ``le`` and ``quantile`` label values after normalizing them.

    That is Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` (shortest digits that round-trip, exponent form
    when the decimal exponent is below -4 or at least 6, with at least two exponent digits) plus ``.0``
    when the result has neither a point nor an exponent: ``1`` -> ``1.0``, ``1e6`` -> ``1e+06``,
    ``0.00001`` -> ``1e-05``, ``inf`` -> ``+Inf``.
    """
    if math.isnan(value):
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0.0"
    text = repr(value)
    sign = "-" if text[0] == "-" else ""
    mantissa, _, exponent = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exponent_sign = "-" if decimal_exponent < 0 else "+"
        return f"{sign}{head}e{exponent_sign}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}.0"
    return f"{sign}{digits[:point]}.{digits[point:]}"
