"""listModels and checkSetup: what is installed and what stands in the way of a run."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.server import (
    AgentServer,
)
from ollama_agent_ls.ollama.errors import OllamaError

log = logging.getLogger(__name__)


async def list_models_command(ls: AgentServer, *args: Any) -> list[dict[str, Any]]:
    """Installed models with context length and capabilities."""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(ext.LIST_MODELS, NoArgs, args)
    await ls.wait_configured()
    try:
        from ollama_agent_ls.ollama.setup_check import list_models

        models = await list_models(ls.ollama_client(ls.settings))
    except OllamaError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    return [
        {
            "name": m.name,
            "contextLength": info.context_length if info else None,
            "capabilities": list(info.capabilities if info else m.capabilities),
        }
        for m, info in models
    ]


async def check_setup_command(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Is Ollama reachable, the model installed, with tools and enough context?"""
    from ollama_agent_ls.lsp.command_args import NoArgs, parse_args

    parse_args(ext.CHECK_SETUP, NoArgs, args)
    await ls.wait_configured()
    from ollama_agent_ls.agent.rules import check_rules
    from ollama_agent_ls.mcp_tools.report import check_mcp
    from ollama_agent_ls.ollama.setup_check import check_setup
    from ollama_agent_ls.tools.sandbox import check_sandbox

    report = await check_setup(ls.ollama_client(ls.settings), ls.settings)
    # The first check probes bubblewrap (a subprocess), the rules read files: off the loop.
    await asyncio.to_thread(check_sandbox, report, ls.settings)
    await asyncio.to_thread(check_rules, report, ls.root, ls.settings)
    # Its own servers, started and stopped here: a check must not change what runs share.
    await check_mcp(report, ls.settings, ls.root)
    return report.to_json()


def register(server: AgentServer) -> None:
    """Register list_models_command, check_setup_command on ``server``."""
    server.command(ext.LIST_MODELS)(list_models_command)
    server.command(ext.CHECK_SETUP)(check_setup_command)
