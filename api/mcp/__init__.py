"""The MCP server: OpenManager's read-only tools for AI assistants, over the Model Context Protocol.

``context.py`` (who calls, what they may see), ``output.py`` (results as quoted, size-capped data),
``tools_*.py`` (the tools), ``server.py`` (the SDK's server, auditing every call), ``http.py`` (``/mcp`` on
the API, streamable HTTP) and ``stdio.py`` (``openmanager mcp``).
"""
