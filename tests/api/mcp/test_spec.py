"""A tool's declaration: its schema refuses unknown arguments; a refusal carries its status."""

from __future__ import annotations

import pytest

from api.mcp.server import TOOLS
from api.mcp.spec import ToolError, ToolSpec


@pytest.mark.parametrize("tool", TOOLS, ids=[tool.name for tool in TOOLS])
def test_every_tool_schema_is_an_object_refusing_unknown_arguments(tool: ToolSpec) -> None:
    schema = tool.input_schema()
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert tool.description


def test_a_tool_error_defaults_to_a_bad_request() -> None:
    assert ToolError("x").status == 400
    assert ToolError("gone", 404).status == 404
