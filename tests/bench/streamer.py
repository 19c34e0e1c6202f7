"""A minimal, fast Ollama look-alike for benchmarks, run in its own process.

The test fake (tests/fake_ollama) writes one chunk at a time through http.server; at 50,000 chunks
that would measure the fake. This one renders each reply once and writes it with a single
``sendall``, so the reading side is what is measured. It speaks just enough HTTP/1.1 (keep-alive,
chunked NDJSON, one JSON line per chunk as Ollama does) for httpx, the ``ollama`` package and the
language server.

The requested model name picks the reply:

- ``content-N``: N content chunks, then the done line.
- ``tools-N``: N chunks with one tool call each, then the done line.
- ``paced-N-US``: N content chunks written one by one, US microseconds apart, each text holding
  ``[t=<time.monotonic_ns() at the write>]`` so a reader in another process can measure delay
  (CLOCK_MONOTONIC is system-wide on Linux).
- ``agent-edit``: a three-turn agent run decided from the request alone: read_file ``a.py``; then
  edit_file turning ``counter = K`` (found in the tool result) into ``counter = K+1``; then a
  short final answer.

``python -m tests.bench.streamer`` prints ``{"url": ...}`` on one line, then serves until killed.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

_WORDS = (
    " the", " value", " of", " def", " return", "(", ")", ":", "\n", "    ", " self", ".",
    " if", " not", " None", " =", " é", " 中文", " 🙂", " x", "_id", " for", " in", " range",
)  # fmt: skip
_CREATED = "2025-11-20T12:00:00.123456789Z"
_MODEL_INFO = {
    "capabilities": ["completion", "tools"],
    "model_info": {"general.architecture": "llama", "llama.context_length": 32768},
    "details": {"family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
}
_COUNTER = re.compile(r"counter = (\d+)")


def _line(model: str, message: dict[str, Any], done: bool = False) -> bytes:
    value: dict[str, Any] = {
        "model": model,
        "created_at": _CREATED,
        "message": {"role": "assistant", "content": "", **message},
        "done": done,
    }
    if done:
        value.update(
            done_reason="stop",
            total_duration=1_000_000_000,
            load_duration=1_000_000,
            prompt_eval_count=100,
            prompt_eval_duration=10_000_000,
            eval_count=100,
            eval_duration=900_000_000,
        )
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
    b"Date: Thu, 20 Nov 2025 12:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
)
_END = b"0\r\n\r\n"


def content_lines(model: str, n: int) -> list[bytes]:
    """The NDJSON lines of an n-chunk content reply (done line included)."""
    lines = [_line(model, {"content": _WORDS[i % len(_WORDS)]}) for i in range(n)]
    lines.append(_line(model, {}, done=True))
    return lines


def tool_lines(model: str, n: int) -> list[bytes]:
    """The NDJSON lines of a reply with n tool calls, one per chunk (done line included)."""
    lines = []
    for i in range(n):
        call = {
            "id": f"call_{i:08d}",
            "function": {"index": i, "name": "read_file", "arguments": {"path": f"src/m{i}.py"}},
        }
        lines.append(_line(model, {"tool_calls": [call]}))
    lines.append(_line(model, {}, done=True))
    return lines


def render(lines: list[bytes]) -> bytes:
    """A whole chunked HTTP response, one line per chunk."""
    return _HEAD + b"".join(_chunk(line) for line in lines) + _END


def _json_response(value: Any, status: str = "200 OK") -> bytes:
    body = json.dumps(value).encode()
    return (
        b"HTTP/1.1 %s\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (status.encode(), len(body), body)
    )


class _Conn:
    """One client connection: reads requests, writes replies, until the client closes."""

    def __init__(self, sock: socket.socket, cache: dict[str, bytes]) -> None:
        self.sock = sock
        self.cache = cache
        self.buffer = b""

    def _read_request(self) -> tuple[str, str, bytes] | None:
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for header in lines[1:]:
            name, _, value = header.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                return None
            rest += data
        body, self.buffer = rest[:length], rest[length:]
        return method, path, body

    def serve(self) -> None:
        with contextlib.suppress(OSError), self.sock:
            while True:
                request = self._read_request()
                if request is None:
                    return
                method, path, body = request
                if path == "/api/chat" and method == "POST":
                    self._chat(json.loads(body))
                elif path == "/api/show":
                    self.sock.sendall(_json_response(_MODEL_INFO))
                elif path == "/api/version":
                    self.sock.sendall(_json_response({"version": "0.12.10"}))
                elif path == "/api/tags":
                    self.sock.sendall(_json_response({"models": []}))
                else:
                    self.sock.sendall(_json_response({"status": "Ollama is running"}))

    def _chat(self, request: dict[str, Any]) -> None:
        model = str(request.get("model", ""))
        kind, _, arg = model.partition("-")
        if kind == "paced":
            count, _, micros = arg.partition("-")
            self._paced(model, int(count), int(micros or 0))
            return
        if kind == "agent":
            self.sock.sendall(render(_agent_turn(model, request.get("messages") or [])))
            return
        reply = self.cache.get(model)
        if reply is None:
            n = int(arg)
            reply = render(tool_lines(model, n) if kind == "tools" else content_lines(model, n))
            self.cache[model] = reply
        self.sock.sendall(reply)

    def _paced(self, model: str, n: int, micros: int) -> None:
        self.sock.sendall(_HEAD)
        interval = micros / 1e6
        next_at = time.monotonic()
        for _ in range(n):
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            line = _line(model, {"content": f"[t={time.monotonic_ns()}]"})
            self.sock.sendall(_chunk(line))
        self.sock.sendall(_chunk(_line(model, {}, done=True)) + _END)


def _agent_turn(model: str, messages: list[dict[str, Any]]) -> list[bytes]:
    tool_results = [m for m in messages if m.get("role") == "tool"]
    if not tool_results:
        call = {"function": {"index": 0, "name": "read_file", "arguments": {"path": "a.py"}}}
        return [
            _line(model, {"content": "Reading."}),
            _line(model, {"tool_calls": [call]}),
            _line(model, {}, True),
        ]
    if len(tool_results) == 1:
        found = _COUNTER.search(str(tool_results[0].get("content", "")))
        k = int(found.group(1)) if found else 0
        arguments = {
            "path": "a.py",
            "old_string": f"counter = {k}",
            "new_string": f"counter = {k + 1}",
        }
        call = {"function": {"index": 0, "name": "edit_file", "arguments": arguments}}
        return [_line(model, {"tool_calls": [call]}), _line(model, {}, True)]
    return [_line(model, {"content": "Incremented the counter."}), _line(model, {}, True)]


def serve(host: str = "127.0.0.1", port: int = 0, ready: Any = None) -> None:
    """Accept connections for ever, one thread each; ``ready(url)`` is called once listening."""
    listener = socket.create_server((host, port))
    address, bound = listener.getsockname()[:2]
    url = f"http://{address}:{bound}"
    if ready is not None:
        ready(url)
    cache: dict[str, bytes] = {}
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_Conn(sock, cache).serve, daemon=True).start()


class StreamerProcess:
    """The streamer in a child process (its own core and GIL); a context manager."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> StreamerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.streamer"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        if not first:
            raise RuntimeError("the benchmark streamer did not start; run it alone to see why")
        self.url = json.loads(first)["url"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


def main() -> None:
    """Serve on an ephemeral loopback port; the URL goes to stdout as one JSON line."""

    def ready(url: str) -> None:
        sys.stdout.write(json.dumps({"url": url}) + "\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve(ready=ready)


if __name__ == "__main__":
    main()
