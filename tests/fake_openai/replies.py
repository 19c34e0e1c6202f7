"""Scripted chat completions replies for the fake OpenAI-compatible server, built in Python or
read from JSON (so tests driving a client in another process can script it too).

A reply is a list of steps played as one SSE stream::

    {"status": 200, "steps": [
        {"type": "delta", "delta": {"reasoning_content": "Let me look"}},
        {"type": "delta", "delta": {"content": "I'll read it."}},
        {"type": "delta", "delta": {"tool_calls": [{"index": 0, "id": "call_1",
            "type": "function", "function": {"name": "read_file", "arguments": ""}}]}},
        {"type": "delta", "delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": "{\\"pa"}}]}},
        {"type": "finish", "reason": "tool_calls", "usage": {"prompt_tokens": 12}}
    ]}

``delta`` steps are one ``chat.completion.chunk`` each; the server renames ``reasoning_content``
to the field its flavour uses. ``finish`` sends the chunk with ``finish_reason``, then (when the
request asked for ``stream_options.include_usage``) the usage chunk, llama.cpp's ``timings``, and
``data: [DONE]`` unless ``"done": false``; ``usage``/``timings`` override the computed numbers.
A reply without a terminal step gets ``finish`` (``tool_calls`` if it streamed calls, else
``stop``). Other steps: ``error`` (an ``{"error": ...}`` event, then the stream ends), ``end`` (the
body ends cleanly with no finish_reason or [DONE]), ``drop`` (the socket closes mid-body),
``raw`` (bytes written as they are), ``ping`` (an SSE comment), ``sleep``, ``gate`` (wait until
the test opens it), ``hang`` (until the client leaves).

Whole answers instead of a stream: ``{"status": 401, "body": {...}}`` (JSON) or
``{"status": 200, "text": "<html>...", "content_type": "text/html"}``. ``write_size`` splits the
stream's bytes into HTTP chunks of that many bytes (any byte, even inside a UTF-8 character);
``line_ending`` is ``"\\n"`` or ``"\\r\\n"``.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AUTO: Any = object()
"""Marker: let the reply choose the call id like a real server."""

STEP_TYPES = ("delta", "finish", "error", "end", "drop", "raw", "ping", "sleep", "gate", "hang")
TERMINAL_STEPS = ("finish", "error", "end", "drop", "hang")
REPLY_KEYS = ("status", "steps", "body", "text", "content_type", "write_size", "line_ending")


def new_call_id() -> str:
    """An id shaped like vLLM's: ``chatcmpl-tool-`` + 16 hex-ish characters."""
    return "chatcmpl-tool-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=16))


@dataclass(frozen=True)
class Call:
    """A tool call to stream: ``arguments`` is an object or the raw (maybe invalid) JSON text."""

    name: str
    arguments: Any = None
    id: Any = AUTO
    pieces: int = 1
    """How many chunks the argument text is cut into."""

    def text(self) -> str:
        """The argument string as it goes over the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps({} if self.arguments is None else self.arguments, ensure_ascii=False)


def call(name: str, arguments: Any = None, *, id: Any = AUTO, pieces: int = 1) -> Call:
    """A tool call for ``Reply.calls``/``Reply.tool_calls``; ``id=None`` leaves the id out."""
    return Call(name, arguments, id, pieces)


def _split(text: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(text) <= 1:
        return [text]
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Reply:
    """One scripted answer to one /chat/completions request; builders return ``self``."""

    status: int = 200
    steps: list[dict[str, Any]] = field(default_factory=list)
    body: Any = None
    text: str | None = None
    content_type: str | None = None
    write_size: int | None = None
    line_ending: str = "\n"
    _next_index: int = 0

    # -- builders -----------------------------------------------------------------------------

    def delta(self, **delta: Any) -> Reply:
        """One chunk with this ``delta`` object as it is."""
        self.steps.append({"type": "delta", "delta": dict(delta)})
        return self

    def content(self, *pieces: str) -> Reply:
        """One chunk per piece of visible answer."""
        for piece in pieces:
            self.delta(content=piece)
        return self

    def reasoning(self, *pieces: str) -> Reply:
        """One chunk per piece of reasoning (sent as the flavour's reasoning field)."""
        for piece in pieces:
            self.delta(reasoning_content=piece)
        return self

    def tool_calls(self, *calls: Call, interleave: bool = False) -> Reply:
        """Stream ``calls`` like vLLM: a head chunk (id, name) then the argument pieces.

        ``interleave`` alternates the pieces of parallel calls instead of one call after another.
        """
        streams: list[list[dict[str, Any]]] = []
        for spec in calls:
            index = self._next_index
            self._next_index += 1
            head: dict[str, Any] = {"index": index}
            call_id = new_call_id() if spec.id is AUTO else spec.id
            if call_id is not None:
                head["id"] = call_id
            head["type"] = "function"
            head["function"] = {"name": spec.name, "arguments": ""}
            parts = [head] + [
                {"index": index, "function": {"arguments": piece}}
                for piece in _split(spec.text(), spec.pieces)
            ]
            streams.append(parts)
        if interleave:
            longest = max((len(s) for s in streams), default=0)
            order = [s[i] for i in range(longest) for s in streams if i < len(s)]
        else:
            order = [part for stream in streams for part in stream]
        for part in order:
            self.delta(tool_calls=[part])
        return self

    def finish(
        self,
        reason: str = "stop",
        *,
        usage: Mapping[str, Any] | None = None,
        timings: Mapping[str, Any] | None = None,
        done: bool = True,
    ) -> Reply:
        """The finish_reason chunk, the usage chunk and [DONE] (``done=False`` leaves it out)."""
        step: dict[str, Any] = {"type": "finish", "reason": reason, "done": done}
        if usage is not None:
            step["usage"] = dict(usage)
        if timings is not None:
            step["timings"] = dict(timings)
        self.steps.append(step)
        return self

    def error_event(
        self, message: str, *, code: int = 500, error_type: str = "server_error"
    ) -> Reply:
        """An ``{"error": {...}}`` event inside the 200 stream; the stream then ends."""
        self.steps.append(
            {"type": "error", "message": message, "code": code, "error_type": error_type}
        )
        return self

    def end(self) -> Reply:
        """End the body cleanly without a finish_reason or [DONE] (a server that gave up)."""
        self.steps.append({"type": "end"})
        return self

    def drop(self) -> Reply:
        """Close the connection without finishing the body (a crash, out of memory)."""
        self.steps.append({"type": "drop"})
        return self

    def refuse(self) -> Reply:
        """Close the connection before any response, as the xllamacpp server sometimes did
        between the long requests of a conversation ("Server disconnected without sending a
        response"). Only meaningful as the reply's only step."""
        self.steps.append({"type": "refuse"})
        return self

    def raw(self, text: str) -> Reply:
        """Write ``text`` into the stream as it is (for framing the server gets wrong)."""
        self.steps.append({"type": "raw", "text": text})
        return self

    def ping(self) -> Reply:
        """An SSE comment line, as llama.cpp sends to keep long prompt processing observable."""
        self.steps.append({"type": "ping"})
        return self

    def sleep(self, seconds: float) -> Reply:
        """Pause (before the first chunk: a model load or a long prefill)."""
        self.steps.append({"type": "sleep", "seconds": float(seconds)})
        return self

    def gate(self, name: str) -> Reply:
        """Stop here until the test opens gate ``name`` (``FakeOpenAI.open_gate``)."""
        self.steps.append({"type": "gate", "name": name})
        return self

    def hang(self) -> Reply:
        """Send nothing more until the client disconnects or the server stops."""
        self.steps.append({"type": "hang"})
        return self

    # -- shortcuts ----------------------------------------------------------------------------

    @classmethod
    def say(cls, *pieces: str) -> Reply:
        """A plain text answer streamed in ``pieces``."""
        return cls().content(*pieces).finish()

    @classmethod
    def calls(cls, *calls: Call, content: str = "", interleave: bool = False) -> Reply:
        """Optional text, then ``calls``, then finish_reason ``tool_calls``."""
        reply = cls()
        if content:
            reply.content(content)
        return reply.tool_calls(*calls, interleave=interleave).finish("tool_calls")

    @classmethod
    def http_error(cls, status: int, body: Any) -> Reply:
        """An immediate HTTP error with this JSON body."""
        return cls(status=status, body=body)

    @classmethod
    def page(cls, status: int, html: str) -> Reply:
        """An immediate HTML answer (a web UI, a proxy's login or error page)."""
        return cls(status=status, text=html, content_type="text/html; charset=utf-8")

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The reply as the JSON spec ``from_json`` reads."""
        spec: dict[str, Any] = {"status": self.status}
        if self.steps:
            spec["steps"] = [dict(step) for step in self.steps]
        for key in ("body", "text", "content_type", "write_size"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.line_ending != "\n":
            spec["line_ending"] = self.line_ending
        return spec

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> Reply:
        """Read a JSON spec, checking it so a typo fails loudly instead of hanging a test."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a reply spec must be a JSON object, got {spec!r:.100}")
        unknown = set(spec) - set(REPLY_KEYS)
        if unknown:
            raise ValueError(f"unknown reply keys {sorted(unknown)}; known: {list(REPLY_KEYS)}")
        line_ending = str(spec.get("line_ending", "\n"))
        if line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError(f"line_ending must be \\n, \\r\\n or \\r, got {line_ending!r}")
        write_size = spec.get("write_size")
        reply = cls(
            status=int(spec.get("status", 200)),
            body=spec.get("body"),
            text=spec.get("text"),
            content_type=spec.get("content_type"),
            write_size=int(write_size) if write_size is not None else None,
            line_ending=line_ending,
        )
        for raw in spec.get("steps") or []:
            if not isinstance(raw, Mapping) or raw.get("type") not in STEP_TYPES:
                raise ValueError(f"each step needs a type among {STEP_TYPES}, got {raw!r:.100}")
            reply.steps.append(dict(raw))
        return reply


def replies_from_json(spec: Any) -> list[Reply]:
    """One reply spec or a list of them."""
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return [Reply.from_json(item) for item in spec]
    return [Reply.from_json(spec)]


def as_reply(reply: Reply | Mapping[str, Any] | str) -> Reply:
    """Accept a Reply, a JSON spec, or a bare string (a plain text answer)."""
    if isinstance(reply, Reply):
        return reply
    if isinstance(reply, str):
        return Reply.say(reply)
    return Reply.from_json(reply)


def streamed_call_count(steps: Iterable[Mapping[str, Any]]) -> int:
    """How many tool call heads the steps stream (for the automatic finish_reason)."""
    heads = 0
    for step in steps:
        for part in (step.get("delta") or {}).get("tool_calls") or []:
            if isinstance(part, Mapping) and (part.get("function") or {}).get("name"):
                heads += 1
    return heads
