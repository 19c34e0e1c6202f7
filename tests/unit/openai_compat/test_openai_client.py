"""The OpenAI-compatible client against the fake llama.cpp and vLLM servers over loopback:
streams, tool calls, metrics, the request bytes, metadata and every error a user can hit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ollama_agent_ls.backend import make_backend
from ollama_agent_ls.ollama.errors import (
    ModelLacksTools,
    ModelNotFound,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaStreamDropped,
    OllamaStreamError,
    OllamaTimeout,
    OllamaUnreachable,
)
from ollama_agent_ls.ollama.models import (
    ChatDone,
    ChatEvent,
    ChatMetrics,
    ContentDelta,
    Message,
    ThinkingDelta,
    ToolCall,
    ToolCallsReceived,
)
from ollama_agent_ls.openai_compat.client import OpenAIClient, openai_messages
from ollama_agent_ls.openai_compat.errors import (
    AuthenticationFailed,
    ContextOverflow,
    EndpointNotFound,
    NotOpenAICompatible,
    ServedModelNotFound,
)
from ollama_agent_ls.settings import Settings
from tests.fake_openai import (
    BUILD_INFO,
    DEFAULT_MODEL,
    VLLM_VERSION,
    FakeOpenAI,
    FakeServedModel,
    Reply,
    call,
)

REPO = Path(__file__).resolve().parents[3]
MODEL = DEFAULT_MODEL
READ_FILE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a workspace file",
        "parameters": {
            "type": "object",
            "required": ["path"],
            "properties": {"path": {"type": "string", "description": "Relative path"}},
        },
    },
}
HELLO = [Message("user", "Summarise README.md")]


@pytest.fixture
def llama() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("llamacpp") as server:
        yield server


@pytest.fixture
def vllm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("vllm") as server:
        yield server


def client_for(fake: FakeOpenAI, **settings: Any) -> OpenAIClient:
    settings.setdefault("base_url", fake.url)
    return OpenAIClient(Settings(backend="openai", model=MODEL, **settings))


async def collect(
    client: OpenAIClient,
    *,
    model: str = MODEL,
    messages: list[Message] | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> list[ChatEvent]:
    stream = client.chat_stream(
        model=model, messages=messages or HELLO, tools=tools or [], num_ctx=8192
    )
    return [event async for event in stream]


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ContentDelta))


def calls_of(events: list[ChatEvent]) -> list[ToolCall]:
    return [c for e in events if isinstance(e, ToolCallsReceived) for c in e.calls]


def metrics_of(events: list[ChatEvent]) -> ChatMetrics:
    done = [e for e in events if isinstance(e, ChatDone)]
    assert len(done) == 1, f"expected exactly one ChatDone, got {events!r}"
    assert events[-1] is done[0], "ChatDone must be the last event"
    return done[0].metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- streams -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "field"),
    [("llamacpp", "reasoning_content"), ("vllm", "reasoning_content"), ("vllm", "reasoning")],
)
async def test_reasoning_then_content_then_one_done(flavor: str, field: str) -> None:
    with FakeOpenAI(flavor, reasoning_field=field) as fake:  # type: ignore[arg-type]
        fake.enqueue(Reply().reasoning("Let me", " think").content("Hello", ", world").finish())
        async with client_for(fake) as client:
            events = await collect(client)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ThinkingDelta"] * 2 + ["ContentDelta"] * 2 + ["ChatDone"]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think"
    assert text_of(events) == "Hello, world"
    assert metrics_of(events).done_reason == "stop"


async def test_vllm_tool_call_split_across_many_chunks_and_reads(vllm: FakeOpenAI) -> None:
    arguments = {"path": "src/ä/app.py", "start_line": 3}
    cut_reads = Reply.calls(call("read_file", arguments, pieces=15))
    cut_reads.write_size = 5  # network reads cut anywhere, even inside a UTF-8 character
    vllm.enqueue(
        Reply.calls(call("read_file", arguments, id="chatcmpl-tool-1", pieces=15), content="Ok."),
        cut_reads,
    )
    async with client_for(vllm) as client:
        first = await collect(client, tools=[READ_FILE_TOOL])
        second = await collect(client, tools=[READ_FILE_TOOL])
    for events in (first, second):
        batches = [e for e in events if isinstance(e, ToolCallsReceived)]
        assert len(batches) == 1, "the pieces of one call must arrive as one ToolCallsReceived"
        (received,) = batches[0].calls
        assert (received.name, received.arguments) == ("read_file", arguments)
        assert received.parse_error is None
        assert metrics_of(events).done_reason == "tool_calls"
    assert calls_of(first)[0].id == "chatcmpl-tool-1"
    assert text_of(first) == "Ok."


async def test_parallel_calls_interleaved_arrive_together_in_index_order(
    vllm: FakeOpenAI,
) -> None:
    vllm.enqueue(
        Reply.calls(
            call("read_file", {"path": "a.py"}, pieces=4),
            call("read_file", {"path": "b.py"}, pieces=3),
            call("list_files", {}, pieces=1),
            interleave=True,
        )
    )
    async with client_for(vllm) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    batches = [e.calls for e in events if isinstance(e, ToolCallsReceived)]
    assert len(batches) == 1
    assert [(c.index, c.name, c.arguments) for c in batches[0]] == [
        (0, "read_file", {"path": "a.py"}),
        (1, "read_file", {"path": "b.py"}),
        (2, "list_files", {}),
    ]
    assert len({c.id for c in batches[0]}) == 3


async def test_invalid_arguments_become_a_parse_error_not_an_exception(
    llama: FakeOpenAI,
) -> None:
    llama.enqueue(
        Reply.calls(
            call("read_file", '{"path": "a.py"', pieces=3),
            call("read_file", '["a.py"]'),
            call("list_files", ""),
        )
    )
    async with client_for(llama) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    truncated, listed, no_arguments = calls_of(events)
    assert truncated.arguments == {}
    assert truncated.parse_error is not None
    assert "not valid JSON" in truncated.parse_error
    assert "send the call again" in truncated.parse_error.lower()
    assert '{"path": "a.py"' in truncated.parse_error
    assert listed.arguments == {}
    assert listed.parse_error is not None and "must be a JSON object" in listed.parse_error
    assert (no_arguments.arguments, no_arguments.parse_error) == ({}, None)
    assert isinstance(events[-1], ChatDone)


async def test_finish_reason_length_comes_through(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply().content("def f(").finish("length"))
    async with client_for(llama) as client:
        events = await collect(client)
    assert metrics_of(events).done_reason == "length"


async def test_usage_and_vllm_cached_tokens(vllm: FakeOpenAI) -> None:
    usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290}
    usage["prompt_tokens_details"] = {"cached_tokens": 1200}  # type: ignore[assignment]
    vllm.enqueue(Reply().content("ok").finish(usage=usage))
    vllm.enqueue(Reply.say("no details"))
    async with client_for(vllm) as client:
        metrics = metrics_of(await collect(client))
        plain = metrics_of(await collect(client))
    assert (metrics.prompt_eval_count, metrics.eval_count) == (1234, 56)
    assert (metrics.cached_prompt_tokens, metrics.prefill_tokens) == (1200, 34)
    # vLLM without --enable-prompt-tokens-details does not say what was cached.
    assert plain.cached_prompt_tokens is None
    assert plain.prompt_eval_count > 0


async def test_llamacpp_timings_give_cached_prefill_and_speed(llama: FakeOpenAI) -> None:
    timings = {
        "prompt_n": 100,
        "cache_n": 900,
        "prompt_ms": 250.0,
        "predicted_n": 40,
        "predicted_ms": 1000.0,
    }
    llama.enqueue(Reply().content("ok").finish(timings=timings))
    async with client_for(llama) as client:
        metrics = metrics_of(await collect(client))
    assert metrics.prompt_eval_count == 1000
    assert (metrics.cached_prompt_tokens, metrics.prefill_tokens) == (900, 100)
    assert metrics.prompt_eval_duration == 250_000_000
    assert (metrics.eval_count, metrics.eval_duration) == (40, 1_000_000_000)
    assert metrics.tokens_per_second == pytest.approx(40.0)


async def test_a_growing_conversation_hits_the_servers_prompt_cache(llama: FakeOpenAI) -> None:
    history = [Message("system", "You are a coding agent. " * 40), *HELLO]
    async with client_for(llama) as client:
        first = metrics_of(await collect(client, messages=history))
        history += [Message("assistant", "done"), Message("user", "Now add tests.")]
        second = metrics_of(await collect(client, messages=history))
    assert first.cached_prompt_tokens == 0
    assert second.cached_prompt_tokens is not None
    # Everything the first request sent is a byte-identical prefix of the second.
    assert second.cached_prompt_tokens >= first.prompt_eval_count - 1
    assert second.prefill_tokens < second.prompt_eval_count // 4


async def test_crlf_pings_and_one_byte_reads_decode_the_same(llama: FakeOpenAI) -> None:
    reply = Reply().ping().reasoning("hm").ping().content("Hé", "llo").finish()
    reply.line_ending, reply.write_size = "\r\n", 1
    llama.enqueue(reply)
    async with client_for(llama) as client:
        events = await collect(client)
    assert [type(e).__name__ for e in events] == [
        "ThinkingDelta",
        "ContentDelta",
        "ContentDelta",
        "ChatDone",
    ]
    assert text_of(events) == "Héllo"


async def test_a_finish_reason_without_done_still_completes(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply().content("fine").finish(done=False))
    async with client_for(llama) as client:
        events = await collect(client)
    assert text_of(events) == "fine"
    assert metrics_of(events).done_reason == "stop"


async def test_server_ignoring_stream_answers_whole_json(llama: FakeOpenAI) -> None:
    arguments = json.dumps({"path": "a.py"})
    message = {
        "role": "assistant",
        "content": "Reading.",
        "reasoning_content": "first look",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "read_file", "arguments": arguments},
            }
        ],
    }
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    }
    llama.enqueue(Reply(status=200, body=body))
    async with client_for(llama) as client:
        events = await collect(client)
    assert [type(e).__name__ for e in events] == [
        "ThinkingDelta",
        "ContentDelta",
        "ToolCallsReceived",
        "ChatDone",
    ]
    assert [(c.id, c.arguments) for c in calls_of(events)] == [("c1", {"path": "a.py"})]
    assert metrics_of(events).prompt_eval_count == 20


# -- streams that go wrong ---------------------------------------------------------------------


async def test_a_connection_closed_before_any_answer_is_asked_again_once(
    llama: FakeOpenAI,
) -> None:
    # Seen on the real xllamacpp server between long requests of one conversation.
    llama.enqueue(Reply().refuse(), Reply.say("second try"))
    async with client_for(llama) as client:
        assert text_of(await collect(client)) == "second try"
    assert len(llama.chat_requests) == 2
    # Twice in a row is an error that says so, not a third request.
    llama.enqueue(Reply().refuse(), Reply().refuse(), Reply.say("never"))
    async with client_for(llama) as client:
        with pytest.raises(OllamaStreamDropped):
            await collect(client)
    assert len(llama.chat_requests) == 4


async def test_server_closing_mid_stream(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply().content("Half an ans").drop(), Reply().content("Half").end())
    async with client_for(llama) as client:
        with pytest.raises(OllamaStreamDropped, match="closed the connection") as dropped:
            await collect(client)
        received: list[ChatEvent] = []
        with pytest.raises(OllamaStreamDropped, match="no finish_reason and no") as ended:
            async for event in client.chat_stream(
                model=MODEL, messages=HELLO, tools=[], num_ctx=8192
            ):
                received.append(event)
        # The next request gets a fresh connection and works.
        assert text_of(await collect(client)) == "done"
    assert "try again" in str(dropped.value)
    assert "try again" in str(ended.value)
    assert received == [ContentDelta("Half")]


async def test_error_event_mid_stream_carries_the_servers_message(vllm: FakeOpenAI) -> None:
    vllm.enqueue(Reply().content("Partial").error_event("CUDA out of memory"))
    received: list[ChatEvent] = []
    async with client_for(vllm) as client:
        with pytest.raises(OllamaStreamError, match="CUDA out of memory"):
            async for event in client.chat_stream(
                model=MODEL, messages=HELLO, tools=[], num_ctx=8192
            ):
                received.append(event)
    assert received == [ContentDelta("Partial")]


async def test_context_overflow_in_an_error_event_says_how_to_raise_it(
    llama: FakeOpenAI,
) -> None:
    message = "request (9000 tokens) exceeds the available context size (8192 tokens)"
    llama.enqueue(Reply().error_event(message, code=400, error_type="exceed_context_size_error"))
    async with client_for(llama) as client:
        with pytest.raises(OllamaStreamError) as info:
            await collect(client)
    assert message in str(info.value)
    assert "llama-server -c" in str(info.value)


async def test_html_answer_is_not_an_openai_server_and_not_dumped(llama: FakeOpenAI) -> None:
    page = "<html><head><title>Open WebUI</title></head><body>" + "<p>x</p>" * 2000 + "</body>"
    llama.enqueue(Reply.page(200, page), Reply.page(502, "<html><title>502 Bad Gateway</title>"))
    async with client_for(llama) as client:
        with pytest.raises(NotOpenAICompatible) as web_ui:
            await collect(client)
        with pytest.raises(OllamaHTTPError) as proxy:
            await collect(client)
    message = str(web_ui.value)
    assert "'Open WebUI'" in message and "not an OpenAI-compatible API" in message
    assert "baseUrl" in message and "/v1" in message
    assert "<p>" not in message and len(message) < 600
    assert isinstance(web_ui.value, OllamaProtocolError) and web_ui.value.setup_problem
    # A proxy's error page: the server behind it is down, not the wrong kind of server.
    assert proxy.value.status == 502 and "'502 Bad Gateway'" in str(proxy.value)
    assert "<title>" not in str(proxy.value)


async def test_plain_text_instead_of_events_is_reported(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply(text="Hello from some other service\n", content_type="text/plain"))
    async with client_for(llama) as client:
        with pytest.raises(NotOpenAICompatible, match="Hello from some other service"):
            await collect(client)


async def test_read_timeout_names_the_setting(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply().gate("prefill done").content("late").finish())
    async with client_for(llama, read_timeout=0.2) as client:
        with pytest.raises(OllamaTimeout, match="readTimeout"):
            await collect(client)
    assert llama.wait_for_disconnects(1, timeout=10) == 1


# -- the request -------------------------------------------------------------------------------


async def test_request_body_maps_options_and_sends_headers(llama: FakeOpenAI) -> None:
    options = {
        "num_predict": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["</s>"],
        "num_ctx": 65536,
        "top_k": 40,
    }
    headers = {"X-Team": "compilers"}
    async with client_for(llama, options=options, headers=headers) as client:
        await collect(client)
        await collect(client, tools=[READ_FILE_TOOL])
    plain, with_tools = (r.body for r in llama.chat_requests)
    assert plain == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Summarise README.md"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["</s>"],
    }
    assert with_tools["tools"] == [READ_FILE_TOOL]
    request = llama.chat_requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["x-team"] == "compilers"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers


async def test_unlimited_num_predict_sends_no_max_tokens(llama: FakeOpenAI) -> None:
    async with client_for(llama, options={"num_predict": -1}) as client:
        await collect(client)
    assert "max_tokens" not in llama.last_chat


async def test_messages_in_openai_shape(llama: FakeOpenAI) -> None:
    first_call = ToolCall("read_file", {"path": "README.md"}, id="call_k3j9x0ab", index=0)
    messages = [
        Message("system", "You are a coding agent."),
        Message("user", "Summarise README.md"),
        Message("assistant", "Let me read it.", thinking="hm", tool_calls=[first_call]),
        Message("tool", "# Demo", tool_name="read_file", tool_call_id="call_k3j9x0ab"),
    ]
    async with client_for(llama) as client:
        await collect(client, messages=messages, tools=[READ_FILE_TOOL])
    assert llama.last_chat["messages"] == [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Summarise README.md"},
        {
            "role": "assistant",
            "content": "Let me read it.",
            "reasoning_content": "hm",
            "tool_calls": [
                {
                    "id": "call_k3j9x0ab",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "README.md"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_k3j9x0ab", "content": "# Demo"},
    ]


def test_calls_without_ids_get_position_ids_and_results_pair_in_order() -> None:
    messages = [
        Message("user", "fix it"),
        Message("assistant", "", tool_calls=[ToolCall("read_file", {"path": "a"})] * 2),
        Message("tool", "A", tool_name="read_file"),
        Message("tool", "B", tool_name="read_file"),
        Message("assistant", "", tool_calls=[ToolCall("read_file", {"path": "c"})]),
        Message("tool", "C", tool_name="read_file"),
    ]
    wire = openai_messages(messages)
    assert [c["id"] for c in wire[1]["tool_calls"]] == ["call_1_0", "call_1_1"]
    assert [m["tool_call_id"] for m in wire if m["role"] == "tool"] == [
        "call_1_0",
        "call_1_1",
        "call_4_0",
    ]


async def test_same_messages_give_identical_request_bytes(llama: FakeOpenAI) -> None:
    history = [
        Message("system", "You are a coding agent; ünïcode stays raw."),
        Message("user", "Read a.py"),
        Message(
            "assistant", "", thinking="look", tool_calls=[ToolCall("read_file", {"path": "a"})]
        ),
        Message("tool", "print(1)"),
    ]
    async with client_for(llama, options={"temperature": 0}) as client:
        await collect(client, messages=history, tools=[READ_FILE_TOOL])
        await collect(client, messages=list(history), tools=[READ_FILE_TOOL])
        longer = [*history, Message("assistant", "Done."), Message("user", "And b.py?")]
        await collect(client, messages=longer, tools=[READ_FILE_TOOL])
    async with client_for(llama, options={"temperature": 0}) as other:
        again = other.encode_body(model=MODEL, messages=history, tools=[READ_FILE_TOOL], num_ctx=1)
    first, second, third = (r.raw for r in llama.chat_requests)
    assert first == second == again
    # The earlier conversation is a byte-for-byte prefix of the longer one's messages.
    assert third.startswith(first[: first.index(b'"tool_call_id"')])
    earlier = json.dumps(llama.chat_requests[0].body["messages"], ensure_ascii=False)
    later = json.dumps(llama.chat_requests[2].body["messages"], ensure_ascii=False)
    assert later.startswith(earlier[:-1])


id_or_none = st.none() | st.text(alphabet="abc123", min_size=1, max_size=4).map("id_".__add__)


@settings(deadline=None)
@given(
    turns=st.lists(st.lists(id_or_none, min_size=1, max_size=3), min_size=1, max_size=4),
    answer_ids=st.booleans(),
)
def test_every_tool_result_answers_a_call_and_conversion_is_stable(
    turns: list[list[str | None]], answer_ids: bool
) -> None:
    messages = [Message("user", "go")]
    for turn in turns:
        calls = [ToolCall("read_file", {"path": str(i)}, id=cid) for i, cid in enumerate(turn)]
        messages.append(Message("assistant", "", tool_calls=calls))
        for call_ in calls:
            messages.append(Message("tool", "ok", tool_call_id=call_.id if answer_ids else None))
    wire = openai_messages(messages)
    assert json.dumps(wire) == json.dumps(openai_messages(list(messages)))
    pending: list[str] = []
    for entry in wire:
        if entry["role"] == "assistant":
            pending = [c["id"] for c in entry["tool_calls"]]
        elif entry["role"] == "tool":
            assert entry["tool_call_id"] in pending, f"{entry} answers no call of {pending}"


async def test_api_key_goes_in_the_authorization_header(
    llama: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client_for(llama, api_key=SecretStr("sk-direct")) as client:
        await collect(client)
    monkeypatch.setenv("TEAM_LLM_KEY", "sk-from-env")
    async with client_for(llama, api_key_env="TEAM_LLM_KEY") as client:
        await collect(client)
    assert [r.headers["authorization"] for r in llama.chat_requests] == [
        "Bearer sk-direct",
        "Bearer sk-from-env",
    ]


def test_make_backend_builds_this_client_for_backend_openai() -> None:
    backend = make_backend(Settings(backend="openai", base_url="http://127.0.0.1:1/v1"))
    assert isinstance(backend, OpenAIClient)
    assert (backend.kind, backend.url) == ("openai", "http://127.0.0.1:1/v1")


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", ["llamacpp", "vllm"])
async def test_wrong_api_key_names_the_settings_and_never_the_key(
    flavor: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-wrong-secret-4821"
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(flavor, api_key="sk-right") as fake:  # type: ignore[arg-type]
        async with client_for(fake, api_key=SecretStr(secret)) as client:
            with pytest.raises(AuthenticationFailed) as chat:
                await collect(client)
            with pytest.raises(AuthenticationFailed) as show:
                await client.show(MODEL)
    for error in (chat.value, show.value):
        message = str(error)
        assert isinstance(error, OllamaHTTPError) and error.status == 401
        assert error.setup_problem
        assert "apiKey" in message and "apiKeyEnv" in message and "OLLAMA_AGENT_API_KEY" in message
        assert "refused" in message
        assert secret not in message
    assert secret not in caplog.text


async def test_a_server_echoing_the_key_in_an_error_gets_it_masked() -> None:
    secret = "sk-echoed-9911"
    with FakeOpenAI("llamacpp", api_key=secret) as fake:
        fake.enqueue(Reply().error_event(f"token {secret} has no quota left"))
        async with client_for(fake, api_key=SecretStr(secret)) as client:
            with pytest.raises(OllamaStreamError) as info:
                await collect(client)
    assert secret not in str(info.value)
    assert "token *** has no quota left" in str(info.value)


async def test_missing_api_key_says_none_was_sent() -> None:
    with FakeOpenAI("vllm", api_key="sk-right") as fake:
        async with client_for(fake) as client:
            with pytest.raises(AuthenticationFailed, match="No API key was sent"):
                await client.tags()


async def test_model_not_served_lists_the_served_ones(vllm: FakeOpenAI) -> None:
    async with client_for(vllm) as client:
        with pytest.raises(ServedModelNotFound) as chat:
            await collect(client, model="qwen9:1b")
        with pytest.raises(ModelNotFound) as show:
            await client.show("qwen9:1b")
    for error in (chat.value, show.value):
        message = str(error)
        assert "'qwen9:1b' is not served" in message
        assert MODEL in message, "the served models are listed"
        assert "ollama-agent-ls models" in message
        assert error.setup_problem


async def test_llamacpp_serves_its_model_under_any_name(llama: FakeOpenAI) -> None:
    async with client_for(llama) as client:
        info = await client.show("gpt-4o")
        events = await collect(client, model="gpt-4o")
    assert (info.context_length, info.parameter_size) == (llama.n_ctx, "1.5B")
    assert text_of(events) == "done"


async def test_base_url_without_v1_says_to_add_it(vllm: FakeOpenAI) -> None:
    async with client_for(vllm, base_url=vllm.root_url) as client:
        with pytest.raises(EndpointNotFound) as chat:
            await collect(client)
        with pytest.raises(EndpointNotFound) as show:
            await client.show(MODEL)
    for error in (chat.value, show.value):
        message = str(error)
        assert error.status == 404 and error.setup_problem
        assert "must include /v1" in message and "http://127.0.0.1:8080/v1" in message
        assert f"{vllm.root_url}/v1" in message
        assert not isinstance(error, ModelNotFound)


async def test_base_url_with_a_wrong_path_is_a_404_not_a_missing_model(
    llama: FakeOpenAI,
) -> None:
    async with client_for(llama, base_url=llama.root_url + "/api/v1") as client:
        with pytest.raises(EndpointNotFound, match="API root") as info:
            await collect(client)
    assert "File Not Found" in str(info.value)


async def test_llamacpp_also_answers_without_v1(llama: FakeOpenAI) -> None:
    async with client_for(llama, base_url=llama.root_url) as client:
        assert text_of(await collect(client)) == "done"
        assert (await client.show(MODEL)).context_length == llama.n_ctx


@pytest.mark.parametrize("flavor", ["llamacpp", "vllm"])
async def test_prompt_over_the_servers_context_says_how_to_raise_it(flavor: str) -> None:
    models = [FakeServedModel(MODEL, max_model_len=600)]
    with FakeOpenAI(flavor, n_ctx=600, models=models) as fake:  # type: ignore[arg-type]
        async with client_for(fake) as client:
            with pytest.raises(ContextOverflow) as info:
                await collect(client, messages=[Message("user", "x" * 4000)])
    message = str(info.value)
    assert info.value.status == 400 and info.value.setup_problem
    assert "did not fit the server's context" in message
    assert "llama-server -c" in message and "--max-model-len" in message


async def test_tools_on_llama_server_without_jinja_say_to_add_it() -> None:
    with FakeOpenAI("llamacpp", jinja=False) as fake:
        async with client_for(fake) as client:
            with pytest.raises(ModelLacksTools, match="--jinja"):
                await collect(client, tools=[READ_FILE_TOOL])


async def test_server_down_names_the_setting_and_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    async with OpenAIClient(Settings(backend="openai", base_url=url)) as client:
        with pytest.raises(OllamaUnreachable) as info:
            await collect(client)
        with pytest.raises(OllamaUnreachable):
            await client.version()
        with pytest.raises(OllamaUnreachable):
            await client.show(MODEL)
    message = str(info.value)
    assert url in message
    assert "baseUrl" in message and "--base-url" in message and "OLLAMA_AGENT_BASE_URL" in message
    assert "llama-server" in message and "vllm serve" in message
    assert info.value.setup_problem


async def test_http_500_carries_the_servers_message(llama: FakeOpenAI) -> None:
    body = {"error": {"code": 500, "message": "slot unavailable", "type": "server_error"}}
    llama.enqueue(Reply.http_error(500, body))
    async with client_for(llama) as client:
        with pytest.raises(OllamaHTTPError, match="slot unavailable") as info:
            await collect(client)
    assert info.value.status == 500
    assert "log" in str(info.value)


# -- metadata ----------------------------------------------------------------------------------


async def test_llamacpp_show_props_version_and_tags(llama: FakeOpenAI) -> None:
    async with client_for(llama) as client:
        info = await client.show(MODEL)
        again = await client.show(MODEL)
        props = await client.props()
        version = await client.version()
        tags = await client.tags()
        num_ctx = await client.resolve_num_ctx(MODEL)
    assert info is again, "show is cached per model"
    assert (info.context_length, info.supports_tools, info.parameter_size) == (8192, True, "1.5B")
    assert info.quantization == "Q4_K - Medium"
    assert props is not None and props["default_generation_settings"]["n_ctx"] == 8192
    assert version == BUILD_INFO
    assert [(t.name, t.size) for t in tags] == [(MODEL, 1_117_320_768)]
    assert num_ctx == 8192
    assert len([r for r in llama.requests if r.path == "/v1/models"]) == 2  # show once, tags once
    assert llama.requests[1].path == "/props" and llama.requests[1].query == {"model": [MODEL]}


async def test_vllm_show_version_and_no_props(vllm: FakeOpenAI) -> None:
    vllm.set_models([FakeServedModel(MODEL, max_model_len=16384), "other-model"])
    async with client_for(vllm) as client:
        info = await client.show(MODEL)
        assert await client.props() is None
        assert await client.prefix_cache() is None
        assert await client.version() == VLLM_VERSION
        assert await client.resolve_num_ctx(MODEL) == 16384
        names = [t.name for t in await client.tags()]
    assert (info.context_length, info.supports_tools, info.parameter_size) == (16384, True, None)
    assert names == [MODEL, "other-model"]


async def test_context_length_setting_fills_in_for_a_server_that_does_not_say(
    vllm: FakeOpenAI,
) -> None:
    vllm.set_models([FakeServedModel(MODEL, max_model_len=None)])
    async with client_for(vllm, context_length=12288) as client:
        assert (await client.show(MODEL)).context_length == 12288
        assert await client.resolve_num_ctx(MODEL) == 12288
    async with client_for(vllm) as client:
        assert (await client.show(MODEL)).context_length is None
        assert await client.resolve_num_ctx(MODEL) == 32768


async def test_template_without_tools_means_no_tools_capability() -> None:
    caps = {"supports_tools": False, "supports_tool_calls": False}
    with FakeOpenAI("llamacpp", chat_template_caps=caps) as fake:
        async with client_for(fake) as client:
            info = await client.show(MODEL)
    assert info.capabilities == ("completion",)
    assert not info.supports_tools


# llama.cpp caches unless told otherwise, and its real /props does not list the flag.
@pytest.mark.parametrize(("cache_prompt", "expected"), [(True, True), (False, False), (None, True)])
async def test_prefix_cache_is_what_props_says(
    cache_prompt: bool | None, expected: bool | None
) -> None:
    with FakeOpenAI("llamacpp", cache_prompt=cache_prompt) as fake:
        async with client_for(fake) as client:
            assert await client.prefix_cache() is expected


# -- cancellation ------------------------------------------------------------------------------


async def test_stopping_iteration_early_closes_the_connection(llama: FakeOpenAI) -> None:
    llama.enqueue(Reply().content("Working").hang())
    async with client_for(llama) as client:
        stream = client.chat_stream(model=MODEL, messages=HELLO, tools=[], num_ctx=8192)
        async with contextlib.aclosing(stream):
            async for _event in stream:
                break
        assert await asyncio.to_thread(llama.wait_for_disconnects, 1, 10) == 1
        assert text_of(await collect(client)) == "done"


# -- the fake itself, as other processes use it ------------------------------------------------


async def test_out_of_process_fake_is_scripted_over_http(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([Reply.say("from the script").to_json()]), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_openai",
        "--flavor",
        "vllm",
        "--script",
        str(script),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(await proc.stdout.readline())
        async with httpx.AsyncClient(base_url=urls["root"]) as http:
            queued = await http.post(
                "/_fake/enqueue",
                json=Reply.calls(call("read_file", {"path": "x"}, pieces=3)).to_json(),
            )
            assert queued.json() == {"queued": 2}
            async with OpenAIClient(Settings(backend="openai", base_url=urls["url"])) as client:
                first = await collect(client)
                second = await collect(client, tools=[READ_FILE_TOOL])
            recorded = (await http.get("/_fake/requests")).json()["requests"]
    finally:
        proc.terminate()
        returncode = await asyncio.wait_for(proc.wait(), 10)
    assert text_of(first) == "from the script"
    assert [c.arguments for c in calls_of(second)] == [{"path": "x"}]
    assert [r["path"] for r in recorded] == ["/v1/chat/completions"] * 2
    assert returncode == 0
