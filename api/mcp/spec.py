"""A tool's declaration: its name, what it is for, its arguments (a pydantic model) and its function."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.mcp.context import ToolContext
from api.mcp.output import Answer


class ToolArgs(BaseModel):
    """Arguments of a tool: unknown ones are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolError(Exception):
    """A call the tool refuses (bad argument, nothing visible to the caller): answered as a tool error.

    ``status`` is what the audit log records, in HTTP's terms (400, 404, 422, 503).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ToolSpec:
    """One tool of the server."""

    name: str
    description: str
    args: type[ToolArgs]
    run: Callable[[ToolContext, Any], Awaitable[Answer]]

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as MCP's ``inputSchema``."""
        return self.args.model_json_schema()
