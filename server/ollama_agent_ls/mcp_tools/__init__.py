"""MCP servers' tools for the agent (the ``mcpServers`` setting and ACP's session/new).

Named ``mcp_tools``, not ``mcp``: that is the SDK's import name. Nothing here imports the SDK
at module level; only connection.py does, when a configured server is first started, so a
setup without MCP servers never loads it (nor does the language server before initialize).
"""
