"""A fake Ollama: a real HTTP/1.1 server on loopback that plays scripted /api/chat replies.

It answers like Ollama (see /work/shared/reference/ollama-wire.md): NDJSON streamed with chunked
transfer encoding, one line per chunk, Go-style JSON escaping, the same validation errors and the
same plain-text 404 for unknown paths. Every request is recorded for assertions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .replies import METRIC_KEYS, Reply, as_reply, replies_from_json

logger = logging.getLogger(__name__)

DEFAULT_VERSION = "0.12.10"
# Real Ollama's default context when a request sends no num_ctx (v0.6.7+ on small GPUs).
DEFAULT_NUM_CTX = 4096
# Generation speed behind the default metrics: 40 tokens/s.
_NS_PER_TOKEN = 25_000_000
_POLL = 0.02


@dataclass
class FakeModel:
    """One installed model: its capabilities and (optionally) its trained context length."""

    name: str
    capabilities: tuple[str, ...] = ("completion", "tools")
    context_length: int | None = 32768
    architecture: str = "llama"
    parameter_size: str = "8.0B"
    quantization: str = "Q4_K_M"
    size: int = 4_920_000_000

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> FakeModel:
        """Read ``{"name", "capabilities"?, "context_length"?, "architecture"?...}``."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; known: {sorted(known)}")
        data = dict(spec)
        if "capabilities" in data:
            data["capabilities"] = tuple(data["capabilities"])
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The model as the JSON ``from_json`` reads."""
        return {
            "name": self.name,
            "capabilities": list(self.capabilities),
            "context_length": self.context_length,
            "architecture": self.architecture,
            "parameter_size": self.parameter_size,
            "quantization": self.quantization,
            "size": self.size,
        }


DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("qwen3:8b", ("completion", "tools", "thinking"), 40960, "qwen3", "8.2B"),
    FakeModel("qwen2.5-coder:7b", ("completion", "tools", "insert"), 32768, "qwen2", "7.6B"),
    FakeModel("llama3.1:8b", ("completion", "tools"), 131072, "llama", "8.0B"),
    FakeModel("deepseek-r1:8b", ("completion", "thinking"), 131072, "qwen3", "8.2B"),
    FakeModel("gemma3:4b", ("completion", "vision"), 131072, "gemma3", "4.3B"),
    # A custom GGUF import whose /api/show has an empty model_info.
    FakeModel("custom-gguf:latest", ("completion", "tools"), None, "llama", "7.2B"),
)


@dataclass
class RecordedRequest:
    """One request the fake received; ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    received_at: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (for the control API)."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
        }


def normalise_model(name: str) -> str:
    """Ollama's rule: a name without a tag means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def go_json(value: Any) -> bytes:
    """Serialise like Go's encoding/json: compact, raw UTF-8, HTML characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def is_warm_up(body: Any) -> bool:
    """A chat request with messages but no user message: a warm start of the prompt cache."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return False
    messages = body["messages"]
    return bool(messages) and not any(
        isinstance(m, dict) and m.get("role") == "user" for m in messages
    )


class _ClientGone(Exception):
    """The client closed its side while a reply was being played."""


class _Stopping(Exception):
    """The fake is shutting down; abandon the reply."""


class FakeOllama:
    """Fake Ollama server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        models: Iterable[FakeModel | Mapping[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = DEFAULT_VERSION,
        replies: Iterable[Reply | Mapping[str, Any] | str] = (),
    ) -> None:
        self.version = version
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._models: dict[str, FakeModel] = {}
        self.set_models(DEFAULT_MODELS if models is None else models)
        self._queue: deque[Reply] = deque(as_reply(r) for r in replies)
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._gates: dict[str, threading.Event] = {}
        self._loaded: dict[str, int] = {}
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeOllama:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-ollama"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut every open connection and join the handler threads."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
            threads = list(self._handler_threads)
            self._changed.notify_all()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        for thread in threads:
            thread.join(5)
            if thread.is_alive():
                logger.warning("fake Ollama handler thread %s did not stop", thread.name)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (ephemeral unless one was given)."""
        if self._server is None:
            raise RuntimeError("the fake Ollama is not started; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to put in ``ollamaUrl``."""
        return f"http://{self._host}:{self.port}"

    # -- scripting ----------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | Mapping[str, Any] | str) -> FakeOllama:
        """Queue replies for the next /api/chat requests, in order (a str is a text answer)."""
        parsed = [as_reply(r) for r in replies]
        with self._lock:
            self._queue.extend(parsed)
        return self

    @property
    def pending_replies(self) -> int:
        """Scripted replies not yet played."""
        with self._lock:
            return len(self._queue)

    def set_models(self, models: Iterable[FakeModel | Mapping[str, Any]]) -> None:
        """Replace the installed models."""
        parsed = [m if isinstance(m, FakeModel) else FakeModel.from_json(m) for m in models]
        with self._lock:
            self._models = {normalise_model(m.name): m for m in parsed}

    def open_gate(self, name: str) -> None:
        """Let replies waiting at ``gate(name)`` go on (also ones that reach it later)."""
        with self._lock:
            gate = self._gates.setdefault(name, threading.Event())
        gate.set()

    def reset(self) -> None:
        """Forget queued replies, recorded requests, disconnects, gates and loaded models."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._disconnects = 0
            for gate in self._gates.values():
                gate.set()
            self._gates.clear()
            self._loaded.clear()
            self._changed.notify_all()

    # -- observation --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every Ollama API request received so far (not the /_fake control calls)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat requests received so far, without warm-ups (see ``warm_requests``)."""
        return [r for r in self.requests if r.path == "/api/chat" and not is_warm_up(r.body)]

    @property
    def warm_requests(self) -> list[RecordedRequest]:
        """Chat requests that only warm the prompt cache: no user message (the agent's warm
        start). They are answered with one token and take no scripted reply."""
        return [r for r in self.requests if r.path == "/api/chat" and is_warm_up(r.body)]

    @property
    def last_chat(self) -> dict[str, Any]:
        """JSON body of the latest /api/chat request."""
        chats = self.chat_requests
        if not chats:
            raise AssertionError("the fake Ollama has received no /api/chat request")
        body = chats[-1].body
        assert isinstance(body, dict), f"the last /api/chat body was not an object: {body!r}"
        return body

    @property
    def disconnects(self) -> int:
        """How many times a client went away while a reply was still being played."""
        with self._lock:
            return self._disconnects

    def wait_for_requests(
        self, n: int, timeout: float = 10.0, path: str | None = None
    ) -> list[RecordedRequest]:
        """Block until ``n`` requests (to ``path`` if given) arrived; return them all."""

        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if path is None or r.path == path]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= n, timeout):
                got = len(matching())
                raise TimeoutError(
                    f"fake Ollama got {got} of {n} requests{f' to {path}' if path else ''} "
                    f"within {timeout:g} s"
                )
            return matching()

    def wait_for_disconnects(self, n: int = 1, timeout: float = 10.0) -> int:
        """Block until ``n`` client disconnects were noticed mid-reply; return the count."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._disconnects >= n, timeout):
                raise TimeoutError(
                    f"fake Ollama saw {self._disconnects} of {n} client disconnects "
                    f"within {timeout:g} s"
                )
            return self._disconnects

    # -- used by the handler ------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _note_disconnect(self) -> None:
        with self._changed:
            self._disconnects += 1
            self._changed.notify_all()

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        # An empty queue ends an agent loop with a plain answer instead of hanging it.
        return Reply.say("done")

    def _gate(self, name: str) -> threading.Event:
        with self._lock:
            return self._gates.setdefault(name, threading.Event())

    def _model(self, name: str) -> FakeModel | None:
        with self._lock:
            return self._models.get(normalise_model(name))

    def _model_list(self) -> list[FakeModel]:
        with self._lock:
            return list(self._models.values())

    def _set_loaded(self, model: str, num_ctx: int) -> None:
        with self._lock:
            self._loaded[normalise_model(model)] = num_ctx

    def _loaded_models(self) -> dict[str, int]:
        with self._lock:
            return dict(self._loaded)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._handler_threads.add(threading.current_thread())
            else:
                self._connections.discard(conn)
                self._handler_threads.discard(threading.current_thread())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's default prints to stdout, which is the LSP channel in e2e tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.fake._stopping.is_set():
            logger.debug("fake Ollama: connection from %s ended: %r", client_address, exc)
        else:
            logger.exception("fake Ollama failed on a request from %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "fake-ollama"
    sys_version = ""

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake Ollama: " + format, *args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, value: Any) -> None:
        self._send(status, go_json(value), "application/json; charset=utf-8")

    def _send_error_json(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    def _not_found(self) -> None:
        self._send_text(404, "404 page not found")

    # -- routing ------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _route(self) -> None:
        raw = self._read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        path = self.path.split("?", 1)[0]
        if path.startswith("/_fake/"):
            self._control(path, raw)
            return
        body: Any = None
        body_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                body_error = _go_syntax_error(raw, exc)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(RecordedRequest(self.command, path, headers, body, raw))
        route = (self.command, path)
        if route in (("GET", "/"), ("HEAD", "/")):
            self._send_text(200, "Ollama is running")
        elif route in (("GET", "/api/version"), ("HEAD", "/api/version")):
            self._send_json(200, {"version": self.fake.version})
        elif route in (("GET", "/api/tags"), ("HEAD", "/api/tags")):
            self._send_json(200, {"models": [_tag(m) for m in self.fake._model_list()]})
        elif route in (("GET", "/api/ps"), ("HEAD", "/api/ps")):
            self._send_json(200, {"models": self._ps()})
        elif route == ("POST", "/api/show"):
            self._show(raw, body, body_error)
        elif route == ("POST", "/api/chat"):
            self._chat(raw, body, body_error)
        else:
            self._not_found()

    # -- control API --------------------------------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
            if (self.command, path) == ("POST", "/_fake/enqueue"):
                replies = replies_from_json(body)
                self.fake.enqueue(*replies)
                self._send_json(200, {"queued": self.fake.pending_replies})
            elif (self.command, path) == ("GET", "/_fake/requests"):
                self._send_json(
                    200,
                    {
                        "requests": [r.to_json() for r in self.fake.requests],
                        "disconnects": self.fake.disconnects,
                        "pending_replies": self.fake.pending_replies,
                    },
                )
            elif (self.command, path) == ("POST", "/_fake/reset"):
                self.fake.reset()
                self._send_json(200, {"ok": True})
            elif (self.command, path) == ("POST", "/_fake/gate"):
                self.fake.open_gate(str((body or {})["name"]))
                self._send_json(200, {"ok": True})
            elif (self.command, path) == ("POST", "/_fake/models"):
                self.fake.set_models(body["models"] if isinstance(body, dict) else body or [])
                self._send_json(200, {"ok": True})
            else:
                self._not_found()
        except (ValueError, KeyError, TypeError) as exc:
            self._send_error_json(400, f"bad control request to {path}: {exc}")

    # -- metadata -----------------------------------------------------------------------------

    def _show(self, raw: bytes, body: Any, body_error: str | None) -> None:
        if not raw:
            self._send_error_json(400, "missing request body")
            return
        if body_error is not None or not isinstance(body, dict):
            self._send_error_json(400, body_error or "invalid request body")
            return
        name = body.get("model") or body.get("name") or ""
        if not isinstance(name, str) or not name:
            self._send_error_json(400, "model is required")
            return
        model = self.fake._model(name)
        if model is None:
            self._send_error_json(404, f"model '{name}' not found")
            return
        self._send_json(200, _show(model))

    def _ps(self) -> list[dict[str, Any]]:
        loaded = self.fake._loaded_models()
        entries = []
        for model in self.fake._model_list():
            key = normalise_model(model.name)
            if key in loaded:
                entry = _tag(model)
                entry.pop("modified_at", None)
                entry.pop("capabilities", None)
                entry.update(
                    {
                        "expires_at": "2099-01-01T00:00:00Z",
                        "size_vram": model.size,
                        "context_length": loaded[key],
                    }
                )
                entries.append(entry)
        return entries

    # -- chat ---------------------------------------------------------------------------------

    def _chat(self, raw: bytes, body: Any, body_error: str | None) -> None:
        problem = _chat_problem(raw, body, body_error, self.fake)
        if problem is not None:
            self._send_error_json(*problem)
            return
        assert isinstance(body, dict)
        model = body["model"]
        options = body.get("options") or {}
        self.fake._set_loaded(model, int(options.get("num_ctx") or DEFAULT_NUM_CTX))
        if not body.get("messages"):
            # Ollama answers an empty conversation by just loading the model.
            line = {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done_reason": "load",
                "done": True,
            }
            self._send(200, go_json(line) + b"\n", "application/x-ndjson")
            return
        reply = Reply.say(".") if is_warm_up(body) else self.fake._next_reply()
        if reply.status != 200:
            if reply.text is not None:
                self._send_text(reply.status, reply.text)
            else:
                self._send_error_json(reply.status, reply.error or "scripted error")
            return
        player = _Player(self, reply, body)
        try:
            if body.get("stream", True) is False:
                player.play_whole()
            else:
                player.play_stream()
        except _ClientGone:
            self.fake._note_disconnect()
            self.close_connection = True
        except _Stopping:
            self.close_connection = True

    # -- waiting ------------------------------------------------------------------------------

    def wait(self, seconds: float | None, gate: threading.Event | None = None) -> None:
        """Sleep ``seconds`` (None: for ever) or until ``gate``; raise if the client leaves."""
        deadline = None if seconds is None else time.monotonic() + seconds
        sock = self.connection
        while True:
            if self.fake._stopping.is_set():
                raise _Stopping
            if gate is not None and gate.is_set():
                return
            step = _POLL
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                step = min(step, remaining)
            readable, _, _ = select.select([sock], [], [], step)
            if readable:
                try:
                    data = sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    raise _ClientGone
                # The client sent more bytes (a pipelined request): not a disconnect.
                self.fake._stopping.wait(step)


class _Player:
    """Plays one scripted reply to one /api/chat request."""

    def __init__(self, handler: _Handler, reply: Reply, body: dict[str, Any]) -> None:
        self.handler = handler
        self.reply = reply
        self.model: str = body["model"]
        prompt = json.dumps(body.get("messages") or []) + json.dumps(body.get("tools") or [])
        # Messages plus tool definitions, like the real prompt: never below a client's estimate
        # unless a test scripts truncation.
        self.prompt_tokens = max(1, len(prompt) // 4)
        self.generated_chars = 0
        self.started = time.monotonic_ns()
        self.headers_sent = False

    # -- streaming ----------------------------------------------------------------------------

    def play_stream(self) -> None:
        for step in self.reply.steps:
            kind = step["type"]
            if kind == "chunk":
                self._write_line(self._line(step, done=False))
            elif kind == "done":
                self._write_line(self._line(step, done=True))
                self._end()
                return
            elif kind == "error":
                self._write_line({"error": step.get("message", "")})
                self._end()
                return
            elif kind == "drop":
                self._drop()
                return
            else:
                self._wait(step)
        self._write_line(self._line({"type": "done"}, done=True))
        self._end()

    def _wait(self, step: Mapping[str, Any]) -> None:
        kind = step["type"]
        if kind == "sleep":
            self.handler.wait(float(step.get("seconds", 0)))
        elif kind == "gate":
            self.handler.wait(None, self.handler.fake._gate(str(step["name"])))
        elif kind == "hang":
            self.handler.wait(None)

    def _send_headers(self) -> None:
        # Like Ollama, headers go out with the first line: a slow model load delays them too.
        if self.headers_sent:
            return
        self.headers_sent = True
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        try:
            handler.end_headers()
        except OSError as exc:
            raise _ClientGone from exc

    def _write_line(self, line: Mapping[str, Any]) -> None:
        self._send_headers()
        data = go_json(line) + b"\n"
        try:
            self.handler.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _end(self) -> None:
        self._send_headers()
        try:
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _drop(self) -> None:
        try:
            self.handler.wfile.flush()
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.handler.close_connection = True

    def _line(self, step: Mapping[str, Any], *, done: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": step.get("content", "")}
        if step.get("thinking"):
            message["thinking"] = step["thinking"]
        if step.get("tool_calls"):
            message["tool_calls"] = step["tool_calls"]
        self.generated_chars += (
            len(message["content"])
            + len(message.get("thinking", ""))
            + (len(json.dumps(message["tool_calls"])) if "tool_calls" in message else 0)
        )
        line: dict[str, Any] = {
            "model": self.model,
            "created_at": _now(),
            "message": message,
            "done": done,
        }
        if done:
            line["done_reason"] = step.get("done_reason", "stop")
            line.update(self._metrics(step))
        return line

    def _metrics(self, overrides: Mapping[str, Any]) -> dict[str, int]:
        eval_count = max(1, self.generated_chars // 4)
        prompt_eval_duration = self.prompt_tokens * 200_000
        metrics = {
            "total_duration": 0,
            "load_duration": 1_000_000,
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": prompt_eval_duration,
            "eval_count": eval_count,
            "eval_duration": eval_count * _NS_PER_TOKEN,
        }
        metrics.update({k: int(overrides[k]) for k in METRIC_KEYS if k in overrides})
        if "total_duration" not in overrides:
            busy = sum(
                metrics[k] for k in ("load_duration", "prompt_eval_duration", "eval_duration")
            )
            metrics["total_duration"] = max(time.monotonic_ns() - self.started, busy)
        return metrics

    # -- stream:false -------------------------------------------------------------------------

    def play_whole(self) -> None:
        content: list[str] = []
        thinking: list[str] = []
        calls: list[Any] = []
        final: Mapping[str, Any] = {"type": "done"}
        for step in self.reply.steps:
            kind = step["type"]
            if kind in ("chunk", "done"):
                content.append(step.get("content", ""))
                thinking.append(step.get("thinking", ""))
                calls.extend(step.get("tool_calls") or [])
                if kind == "done":
                    final = step
                    break
            elif kind == "error":
                self.handler._send_error_json(500, str(step.get("message", "")))
                return
            elif kind == "drop":
                self._drop()
                return
            else:
                self._wait(step)
        merged = {**final, "content": "".join(content), "thinking": "".join(thinking)}
        merged["tool_calls"] = calls
        self.handler._send_json(200, self._line(merged, done=True))


def _go_syntax_error(raw: bytes, exc: ValueError) -> str:
    position = getattr(exc, "pos", 0) or 0
    if position >= len(raw.rstrip()):
        return "unexpected EOF"
    char = raw[position : position + 1].decode("latin-1")
    return f"invalid character '{char}' looking for beginning of value"


def _chat_problem(
    raw: bytes, body: Any, body_error: str | None, fake: FakeOllama
) -> tuple[int, str] | None:
    """The (status, error) real Ollama would answer for an invalid /api/chat request."""
    if not raw:
        return 400, "missing request body"
    if body_error is not None:
        return 400, body_error
    if not isinstance(body, dict):
        kind = "array" if isinstance(body, list) else type(body).__name__
        return 400, f"json: cannot unmarshal {kind} into Go value of type api.ChatRequest"
    type_error = _chat_type_error(body)
    if type_error is not None:
        return 400, type_error
    name = body.get("model") or ""
    if not name:
        return 400, "model is required"
    options = body.get("options") or {}
    num_ctx = options.get("num_ctx")
    if num_ctx is not None and (not isinstance(num_ctx, int) or isinstance(num_ctx, bool)):
        return 500, 'option "num_ctx" must be of type integer'
    model = fake._model(name)
    if model is None:
        return 404, f"model '{name}' not found"
    if body.get("tools") and "tools" not in model.capabilities:
        return 400, f"registry.ollama.ai/library/{normalise_model(name)} does not support tools"
    think = body.get("think")
    if think not in (None, False) and "thinking" not in model.capabilities:
        return 400, f'"{name}" does not support thinking'
    return None


def _unmarshal(kind: Any, field_path: str, go_type: str) -> str:
    name = {str: "string", list: "array", dict: "object", bool: "bool"}.get(type(kind), "number")
    return f"json: cannot unmarshal {name} into Go struct field {field_path} of type {go_type}"


def _chat_type_error(body: dict[str, Any]) -> str | None:
    """Go's json error for the wrong types real clients most often send."""
    if not isinstance(body.get("model", ""), str):
        return _unmarshal(body["model"], "ChatRequest.model", "string")
    messages = body.get("messages")
    if messages is not None and not isinstance(messages, list):
        return _unmarshal(messages, "ChatRequest.messages", "[]api.Message")
    for message in messages or []:
        if not isinstance(message, dict):
            return _unmarshal(message, "ChatRequest.messages", "api.Message")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            return _unmarshal(content, "ChatRequest.messages.content", "string")
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                return _unmarshal(call, "ChatRequest.messages.tool_calls", "api.ToolCall")
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, dict):
                return _unmarshal(
                    arguments,
                    "ChatRequest.messages.tool_calls.function.arguments",
                    "api.ToolCallFunctionArguments",
                )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return _unmarshal(tools, "ChatRequest.tools", "api.Tools")
    for tool in tools or []:
        parameters = ((tool or {}).get("function") or {}).get("parameters") or {}
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if properties is not None and not isinstance(properties, dict):
            return _unmarshal(
                properties,
                "ChatRequest.tools.function.parameters.properties",
                "map[string]api.ToolProperty",
            )
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        return _unmarshal(options, "ChatRequest.options", "map[string]interface {}")
    return None


def _details(model: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.architecture,
        "families": [model.architecture],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization,
    }


def _tag(model: FakeModel) -> dict[str, Any]:
    name = normalise_model(model.name)
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-08-01T12:00:00.000000000Z",
        "size": model.size,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": _details(model),
        "capabilities": list(model.capabilities),
    }


def _show(model: FakeModel) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if model.context_length is not None:
        info = {
            "general.architecture": model.architecture,
            "general.parameter_count": 8_000_000_000,
            f"{model.architecture}.context_length": model.context_length,
            f"{model.architecture}.embedding_length": 4096,
        }
    template = "{{ .Prompt }}"
    if "tools" in model.capabilities:
        template = "{{- if .Tools }}<tools>{{ range .Tools }}{{ . }}{{ end }}</tools>{{ end }}"
    return {
        "license": "",
        "modelfile": f"FROM {model.name}\n",
        "parameters": 'stop "<|im_end|>"',
        "template": template,
        "details": _details(model),
        "model_info": info,
        "capabilities": list(model.capabilities),
        "modified_at": "2026-08-01T12:00:00.000000000Z",
    }


def models_from_json(spec: Sequence[Mapping[str, Any]]) -> list[FakeModel]:
    """Read a list of model specs."""
    return [FakeModel.from_json(m) for m in spec]
