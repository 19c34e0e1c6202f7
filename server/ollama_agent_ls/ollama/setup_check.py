"""Checks that Ollama and the model are usable, with a fix for each problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.ollama.errors import (
    TOOL_MODELS,
    ModelNotFound,
    OllamaError,
    OllamaUnreachable,
)
from ollama_agent_ls.ollama.models import InstalledModel, ModelInfo
from ollama_agent_ls.settings import Settings


@dataclass
class SetupReport:
    """What was found; ``problems`` holds one sentence per problem, each with its fix."""

    ollama_url: str
    model: str
    backend: str = "ollama"
    url: str = ""
    """The URL of the backend in use (ollamaUrl, or baseUrl for an OpenAI-compatible server)."""
    reachable: bool = False
    version: str | None = None
    model_present: bool = False
    supports_tools: bool = False
    context_length: int | None = None
    num_ctx: int | None = None
    prefix_cache: bool | None = None
    """Whether the server says it reuses a cached prompt prefix (None: it does not say)."""
    sandbox: str = ""
    """The sandbox setting commands run under (filled by tools.sandbox.check_sandbox)."""
    sandbox_active: bool | None = None
    """Whether commands are confined: None when not checked, False when off or impossible."""
    sandbox_tool: str = ""
    rules: list[str] = field(default_factory=list)
    """The rule files the system prompt would carry (filled by agent.rules.check_rules)."""
    rules_tokens: int = 0
    """Their estimated size, counted apart from the built-in prompt and tool schemas."""
    mcp_servers: list[dict[str, Any]] = field(default_factory=list)
    """Each enabled MCP server: {name, ok, tools (offered), error} (filled by
    mcp_tools.report.check_mcp)."""
    tool_count: int = 0
    """Tools a run offers (ours and the MCP servers'), and their schemas' estimated tokens."""
    tool_schema_tokens: int = 0
    warnings: list[str] = field(default_factory=list)
    """What a run goes on despite (an MCP server that failed, too many tools); not problems."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way of a run."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The ``ollamaAgent.checkSetup`` result shape."""
        return {
            "ollamaUrl": self.ollama_url,
            "backend": self.backend,
            "url": self.url,
            "reachable": self.reachable,
            "version": self.version,
            "model": self.model,
            "modelPresent": self.model_present,
            "supportsTools": self.supports_tools,
            "contextLength": self.context_length,
            "numCtx": self.num_ctx,
            "prefixCache": self.prefix_cache,
            "sandbox": self.sandbox,
            "sandboxActive": self.sandbox_active,
            "sandboxTool": self.sandbox_tool,
            "rules": list(self.rules),
            "rulesTokens": self.rules_tokens,
            "mcpServers": [dict(server) for server in self.mcp_servers],
            "toolCount": self.tool_count,
            "toolSchemaTokens": self.tool_schema_tokens,
            "warnings": list(self.warnings),
            "problems": list(self.problems),
        }


async def check_setup(client: ChatBackend, settings: Settings) -> SetupReport:
    """Probe the server and the configured model."""
    report = SetupReport(
        ollama_url=settings.ollama_url, model=settings.model, backend=client.kind, url=client.url
    )
    openai = client.kind == "openai"
    try:
        report.version = await client.version()
        report.reachable = True
    except OllamaUnreachable as exc:
        report.problems.append(str(exc))
        return report
    except OllamaError as exc:
        if exc.setup_problem:
            # Its message already names the URL, what answered there and the fix.
            report.problems.append(str(exc))
            return report
        what, key = (
            ("an OpenAI-compatible server", "baseUrl") if openai else ("Ollama", "ollamaUrl")
        )
        report.problems.append(f"{client.url} answered, but not like {what} ({exc}). Check {key}.")
        return report
    try:
        info = await client.show(settings.model)
    except ModelNotFound as exc:
        report.problems.append(str(exc))
        return report
    except OllamaError as exc:
        report.problems.append(str(exc))
        return report
    report.model_present = True
    report.context_length = info.context_length
    # Older Ollama versions report no capabilities at all; assume tools then.
    report.supports_tools = info.supports_tools or not info.capabilities
    if not report.supports_tools:
        report.problems.append(
            f"Model '{settings.model}' does not support tools; runs ask it for SEARCH/REPLACE "
            "edits and text tool calls instead, which work less reliably. Use a model with "
            f"tools, e.g. {', '.join(TOOL_MODELS)}."
        )
    report.num_ctx = await client.resolve_num_ctx(settings.model)
    if report.num_ctx < 8192:
        fix = (
            "Start the server with a larger context (llama-server -c 16384, vllm serve "
            "--max-model-len 16384) or set contextLength if it does not report one."
            if openai
            else "Set numCtx to 8192 or more."
        )
        report.problems.append(
            f"The context window is only {report.num_ctx} tokens: an agent needs room for the "
            f"tool definitions, files and replies. {fix}"
        )
    report.prefix_cache = await client.prefix_cache()
    return report


async def list_models(client: ChatBackend) -> list[tuple[InstalledModel, ModelInfo | None]]:
    """Installed models, each with what /api/show says about it (None when show failed)."""
    result: list[tuple[InstalledModel, ModelInfo | None]] = []
    for model in await client.tags():
        try:
            info: ModelInfo | None = await client.show(model.name)
        except OllamaError:
            info = None
        result.append((model, info))
    return result
