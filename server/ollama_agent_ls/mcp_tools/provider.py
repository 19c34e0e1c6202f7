"""MCP tools offered to a session: each allowed tool as ``SERVER__TOOL`` with the server's
schema, called after the same approval as run_command asks for (unless auto-approved)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_agent_ls.agent.context_budget import BUDGET_CHARS_PER_TOKEN
from ollama_agent_ls.mcp_tools.connection import ServerDown
from ollama_agent_ls.mcp_tools.hub import McpHub, Started
from ollama_agent_ls.mcp_tools.names import unique_names
from ollama_agent_ls.mcp_tools.schema import result_text, tool_definition
from ollama_agent_ls.settings import CommandApproval, McpServerSettings
from ollama_agent_ls.tools.context import (
    ApprovalRequest,
    ToolContext,
    ToolError,
    ask_approval,
)
from ollama_agent_ls.tools.executor import ProvidedTools, SchemaTool
from ollama_agent_ls.tools.schemas import CORE_TOOLS, TOOL_DEFINITIONS

MAX_TOOLS = 12
"""More tools than this in all (ours included) and small local models pick tools worse."""
MAX_SCHEMA_TOKENS = 2000
"""More schema tokens than this in all and they crowd a small model's prompt."""
SESSION_KEY = "\0mcp "
"""How an "allow for this session" answer to an MCP tool is kept in the session's allowances:
no command line can equal it (a command with a NUL byte cannot be run)."""
SHOWN_ARGUMENTS = 300
"""Most characters of a call's arguments shown on the approval prompt."""


def enabled(servers: Mapping[str, McpServerSettings]) -> dict[str, McpServerSettings]:
    """The servers that are not disabled, in their configured order."""
    return {name: config for name, config in servers.items() if not config.disabled}


def schema_tokens(definitions: list[dict[str, Any]]) -> int:
    """About how many prompt tokens ``definitions`` cost (each turn), as the budget counts."""
    text = json.dumps(definitions, separators=(",", ":"), ensure_ascii=False)
    return int(len(text) / BUDGET_CHARS_PER_TOKEN)


def weight_warning(count: int, tokens: int) -> str | None:
    """A warning when the tools are many or heavy enough to confuse a small model."""
    if count <= MAX_TOOLS and tokens <= MAX_SCHEMA_TOKENS:
        return None
    return (
        f"The model is offered {count} tools (about {tokens} tokens of schemas on every turn); "
        f"small local models choose tools worse beyond about {MAX_TOOLS} tools or "
        f"{MAX_SCHEMA_TOKENS} tokens. List only the tools you need in mcpServers.NAME.tools."
    )


@dataclass(frozen=True)
class Offered:
    """One MCP tool as the model sees it."""

    name: str
    server: str
    tool: str
    definition: dict[str, Any]


def offered_tools(
    started: list[tuple[McpServerSettings, Started]],
) -> tuple[list[Offered], list[str]]:
    """The allowed tools of the started servers (named for the model) and the warnings."""
    warnings: list[str] = []
    picked: list[tuple[Started, str, str, Any]] = []
    for config, server in started:
        if server.error is not None:
            warnings.append(
                f"MCP server '{server.name}' is not available, so this run goes on without its "
                f"tools: {server.error}."
            )
            continue
        listed = {tool.name: tool for tool in server.tools}
        wanted = list(config.tools) if config.tools is not None else list(listed)
        missing = [name for name in wanted if name not in listed]
        if missing:
            warnings.append(
                f"MCP server '{server.name}' has no tool {', '.join(missing)} (mcpServers."
                f"{server.name}.tools); it has: {', '.join(listed) or 'no tools'}."
            )
        for name in wanted:
            if name in listed:
                tool = listed[name]
                picked.append((server, name, tool.description, tool.input_schema))
    names = unique_names([(server.name, tool) for server, tool, _, _ in picked])
    offered = [
        Offered(name, server.name, tool, tool_definition(name, description, schema))
        for name, (server, tool, description, schema) in zip(names, picked, strict=True)
    ]
    return offered, warnings


async def start_all(
    hub: McpHub, servers: Mapping[str, McpServerSettings], root: Path
) -> list[tuple[McpServerSettings, Started]]:
    """Start the enabled servers side by side (one slow server delays the others no more)."""
    chosen = enabled(servers)
    started = await asyncio.gather(*(hub.start(n, c, root) for n, c in chosen.items()))
    return list(zip(chosen.values(), started, strict=True))


class McpToolProvider:
    """A ToolProvider for the executor: the MCP servers' tools, started through ``hub``."""

    def __init__(
        self,
        hub: McpHub,
        servers: Mapping[str, McpServerSettings],
        notes: Sequence[str] = (),
    ) -> None:
        self.hub = hub
        self.servers = dict(servers)
        self.notes = list(notes)
        """Warnings found before starting anything (an ACP server of a kind not supported)."""

    async def provide(self, ctx: ToolContext) -> ProvidedTools:
        """Start the servers and offer their allowed tools; failures become warnings."""
        started = await start_all(self.hub, self.servers, ctx.root)
        offered, warnings = offered_tools(started)
        warnings = [*self.notes, *warnings]
        by_server = {server.name: (config, server) for config, server in started}
        tools = [
            SchemaTool(item.name, item.definition, _handler(item, *by_server[item.server]))
            for item in offered
        ]
        if offered:
            warning = weight_warning(*total_weight([t.schema for t in tools]))
            if warning:
                warnings.append(warning)
        return ProvidedTools(tools, warnings)


def total_weight(definitions: list[dict[str, Any]]) -> tuple[int, int]:
    """(tool count, schema tokens) of a run offering the core tools and ``definitions``."""
    core = [TOOL_DEFINITIONS[name] for name in CORE_TOOLS]
    return len(core) + len(definitions), schema_tokens(core + definitions)


def _handler(item: Offered, config: McpServerSettings, server: Started) -> Any:
    async def call(ctx: ToolContext, arguments: dict[str, Any]) -> str:
        await approve(ctx, item, config, arguments)
        try:
            result = await server.connection.call(
                item.tool, arguments, ctx.settings.command_timeout
            )
        except ServerDown as exc:
            if ctx.on_warning is not None:
                ctx.on_warning(
                    f"MCP server '{item.server}' stopped answering ({exc}); its tools fail for "
                    "the rest of this run. Check that its command runs on its own "
                    "(ollama-agent-ls doctor lists the servers)."
                )
            raise ToolError(
                f"{item.name} got no result: MCP server '{item.server}' is not available "
                f"({exc}). Do not call its tools again in this run; continue without them."
            ) from None
        text = result_text(result)
        if result.get("isError"):
            raise ToolError(f"{item.name} failed: {text}")
        return text

    return call


async def approve(
    ctx: ToolContext, item: Offered, config: McpServerSettings, arguments: dict[str, Any]
) -> None:
    """Let the call run under the run_command policy's rules for a tool outside the sandbox:
    autoApprove runs it, commandApproval=never refuses it, anything else asks a person."""
    if item.tool in config.auto_approve:
        return
    server = item.server
    if CommandApproval(ctx.settings.command_approval) is CommandApproval.NEVER:
        raise ToolError(
            f"{item.name} was not called: commandApproval=never refuses MCP tools that are not in "
            f"mcpServers.{server}.autoApprove. Continue without it or ask the user."
        )
    key = SESSION_KEY + item.name
    if key in ctx.allowed_for_session:
        return
    shown = json.dumps(arguments, ensure_ascii=False)
    if len(shown) > SHOWN_ARGUMENTS:
        shown = shown[: SHOWN_ARGUMENTS - 1] + "…"
    request = ApprovalRequest(
        f"{item.name} {shown}",
        ctx.root,
        f"MCP tool '{item.tool}' of server '{server}': it runs outside the sandbox and undo does "
        f"not cover what it does (mcpServers.{server}.autoApprove lists tools that do not ask)",
        kind="tool",
    )
    await ask_approval(
        ctx,
        request,
        key,
        unanswered=f"Nobody answered the approval request for {item.name} within {{wait}} s, so "
        "it was not called. Do not retry it; continue without it.",
        denied=f"The user denied calling {item.name}. Do not retry the same call; continue "
        "without it or ask the user what to do instead.",
    )
