"""Warm start: the static prompt prefix sent once, so the first run's prefill of it is cached.

On a CPU the system prompt and tool schemas alone cost seconds of prefill; Ollama, llama.cpp and
vLLM keep the KV cache of the longest unchanged prefix of the previous request, so sending that
prefix for a one-token reply when the server starts (or the model changes) makes the user's first
run start where the prefix ends. It never blocks anything, and a failure is only logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.result import RunMetrics
from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.ollama.errors import OllamaError
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ToolExecutor, ToolProvider
from ollama_agent_ls.workspace.documents import DiskDocuments
from ollama_agent_ls.workspace.staging import StagingArea

log = logging.getLogger(__name__)


async def warm_start(
    client: ChatBackend,
    settings: Settings,
    root: Path,
    providers: Sequence[ToolProvider] = (),
) -> RunMetrics | None:
    """Warm ``settings.model`` with the prefix a run's first request starts with (its tools
    include ``providers``', the MCP servers', as a run's do); None if failed."""
    docs = DiskDocuments(root)
    # A run's core tools; nothing is executed, so a staging sink keeps the disk untouched.
    ctx = ToolContext(root=root, documents=docs, sink=StagingArea(docs), settings=settings)
    agent = Agent(client, settings, ToolExecutor(ctx, providers=providers))
    started = time.monotonic()
    try:
        metrics = await agent.warm()
    except (OllamaError, OSError) as exc:
        log.info("warm start of %s skipped: %s", settings.model, exc)
        return None
    except Exception:  # never let a warm-up break the server
        log.exception("warm start of %s failed", settings.model)
        return None
    log.info(
        "warmed %s: %d prompt tokens (%d cached) in %.1f s",
        settings.model,
        metrics.prompt_tokens,
        metrics.cached_prompt_tokens,
        time.monotonic() - started,
    )
    return metrics
