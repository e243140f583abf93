-- A second API token scope, 'mcp': the token may call the MCP server's read-only tools at /mcp (and
-- identify `openmanager mcp`). The column's check names every scope there is.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_check CHECK (scopes <@ ARRAY['write', 'mcp']::text[]);
