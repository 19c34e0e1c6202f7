"""The real engine the OpenAI-compatible backend talks to: llama.cpp's server on real weights.

These pin down what the backend relies on (streamed content, the final usage and timings
chunk, prefix reuse from the KV cache, the context-size error) and what the model really does
with tools. Requests are tiny and use temperature 0 with a fixed seed, so answers repeat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .fixtures import RealModel
from .record import READ_FILE_TOOL, RECORDINGS, chat_body

# Prefill runs at 9-30 tokens/s on one thread: a loaded machine needs minutes, not seconds.
_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
SAY_HI = [{"role": "user", "content": "Say hi."}]
# What each model writes when asked to show src/app.py with a read_file tool (temperature 0).
# The 0.5B really does put the path in "name": small models garble calls, not just format them.
EXPECTED_CALL = {
    "1.5b": {"name": "read_file", "arguments": {"path": "src/app.py"}},
    "0.5b": {"name": "src/app.py", "arguments": {"path": "/path/to/workspace"}},
}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """A plain HTTP client, shared by the module's tests."""
    with httpx.Client(timeout=_TIMEOUT) as http:
        yield http


class Streamed:
    """One streamed chat completion, split into what a client reads from it."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        self.deltas = deltas
        self.content = "".join(d.get("content") or "" for d in deltas)
        self.finish_reasons = [
            c["choices"][0]["finish_reason"]
            for c in chunks
            if c["choices"] and c["choices"][0]["finish_reason"]
        ]
        self.final = chunks[-1]

    @property
    def usage(self) -> dict[str, Any]:
        """The usage object of the final chunk."""
        usage: dict[str, Any] = self.final["usage"]
        return usage

    @property
    def timings(self) -> dict[str, Any]:
        """llama.cpp's timings object of the final chunk."""
        timings: dict[str, Any] = self.final["timings"]
        return timings


def stream_chat(client: httpx.Client, real_model: RealModel, body: dict[str, Any]) -> Streamed:
    """POST a streamed chat completion and collect its SSE events up to ``[DONE]``."""
    chunks: list[dict[str, Any]] = []
    done = False
    with client.stream("POST", f"{real_model.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200, response.read().decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                continue
            assert line.startswith("data: "), line
            payload = line.removeprefix("data: ")
            if payload == "[DONE]":
                done = True
                break
            chunks.append(json.loads(payload))
    assert done, "the stream ended without data: [DONE]"
    return Streamed(chunks)


def test_models_lists_the_alias(client: httpx.Client, real_model: RealModel) -> None:
    response = client.get(f"{real_model.base_url}/models")

    assert response.status_code == 200
    ids = [m["id"] for m in response.json()["data"]]
    assert ids == [real_model.model]


def test_props_reports_the_context_size(client: httpx.Client, real_model: RealModel) -> None:
    props = client.get(f"{real_model.root_url}/props").json()

    assert props["default_generation_settings"]["n_ctx"] == real_model.ctx
    assert props["model_alias"] == real_model.model


def test_streamed_chat_returns_content_then_usage_and_timings(
    client: httpx.Client, real_model: RealModel
) -> None:
    reply = stream_chat(client, real_model, chat_body(real_model.model, SAY_HI, 8))

    assert reply.deltas[0]["role"] == "assistant"
    assert "hello" in reply.content.lower()
    assert reply.finish_reasons in (["length"], ["stop"])
    # The usage chunk comes last, after the finish_reason chunk, with no choices.
    assert reply.final["choices"] == []
    assert 0 < reply.usage["completion_tokens"] <= 8
    assert reply.timings["predicted_n"] == reply.usage["completion_tokens"]
    assert reply.timings["prompt_n"] + reply.timings["cache_n"] == reply.usage["prompt_tokens"]
    assert reply.usage["prompt_tokens_details"]["cached_tokens"] == reply.timings["cache_n"]


def test_same_request_gives_the_same_answer(client: httpx.Client, real_model: RealModel) -> None:
    body = chat_body(real_model.model, SAY_HI, 8)

    first = stream_chat(client, real_model, body)
    second = stream_chat(client, real_model, body)

    assert second.content == first.content


def test_next_turn_reuses_the_previous_prompt_from_the_cache(
    client: httpx.Client, real_model: RealModel
) -> None:
    first = stream_chat(client, real_model, chat_body(real_model.model, SAY_HI, 8))
    follow_up = [
        *SAY_HI,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "Now say bye."},
    ]

    second = stream_chat(client, real_model, chat_body(real_model.model, follow_up, 8))

    # The whole first prompt is a prefix of the second: only the new turn is prefilled.
    assert second.timings["cache_n"] >= first.usage["prompt_tokens"]
    assert second.timings["prompt_n"] < second.usage["prompt_tokens"]
    assert second.timings["prompt_n"] + second.timings["cache_n"] == second.usage["prompt_tokens"]


def test_with_tools_the_model_writes_the_call_as_fenced_json_in_content(
    client: httpx.Client, real_model: RealModel
) -> None:
    ask = [{"role": "user", "content": "Show me src/app.py."}]

    reply = stream_chat(
        client, real_model, chat_body(real_model.model, ask, 48, tools=[READ_FILE_TOOL])
    )

    # No structured tool_calls: the backend has to find the call in the text.
    assert not any("tool_calls" in delta for delta in reply.deltas)
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", reply.content, re.DOTALL)
    assert fenced, reply.content
    assert json.loads(fenced.group(1)) == EXPECTED_CALL[real_model.size]


def test_prompt_longer_than_the_context_is_refused_before_prefill(
    client: httpx.Client, real_model: RealModel
) -> None:
    too_long = [{"role": "user", "content": "hi " * (real_model.ctx + 100)}]
    body = chat_body(real_model.model, too_long, 8)

    response = client.post(f"{real_model.base_url}/chat/completions", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == real_model.ctx
    assert error["n_prompt_tokens"] > real_model.ctx


def _recorded_request(path: Path) -> dict[str, Any]:
    lines = path.read_text(encoding="utf-8").splitlines()
    body: dict[str, Any] = json.loads(lines[1].removeprefix(">>> "))
    return body


def test_recorded_plain_answer_still_matches_the_server(
    client: httpx.Client, real_model: RealModel
) -> None:
    if real_model.size != "1.5b":
        pytest.skip(f"the recordings are of the 1.5B model; this run uses the {real_model.size}")
    recording = RECORDINGS / "chat_plain.txt"
    recorded = "".join(
        choice["delta"].get("content") or ""
        for line in recording.read_text(encoding="utf-8").splitlines()
        if line.startswith("data: {")
        for choice in json.loads(line.removeprefix("data: "))["choices"]
    )

    live = stream_chat(client, real_model, _recorded_request(recording))

    # If this fails the engine or weights changed: re-record with python -m tests.realmodel.record
    assert live.content == recorded
