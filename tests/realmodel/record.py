"""Record what llama.cpp's real server sends, for the fake OpenAI server to imitate.

``python -m tests.realmodel.record [1.5b|0.5b]`` starts the real model and rewrites
tests/realmodel/recordings/*.txt. Requests use temperature 0 and a fixed seed, so the contents
repeat; only ``id``, ``created`` and the ``timings`` milliseconds change between recordings.

Each file is a transcript: ``>>>`` lines are the request (method and path, then its JSON body),
``<<<`` lines the status and the headers that matter, then a blank line and the response body
exactly as received (for SSE: ``data: {...}`` events separated by blank lines).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from .llama_server import DEFAULT_CTX, LlamaServer
from .weights import ensure_model

RECORDINGS = Path(__file__).parent / "recordings"
SEED = 42
_HEADERS = ("content-type", "transfer-encoding", "server")

READ_FILE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file of the workspace.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Workspace-relative path."}},
            "required": ["path"],
        },
    },
}


def chat_body(
    model: str, messages: list[dict[str, Any]], max_tokens: int, **extra: Any
) -> dict[str, Any]:
    """A repeatable streamed chat request (temperature 0, fixed seed, usage in the last chunk)."""
    return {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
        "seed": SEED,
        "max_tokens": max_tokens,
        **extra,
    }


def _transcript(
    method: str, path: str, body: dict[str, Any] | None, resp: bytes, r: httpx.Response
) -> str:
    lines = [f">>> {method} {path}"]
    if body is not None:
        lines.append(f">>> {json.dumps(body)}")
    lines.append(f"<<< {r.status_code}")
    lines += [f"<<< {name}: {r.headers[name]}" for name in _HEADERS if name in r.headers]
    return "\n".join(lines) + "\n\n" + resp.decode("utf-8")


def _exchange(
    client: httpx.Client, method: str, root: str, path: str, body: dict[str, Any] | None = None
) -> str:
    with client.stream(method, root + path, json=body) as r:
        raw = b"".join(r.iter_raw())
    return _transcript(method, path, body, raw, r)


def _assistant_text(transcript: str) -> str:
    parts = []
    for line in transcript.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
    return "".join(parts)


def record(size: str = "1.5b") -> list[Path]:
    """Run the recorded requests against a fresh server and write the transcripts."""
    cached = ensure_model(size)
    model = cached.spec.alias
    RECORDINGS.mkdir(exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        # The local cache path says nothing about the server; keep the user's home out of it.
        text = text.replace(str(cached.path.parent), "~/.cache/ollama-agent-ls/models")
        path = RECORDINGS / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    with (
        LlamaServer(cached.path, alias=model, ctx=DEFAULT_CTX) as server,
        httpx.Client(timeout=600) as client,
    ):
        root = server.root_url
        write("health.txt", _exchange(client, "GET", root, "/health"))
        write("models.txt", _exchange(client, "GET", root, "/v1/models"))
        write("props.txt", _exchange(client, "GET", root, "/props"))

        first = [{"role": "user", "content": "Say hi."}]
        plain = _exchange(client, "POST", root, "/v1/chat/completions", chat_body(model, first, 8))
        write("chat_plain.txt", plain)
        # The same conversation one turn on: its prompt starts with the previous one.
        second = [
            *first,
            {"role": "assistant", "content": _assistant_text(plain)},
            {"role": "user", "content": "Now say bye."},
        ]
        write(
            "chat_prefix_reuse.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", chat_body(model, second, 8)),
        )
        nonstream = {**chat_body(model, first, 8), "stream": False}
        del nonstream["stream_options"]
        write(
            "chat_nonstream.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", nonstream),
        )

        ask = [{"role": "user", "content": "Show me src/app.py."}]
        tools = chat_body(model, ask, 48, tools=[READ_FILE_TOOL])
        called = _exchange(client, "POST", root, "/v1/chat/completions", tools)
        write("chat_tools.txt", called)
        # What it does with the result: the agent's next request after running the call.
        after = [
            *ask,
            {"role": "assistant", "content": _assistant_text(called)},
            {"role": "tool", "content": "print('hello')\n"},
        ]
        write(
            "chat_tools_after_result.txt",
            _exchange(
                client,
                "POST",
                root,
                "/v1/chat/completions",
                chat_body(model, after, 48, tools=[READ_FILE_TOOL]),
            ),
        )

        # The history as an OpenAI client sends it: a structured call and a tool_call_id.
        structured: list[dict[str, Any]] = [
            *ask,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "src/app.py"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "print('hello')\n"},
        ]
        structured_body = chat_body(model, structured, 48, tools=[READ_FILE_TOOL])
        write(
            "chat_tools_structured_history.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", structured_body),
        )
        # How the template renders that history: <tool_call> and <tool_response> blocks.
        write(
            "apply_template.txt",
            _exchange(
                client,
                "POST",
                root,
                "/apply-template",
                {"messages": structured, "tools": [READ_FILE_TOOL]},
            ),
        )
        required = chat_body(model, ask, 40, tools=[READ_FILE_TOOL], tool_choice="required")
        write(
            "chat_tools_required.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", required),
        )

        # One model per server: the name in the request is not checked.
        unknown = {**chat_body("no-such-model", first, 2), "stream": False}
        del unknown["stream_options"]
        write(
            "chat_unknown_model.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", unknown),
        )
        write(
            "chat_missing_messages.txt",
            _exchange(client, "POST", root, "/v1/chat/completions", {"model": model}),
        )

        # A prompt longer than the context: rejected before any prefill, so it is cheap.
        too_long = [{"role": "user", "content": "hi " * (DEFAULT_CTX + 100)}]
        text = _exchange(
            client, "POST", root, "/v1/chat/completions", chat_body(model, too_long, 8)
        )
        # The request body is 25 KB of "hi "; the transcript keeps its shape, not its bytes.
        text = text.replace("hi " * (DEFAULT_CTX + 100), f"<'hi ' x {DEFAULT_CTX + 100}>")
        write("chat_context_exceeded.txt", text)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: record with the given model size and list the files."""
    args = list(sys.argv[1:] if argv is None else argv)
    for path in record(args[0] if args else "1.5b"):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
