"""A fake OpenAI-compatible server: real HTTP/1.1 on loopback, in llama.cpp's or vLLM's dialect.

The llama.cpp flavour follows llama.cpp's own server as run from the xllamacpp 2026.10 wheel
(the realmodel tests' engine; compared by hand: routes, which need the API key, error bodies,
chunk shapes and key order, /v1/models, /props); the vLLM flavour follows vLLM's OpenAI
entrypoint source. Error bodies: llama.cpp ``{"error": {"message", "type", "code"}}`` from its
HTTP layer and ``{"error": {"code", "message", "type", ...}}`` for request errors; vLLM
``{"error": {"message", "type", "param", "code"}}`` and FastAPI's ``{"detail": "Not Found"}``.
Streams are compact JSON SSE chunks with chunked transfer encoding, the usage chunk when
``stream_options.include_usage`` asks, llama.cpp's ``timings`` on the last chunk. The prompt
cache is simulated: the common prefix of this request's prompt with the previous one counts as
cached tokens. Every request is recorded for assertions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .replies import TERMINAL_STEPS, Reply, as_reply, replies_from_json, streamed_call_count

logger = logging.getLogger(__name__)

Flavor = Literal["llamacpp", "vllm"]
FLAVORS: tuple[Flavor, ...] = ("llamacpp", "vllm")
BUILD_INFO = "b7321-0c1e3f5a"
VLLM_VERSION = "0.11.2"
# Generation speed behind the default timings: 40 tokens/s; prefill 400 tokens/s.
_MS_PER_TOKEN = 25.0
_MS_PER_PROMPT_TOKEN = 2.5
_VLLM_BLOCK = 16
_POLL = 0.02
_CREATED = 1_764_547_200


@dataclass
class FakeServedModel:
    """One served model and what the server tells about it."""

    id: str
    n_params: int = 1_543_714_304
    size: int = 1_117_320_768
    n_ctx_train: int = 32768
    max_model_len: int | None = 32768
    """vLLM's --max-model-len, reported in /v1/models (None: left out, as proxies do)."""

    @classmethod
    def from_json(cls, spec: Mapping[str, Any] | str) -> FakeServedModel:
        """Read ``"name"`` or ``{"id", "n_params"?, "size"?, "n_ctx_train"?, "max_model_len"?}``."""
        if isinstance(spec, str):
            return cls(spec)
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            known = sorted(cls.__dataclass_fields__)
            raise ValueError(f"unknown model keys {sorted(unknown)}; known: {known}")
        return cls(**dict(spec))


DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass
class RecordedRequest:
    """One request the fake received; ``headers`` keys are lower-case, ``query`` is parsed."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)
    received_at: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        """The request as JSON (for the control API)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        }


def compact_json(value: Any) -> bytes:
    """Serialise like nlohmann::json dump(-1) and pydantic's model_dump_json: compact UTF-8."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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


class FakeOpenAI:
    """Fake OpenAI-compatible server; use as a context manager or call ``start()``/``stop()``.

    ``flavor="llamacpp"``: one model answering to any name, ``/props`` with ``n_ctx``, routes
    with and without ``/v1``, ``timings`` on the last chunk. ``flavor="vllm"``: only ``/v1``
    routes, unknown models are 404, ``max_model_len`` in ``/v1/models``, ``/version``.
    """

    def __init__(
        self,
        flavor: Flavor = "llamacpp",
        *,
        models: Iterable[FakeServedModel | Mapping[str, Any] | str] | None = None,
        api_key: str | None = None,
        n_ctx: int = 8192,
        jinja: bool = True,
        chat_template_caps: Mapping[str, Any] | None = None,
        cache_prompt: bool | None = None,
        reasoning_field: str | None = None,
        prompt_tokens_details: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        replies: Iterable[Reply | Mapping[str, Any] | str] = (),
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {FLAVORS}, got {flavor!r}")
        self.flavor: Flavor = flavor
        self.api_key = api_key
        self.n_ctx = n_ctx
        """llama.cpp's per-slot context (``-c`` with one slot)."""
        self.jinja = jinja
        """llama-server --jinja: without it, requests with ``tools`` are refused."""
        self.chat_template_caps: dict[str, Any] | None = (
            dict(chat_template_caps)
            if chat_template_caps is not None
            else {
                "supports_object_arguments": True,
                "supports_parallel_tool_calls": True,
                "supports_preserve_reasoning": False,
                "supports_reasoning_effort": False,
                "supports_string_content": True,
                "supports_system_role": True,
                "supports_tool_calls": True,
                "supports_tools": True,
                "supports_typed_content": False,
            }
        )
        self.cache_prompt = cache_prompt
        """Reported in /props default_generation_settings.params when not None."""
        self.reasoning_field = reasoning_field or "reasoning_content"
        self.prompt_tokens_details = prompt_tokens_details or flavor == "llamacpp"
        """vLLM --enable-prompt-tokens-details: usage carries cached_tokens (llama.cpp always)."""
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._models: list[FakeServedModel] = []
        self.set_models([DEFAULT_MODEL] if models is None else models)
        self._queue: deque[Reply] = deque(as_reply(r) for r in replies)
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._gates: dict[str, threading.Event] = {}
        self._last_prompt = ""
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Bind the port and serve in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai"
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
                logger.warning("fake OpenAI handler thread %s did not stop", thread.name)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
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
            raise RuntimeError("the fake OpenAI server is not started; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to put in ``baseUrl``: the root plus ``/v1``."""
        return self.root_url + "/v1"

    # -- scripting ----------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | Mapping[str, Any] | str) -> FakeOpenAI:
        """Queue replies for the next chat requests, in order (a str is a text answer)."""
        parsed = [as_reply(r) for r in replies]
        with self._lock:
            self._queue.extend(parsed)
        return self

    @property
    def pending_replies(self) -> int:
        """Scripted replies not yet played."""
        with self._lock:
            return len(self._queue)

    def set_models(self, models: Iterable[FakeServedModel | Mapping[str, Any] | str]) -> None:
        """Replace the served models (llama.cpp serves the first one under any name)."""
        parsed = [
            m if isinstance(m, FakeServedModel) else FakeServedModel.from_json(m) for m in models
        ]
        if not parsed:
            raise ValueError("a server serves at least one model")
        with self._lock:
            self._models = parsed

    def open_gate(self, name: str) -> None:
        """Let replies waiting at ``gate(name)`` go on (also ones that reach it later)."""
        with self._lock:
            gate = self._gates.setdefault(name, threading.Event())
        gate.set()

    def reset(self) -> None:
        """Forget queued replies, recorded requests, disconnects, gates and the prompt cache."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._disconnects = 0
            for gate in self._gates.values():
                gate.set()
            self._gates.clear()
            self._last_prompt = ""
            self._changed.notify_all()

    # -- observation --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received so far (not the /_fake control calls)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat requests received so far, without warm-ups (see ``warm_requests``)."""
        chats = (r for r in self.requests if r.path.endswith("/chat/completions"))
        return [r for r in chats if not is_warm_up(r.body)]

    @property
    def warm_requests(self) -> list[RecordedRequest]:
        """Chat requests that only warm the prompt cache: no user message (the agent's warm
        start). They are answered with one token and take no scripted reply."""
        chats = (r for r in self.requests if r.path.endswith("/chat/completions"))
        return [r for r in chats if is_warm_up(r.body)]

    @property
    def last_chat(self) -> dict[str, Any]:
        """JSON body of the latest chat completions request."""
        chats = self.chat_requests
        if not chats:
            raise AssertionError("the fake OpenAI server has received no chat request")
        body = chats[-1].body
        assert isinstance(body, dict), f"the last chat body was not an object: {body!r}"
        return body

    @property
    def disconnects(self) -> int:
        """How many times a client went away while a reply was still being played."""
        with self._lock:
            return self._disconnects

    def wait_for_disconnects(self, n: int = 1, timeout: float = 10.0) -> int:
        """Block until ``n`` client disconnects were noticed mid-reply; return the count."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._disconnects >= n, timeout):
                raise TimeoutError(
                    f"fake OpenAI server saw {self._disconnects} of {n} client disconnects "
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

    def _model_list(self) -> list[FakeServedModel]:
        with self._lock:
            return list(self._models)

    def _cached_prefix(self, prompt: str) -> int:
        """Characters of ``prompt`` the previous request left in the cache; remembers it."""
        with self._lock:
            previous, self._last_prompt = self._last_prompt, prompt
        common = 0
        limit = min(len(previous), len(prompt))
        while common < limit and previous[common] == prompt[common]:
            common += 1
        return common

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
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's default prints to stdout, which is the LSP channel in e2e tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.fake._stopping.is_set():
            logger.debug("fake OpenAI: connection from %s ended: %r", client_address, exc)
        else:
            logger.exception("fake OpenAI failed on a request from %s", client_address)


# Routes that need no API key (llama.cpp's real server guards /v1/models too; vLLM guards /v1).
_LLAMA_PUBLIC = {"/health", "/v1/health", "/"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    sys_version = ""

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return "llama.cpp" if self.fake.flavor == "llamacpp" else "uvicorn"

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
        logger.debug("fake OpenAI: " + format, *args)

    # -- plumbing -----------------------------------------------------------------------------

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
        self._send(status, compact_json(value), "application/json; charset=utf-8")

    def _error(self, status: int, message: str, kind: str, **extra: Any) -> None:
        """The flavour's JSON error body."""
        if self.fake.flavor == "llamacpp" and status in (401, 404):
            # The HTTP layer's errors, in that order; request errors put the code first.
            error: dict[str, Any] = {"message": message, "type": kind, "code": status}
        elif self.fake.flavor == "llamacpp":
            error = {"code": status, "message": message, "type": kind, **extra}
        else:
            error = {"message": message, "type": kind, "param": extra.get("param"), "code": status}
        self._send_json(status, {"error": error})

    def _not_found(self) -> None:
        if self.fake.flavor == "llamacpp":
            self._error(404, "File Not Found", "not_found_error")
        else:
            self._send_json(404, {"detail": "Not Found"})

    def _authorised(self, path: str) -> bool:
        key = self.fake.api_key
        if key is None:
            return True
        if self.fake.flavor == "llamacpp" and path in _LLAMA_PUBLIC:
            return True
        if self.fake.flavor == "vllm" and not path.startswith("/v1"):
            return True
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer "):
            given = given[len("Bearer ") :]
        if given == key:
            return True
        if self.fake.flavor == "llamacpp":
            self._error(401, "Invalid API Key", "authentication_error")
        else:
            self._send_json(401, {"error": "Unauthorized"})
        return False

    # -- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        raw = self._read_body() if self.command == "POST" else b""
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith("/_fake/"):
            self._control(path, raw)
            return
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(parts.query)
        self.fake._record(RecordedRequest(self.command, path, headers, body, raw, query))
        if not self._authorised(path):
            return
        route = (self.command if self.command != "HEAD" else "GET", path)
        llama = self.fake.flavor == "llamacpp"
        if route[1] in ("/health", "/v1/health") and route[0] == "GET":
            self._send_json(200, {"status": "ok"} if llama else {})
        elif route == ("GET", "/v1/models") or (llama and route == ("GET", "/models")):
            self._send_json(200, self._models_body())
        elif llama and route == ("GET", "/props"):
            self._send_json(200, self._props_body())
        elif not llama and route == ("GET", "/version"):
            self._send_json(200, {"version": VLLM_VERSION})
        elif route == ("POST", "/v1/chat/completions") or (
            llama and route == ("POST", "/chat/completions")
        ):
            self._chat(raw, body)
        else:
            self._not_found()

    # -- control API --------------------------------------------------------------------------

    def _control(self, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
            if (self.command, path) == ("POST", "/_fake/enqueue"):
                self.fake.enqueue(*replies_from_json(body))
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
                self._send_json(404, {"error": f"no control route {path}"})
        except (ValueError, KeyError, TypeError) as exc:
            self._send_json(400, {"error": f"bad control request to {path}: {exc}"})

    # -- metadata -----------------------------------------------------------------------------

    def _models_body(self) -> dict[str, Any]:
        models = self.fake._model_list()
        if self.fake.flavor == "llamacpp":
            model = models[0]
            return {
                # llama.cpp answers Ollama-style clients from the same route.
                "models": [
                    {
                        "name": model.id,
                        "model": model.id,
                        "modified_at": "",
                        "size": "",
                        "digest": "",
                        "type": "model",
                        "description": "",
                        "tags": [""],
                        "capabilities": ["completion"],
                        "parameters": "",
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": "",
                            "families": [""],
                            "parameter_size": "",
                            "quantization_level": "",
                        },
                    }
                ],
                "object": "list",
                "data": [
                    {
                        "id": model.id,
                        "aliases": [model.id],
                        "tags": [],
                        "object": "model",
                        "architecture": {
                            "input_modalities": ["text"],
                            "output_modalities": ["text"],
                        },
                        "created": _CREATED,
                        "owned_by": "llamacpp",
                        "meta": {
                            "vocab_type": 2,
                            "n_vocab": 151936,
                            "n_ctx": self.fake.n_ctx,
                            "n_ctx_train": model.n_ctx_train,
                            "n_embd": 1536,
                            "n_params": model.n_params,
                            "size": model.size,
                            "ftype": "Q4_K - Medium",
                        },
                    }
                ],
            }
        return {
            "object": "list",
            "data": [
                {
                    "id": model.id,
                    "object": "model",
                    "created": _CREATED,
                    "owned_by": "vllm",
                    "root": model.id,
                    "parent": None,
                    **(
                        {"max_model_len": model.max_model_len}
                        if model.max_model_len is not None
                        else {}
                    ),
                    "permission": [
                        {
                            "id": f"modelperm-{n:032x}",
                            "object": "model_permission",
                            "created": _CREATED,
                            "allow_create_engine": False,
                            "allow_sampling": True,
                            "allow_logprobs": True,
                            "allow_search_indices": False,
                            "allow_view": True,
                            "allow_fine_tuning": False,
                            "organization": "*",
                            "group": None,
                            "is_blocking": False,
                        }
                    ],
                }
                for n, model in enumerate(models)
            ],
        }

    def _props_body(self) -> dict[str, Any]:
        fake = self.fake
        model = fake._model_list()[0]
        params: dict[str, Any] = {
            "n_predict": -1,
            "seed": 4294967295,
            "temperature": 0.800000011920929,
            "top_k": 40,
            "top_p": 0.949999988079071,
            "min_p": 0.05000000074505806,
            "max_tokens": -1,
            "n_keep": 0,
            "stream": True,
            "timings_per_token": False,
        }
        if fake.cache_prompt is not None:
            # The real server does not report it (its --cache-prompt default is on); others may.
            params["cache_prompt"] = fake.cache_prompt
        props: dict[str, Any] = {
            "default_generation_settings": {"n_ctx": fake.n_ctx, "params": params},
            "total_slots": 1,
            "model_alias": model.id,
            "model_ftype": "Q4_K - Medium",
            "model_path": f"/models/{model.id}.gguf",
            "modalities": {"vision": False, "video": False, "audio": False},
            "media_marker": "<__media_0000000000000000000000000000000__>",
            "endpoint_slots": True,
            "endpoint_props": False,
            "endpoint_metrics": False,
            "ui": True,
            "ui_settings": {},
            "chat_template": "{%- if tools %}...{%- endif %}",
        }
        if fake.jinja and fake.chat_template_caps is not None:
            props["chat_template_caps"] = fake.chat_template_caps
        props.update(
            {
                "bos_token": "<|endoftext|>",
                "eos_token": "<|im_end|>",
                "build_info": BUILD_INFO,
                "is_sleeping": False,
                "cors_proxy_enabled": False,
            }
        )
        return props

    # -- chat ---------------------------------------------------------------------------------

    def _chat(self, raw: bytes, body: Any) -> None:
        fake = self.fake
        llama = fake.flavor == "llamacpp"
        if not isinstance(body, dict):
            kind = "invalid_request_error" if llama else "BadRequestError"
            self._error(400, "the request body is not a JSON object", kind)
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            kind = "invalid_request_error" if llama else "BadRequestError"
            self._error(400, "'messages' is required and must be a non-empty array", kind)
            return
        model_name = str(body.get("model") or "")
        served = fake._model_list()
        if llama:
            model = served[0]  # one loaded model, whatever the request names
        else:
            found = next((m for m in served if m.id == model_name), None)
            if found is None:
                self._error(
                    404, f"The model `{model_name}` does not exist.", "NotFoundError", param="model"
                )
                return
            model = found
        if body.get("tools") and llama and not fake.jinja:
            # llama.cpp throws a runtime_error here, which its handler turns into a 500.
            self._error(500, "tools param requires --jinja flag", "server_error")
            return
        prompt = compact_json(body.get("tools") or []).decode() + compact_json(messages).decode()
        prompt_tokens = max(1, len(prompt) // 4)
        max_tokens = body.get("max_tokens") if isinstance(body.get("max_tokens"), int) else 0
        if llama and prompt_tokens >= fake.n_ctx:
            self._error(
                400,
                f"request ({prompt_tokens} tokens) exceeds the available context size "
                f"({fake.n_ctx} tokens), try increasing it",
                "exceed_context_size_error",
                n_prompt_tokens=prompt_tokens,
                n_ctx=fake.n_ctx,
            )
            return
        limit = model.max_model_len
        if not llama and limit is not None and prompt_tokens + max_tokens > limit:
            self._error(
                400,
                f"This model's maximum context length is {limit} tokens. However, "
                f"your request has {prompt_tokens} input tokens. Please reduce the length of the "
                "input messages.",
                "BadRequestError",
            )
            return
        cached = min(fake._cached_prefix(prompt) // 4, prompt_tokens - 1)
        if not llama:
            cached -= cached % _VLLM_BLOCK
        reply = Reply.say(".") if is_warm_up(body) else fake._next_reply()
        if reply.body is not None or reply.text is not None or reply.status != 200:
            self._whole(reply)
            return
        if reply.steps[:1] == [{"type": "refuse"}]:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        player = _Player(self, reply, model_name or model.id, prompt_tokens, cached, include_usage)
        try:
            player.play()
        except _ClientGone:
            fake._note_disconnect()
            self.close_connection = True
        except _Stopping:
            self.close_connection = True

    def _whole(self, reply: Reply) -> None:
        if reply.text is not None:
            content_type = reply.content_type or "text/plain; charset=utf-8"
            self._send(reply.status, reply.text.encode("utf-8"), content_type)
        else:
            self._send_json(reply.status, reply.body if reply.body is not None else {})

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
                self.fake._stopping.wait(step)


class _Player:
    """Plays one scripted reply as an SSE stream in the flavour's chunk shapes."""

    def __init__(
        self,
        handler: _Handler,
        reply: Reply,
        model: str,
        prompt_tokens: int,
        cached_tokens: int,
        include_usage: bool,
    ) -> None:
        self.handler = handler
        self.fake = handler.fake
        self.reply = reply
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.cached_tokens = cached_tokens
        self.include_usage = include_usage
        self.llama = self.fake.flavor == "llamacpp"
        self.id = f"chatcmpl-{abs(hash((time.monotonic_ns(), model))) % 10**24:024d}"
        self.created = int(time.time())
        self.generated = 0
        self.headers_sent = False
        self.pending = b""

    def play(self) -> None:
        steps = list(self.reply.steps)
        if not any(step["type"] in TERMINAL_STEPS for step in steps):
            reason = "tool_calls" if streamed_call_count(steps) else "stop"
            steps.append({"type": "finish", "reason": reason, "done": True})
        self._event(self._chunk({"role": "assistant", "content": None if self.llama else ""}))
        for step in steps:
            kind = step["type"]
            if kind == "delta":
                self._event(self._chunk(self._rename(dict(step.get("delta") or {}))))
            elif kind == "finish":
                self._finish(step)
                return
            elif kind == "error":
                self._error_event(step)
                self._end()
                return
            elif kind == "end":
                self._end()
                return
            elif kind == "drop":
                self._drop()
                return
            elif kind == "raw":
                self._write(str(step.get("text", "")).encode("utf-8"))
            elif kind == "ping":
                self._write(b": ping" + self._eol() * 2)
            elif kind == "sleep":
                self._flush()
                self.handler.wait(float(step.get("seconds", 0)))
            elif kind == "gate":
                self._flush()
                self.handler.wait(None, self.fake._gate(str(step["name"])))
            elif kind == "hang":
                self._flush()
                self.handler.wait(None)
                return

    # -- chunks -------------------------------------------------------------------------------

    def _rename(self, delta: dict[str, Any]) -> dict[str, Any]:
        if "reasoning_content" in delta and self.fake.reasoning_field != "reasoning_content":
            delta[self.fake.reasoning_field] = delta.pop("reasoning_content")
        for key in ("content", "reasoning_content", "reasoning"):
            if isinstance(delta.get(key), str):
                self.generated += len(delta[key])
        for part in delta.get("tool_calls") or []:
            self.generated += len(json.dumps(part.get("function") or {}))
        return delta

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if self.llama:
            return {
                "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
                "created": self.created,
                "id": self.id,
                "model": self.model,
                "system_fingerprint": BUILD_INFO,
                "object": "chat.completion.chunk",
            }
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None}
        choice["finish_reason"] = finish
        if finish is not None:
            choice["stop_reason"] = None
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def _usage(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        completion = max(1, self.generated // 4)
        usage: dict[str, Any] = {
            "completion_tokens": completion,
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + completion,
        }
        if not self.llama:
            usage = {"prompt_tokens": self.prompt_tokens, **usage}
        if self.fake.prompt_tokens_details:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        elif not self.llama:
            usage["prompt_tokens_details"] = None
        usage.update(overrides or {})
        return usage

    def _timings(self, usage: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Any:
        prompt_n = int(usage["prompt_tokens"]) - self.cached_tokens
        predicted_n = int(usage["completion_tokens"])
        prompt_ms = prompt_n * _MS_PER_PROMPT_TOKEN
        predicted_ms = predicted_n * _MS_PER_TOKEN
        timings: dict[str, Any] = {
            "cache_n": self.cached_tokens,
            "prompt_n": prompt_n,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": _MS_PER_PROMPT_TOKEN,
            "prompt_per_second": 1000 / _MS_PER_PROMPT_TOKEN,
            "predicted_n": predicted_n,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": _MS_PER_TOKEN,
            "predicted_per_second": 1000 / _MS_PER_TOKEN,
        }
        timings.update(overrides or {})
        return timings

    def _finish(self, step: Mapping[str, Any]) -> None:
        reason = str(step.get("reason") or "stop")
        usage = self._usage(step.get("usage"))
        last = self._chunk({} if self.llama else {"content": ""}, reason)
        if self.include_usage:
            self._event(last)
            last = {
                "choices": [],
                "created": self.created,
                "id": self.id,
                "model": self.model,
                **({"system_fingerprint": BUILD_INFO} if self.llama else {}),
                "object": "chat.completion.chunk",
                "usage": usage,
            }
        if self.llama:
            last["timings"] = self._timings(usage, step.get("timings"))
        self._event(last)
        if step.get("done", True):
            self._write(b"data: [DONE]" + self._eol() * 2)
        self._end()

    def _error_event(self, step: Mapping[str, Any]) -> None:
        code = int(step.get("code", 500))
        message = str(step.get("message", ""))
        kind = str(step.get("error_type", "server_error"))
        if self.llama:
            error: dict[str, Any] = {"code": code, "message": message, "type": kind}
        else:
            error = {"message": message, "type": kind, "param": None, "code": code}
        self._event({"error": error})

    # -- writing ------------------------------------------------------------------------------

    def _eol(self) -> bytes:
        return self.reply.line_ending.encode("ascii")

    def _event(self, value: Any) -> None:
        self._write(b"data: " + compact_json(value) + self._eol() * 2)

    def _send_headers(self) -> None:
        if self.headers_sent:
            return
        self.headers_sent = True
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        try:
            handler.end_headers()
        except OSError as exc:
            raise _ClientGone from exc

    def _write(self, data: bytes) -> None:
        size = self.reply.write_size
        if size is None:
            self._send_chunk(data)
            return
        self.pending += data
        while len(self.pending) >= size:
            piece, self.pending = self.pending[:size], self.pending[size:]
            self._send_chunk(piece)

    def _flush(self) -> None:
        if self.pending:
            piece, self.pending = self.pending, b""
            self._send_chunk(piece)
        self._send_headers()

    def _send_chunk(self, data: bytes) -> None:
        self._send_headers()
        if not data:
            return
        try:
            self.handler.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _end(self) -> None:
        self._flush()
        try:
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()
        except OSError as exc:
            raise _ClientGone from exc

    def _drop(self) -> None:
        try:
            self._flush()
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.handler.close_connection = True
