"""Go regular expressions in Python's ``re``: the RE2 syntax Prometheus configurations use, and ``Expand``.

:func:`compile_regex` compiles a regex the way Prometheus compiles a relabel regex (``^(?s:<regex>)$``),
after :func:`translate_regex` rewrites the Go-isms those configurations use: flag groups such as ``(?i)``
anywhere in the pattern, ``(?<name>...)`` groups, ``\\z`` and POSIX classes such as ``[[:alpha:]]``.
``\\d``, ``\\w``, ``\\s`` and ``\\b`` keep RE2's ASCII meaning. Unicode classes (``\\pL``) are not
supported and are reported as invalid.

:func:`compile_template` pre-parses a ``$1``/``${name}`` template against a compiled regex, so that
:meth:`Template.expand` does what Go's ``Regexp.Expand`` does: the name after ``$`` is the longest run of
letters, digits and ``_`` (``$1x`` is the group named ``1x``, which does not exist, so it expands to
nothing; write ``${1}x``), a group that did not take part in the match expands to nothing and ``$$`` is a
literal ``$``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Template:
    """A ``$1``/``${name}`` template split into literal text (str) and match group numbers (int)."""

    parts: tuple[str | int, ...]
    has_references: bool

    def expand(self, match: re.Match[str]) -> str:
        """The template with each group reference replaced by what that group matched ("" if nothing)."""
        if len(self.parts) == 1:
            only = self.parts[0]
            return only if isinstance(only, str) else match.group(only) or ""
        return "".join(part if isinstance(part, str) else match.group(part) or "" for part in self.parts)


def _is_name_char(char: str) -> bool:
    # Go's Expand takes unicode.IsLetter / unicode.IsDigit (category Nd) / underscore.
    return char.isalpha() or char.isdecimal() or char == "_"


def compile_template(template: str, pattern: re.Pattern[str]) -> Template:
    """Parse ``template`` once for :meth:`Template.expand` with matches of ``pattern``, as Go's ``Expand``."""
    parts: list[str | int] = []
    literal: list[str] = []
    i, end = 0, len(template)
    while i < end:
        dollar = template.find("$", i)
        if dollar < 0:
            literal.append(template[i:])
            break
        literal.append(template[i:dollar])
        i = dollar + 1
        if template.startswith("$", i):
            literal.append("$")
            i += 1
            continue
        braced = template.startswith("{", i)
        start = i + 1 if braced else i
        stop = start
        while stop < end and _is_name_char(template[stop]):
            stop += 1
        if stop == start or (braced and not template.startswith("}", stop)):
            literal.append("$")  # not a reference: Go keeps the "$" as text
            continue
        name = template[start:stop]
        i = stop + 1 if braced else stop
        group = _group_number(name, pattern)
        if group is not None:
            parts.extend(["".join(literal), group])
            literal.clear()
    parts.append("".join(literal))
    kept = tuple(part for part in parts if part != "")
    return Template(kept or ("",), any(isinstance(part, int) for part in kept))


def _group_number(name: str, pattern: re.Pattern[str]) -> int | None:
    """The group ``name`` refers to, or None when it refers to nothing (and so expands to nothing)."""
    if name.isascii() and name.isdigit():
        number = int(name)
        # Go reads "01" as a group name, not a number; no group can have that name.
        plain = name == "0" or not name.startswith("0")
        return number if plain and number <= pattern.groups else None
    return pattern.groupindex.get(name)


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]*):\]")
_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]+(?:-[a-zA-Z]*)?|-[a-zA-Z]+)\)")


def _class_end(regex: str, start: int) -> int:
    """The index just past the character class opening at ``start`` (or the end, if unterminated)."""
    i = start + 1
    if regex.startswith("^", i):
        i += 1
    if regex.startswith("]", i):
        i += 1
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
        elif (posix := _POSIX_CLASS.match(regex, i)) is not None:
            i = posix.end()
        elif regex[i] == "]":
            return i + 1
        else:
            i += 1
    return len(regex)


def _translate_class(text: str) -> str:
    def posix(match: re.Match[str]) -> str:
        negated, name = match.groups()
        if negated or name not in _POSIX_CLASSES:
            raise ValueError(f"the character class [:{negated}{name}:] is not supported")
        return _POSIX_CLASSES[name]

    return _POSIX_CLASS.sub(posix, text)


def translate_regex(regex: str) -> str:
    """Rewrite RE2 syntax that Python's ``re`` reads differently or not at all into its ``re`` equivalent.

    Go's ``(?i)`` changes the flags for the rest of the enclosing group, across ``|``; Python only accepts
    such a group at the very start, so each becomes a scoped ``(?i:...)`` closed at every ``|`` and reopened
    after it, and closed again before the enclosing ``)``.
    """
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: the flag groups opened in it so far
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            pair = regex[i : i + 2]
            out.append("\\Z" if pair == "\\z" else pair)
            i += 2
        elif char == "[":
            end = _class_end(regex, i)
            out.append(_translate_class(regex[i:end]))
            i = end
        elif (flags := _FLAG_GROUP.match(regex, i)) is not None:
            if "U" in flags.group(1):
                raise ValueError("the U (ungreedy) flag is not supported; use lazy quantifiers such as *?")
            out.append(f"(?{flags.group(1)}:")
            scoped[-1].append(flags.group(1))
            i = flags.end()
        elif char == "(":
            named = regex.startswith("(?<", i) and regex[i + 3 : i + 4] not in ("=", "!")
            out.append("(?P<" if named else "(")
            scoped.append([])
            i += 3 if named else 1
        elif char == ")" and len(scoped) > 1:
            out.append(")" * len(scoped.pop()) + ")")
            i += 1
        elif char == "|" and scoped[-1]:
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
        else:
            out.append(char)
            i += 1
    out.append(")" * len(scoped[0]))
    return "".join(out)


def compile_regex(regex: str) -> re.Pattern[str]:
    """Compile a relabel regex the way Prometheus does: whole-value match, ``.`` matching newlines.

    Use ``fullmatch`` on the result (Go's ``$`` only matches at the very end, unlike Python's). Raises
    ``ValueError`` with the reason when the regex is invalid.
    """
    try:
        return re.compile(f"(?s:{translate_regex(regex)})", re.ASCII)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc.msg}") from None
