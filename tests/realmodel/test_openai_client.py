"""Our OpenAI-compatible client against the real llama.cpp server: what the agent relies on.

The fake (tests/fake_openai) covers what the real server cannot be made to do; this checks the
same client on the real thing: model info and context, a streamed reply with its metrics, prefix
reuse reported as cached tokens, and a prompt too long for the context as a clear error.
"""

from __future__ import annotations

import pytest

from ollama_agent_ls.ollama.errors import OllamaError
from ollama_agent_ls.ollama.models import ChatDone, ContentDelta, Message
from ollama_agent_ls.openai_compat.client import OpenAIClient
from ollama_agent_ls.settings import Settings

from .fixtures import RealModel


def client_for(real_model: RealModel) -> OpenAIClient:
    return OpenAIClient(
        Settings(
            backend="openai",
            base_url=real_model.base_url,
            model=real_model.model,
            options={"temperature": 0, "seed": 42, "num_predict": 16},
        )
    )


async def reply(client: OpenAIClient, model: str, messages: list[Message]) -> tuple[str, ChatDone]:
    text: list[str] = []
    done: list[ChatDone] = []
    async for event in client.chat_stream(model=model, messages=messages, tools=[], num_ctx=0):
        if isinstance(event, ContentDelta):
            text.append(event.text)
        elif isinstance(event, ChatDone):
            done.append(event)
    assert len(done) == 1
    return "".join(text), done[0]


async def test_model_info_context_and_served_models(real_model: RealModel) -> None:
    async with client_for(real_model) as client:
        info = await client.show(real_model.model)
        num_ctx = await client.resolve_num_ctx(real_model.model)
        names = [m.name for m in await client.tags()]
        caching = await client.prefix_cache()
    assert num_ctx == real_model.ctx
    assert info.supports_tools
    assert info.parameter_size is not None and info.parameter_size.endswith("B")
    assert real_model.model in names
    assert caching is True


async def test_a_follow_up_turn_reports_the_reused_prefix_as_cached(
    real_model: RealModel,
) -> None:
    first = [Message("system", "You answer in one short line."), Message("user", "Say hi.")]
    async with client_for(real_model) as client:
        answer, done = await reply(client, real_model.model, first)
        follow = [*first, Message("assistant", answer), Message("user", "Now say bye.")]
        _, done2 = await reply(client, real_model.model, follow)
    assert answer.strip()
    assert done.metrics.prompt_eval_count > 0 and done.metrics.eval_count > 0
    m = done2.metrics
    # The whole first request (and its answer) was a prefix of the second: only the new part
    # is evaluated, and the metrics say so.
    assert m.cached_prompt_tokens is not None
    assert m.cached_prompt_tokens >= done.metrics.prompt_eval_count
    assert m.prefill_tokens == m.prompt_eval_count - m.cached_prompt_tokens
    assert m.prefill_tokens < m.cached_prompt_tokens


async def test_a_prompt_longer_than_the_context_is_a_clear_error(real_model: RealModel) -> None:
    huge = "word " * (real_model.ctx * 2)
    async with client_for(real_model) as client:
        with pytest.raises(OllamaError) as caught:
            await reply(client, real_model.model, [Message("user", huge)])
    message = str(caught.value)
    assert "context" in message
    assert "-c" in message or "contextLength" in message  # names how to get more context
