"""Results as data: quoting of strings, the envelope, and the caps on rows and bytes."""

from __future__ import annotations

import json

import pytest

from api.mcp.output import (
    DATA_NOTICE,
    MAX_STRING_CHARS,
    Answer,
    as_data,
    cap_rows,
    encode,
    envelope,
    quote_text,
)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web-1", "web-1"),
        ("서버-1 (서울)", "서버-1 (서울)"),
        ("line\nbreak", "line\\u{000a}break"),
        ("tab\there", "tab\\u{0009}here"),
        ("rtl\u202eoverride", "rtl\\u{202e}override"),
        ("zero\u200bwidth", "zero\\u{200b}width"),
        ("para\u2029sep", "para\\u{2029}sep"),
        ("nul\x00byte", "nul\\u{0000}byte"),
        ("back\\slash \\u{000a}", "back\\\\slash \\\\u{000a}"),
    ],
)
def test_quote_text_escapes_what_could_hide_or_break_lines(text: str, quoted: str) -> None:
    assert quote_text(text) == quoted


def test_a_long_string_is_cut_with_a_marker() -> None:
    quoted = quote_text("a" * (MAX_STRING_CHARS + 10))
    assert quoted == "a" * MAX_STRING_CHARS + "…[10 more characters cut]"


def test_as_data_quotes_keys_and_values_at_any_depth() -> None:
    value = {"labels\n": {"note": ["x\ny", 1, 2.5, None, True]}, "n": 3}
    assert as_data(value) == {"labels\\u{000a}": {"note": ["x\\u{000a}y", 1, 2.5, None, True]}, "n": 3}


def test_cap_rows_keeps_the_first_and_says_how_many_there_were() -> None:
    notes: list[str] = []
    assert cap_rows([1, 2, 3], 3, "rows", notes) == ([1, 2, 3], False) and notes == []
    assert cap_rows([1, 2, 3, 4], 2, "servers", notes) == ([1, 2], True)
    assert notes == ["showing 2 of 4 servers; narrow the request to see the rest"]


def test_the_envelope_puts_host_strings_only_under_data() -> None:
    result = envelope("list_servers", Answer({"servers": [{"name": "a\nb"}]}, rows_key="servers"), 10_000)
    assert result == {
        "tool": "list_servers",
        "notice": DATA_NOTICE,
        "truncated": False,
        "notes": [],
        "data": {"servers": [{"name": "a\\u{000a}b"}]},
    }
    assert json.loads(encode(result)) == result


@pytest.mark.parametrize("max_bytes", [4096, 8192, 20_000])
def test_a_result_over_the_byte_limit_loses_rows_until_it_fits(max_bytes: int) -> None:
    rows = [{"name": f"server-{i:04d}", "value": i} for i in range(1000)]
    result = envelope("list_servers", Answer({"servers": rows}, rows_key="servers"), max_bytes)
    kept = result["data"]["servers"]
    assert len(encode(result).encode()) <= max_bytes
    assert 0 < len(kept) < 1000 and kept == rows[: len(kept)]
    assert result["truncated"] is True
    assert result["notes"] == [f"cut to {len(kept)} of 1000 rows to stay under {max_bytes} bytes"]


def test_a_result_too_large_even_without_rows_keeps_only_a_note() -> None:
    answer = Answer({"big": "x" * 400, "rows": []}, rows_key="rows")
    result = envelope("query", answer, 300)
    assert result["data"] == {} and result["truncated"] is True
    assert "even without rows" in result["notes"][-1]
