"""Async client for Ollama's native API: streamed chat plus the metadata endpoints."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import httpx

from ..settings import Settings, normalise_ollama_host
from .errors import (
    ModelLacksTools,
    ModelNotFound,
    NotOllama,
    OllamaError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaStreamDropped,
    OllamaStreamError,
    OllamaTimeout,
    OllamaUnreachable,
    WrongOllamaUrl,
)
from .models import (
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
from .ndjson import NDJSONDecoder

logger = logging.getLogger(__name__)

#: Context assumed when /api/show does not tell the trained context length.
UNKNOWN_CONTEXT_FALLBACK = 32768


def num_ctx_for(settings: Settings, info: ModelInfo) -> int:
    """The ``num_ctx`` to send: ``settings.num_ctx``, else min(trained context, maxNumCtx)."""
    if settings.num_ctx is not None:
        return settings.num_ctx
    return min(info.context_length or UNKNOWN_CONTEXT_FALLBACK, settings.max_num_ctx)


# Sending a request body to a local server never takes long; a stuck write means a dead peer.
_WRITE_TIMEOUT = 60.0


class OllamaClient:
    """One connection pool to one Ollama server, configured from ``Settings``."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._settings = settings
        # The forms OLLAMA_HOST takes (host:port, a bare host) work wherever a URL is given.
        self._url = normalise_ollama_host(settings.ollama_url)
        self._show_cache: dict[str, ModelInfo] = {}
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=_WRITE_TIMEOUT,
            pool=settings.connect_timeout,
        )
        self._bad_url: str | None = None
        try:
            self._http = httpx.AsyncClient(
                base_url=self._url,
                headers=settings.headers,
                timeout=timeout,
                transport=transport,
            )
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            # Report it on first use, where every other connection problem is reported too.
            self._bad_url = str(exc)
            self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        """The Ollama base URL this client talks to."""
        return self._url

    @property
    def kind(self) -> str:
        """The API this client speaks."""
        return "ollama"

    async def __aenter__(self) -> OllamaClient:
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

    # -- metadata endpoints -------------------------------------------------------------------

    async def version(self) -> str:
        """The server's version string, e.g. ``0.12.10``."""
        data = self._json_object(await self._request("GET", "/api/version"))
        return str(data.get("version", ""))

    async def tags(self) -> list[InstalledModel]:
        """The models installed on the server."""
        data = self._json_object(await self._request("GET", "/api/tags"))
        models: list[InstalledModel] = []
        for entry in data.get("models") or []:
            if not isinstance(entry, dict):
                continue
            caps = entry.get("capabilities")
            models.append(
                InstalledModel(
                    name=str(entry.get("name") or entry.get("model") or ""),
                    size=_as_int(entry.get("size")),
                    modified_at=str(entry.get("modified_at") or ""),
                    capabilities=tuple(str(c) for c in caps) if isinstance(caps, list) else (),
                )
            )
        return models

    async def show(self, model: str) -> ModelInfo:
        """Capabilities and trained context length of ``model`` (cached per model)."""
        cached = self._show_cache.get(model)
        if cached is not None:
            return cached
        try:
            response = await self._request(
                "POST", "/api/show", payload={"model": model}, model=model
            )
        except ModelNotFound as exc:
            raise await self._model_not_found(model) from exc
        info = _model_info(model, self._json_object(response))
        self._show_cache[model] = info
        return info

    async def resolve_num_ctx(self, model: str) -> int:
        """``num_ctx_for`` this client's settings; asks /api/show only when numCtx is unset."""
        if self._settings.num_ctx is not None:
            return self._settings.num_ctx
        return num_ctx_for(self._settings, await self.show(model))

    async def prefix_cache(self) -> bool | None:
        """Ollama always reuses the longest cached prefix of a loaded model."""
        return True

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
        """The JSON body ``chat_stream`` posts to ``/api/chat``."""
        settings = self._settings
        body: dict[str, Any] = {
            "model": model,
            "messages": [message.to_wire() for message in messages],
            "stream": True,
            # num_ctx always goes out: Ollama's default is small and overflow is cut silently
            # from the front of the prompt, where the system prompt and tools are.
            "options": {**settings.options, "num_ctx": num_ctx},
            "keep_alive": settings.keep_alive,
        }
        if max_tokens is not None:
            body["options"]["num_predict"] = max_tokens
        if settings.think is not None:
            body["think"] = settings.think
        if tools:
            body["tools"] = list(tools)
        return body

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
        body = self.chat_body(
            model=model, messages=messages, tools=tools, num_ctx=num_ctx, max_tokens=max_tokens
        )
        self._check_url()
        done = False
        try:
            async with self._http.stream("POST", "/api/chat", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._status_error(response, model)
                decoder = NDJSONDecoder(self._settings.stream_line_max_bytes)
                feed = decoder.feed
                encoding = response.headers.get("content-encoding", "identity").lower()
                # Ollama never compresses; skipping httpx's decoder chain is measurably faster.
                chunks = (
                    response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
                )
                async for chunk in chunks:
                    for line in feed(chunk):
                        if done:
                            # Keep reading to the end so the connection can be reused.
                            logger.warning("Ignoring a line after Ollama's done line: %.200r", line)
                            continue
                        for event in _line_events(line):
                            yield event
                        if type(line) is dict and line.get("done"):
                            done = True
                for line in decoder.close():
                    if not done:
                        for event in _line_events(line):
                            yield event
                        done = bool(type(line) is dict and line.get("done"))
                if not done:
                    raise OllamaStreamDropped("the stream ended without Ollama's done line")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            if done:
                # The reply is complete; a hiccup while draining the connection is not an error.
                logger.debug("Ignoring a transport error after the done line: %r", exc)
                return
            raise self._transport_error(exc) from exc

    # -- plumbing -----------------------------------------------------------------------------

    async def _model_not_found(self, model: str) -> ModelNotFound:
        """ModelNotFound naming the installed models the user may have meant."""
        try:
            installed = [m.name for m in await self.tags()]
        except OllamaError:
            installed = []
        return ModelNotFound(model, self._url, installed)

    def _check_url(self) -> None:
        if self._bad_url is not None:
            raise OllamaUnreachable(self._url, f"invalid URL: {self._bad_url}")

    async def _request(
        self, method: str, path: str, *, payload: Any = None, model: str | None = None
    ) -> httpx.Response:
        self._check_url()
        try:
            response = await self._http.request(method, path, json=payload)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc) from exc
        if response.status_code != 200 and path != "/":
            raise self._status_error(response, model)
        return response

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            page = _web_page(response)
            if page is not None:
                raise NotOllama(self._url, response.status_code, page) from exc
            raise OllamaProtocolError(
                f"{response.request.url} did not answer with JSON ({response.text[:200]!r}). "
                "Check that ollamaUrl points at an Ollama server."
            ) from exc
        if not isinstance(data, dict):
            raise OllamaProtocolError(
                f"{response.request.url} answered with {type(data).__name__} instead of a JSON "
                "object. Check that ollamaUrl points at an Ollama server."
            )
        return data

    def _transport_error(self, exc: Exception) -> OllamaError:
        settings = self._settings
        if isinstance(exc, httpx.ConnectTimeout):
            return OllamaUnreachable(self._url, f"no answer within {settings.connect_timeout:g} s")
        if isinstance(exc, httpx.PoolTimeout):
            return OllamaTimeout(settings.connect_timeout)
        if isinstance(exc, httpx.TimeoutException):
            seconds = settings.read_timeout if isinstance(exc, httpx.ReadTimeout) else None
            return OllamaTimeout(seconds if seconds is not None else _WRITE_TIMEOUT)
        if isinstance(exc, (httpx.ConnectError, httpx.ProxyError)):
            return OllamaUnreachable(self._url, str(exc) or type(exc).__name__)
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return OllamaUnreachable(self._url, f"invalid URL, use http://host:port ({exc})")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            return OllamaStreamDropped(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx.DecodingError):
            return OllamaProtocolError(
                f"Ollama's reply from {self._url} could not be decoded ({exc}). "
                "Check that ollamaUrl points at an Ollama server."
            )
        return OllamaStreamDropped(f"{type(exc).__name__}: {exc}")

    def _status_error(self, response: httpx.Response, model: str | None) -> OllamaError:
        status = response.status_code
        message, is_json = _error_message(response)
        lowered = message.lower()
        if model is not None and is_json:
            if status == 404 and "not found" in lowered:
                return ModelNotFound(model, self._url)
            if status == 400 and "does not support tools" in lowered:
                return ModelLacksTools(model)
            if status == 400 and "does not support thinking" in lowered:
                message += " (unset the think option for this model)"
        if not is_json:
            page = _web_page(response)
            if page is not None:
                return NotOllama(self._url, status, page)
            if status == 404:
                return WrongOllamaUrl(self._url, status, message, str(response.request.url))
        return OllamaHTTPError(status, message, self._url)


_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)


def _web_page(response: httpx.Response) -> str | None:
    """How to name an HTML answer in a message ("a web page titled ..."); None if not HTML."""
    kind = response.headers.get("content-type", "").lower()
    body = response.content[:4096]
    if "html" not in kind and body.lstrip()[:1] != b"<":
        return None
    found = _TITLE.search(body)
    if found is None:
        return "a web page"
    title = " ".join(found.group(1).decode("utf-8", errors="replace").split())
    return f"a web page titled '{title}'"


def _error_message(response: httpx.Response) -> tuple[str, bool]:
    """The error text of a failed response and whether it came as Ollama's JSON error."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        return str(data["error"]), True
    text = response.text.strip()
    return (text[:500] or response.reason_phrase or "no details"), False


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def _model_info(model: str, data: dict[str, Any]) -> ModelInfo:
    info = data.get("model_info")
    info = info if isinstance(info, dict) else {}
    context: int | None = None
    arch = info.get("general.architecture")
    if isinstance(arch, str) and isinstance(info.get(f"{arch}.context_length"), int):
        context = info[f"{arch}.context_length"]
    else:
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                context = value
                break
    details = data.get("details")
    details = details if isinstance(details, dict) else {}
    caps = data.get("capabilities")
    return ModelInfo(
        name=model,
        context_length=context,
        capabilities=tuple(str(c) for c in caps) if isinstance(caps, list) else (),
        family=_str_or_none(details.get("family")),
        parameter_size=_str_or_none(details.get("parameter_size")),
        quantization=_str_or_none(details.get("quantization_level")),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _line_events(line: Any) -> list[ChatEvent]:
    """The events of one streamed line: thinking, content, tool calls, then done."""
    if type(line) is not dict:
        raise OllamaProtocolError(
            f"Ollama sent {line!r:.200} where a JSON object was expected. "
            "Check that ollamaUrl points at an Ollama server."
        )
    if "error" in line:
        raise OllamaStreamError(str(line["error"]))
    events: list[ChatEvent] = []
    message = line.get("message")
    if type(message) is dict:
        thinking = message.get("thinking")
        if thinking:
            events.append(ThinkingDelta(thinking))
        content = message.get("content")
        if content:
            events.append(ContentDelta(content))
        raw_calls = message.get("tool_calls")
        if raw_calls:
            calls = tuple(call for call in map(_tool_call, raw_calls) if call is not None)
            if calls:
                events.append(ToolCallsReceived(calls))
    if line.get("done"):
        events.append(ChatDone(_metrics(line)))
    return events


def _tool_call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        logger.warning("Ignoring a tool call that is not an object: %.200r", raw)
        return None
    function = raw.get("function")
    if not isinstance(function, dict):
        # Some servers put the fields at the top level (OpenAI-like shapes).
        function = raw
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            logger.warning("Tool call arguments are not valid JSON: %.200r", arguments)
            arguments = {}
    if arguments is None:
        arguments = {}
    elif not isinstance(arguments, dict):
        logger.warning("Tool call arguments are not a JSON object: %.200r", arguments)
        arguments = {}
    call_id = raw.get("id")
    index = function.get("index", raw.get("index"))
    return ToolCall(
        name=str(function.get("name") or ""),
        arguments=arguments,
        id=call_id if isinstance(call_id, str) and call_id else None,
        index=index if isinstance(index, int) and not isinstance(index, bool) else None,
    )


def _metrics(line: dict[str, Any]) -> ChatMetrics:
    return ChatMetrics(
        done_reason=str(line.get("done_reason") or "stop"),
        total_duration=_as_int(line.get("total_duration")),
        load_duration=_as_int(line.get("load_duration")),
        prompt_eval_count=_as_int(line.get("prompt_eval_count")),
        prompt_eval_duration=_as_int(line.get("prompt_eval_duration")),
        eval_count=_as_int(line.get("eval_count")),
        eval_duration=_as_int(line.get("eval_duration")),
    )
