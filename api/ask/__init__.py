"""Ask the fleet: questions in Korean or English answered from the PromQL engine and the stores.

:func:`ask` is the entry point of ``POST /api/mcp/query`` and of the MCP server's ``ask`` tool.
"""

from api.ask.env import AskEnv
from api.ask.model import AskAnswer, Chart, Entities, Table
from api.ask.service import ask

__all__ = ["AskAnswer", "AskEnv", "Chart", "Entities", "Table", "ask"]
