"""What the faces call: the MCP tool provider for a run's executor (the agent asks it for its
tools before the session's first request), ACP's session/new servers, and stopping them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ollama_agent_ls.mcp_tools.hub import close_hub, hub_for
from ollama_agent_ls.mcp_tools.provider import McpToolProvider, enabled
from ollama_agent_ls.settings import McpServerSettings, Settings
from ollama_agent_ls.tools.executor import ToolProvider

__all__ = ["acp_servers", "close_hub", "mcp_providers"]


def mcp_providers(
    owner: object,
    settings: Settings,
    extra: Mapping[str, McpServerSettings] | None = None,
    notes: Sequence[str] = (),
) -> list[ToolProvider]:
    """The providers for a run of ``owner`` (whose hub keeps the servers between runs): none
    when no server is configured, so such a run never loads the SDK."""
    servers = {**settings.mcp_servers, **(extra or {})}
    if not enabled(servers) and not notes:
        return []
    return [McpToolProvider(hub_for(owner), servers, notes)]


def acp_servers(
    servers: Iterable[Any], settings: Settings
) -> tuple[dict[str, McpServerSettings], list[str]]:
    """ACP's session/new ``mcpServers`` as settings entries (an entry of the same name in the
    mcpServers setting lends its tools, autoApprove, disabled and timeout), and warnings for
    servers of a kind not supported."""
    out: dict[str, McpServerSettings] = {}
    notes: list[str] = []
    for server in servers:
        name = str(getattr(server, "name", "") or "server")
        kind = getattr(server, "type", None)
        pairs = {
            str(getattr(p, "name", "")): str(getattr(p, "value", ""))
            for p in (getattr(server, "headers", None) or getattr(server, "env", None) or [])
        }
        if kind == "http":
            transport: dict[str, Any] = {"url": server.url, "headers": pairs}
        elif kind is None and getattr(server, "command", None):
            transport = {"command": server.command, "args": list(server.args or []), "env": pairs}
        else:
            notes.append(
                f"MCP server '{name}' from the client uses {kind or 'an unknown'} transport, "
                "which this agent does not support (stdio and http are); it was left out."
            )
            continue
        own = settings.mcp_servers.get(name)
        policy = (
            own.model_dump(include={"tools", "auto_approve", "disabled", "timeout"})
            if own is not None
            else {}
        )
        out[name] = McpServerSettings.model_validate({**transport, **policy})
    return out, notes
