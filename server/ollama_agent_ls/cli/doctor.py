"""``doctor`` and ``models``: what the setup lacks, each with its fix."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ollama_agent_ls.cli.exits import EXIT_OK, EXIT_SETUP

if TYPE_CHECKING:
    # Imported by the commands that use them: settings loads pydantic (~65 ms), which the
    # language server must not wait for before it answers initialize.
    from ollama_agent_ls.settings import Settings


async def doctor_command(settings: Settings, root: Path) -> int:
    """``doctor``: each check on its line, then each problem with its fix."""
    from ollama_agent_ls.agent.rules import check_rules
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.mcp_tools.report import check_mcp
    from ollama_agent_ls.ollama.setup_check import check_setup
    from ollama_agent_ls.tools.sandbox import check_sandbox

    async with contextlib.aclosing(make_backend(settings)) as client:
        report = await check_setup(client, settings)
    check_sandbox(report, settings)
    check_rules(report, root, settings)
    await check_mcp(report, settings, root)
    out = sys.stdout

    def line(ok: bool, text: str) -> None:
        out.write(f"{'✓' if ok else '✗'} {text}\n")

    openai = report.backend == "openai"
    line(
        report.reachable,
        ("OpenAI-compatible server" if openai else "Ollama")
        + f" at {report.url}"
        + (f" (version {report.version})" if report.version else ""),
    )
    if report.reachable:
        line(report.model_present, f"model {report.model} " + ("served" if openai else "installed"))
    if report.model_present:
        line(report.supports_tools, "model supports tools")
        ctx = report.context_length
        if openai:
            line(True, f"server context window {report.num_ctx}")
        else:
            line(
                True, f"trained context {ctx if ctx else 'unknown'}; num_ctx used: {report.num_ctx}"
            )
        if report.prefix_cache is not None:
            line(
                report.prefix_cache,
                "prefix caching "
                + ("on: each turn re-evaluates only what is new" if report.prefix_cache else "off"),
            )
    if report.sandbox_active:
        net = "network allowed" if settings.sandbox_network else "no network"
        line(True, f"commands run in a sandbox ({report.sandbox}, {report.sandbox_tool}, {net})")
    elif report.sandbox == "off":
        line(True, "commands run without a sandbox (sandbox=off)")
    else:
        line(False, f"commands cannot run in a sandbox ({report.sandbox_tool})")
    if report.rules:
        line(
            True,
            f"project rules: {', '.join(report.rules)} (about {report.rules_tokens} tokens in "
            "the system prompt, beside the built-in prompt and tools)",
        )
    for server in report.mcp_servers:
        name = server["name"]
        if server["ok"]:
            tools = server["tools"]
            line(True, f"MCP server {name}: {len(tools)} tools ({', '.join(tools) or 'none'})")
        else:
            line(False, f"MCP server {name}: {server['error']}")
    line(
        True,
        f"{report.tool_count} tools offered, about {report.tool_schema_tokens} tokens of schemas "
        "on every turn",
    )
    for warning in report.warnings:
        out.write(f"  warning: {warning}\n")
    for problem in report.problems:
        out.write(f"  problem: {problem}\n")
    out.write("OK\n" if report.ok else f"{len(report.problems)} problem(s)\n")
    return EXIT_OK if report.ok else EXIT_SETUP


async def models_command(settings: Settings, as_json: bool) -> int:
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.ollama.errors import OllamaError
    from ollama_agent_ls.ollama.setup_check import list_models

    try:
        async with contextlib.aclosing(make_backend(settings)) as client:
            models = await list_models(client)
    except OllamaError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_SETUP
    rows = [
        (
            m.name,
            info.context_length if info else None,
            list(info.capabilities) if info else list(m.capabilities),
        )
        for m, info in models
    ]
    if as_json:
        data = [{"name": n, "contextLength": c, "capabilities": caps} for n, c, caps in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    if not rows:
        if settings.backend == "openai":
            sys.stdout.write(f"The server at {settings.base_url} lists no models.\n")
        else:
            sys.stdout.write("No models installed. Pull one with `ollama pull qwen3:8b`.\n")
        return EXIT_OK
    width = max(len(name) for name, _, _ in rows)
    for name, ctx, caps in rows:
        sys.stdout.write(f"{name:<{width}}  ctx {ctx or '?'!s:>7}  {', '.join(caps) or '?'}\n")
    return EXIT_OK
