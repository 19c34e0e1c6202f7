"""Warm start and the lean static prefix on the real llama.cpp server (issue 13).

The real tokenizer counts what every request starts with (system prompt and tool schemas, as
the model's chat template renders them), and the real prompt cache shows that a warmed prefix
is reused by the first request of a run.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.warm import warm_start
from ollama_agent_ls.headless import build_disk_run, run_task
from ollama_agent_ls.openai_compat.client import OpenAIClient
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import DenyAll, ToolContext

from .fixtures import RealModel

STATIC_PREFIX_TOKENS = 700


def settings_for(real_model: RealModel, edit_format: str) -> Settings:
    return Settings(
        backend="openai",
        base_url=real_model.base_url,
        model=real_model.model,
        edit_format=edit_format,  # type: ignore[arg-type]
        max_turns=1,
        options={"temperature": 0, "seed": 42, "num_predict": 8},
    )


def _our_prefix(edit_format: str, tmp_path: Path) -> tuple[str, list[dict[str, object]]]:
    """The system prompt and tool schemas a run of ``edit_format`` starts with."""
    from ollama_agent_ls.agent.loop import _static_prefix
    from ollama_agent_ls.tools.executor import ToolExecutor
    from ollama_agent_ls.workspace.documents import DiskDocuments
    from ollama_agent_ls.workspace.staging import StagingArea

    docs = DiskDocuments(tmp_path)
    ctx = ToolContext(root=tmp_path, documents=docs, sink=StagingArea(docs), settings=Settings())
    return _static_prefix(edit_format, ToolExecutor(ctx).definitions(), False)  # type: ignore[arg-type]


@pytest.mark.parametrize("edit_format", ["tools", "whole"])
async def test_the_static_prefix_stays_under_700_real_tokens(
    real_model: RealModel, tmp_path: Path, edit_format: str
) -> None:
    system, tools = _our_prefix(edit_format, tmp_path)
    # Our part in the model's own tokenizer: the prompt, and each schema as the chat template
    # writes it (one JSON object per tool). The template's own wrapper text is the model's.
    pieces = [system, *(json.dumps(t, ensure_ascii=False) for t in tools)]
    async with httpx.AsyncClient(base_url=real_model.root_url, timeout=60) as http:
        counts = [
            len((await http.post("/tokenize", json={"content": p})).json()["tokens"])
            for p in pieces
        ]
        settings = settings_for(real_model, edit_format)
        async with OpenAIClient(settings) as client:
            rendered = await warm_start(client, settings, tmp_path)
    assert rendered is not None
    ours = sum(counts)
    assert 0 < ours < STATIC_PREFIX_TOKENS, counts
    # And what the server evaluated (template included) is that plus a bounded wrapper.
    assert ours <= rendered.prompt_tokens < ours + 200, (ours, rendered.prompt_tokens)


async def test_a_warmed_prefix_is_reused_by_the_first_request_of_a_run(
    real_model: RealModel, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a - b\n")
    settings = settings_for(real_model, "tools")
    async with OpenAIClient(settings) as client:
        # Something else first, so the cache does not hold our prefix by chance.
        other = settings.model_copy(update={"edit_format": "whole"})
        await warm_start(client, other, tmp_path)
        warmed = await warm_start(client, settings, tmp_path)
        assert warmed is not None
        run = build_disk_run(client, settings, tmp_path, DenyAll())
        await run_task(run, AgentTask("Explain add in one line.", file="app.py"))
    first = run.agent.metrics.per_request[0]
    # All of the warmed prefix but its last token or so (the generation prompt differs).
    assert first["cachedPromptTokens"] >= warmed.prompt_tokens - 8, (first, warmed)
    assert first["prefillTokens"] < first["promptTokens"] - warmed.prompt_tokens + 16
