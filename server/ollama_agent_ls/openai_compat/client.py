"""Async client for OpenAI-compatible chat completions (llama.cpp's server, vLLM, SGLang, LM Studio,
LiteLLM): the same ``ChatBackend`` surface and events as the Ollama client."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeGuard

import httpx

from ..ollama.errors import OllamaError
from ..ollama.models import (
    ChatDone,
    ChatEvent,
    ChatMetrics,
    ContentDelta,
    InstalledModel,
    Message,
    ModelInfo,
    ThinkingDelta,
    ToolCall,
    ToolCallsReceived,
)
from ..settings import Settings
from .errors import (
    AuthenticationFailed,
    ContextOverflow,
    EndpointNotFound,
    NotOpenAICompatible,
    ServedModelNotFound,
    ServerHTTPError,
    ServerProtocolError,
    ServerStreamDropped,
    ServerStreamError,
    ServerTimeout,
    ServerUnreachable,
    ToolsNotEnabled,
    is_context_overflow,
)
from .sse import SSEDecoder, SSEEvent

logger = logging.getLogger(__name__)

#: Context assumed when neither the server nor contextLength tells it.
UNKNOWN_CONTEXT_FALLBACK = 32768

# Sending a request body to a local server never takes long; a stuck write means a dead peer.
_WRITE_TIMEOUT = 60.0
_PREVIEW = 200

# Ollama option names (and the OpenAI names themselves) -> the chat completions field.
_OPTION_FIELDS: dict[str, str] = {
    "num_predict": "max_tokens",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}
# The body's options in a fixed order, so the same settings always give the same bytes.
_OPTION_ORDER = (
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
)
_MISSING_MODEL_WORDS = (
    "not found",
    "does not exist",
    "not exist",
    "invalid model",
    "unknown model",
    "no such model",
    "not served",
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def server_root(base_url: str) -> str:
    """The server's root URL: ``base_url`` without a trailing ``/v1`` (llama.cpp's /props)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def openai_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The chat completions fields for Ollama-style ``options``, and the names left out."""
    fields: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in options.items():
        target = _OPTION_FIELDS.get(name)
        if target is None:
            # num_ctx included: the server's own context applies and cannot be set per request.
            ignored.append(name)
            continue
        if target == "max_tokens" and isinstance(value, int) and value < 0:
            continue  # Ollama's -1/-2 mean "no limit", which is OpenAI's default
        fields[target] = value
    return {key: fields[key] for key in _OPTION_ORDER if key in fields}, ignored


def openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """``messages`` as chat completions messages, the same bytes for the same messages.

    Calls without an id get one from their position (``call_<message>_<call>``), and tool
    results without an id answer the earliest unanswered call, so a conversation serialises
    identically on every request and the server's prompt cache keeps matching its prefix.
    """
    wire: list[dict[str, Any]] = []
    unanswered: list[str] = []
    for position, message in enumerate(messages):
        if message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.thinking:
                # llama.cpp and vLLM read it back into the template; gpt-oss degrades without.
                entry["reasoning_content"] = message.thinking
            if message.tool_calls:
                calls = []
                unanswered = []
                for number, call in enumerate(message.tool_calls):
                    call_id = call.id or f"call_{position}_{number}"
                    unanswered.append(call_id)
                    arguments = json.dumps(call.arguments, ensure_ascii=False)
                    calls.append(
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": arguments},
                        }
                    )
                entry["tool_calls"] = calls
            wire.append(entry)
        elif message.role == "tool":
            answers = message.tool_call_id
            if answers is None:
                answers = unanswered.pop(0) if unanswered else f"call_{position}"
            elif answers in unanswered:
                unanswered.remove(answers)
            wire.append({"role": "tool", "tool_call_id": answers, "content": message.content})
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


class _NoResponse(Exception):
    """The server closed the connection before answering at all (headers included)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class OpenAIClient:
    """One connection pool to one OpenAI-compatible server, configured from ``Settings``."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        self._url = settings.base_url.rstrip("/")
        self._root = server_root(self._url)
        self._show_cache: dict[str, ModelInfo] = {}
        self._key = settings.resolved_api_key()
        options, ignored = openai_options(settings.options)
        self._options = options
        if ignored:
            logger.info(
                "Options without a chat completions field are not sent: %s", ", ".join(ignored)
            )
        headers = dict(settings.headers)
        if self._key:
            for name in [n for n in headers if n.lower() == "authorization"]:
                del headers[name]
            headers["Authorization"] = f"Bearer {self._key}"
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=_WRITE_TIMEOUT,
            pool=settings.connect_timeout,
        )
        self._bad_url: str | None = None
        try:
            self._http = httpx.AsyncClient(
                base_url=self._url + "/", headers=headers, timeout=timeout, transport=transport
            )
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            # Report it on first use, where every other connection problem is reported too.
            self._bad_url = self._redact(str(exc))
            self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        """The base URL requests go to (``baseUrl``, with /v1)."""
        return self._url

    @property
    def kind(self) -> str:
        """``"openai"``: this backend speaks chat completions."""
        return "openai"

    async def __aenter__(self) -> OpenAIClient:
        """Enter: the client is ready to use."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Exit: close the connection pool."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- metadata -----------------------------------------------------------------------------

    async def props(self, model: str | None = None) -> dict[str, Any] | None:
        """llama.cpp's ``GET /props`` at the server root; None from servers without it."""
        params = {"model": model} if model else None
        response = await self._request("GET", f"{self._root}/props", params=params)
        if response.status_code in (401, 403):
            raise self._status_error(response, None)
        if response.status_code != 200:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def prefix_cache(self) -> bool | None:
        """Whether the server says it reuses cached prompt prefixes (llama.cpp); None: unknown."""
        try:
            props = await self.props()
        except OllamaError as exc:
            logger.debug("No /props to tell prefix caching: %s", exc)
            return None
        if props is None:
            return None
        settings = props.get("default_generation_settings")
        for place in (settings, settings.get("params") if isinstance(settings, dict) else None):
            if isinstance(place, dict) and isinstance(place.get("cache_prompt"), bool):
                return bool(place["cache_prompt"])
        # llama.cpp's server caches the prompt unless a request says cache_prompt: false (its
        # default since 2024), and its /props does not list the flag; timings.cache_n shows it.
        return True

    async def version(self) -> str:
        """llama.cpp's build_info or vLLM's version ('' when the server does not say)."""
        try:
            props = await self.props()
        except AuthenticationFailed:
            # Reachable; show() and chat report the key problem with its fix.
            return ""
        if props is not None:
            return str(props.get("build_info") or "")
        response = await self._request("GET", f"{self._root}/version")
        if response.status_code != 200:
            return ""
        try:
            data = response.json()
        except ValueError:
            return ""
        return str(data.get("version") or "") if isinstance(data, dict) else ""

    async def tags(self) -> list[InstalledModel]:
        """The models the server serves (``GET /models``)."""
        models: list[InstalledModel] = []
        for entry in await self._model_entries():
            meta = entry.get("meta")
            size = meta.get("size") if isinstance(meta, dict) else None
            created = entry.get("created")
            models.append(
                InstalledModel(
                    name=str(entry.get("id") or ""),
                    size=size if _is_int(size) else 0,
                    modified_at=_iso(created) if _is_int(created) else "",
                )
            )
        return models

    async def show(self, model: str) -> ModelInfo:
        """Context window and tools support of ``model`` (cached per model)."""
        cached = self._show_cache.get(model)
        if cached is not None:
            return cached
        entries = await self._model_entries()
        entry = next((e for e in entries if _names(e, model)), None)
        props = await self.props(model)
        if entry is None:
            if props is None:
                raise ServedModelNotFound(model, self._url, [str(e.get("id")) for e in entries])
            # llama-server answers every request with its one model, whatever name is sent.
            logger.info("llama.cpp at %s serves its loaded model under any name", self._url)
            entry = entries[0] if len(entries) == 1 else None
        meta = entry.get("meta") if entry is not None else None
        meta = meta if isinstance(meta, dict) else {}
        info = ModelInfo(
            name=model,
            context_length=(
                _props_context(props)
                or _positive_int(meta.get("n_ctx"))
                or _positive_int((entry or {}).get("max_model_len"))
                or self._settings.context_length
            ),
            capabilities=_capabilities(props),
            parameter_size=_parameter_size(meta.get("n_params")),
            quantization=meta.get("ftype") if isinstance(meta.get("ftype"), str) else None,
        )
        self._show_cache[model] = info
        return info

    async def resolve_num_ctx(self, model: str) -> int:
        """The server's context for ``model``, else contextLength, else 32768."""
        info = await self.show(model)
        return info.context_length or self._settings.context_length or UNKNOWN_CONTEXT_FALLBACK

    # -- chat ---------------------------------------------------------------------------------

    def chat_body(
        self,
        *,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        num_ctx: int,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The JSON body ``chat_stream`` posts; ``num_ctx`` is not sent (the server's applies)."""
        body: dict[str, Any] = {"model": model, "messages": openai_messages(messages)}
        if tools:
            body["tools"] = list(tools)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        body.update(self._options)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return body

    def encode_body(
        self,
        *,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        num_ctx: int,
        max_tokens: int | None = None,
    ) -> bytes:
        """The exact bytes ``chat_stream`` posts: identical for identical arguments."""
        body = self.chat_body(
            model=model, messages=messages, tools=tools, num_ctx=num_ctx, max_tokens=max_tokens
        )
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def chat_stream(
        self,
        *,
        model: str,
        messages: Sequence[Message],
        tools: Sequence[dict[str, Any]],
        num_ctx: int,
        max_tokens: int | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """Stream one reply as events; wrap in ``contextlib.aclosing`` to stop early cleanly."""
        content = self.encode_body(
            model=model, messages=messages, tools=tools, num_ctx=num_ctx, max_tokens=max_tokens
        )
        self._check_url()
        for attempt in (1, 2):
            try:
                async for event in self._stream_once(model, content):
                    yield event
                return
            except _NoResponse as exc:
                if attempt == 2:
                    raise self._transport_error(exc.cause) from exc.cause
                # Nothing was answered, so nothing was generated for us: asking again is safe.
                logger.info("the server closed the connection without answering; retrying once")

    async def _stream_once(self, model: str, content: bytes) -> AsyncIterator[ChatEvent]:
        reply = _ReplyState(time.monotonic_ns(), self._redact)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        answered = False
        try:
            async with self._http.stream(
                "POST", "chat/completions", content=content, headers=headers
            ) as response:
                answered = True
                if response.status_code != 200:
                    await response.aread()
                    error = self._status_error(response, model)
                    if isinstance(error, ServedModelNotFound):
                        error = ServedModelNotFound(model, self._url, await self._served_names())
                    raise error
                kind = response.headers.get("content-type", "").lower()
                if "event-stream" not in kind and ("json" in kind or "html" in kind):
                    # A server that ignored stream:true, or a web page: read it whole.
                    await response.aread()
                    for event in reply.whole(self._json_object(response)):
                        yield event
                    return
                decoder = SSEDecoder(self._settings.stream_line_max_bytes)
                head = bytearray()
                async for chunk in response.aiter_bytes():
                    if len(head) < _PREVIEW:
                        head += chunk[: _PREVIEW - len(head)]
                    for sse in decoder.feed(chunk):
                        for event in reply.on_sse(sse):
                            yield event
                for sse in decoder.close():
                    for event in reply.on_sse(sse):
                        yield event
                if not reply.finished:
                    if not reply.seen_events and head.strip():
                        raise NotOpenAICompatible(
                            str(response.request.url),
                            self._redact(f"{_preview(bytes(head))} (not SSE)"),
                        )
                    for event in reply.at_end():
                        yield event
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if not answered and isinstance(exc, httpx.RemoteProtocolError):
                raise _NoResponse(exc) from exc
            if reply.finished:
                # The reply is complete; a hiccup while draining the connection is not an error.
                logger.debug("Ignoring a transport error after the reply ended: %r", exc)
                return
            if reply.finish_reason is not None:
                # Only the usage chunk and [DONE] were missing: the reply itself is whole.
                for event in reply.at_end():
                    yield event
                return
            raise self._transport_error(exc) from exc

    # -- plumbing -----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._key and len(self._key) >= 4:
            return text.replace(self._key, "***")
        return text

    def _check_url(self) -> None:
        if self._bad_url is not None:
            raise ServerUnreachable(self._url, f"invalid URL: {self._bad_url}")

    async def _request(
        self, method: str, url: str, *, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        self._check_url()
        try:
            return await self._http.request(method, url, params=params)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc) from exc

    async def _model_entries(self) -> list[dict[str, Any]]:
        response = await self._request("GET", "models")
        if response.status_code != 200:
            raise self._status_error(response, None)
        entries = self._json_object(response).get("data")
        if not isinstance(entries, list):
            raise NotOpenAICompatible(str(response.request.url), "JSON without a 'data' list")
        return [entry for entry in entries if isinstance(entry, dict)]

    async def _served_names(self) -> list[str]:
        try:
            return [str(entry.get("id")) for entry in await self._model_entries()]
        except OllamaError:
            return []

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        url = str(response.request.url)
        try:
            data = response.json()
        except ValueError as exc:
            raise NotOpenAICompatible(url, self._redact(_preview(response.content))) from exc
        if not isinstance(data, dict):
            raise NotOpenAICompatible(url, f"a JSON {type(data).__name__} instead of an object")
        return data

    def _transport_error(self, exc: Exception) -> OllamaError:
        settings = self._settings
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerUnreachable(self._url, f"no answer within {settings.connect_timeout:g} s")
        if isinstance(exc, httpx.PoolTimeout):
            return ServerTimeout(settings.connect_timeout)
        if isinstance(exc, httpx.TimeoutException):
            seconds = settings.read_timeout if isinstance(exc, httpx.ReadTimeout) else None
            return ServerTimeout(seconds if seconds is not None else _WRITE_TIMEOUT)
        detail = self._redact(str(exc)) or type(exc).__name__
        if isinstance(exc, (httpx.ConnectError, httpx.ProxyError)):
            return ServerUnreachable(self._url, detail)
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return ServerUnreachable(self._url, f"invalid URL, use http://host:port/v1 ({detail})")
        if isinstance(exc, httpx.DecodingError):
            return ServerProtocolError(
                f"The reply from {self._url} could not be decoded ({detail}). Check that "
                "baseUrl points at an OpenAI-compatible server."
            )
        return ServerStreamDropped(detail)

    def _status_error(self, response: httpx.Response, model: str | None) -> OllamaError:
        status = response.status_code
        message, kind = _error_message(response)
        message = self._redact(message)
        path = response.request.url.path
        if status in (401, 403):
            return AuthenticationFailed(status, message, self._url, key_sent=bool(self._key))
        if kind == "html" and status < 500 and status != 404:
            return NotOpenAICompatible(str(response.request.url), f"{message} (HTTP {status})")
        if is_context_overflow(message):
            return ContextOverflow(message, self._url, status)
        if model is not None and "--jinja" in message:
            return ToolsNotEnabled(model, message)
        if model and status in (400, 404) and kind == "json" and _says_missing(message, model):
            return ServedModelNotFound(model, self._url)
        if status == 404:
            return EndpointNotFound(self._url, path, message)
        return ServerHTTPError(status, message, self._url)


def _says_missing(message: str, model: str) -> bool:
    lowered = message.lower()
    if not any(word in lowered for word in _MISSING_MODEL_WORDS):
        return False
    return model.lower() in lowered or "model" in lowered


def _error_message(response: httpx.Response) -> tuple[str, str]:
    """The error text of a failed response and what it was: ``json``, ``html`` or ``text``."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]), "json"
        if isinstance(error, str) and error:
            return error, "json"
        for key in ("message", "detail"):  # vLLM before 0.10; FastAPI's own 404
            if data.get(key):
                return str(data[key]), "json"
        return json.dumps(data)[:500], "json"
    raw = response.content
    if "html" in response.headers.get("content-type", "").lower() or raw.lstrip()[:1] == b"<":
        return _preview(raw), "html"
    text = response.text.strip()
    return (text[:500] or response.reason_phrase or "no details"), "text"


def _preview(raw: bytes) -> str:
    """A short description of a body that should have been JSON, never a whole page."""
    stripped = raw.strip()
    if not stripped:
        return "an empty body"
    if stripped[:1] == b"<":
        match = _TITLE.search(stripped[:4000])
        if match:
            title = match.group(1).decode("utf-8", errors="replace").strip()[:100]
            return f"an HTML page titled {title!r}"
        return "an HTML page"
    text = stripped[:_PREVIEW].decode("utf-8", errors="replace")
    more = "..." if len(stripped) > _PREVIEW else ""
    return f"text that is not JSON ({text!r}{more})"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _positive_int(value: Any) -> int | None:
    return value if _is_int(value) and value > 0 else None


def _iso(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return ""


def _props_context(props: Mapping[str, Any] | None) -> int | None:
    if props is None:
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and _positive_int(settings.get("n_ctx")):
        return int(settings["n_ctx"])
    return _positive_int(props.get("n_ctx"))


def _capabilities(props: Mapping[str, Any] | None) -> tuple[str, ...]:
    caps = props.get("chat_template_caps") if props is not None else None
    if isinstance(caps, dict):
        for key in ("supports_tools", "supports_tool_calls"):
            if caps.get(key) is False:
                # The template cannot render tools: the loop describes them in the prompt.
                return ("completion",)
    return ("completion", "tools")


def _names(entry: Mapping[str, Any], model: str) -> bool:
    """True when a /models entry is ``model`` by its id or one of llama.cpp's aliases."""
    aliases = entry.get("aliases")
    return entry.get("id") == model or (isinstance(aliases, list) and model in aliases)


def _parameter_size(count: Any) -> str | None:
    """llama.cpp's ``meta.n_params`` the way Ollama writes sizes, e.g. ``1.5B``."""
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        return None
    if count >= 1_000_000_000:
        return f"{count / 1e9:.1f}B"
    if count >= 1_000_000:
        return f"{count / 1e6:.0f}M"
    return str(count)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message")
        return str(message) if message else json.dumps(error)[:500]
    return str(error)


@dataclass
class _PartialCall:
    index: int
    id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    given: dict[str, Any] | None = None
    """Arguments a server sent as an object instead of a JSON string."""

    def finish(self) -> ToolCall:
        text = "".join(self.pieces)
        arguments: dict[str, Any] = {}
        problem: str | None = None
        if self.given is not None and not text.strip():
            arguments = self.given
        elif text.strip():
            try:
                value = json.loads(text)
            except ValueError as exc:
                reason = getattr(exc, "msg", str(exc))
                position = getattr(exc, "pos", None)
                where = f" at character {position}" if position is not None else ""
                problem = (
                    f"The arguments of this {self.name or 'tool'} call are not valid JSON "
                    f"({reason}{where}): {text[:_PREVIEW]!r}. Send the call again with its "
                    "arguments as one valid JSON object."
                )
            else:
                if isinstance(value, dict):
                    arguments = value
                else:
                    problem = (
                        f"The arguments of this {self.name or 'tool'} call must be a JSON object, "
                        f"not {type(value).__name__} {text[:_PREVIEW]!r}. Send the call again "
                        'with its arguments as one JSON object, e.g. {"path": "src/app.py"}.'
                    )
        return ToolCall(
            name=self.name,
            arguments=arguments,
            id=self.id or None,
            index=self.index,
            parse_error=problem,
        )


class _ReplyState:
    """Turns the chunks of one streamed reply into events, the tool calls once at the end."""

    def __init__(self, started_ns: int, redact: Callable[[str], str]) -> None:
        self.started = started_ns
        self.redact = redact
        self.first_token: int | None = None
        self.last_token: int | None = None
        self.calls: dict[int, _PartialCall] = {}
        self.last_index: int | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.timings: dict[str, Any] | None = None
        self.finished = False
        self.done_marker = False
        self.seen_events = False

    def on_sse(self, sse: SSEEvent) -> list[ChatEvent]:
        """The events of one SSE event; nothing once the reply ended (the rest is drained)."""
        self.seen_events = True
        if self.finished:
            return []
        data = sse.data.strip()
        if data == "[DONE]":
            self.done_marker = True
            return self.at_end()
        if not data:
            return []
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ServerProtocolError(
                self.redact(
                    f"The server sent an event that is not JSON ({exc}): {data[:_PREVIEW]!r}. "
                    "Check that baseUrl points at an OpenAI-compatible server."
                )
            ) from exc
        if not isinstance(chunk, dict):
            raise ServerProtocolError(
                self.redact(
                    f"The server sent {data[:_PREVIEW]!r} where a JSON object was expected."
                )
            )
        if chunk.get("error") is not None or sse.event == "error":
            raise ServerStreamError(self.redact(_error_text(chunk.get("error", chunk))))
        return self.on_chunk(chunk)

    def on_chunk(self, chunk: Mapping[str, Any]) -> list[ChatEvent]:
        """The events of one ``chat.completion.chunk``."""
        events: list[ChatEvent] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage
        timings = chunk.get("timings")
        if isinstance(timings, dict):
            self.timings = timings
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # only one reply is asked for (n=1)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = choice.get("message")
            if isinstance(delta, dict):
                self._delta(delta, events)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self.finish_reason = reason
                events.extend(self._flush_calls())
        return events

    def whole(self, body: Mapping[str, Any]) -> list[ChatEvent]:
        """The events of a non-streamed ``chat.completion`` (a server that ignored stream)."""
        if body.get("error") is not None:
            raise ServerStreamError(self.redact(_error_text(body["error"])))
        choices = body.get("choices")
        if not isinstance(choices, list):
            raise ServerProtocolError(
                f"The server answered with JSON that is not a chat completion: "
                f"{json.dumps(body)[:_PREVIEW]!r}."
            )
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            calls = message.get("tool_calls") if isinstance(message, dict) else None
            if isinstance(calls, list):
                for number, call in enumerate(calls):
                    if isinstance(call, dict) and not _is_int(call.get("index")):
                        call["index"] = number
        events = self.on_chunk(body)
        return [*events, *self.at_end()]

    def at_end(self) -> list[ChatEvent]:
        """The stream ended: the pending calls and the one ``ChatDone``, or a dropped error."""
        if self.finished:
            return []
        if self.finish_reason is None and not self.done_marker:
            raise ServerStreamDropped("it ended the stream with no finish_reason and no [DONE]")
        events = self._flush_calls()
        events.append(ChatDone(self._metrics()))
        self.finished = True
        return events

    def _delta(self, delta: Mapping[str, Any], events: list[ChatEvent]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._token()
            events.append(ThinkingDelta(reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._token()
            events.append(ContentDelta(content))
        calls = delta.get("tool_calls")
        if isinstance(calls, list) and calls:
            self._token()
            for raw in calls:
                if isinstance(raw, dict):
                    self._call_delta(raw)

    def _token(self) -> None:
        now = time.monotonic_ns()
        if self.first_token is None:
            self.first_token = now
        self.last_token = now

    def _call_delta(self, raw: Mapping[str, Any]) -> None:
        index = raw.get("index")
        call_id = raw.get("id")
        if not _is_int(index):
            # Servers that leave index out: a new id starts a call, anything else continues one.
            known = any(call.id == call_id for call in self.calls.values())
            if isinstance(call_id, str) and call_id and not known:
                index = max(self.calls, default=-1) + 1
            else:
                index = self.last_index if self.last_index is not None else 0
        assert isinstance(index, int)
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = _PartialCall(index)
        self.last_index = index
        if isinstance(call_id, str) and call_id and not call.id:
            call.id = call_id
        function = raw.get("function")
        if not isinstance(function, dict):
            function = raw
        name = function.get("name")
        if isinstance(name, str) and name and name != call.name:
            call.name += name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.pieces.append(arguments)
        elif isinstance(arguments, dict):
            call.given = arguments

    def _flush_calls(self) -> list[ChatEvent]:
        if not self.calls:
            return []
        calls = tuple(self.calls[index].finish() for index in sorted(self.calls))
        self.calls = {}
        return [ToolCallsReceived(calls)]

    def _metrics(self) -> ChatMetrics:
        now = time.monotonic_ns()
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        prompt_count = int(prompt) if _is_int(prompt) else 0
        eval_count = int(completion) if _is_int(completion) else 0
        cached_count = int(cached) if _is_int(cached) else None
        # Measured here when the server gives no timings: time to first token, then generation.
        first, last = self.first_token, self.last_token
        prompt_duration = first - self.started if first is not None else 0
        eval_duration = last - first if first is not None and last is not None else 0
        timings = self.timings
        if timings is not None:
            prompt_n = _number(timings.get("prompt_n"))
            cache_n = _number(timings.get("cache_n"))
            if prompt_n is not None and prompt_n >= 0:
                prompt_count = int(prompt_n + max(cache_n or 0.0, 0.0))
                if cache_n is not None and cache_n >= 0:
                    cached_count = int(cache_n)
            prompt_ms = _number(timings.get("prompt_ms"))
            if prompt_ms is not None and prompt_ms >= 0:
                prompt_duration = int(prompt_ms * 1_000_000)
            predicted_n = _number(timings.get("predicted_n"))
            if predicted_n is not None and predicted_n >= 0:
                eval_count = int(predicted_n)
            predicted_ms = _number(timings.get("predicted_ms"))
            if predicted_ms is not None and predicted_ms >= 0:
                eval_duration = int(predicted_ms * 1_000_000)
        return ChatMetrics(
            done_reason=self.finish_reason or "stop",
            total_duration=now - self.started,
            prompt_eval_count=prompt_count,
            prompt_eval_duration=prompt_duration,
            eval_count=eval_count,
            eval_duration=eval_duration,
            cached_prompt_tokens=cached_count,
        )
