"""Item 1: stream ingest, chunks per second for three readers of the same stream.

(a) bare httpx ``aiter_lines`` + ``json.loads``: the floor cost of reading the stream;
(b) the ``ollama`` package's ``AsyncClient.chat(stream=True)``;
(c) our ``OllamaClient.chat_stream``.
A raw socket reader (no HTTP parsing, no JSON) is shown too, to prove the streamer is not the
limit. Each side reads the whole reply; sides alternate round by round.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.ollama.models import ContentDelta, Message, ToolCallsReceived
from ollama_agent_ls.settings import Settings

from .stats import Samples, alternate, ratio

BODY_MESSAGES = [{"role": "user", "content": "x"}]


async def _bare_httpx(http: httpx.AsyncClient, model: str) -> int:
    body = {"model": model, "messages": BODY_MESSAGES, "stream": True}
    seen = 0
    async with http.stream("POST", "/api/chat", json=body) as response:
        async for line in response.aiter_lines():
            if line:
                json.loads(line)
                seen += 1
    return seen


async def _ollama_package(client: Any, model: str) -> int:
    seen = 0
    stream = await client.chat(model=model, messages=BODY_MESSAGES, stream=True)
    async for part in stream:
        # Touch what a caller would use, so lazy work is not skipped.
        _ = part.message.content, part.message.tool_calls
        seen += 1
    return seen


async def _ours(client: OllamaClient, model: str) -> int:
    seen = 0
    async for event in client.chat_stream(
        model=model, messages=[Message("user", "x")], tools=[], num_ctx=4096
    ):
        if isinstance(event, (ContentDelta, ToolCallsReceived)):
            seen += 1
    return seen + 1  # the done line


def _raw_socket(url: str, model: str) -> int:
    parts = urlsplit(url)
    body = json.dumps({"model": model, "messages": BODY_MESSAGES}).encode()
    request = (
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    total = 0
    tail = b""
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request)
        # The streamer keeps connections alive: the last chunk marks the end.
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(262144)
            if not data:
                break
            total += len(data)
            tail = (tail + data)[-16:]
    return total


async def run_ingest(url: str, chunks: int, tool_calls: int, rounds: int) -> dict[str, Any]:
    """Chunks/s of every reader for the content and tool-call variants, with the ratios."""
    import ollama  # the bench extra; imported here so the other benchmarks run without it

    results: dict[str, Any] = {}
    http = httpx.AsyncClient(base_url=url, timeout=None)
    package = ollama.AsyncClient(host=url)
    ours = OllamaClient(Settings(ollama_url=url))
    try:
        for variant, model, n in (
            ("content", f"content-{chunks}", chunks),
            ("tool_calls", f"tools-{tool_calls}", tool_calls),
        ):
            lines = n + 1

            def side(reader: Any, target: Any, model: str = model, lines: int = lines) -> Any:
                async def run() -> float:
                    start = time.perf_counter()
                    seen = await reader(target, model)
                    elapsed = time.perf_counter() - start
                    if seen != lines:
                        raise RuntimeError(f"{reader.__name__} saw {seen} lines, not {lines}")
                    return elapsed

                return run

            async def raw(model: str = model) -> float:
                start = time.perf_counter()
                _raw_socket(url, model)
                return time.perf_counter() - start

            samples = await alternate(
                {
                    "raw_socket": raw,
                    "a_httpx_floor": side(_bare_httpx, http),
                    "b_ollama_package": side(_ollama_package, package),
                    "c_ours": side(_ours, ours),
                },
                rounds,
            )
            results[variant] = _summary(samples, lines)
    finally:
        await http.aclose()
        await ours.aclose()
        close = getattr(package, "_client", None)
        if close is not None:
            await close.aclose()
    return results


def _summary(samples: dict[str, Samples], lines: int) -> dict[str, Any]:
    rate = {name: lines / s.median for name, s in samples.items()}
    return {
        "lines": lines,
        "chunks_per_s": rate,
        "seconds": {name: s.to_json() for name, s in samples.items()},
        "ratio_c_over_a": ratio(rate["c_ours"], rate["a_httpx_floor"]),
        "ratio_c_over_b": ratio(rate["c_ours"], rate["b_ollama_package"]),
    }
