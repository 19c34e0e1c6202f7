"""What doctor and checkSetup say about MCP: each server's tools or failure, the tool weight."""

from __future__ import annotations

from pathlib import Path

from ollama_agent_ls.mcp_tools.hub import McpHub
from ollama_agent_ls.mcp_tools.provider import (
    enabled,
    offered_tools,
    start_all,
    total_weight,
    weight_warning,
)
from ollama_agent_ls.ollama.setup_check import SetupReport
from ollama_agent_ls.settings import Settings

UNSANDBOXED = (
    "MCP servers run outside the sandbox and undo does not cover what their tools do; their "
    "calls ask first unless the tool is in mcpServers.NAME.autoApprove."
)


async def check_mcp(report: SetupReport, settings: Settings, root: Path) -> None:
    """Start the enabled MCP servers (then stop them) and fill the report's MCP fields; a
    setup without servers only gets the tool count (and never loads the SDK)."""
    servers = enabled(settings.mcp_servers)
    definitions = []
    if servers:
        hub = McpHub()
        try:
            started = await start_all(hub, servers, root)
        finally:
            await hub.close()
        offered, warnings = offered_tools(started)
        report.warnings.extend(warnings)
        for _, server in started:
            names = [item.name for item in offered if item.server == server.name]
            report.mcp_servers.append(
                {
                    "name": server.name,
                    "ok": server.error is None,
                    "tools": names,
                    "error": server.error,
                }
            )
        definitions = [item.definition for item in offered]
        report.warnings.append(UNSANDBOXED)
    report.tool_count, report.tool_schema_tokens = total_weight(definitions)
    heavy = weight_warning(report.tool_count, report.tool_schema_tokens)
    if heavy:
        report.warnings.append(heavy)
