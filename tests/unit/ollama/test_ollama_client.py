"""The Ollama client against the fake Ollama over loopback: streams, requests, errors, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.ollama.errors import (
    ModelLacksTools,
    ModelNotFound,
    OllamaHTTPError,
    OllamaStreamDropped,
    OllamaStreamError,
    OllamaTimeout,
    OllamaUnreachable,
)
from ollama_agent_ls.ollama.models import (
    ChatDone,
    ChatEvent,
    ContentDelta,
    Message,
    ThinkingDelta,
    ToolCall,
    ToolCallsReceived,
)
from ollama_agent_ls.settings import Settings
from tests.fake_ollama import FakeOllama, Reply, call

REPO = Path(__file__).resolve().parents[3]
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
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def client_for(fake: FakeOllama, **settings: Any) -> OllamaClient:
    return OllamaClient(Settings(ollama_url=fake.url, **settings))


async def collect(
    client: OllamaClient,
    *,
    model: str = "qwen3:8b",
    messages: list[Message] | None = None,
    tools: list[dict[str, Any]] | None = None,
    num_ctx: int = 8192,
) -> list[ChatEvent]:
    stream = client.chat_stream(
        model=model, messages=messages or HELLO, tools=tools or [], num_ctx=num_ctx
    )
    return [event async for event in stream]


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ContentDelta))


def calls_of(events: list[ChatEvent]) -> list[ToolCall]:
    return [c for e in events if isinstance(e, ToolCallsReceived) for c in e.calls]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- stream variants ---------------------------------------------------------------------------


async def test_plain_text_reply_and_metrics(fake: FakeOllama) -> None:
    fake.enqueue(Reply.say("Hello", ", ", "world"))
    async with client_for(fake) as client:
        events = await collect(client)
    assert text_of(events) == "Hello, world"
    assert isinstance(events[-1], ChatDone)
    metrics = events[-1].metrics
    assert metrics.done_reason == "stop"
    assert metrics.eval_count > 0
    assert metrics.tokens_per_second > 0
    assert metrics.prompt_eval_count > 0


async def test_thinking_streams_before_content(fake: FakeOllama) -> None:
    fake.enqueue(Reply().thinking("Let me", " think").content("Answer").done())
    async with client_for(fake) as client:
        events = await collect(client)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ThinkingDelta", "ThinkingDelta", "ContentDelta", "ChatDone"]
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Let me think"
    assert text_of(events) == "Answer"


async def test_tool_calls_merged_into_the_done_line_are_kept(fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(call("read_file", {"path": "README.md"}), in_done=True))
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    calls = calls_of(events)
    assert [(c.name, c.arguments) for c in calls] == [("read_file", {"path": "README.md"})]
    assert calls[0].id is not None and calls[0].id.startswith("call_")
    assert isinstance(events[-1], ChatDone)


async def test_text_then_call_in_a_done_false_chunk(fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(call("read_file", {"path": "a.py"}), content="Let me read it."))
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    assert text_of(events) == "Let me read it."
    assert [c.arguments for c in calls_of(events)] == [{"path": "a.py"}]


async def test_two_calls_in_one_chunk_arrive_together(fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(call("read_file", {"path": "a"}), call("read_file", {"path": "b"})))
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    batches = [e.calls for e in events if isinstance(e, ToolCallsReceived)]
    assert len(batches) == 1
    assert [c.arguments["path"] for c in batches[0]] == ["a", "b"]
    assert [c.index for c in batches[0]] == [0, 1]


async def test_calls_without_id_or_index_and_repeated_index_are_all_kept(
    fake: FakeOllama,
) -> None:
    fake.enqueue(
        Reply()
        .tool_calls(call("read_file", {"path": "a"}, id=None, index=None))
        .tool_calls(
            call("read_file", {"path": "b"}, index=0), call("read_file", {"path": "c"}, index=0)
        )
        .done(tool_calls=[call("read_file", {"path": "d"}, id=None, index=0)])
    )
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    calls = calls_of(events)
    assert [c.arguments["path"] for c in calls] == ["a", "b", "c", "d"]
    assert (calls[0].id, calls[0].index) == (None, None)
    assert [c.index for c in calls[1:]] == [0, 0, 0]


async def test_string_arguments_are_decoded_and_non_objects_become_empty(
    fake: FakeOllama,
) -> None:
    fake.enqueue(
        Reply().tool_calls(
            call("read_file", '{"path": "src/ä.py"}'),
            call("read_file", "not json"),
            call("read_file", [1, 2]),
        )
    )
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    assert [c.arguments for c in calls_of(events)] == [{"path": "src/ä.py"}, {}, {}]


async def test_tool_call_written_as_text_stays_content(fake: FakeOllama) -> None:
    fake.enqueue(Reply.text_tool_call("read_file", {"path": "a & b.py"}))
    async with client_for(fake) as client:
        events = await collect(client, tools=[READ_FILE_TOOL])
    assert calls_of(events) == []
    text = text_of(events)
    assert text.startswith("<tool_call>")
    assert json.loads(text.split("\n")[1]) == {
        "name": "read_file",
        "arguments": {"path": "a & b.py"},
    }


async def test_scripted_prompt_eval_count_reaches_the_metrics(fake: FakeOllama) -> None:
    fake.enqueue(Reply.say("ok", prompt_eval_count=7))
    async with client_for(fake) as client:
        events = await collect(client, messages=[Message("user", "x" * 4000)])
    assert isinstance(events[-1], ChatDone)
    assert events[-1].metrics.prompt_eval_count == 7


async def test_pause_while_a_call_is_buffered_still_delivers_it(fake: FakeOllama) -> None:
    fake.enqueue(
        Reply()
        .content("Reading.")
        .gate("buffered")
        .tool_calls(call("read_file", {"path": "a"}))
        .done()
    )
    async with client_for(fake) as client:
        stream = client.chat_stream(model="qwen3:8b", messages=HELLO, tools=[], num_ctx=4096)
        first = await anext(stream)
        fake.open_gate("buffered")
        rest = [event async for event in stream]
    assert first == ContentDelta("Reading.")
    assert [c.name for c in calls_of(rest)] == ["read_file"]


# -- the request -------------------------------------------------------------------------------


async def test_request_carries_num_ctx_options_keep_alive_and_headers(fake: FakeOllama) -> None:
    settings = {
        "options": {"temperature": 0.2, "num_ctx": 1},
        "keep_alive": "10m",
        "headers": {"Authorization": "Bearer secret"},
    }
    async with client_for(fake, **settings) as client:
        await collect(client, num_ctx=16384)
    body = fake.last_chat
    assert body["options"] == {"temperature": 0.2, "num_ctx": 16384}
    assert body["keep_alive"] == "10m"
    assert body["stream"] is True
    assert "think" not in body
    assert "tools" not in body
    assert fake.chat_requests[-1].headers["authorization"] == "Bearer secret"


@pytest.mark.parametrize("think", [True, False, "high"])
async def test_think_is_sent_only_when_set(fake: FakeOllama, think: bool | str) -> None:
    async with client_for(fake, think=think) as client:
        await collect(client, tools=[READ_FILE_TOOL])
    body = fake.last_chat
    assert body["think"] == think
    assert body["tools"] == [READ_FILE_TOOL]


async def test_tool_results_round_trip_into_the_request(fake: FakeOllama) -> None:
    first_call = ToolCall("read_file", {"path": "README.md"}, id="call_k3j9x0ab", index=0)
    messages = [
        Message("system", "You are a coding agent."),
        Message("user", "Summarise README.md"),
        Message("assistant", "Let me read it.", thinking="hm", tool_calls=[first_call]),
        Message("tool", "# Demo", tool_name="read_file", tool_call_id="call_k3j9x0ab"),
    ]
    async with client_for(fake) as client:
        await collect(client, messages=messages, tools=[READ_FILE_TOOL])
    assert fake.last_chat["messages"][2:] == [
        {
            "role": "assistant",
            "content": "Let me read it.",
            "thinking": "hm",
            "tool_calls": [
                {
                    "id": "call_k3j9x0ab",
                    "function": {
                        "index": 0,
                        "name": "read_file",
                        "arguments": {"path": "README.md"},
                    },
                }
            ],
        },
        {
            "role": "tool",
            "content": "# Demo",
            "tool_name": "read_file",
            "tool_call_id": "call_k3j9x0ab",
        },
    ]


# -- metadata ----------------------------------------------------------------------------------


async def test_show_with_and_without_context_length(fake: FakeOllama) -> None:
    async with client_for(fake) as client:
        qwen = await client.show("qwen3:8b")
        custom = await client.show("custom-gguf")
        gemma = await client.show("gemma3:4b")
    assert (qwen.context_length, qwen.supports_tools, qwen.supports_thinking) == (40960, True, True)
    assert (custom.context_length, custom.supports_tools) == (None, True)
    assert gemma.supports_tools is False


async def test_version_and_tags(fake: FakeOllama) -> None:
    async with client_for(fake) as client:
        assert await client.version() == fake.version
        names = [m.name for m in await client.tags()]
    assert "qwen3:8b" in names and "gemma3:4b" in names


@pytest.mark.parametrize(
    ("model", "settings", "expected"),
    [
        ("qwen3:8b", {"num_ctx": 8192}, 8192),
        ("qwen3:8b", {"max_num_ctx": 65536}, 40960),
        ("llama3.1:8b", {"max_num_ctx": 32768}, 32768),
        ("custom-gguf", {"max_num_ctx": 65536}, 32768),
        ("custom-gguf", {"max_num_ctx": 16384}, 16384),
    ],
)
async def test_resolve_num_ctx(
    fake: FakeOllama, model: str, settings: dict[str, Any], expected: int
) -> None:
    async with client_for(fake, **settings) as client:
        assert await client.resolve_num_ctx(model) == expected


async def test_configured_num_ctx_needs_no_show_and_show_is_cached(fake: FakeOllama) -> None:
    async with client_for(fake, num_ctx=4096) as client:
        await client.resolve_num_ctx("qwen3:8b")
    assert not [r for r in fake.requests if r.path == "/api/show"]
    async with client_for(fake) as client:
        await client.resolve_num_ctx("qwen3:8b")
        await client.resolve_num_ctx("qwen3:8b")
        await client.show("qwen3:8b")
    assert len([r for r in fake.requests if r.path == "/api/show"]) == 1


# -- errors ------------------------------------------------------------------------------------


async def test_server_down_is_unreachable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with OllamaClient(Settings(ollama_url=url)) as client:
        with pytest.raises(OllamaUnreachable, match="ollama serve") as info:
            await collect(client)
        assert url in str(info.value)
        with pytest.raises(OllamaUnreachable):
            await client.tags()
        with pytest.raises(OllamaUnreachable):
            await client.show("qwen3:8b")


async def test_unknown_model_names_the_pull_command(fake: FakeOllama) -> None:
    async with client_for(fake) as client:
        with pytest.raises(ModelNotFound, match="ollama pull qwen9:1b") as info:
            await collect(client, model="qwen9:1b")
        assert fake.url in str(info.value)
        with pytest.raises(ModelNotFound):
            await client.show("qwen9:1b")


async def test_model_without_tools_names_models_that_have_them(fake: FakeOllama) -> None:
    async with client_for(fake) as client:
        with pytest.raises(ModelLacksTools, match=r"gemma3:4b.*qwen3") as info:
            await collect(client, model="gemma3:4b", tools=[READ_FILE_TOOL])
    assert info.value.model == "gemma3:4b"


async def test_think_on_a_model_without_thinking_says_to_unset_it(fake: FakeOllama) -> None:
    async with client_for(fake, think=True) as client:
        with pytest.raises(OllamaHTTPError, match="unset the think option") as info:
            await collect(client, model="llama3.1:8b")
    assert info.value.status == 400


async def test_http_500_with_json_body(fake: FakeOllama) -> None:
    fake.enqueue(Reply.http_error(500, "model runner has unexpectedly stopped"))
    async with client_for(fake) as client:
        with pytest.raises(OllamaHTTPError, match="runner has unexpectedly stopped") as info:
            await collect(client)
    assert info.value.status == 500
    assert "server log" in str(info.value)


async def test_plain_text_404_explains_the_base_url(fake: FakeOllama) -> None:
    fake.enqueue(Reply.plain_error(404, "404 page not found"))
    async with client_for(fake) as client:
        with pytest.raises(OllamaHTTPError, match="404 page not found") as info:
            await collect(client)
    assert not isinstance(info.value, ModelNotFound)
    assert "base URL" in str(info.value)


async def test_wrong_base_url_path_is_a_404_not_a_missing_model(fake: FakeOllama) -> None:
    async with OllamaClient(Settings(ollama_url=fake.url + "/v1")) as client:
        with pytest.raises(OllamaHTTPError, match="without /v1") as info:
            await collect(client)
        assert info.value.status == 404
        with pytest.raises(OllamaHTTPError):
            await client.show("qwen3:8b")


async def test_error_line_mid_stream(fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Partial").error_line("failed to parse XML tool call"))
    received: list[ChatEvent] = []
    async with client_for(fake) as client:
        with pytest.raises(OllamaStreamError, match="failed to parse XML"):
            async for event in client.chat_stream(
                model="qwen3:8b", messages=HELLO, tools=[], num_ctx=4096
            ):
                received.append(event)
    assert received == [ContentDelta("Partial")]


async def test_dropped_connection_mid_stream(fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Half an ans").drop())
    async with client_for(fake) as client:
        with pytest.raises(OllamaStreamDropped, match="try again"):
            await collect(client)
        # The next request gets a fresh connection and works.
        assert text_of(await collect(client)) == "done"


async def test_slow_first_byte_beyond_read_timeout(fake: FakeOllama) -> None:
    fake.enqueue(Reply().gate("model loaded").content("late").done())
    async with client_for(fake, read_timeout=0.2) as client:
        with pytest.raises(OllamaTimeout, match="readTimeout"):
            await collect(client)
    # The fake notices the client gave up instead of serving a dead socket.
    assert fake.wait_for_disconnects(1, timeout=10) == 1


async def test_slow_first_byte_within_read_timeout_is_fine(fake: FakeOllama) -> None:
    fake.enqueue(Reply().sleep(0.05).content("loaded").done())
    async with client_for(fake, read_timeout=30) as client:
        assert text_of(await collect(client)) == "loaded"


# -- cancellation ------------------------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_connection(fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Working").hang())
    started = asyncio.Event()

    async def consume(client: OllamaClient) -> None:
        async for event in client.chat_stream(
            model="qwen3:8b", messages=HELLO, tools=[], num_ctx=4096
        ):
            if isinstance(event, ContentDelta):
                started.set()

    async with client_for(fake) as client:
        task = asyncio.create_task(consume(client))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(fake.wait_for_disconnects, 1, 10) == 1
        # The client stays usable after a cancelled reply.
        assert text_of(await collect(client)) == "done"


async def test_stopping_iteration_early_closes_the_connection(fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Working").hang())
    async with client_for(fake) as client:
        stream = client.chat_stream(model="qwen3:8b", messages=HELLO, tools=[], num_ctx=4096)
        async with contextlib.aclosing(stream):
            async for _event in stream:
                break
        assert await asyncio.to_thread(fake.wait_for_disconnects, 1, 10) == 1


# -- the fake itself, as other processes use it ------------------------------------------------


def test_fake_rejects_what_ollama_rejects(fake: FakeOllama) -> None:
    bad_call = {"function": {"name": "read_file", "arguments": '{"path": "a"}'}}
    messages = [{"role": "assistant", "content": "", "tool_calls": [bad_call]}]
    with httpx.Client(base_url=fake.url) as http:
        missing = http.post("/api/chat")
        string_args = http.post("/api/chat", json={"model": "qwen3:8b", "messages": messages})
        wrong_path = http.get("/api/nothing")
        head = http.head("/")
    assert (missing.status_code, missing.json()) == (400, {"error": "missing request body"})
    assert string_args.status_code == 400
    assert "cannot unmarshal string" in string_args.json()["error"]
    assert (wrong_path.status_code, wrong_path.text) == (404, "404 page not found")
    assert head.status_code == 200
    assert fake.pending_replies == 0


async def test_out_of_process_fake_is_scripted_over_http(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([Reply.say("from the script").to_json()]), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_ollama",
        "--script",
        str(script),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = json.loads(await proc.stdout.readline())["url"]
        async with httpx.AsyncClient(base_url=url) as http:
            queued = await http.post(
                "/_fake/enqueue",
                json=Reply.calls(call("read_file", {"path": "x"}), in_done=True).to_json(),
            )
            assert queued.json() == {"queued": 2}
            async with OllamaClient(Settings(ollama_url=url)) as client:
                first = await collect(client)
                second = await collect(client, tools=[READ_FILE_TOOL])
            recorded = (await http.get("/_fake/requests")).json()["requests"]
            await http.post("/_fake/reset")
            after_reset = (await http.get("/_fake/requests")).json()["requests"]
    finally:
        proc.terminate()
        returncode = await asyncio.wait_for(proc.wait(), 10)
    assert text_of(first) == "from the script"
    assert [c.arguments for c in calls_of(second)] == [{"path": "x"}]
    assert [r["body"]["options"]["num_ctx"] for r in recorded] == [8192, 8192]
    assert after_reset == []
    assert returncode == 0


async def test_stopping_the_fake_ends_a_hanging_reply() -> None:
    fake = FakeOllama(replies=[Reply().content("Working").hang()]).start()
    try:
        async with client_for(fake) as client:
            stream = client.chat_stream(model="qwen3:8b", messages=HELLO, tools=[], num_ctx=4096)
            async with contextlib.aclosing(stream):
                assert await anext(stream) == ContentDelta("Working")
                await asyncio.to_thread(fake.stop)
                with pytest.raises(OllamaStreamDropped):
                    await anext(stream)
    finally:
        fake.stop()
