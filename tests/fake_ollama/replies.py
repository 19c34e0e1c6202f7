"""Scripted /api/chat replies for the fake Ollama, built in Python or read from JSON.

A reply is JSON-serialisable so tests running clients in other processes can script it:

    {"status": 200, "steps": [
        {"type": "chunk", "thinking": "Let me look", "content": ""},
        {"type": "chunk", "content": "I'll read it."},
        {"type": "sleep", "seconds": 0.2},
        {"type": "chunk", "tool_calls": [{"name": "read_file", "arguments": {"path": "a.py"}}]},
        {"type": "done", "prompt_eval_count": 12}
    ]}

Immediate errors: ``{"status": 500, "error": "boom"}`` (JSON body) or
``{"status": 404, "text": "404 page not found"}`` (plain text).

Step types: ``chunk`` (content/thinking/tool_calls, done:false), ``done`` (the final line, may
carry content/thinking/tool_calls and metric overrides), ``sleep`` (seconds), ``gate`` (wait until
the test opens the named gate), ``error`` (an ``{"error":...}`` line, then the stream ends),
``drop`` (close the socket without finishing the chunked body), ``hang`` (block until the client
disconnects or the server stops).

Tool calls are written in wire form (``{"id", "function": {"index", "name", "arguments"}}``) or
short form (``{"name", "arguments", "id"?, "index"?}``). In short form a missing ``id`` becomes
``call_`` + 8 random chars and a missing ``index`` counts 0, 1, 2... across the reply; ``null``
leaves the field out (servers before 0.12.10 sent neither).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AUTO: Any = object()
"""Marker: let the reply choose the id/index like real Ollama does."""

STEP_TYPES = ("chunk", "done", "sleep", "gate", "error", "drop", "hang")
TERMINAL_STEPS = ("done", "error", "drop", "hang")
METRIC_KEYS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def new_call_id() -> str:
    """An id shaped like Ollama's: ``call_`` + 8 lowercase letters/digits."""
    return "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


def call(name: str, arguments: Any = None, *, id: Any = AUTO, index: Any = AUTO) -> dict[str, Any]:
    """A short-form tool call; ``id=None``/``index=None`` leave the field out."""
    short: dict[str, Any] = {"name": name, "arguments": {} if arguments is None else arguments}
    if id is not AUTO:
        short["id"] = id
    if index is not AUTO:
        short["index"] = index
    return short


@dataclass
class Reply:
    """One scripted answer to one /api/chat request; builder methods return ``self``."""

    status: int = 200
    error: str | None = None
    text: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    _next_index: int = 0

    # -- builders -----------------------------------------------------------------------------

    def thinking(self, *pieces: str) -> Reply:
        """One ``done:false`` chunk per piece of reasoning."""
        for piece in pieces:
            self.steps.append({"type": "chunk", "thinking": piece, "content": ""})
        return self

    def content(self, *pieces: str) -> Reply:
        """One ``done:false`` chunk per piece of visible answer."""
        for piece in pieces:
            self.steps.append({"type": "chunk", "content": piece})
        return self

    def chunk(
        self, content: str = "", *, thinking: str = "", tool_calls: Iterable[Any] = ()
    ) -> Reply:
        """One ``done:false`` chunk with any mix of content, thinking and tool calls."""
        step: dict[str, Any] = {"type": "chunk", "content": content}
        if thinking:
            step["thinking"] = thinking
        calls = self._wire_calls(tool_calls)
        if calls:
            step["tool_calls"] = calls
        self.steps.append(step)
        return self

    def tool_calls(self, *calls: Any) -> Reply:
        """One ``done:false`` chunk holding all ``calls`` (several calls in one chunk)."""
        return self.chunk(tool_calls=calls)

    def sleep(self, seconds: float) -> Reply:
        """Pause (before the first line: a model load; later: a call being buffered)."""
        self.steps.append({"type": "sleep", "seconds": float(seconds)})
        return self

    pause = sleep

    def gate(self, name: str) -> Reply:
        """Stop here until the test opens gate ``name`` (``FakeOllama.open_gate``)."""
        self.steps.append({"type": "gate", "name": name})
        return self

    def done(
        self,
        content: str = "",
        *,
        thinking: str = "",
        tool_calls: Iterable[Any] = (),
        done_reason: str = "stop",
        **metrics: int,
    ) -> Reply:
        """The final ``done:true`` line; may carry calls; metric keyword arguments override."""
        unknown = set(metrics) - set(METRIC_KEYS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; known: {METRIC_KEYS}")
        step: dict[str, Any] = {"type": "done", "content": content, "done_reason": done_reason}
        if thinking:
            step["thinking"] = thinking
        calls = self._wire_calls(tool_calls)
        if calls:
            step["tool_calls"] = calls
        step.update(metrics)
        self.steps.append(step)
        return self

    def error_line(self, message: str) -> Reply:
        """An ``{"error": message}`` line inside the 200 stream; no done line follows."""
        self.steps.append({"type": "error", "message": message})
        return self

    def drop(self) -> Reply:
        """Close the connection without finishing the body (server crash, OOM)."""
        self.steps.append({"type": "drop"})
        return self

    def hang(self) -> Reply:
        """Send nothing more until the client disconnects or the server stops."""
        self.steps.append({"type": "hang"})
        return self

    # -- shortcuts ----------------------------------------------------------------------------

    @classmethod
    def say(cls, *pieces: str, prompt_eval_count: int | None = None) -> Reply:
        """A plain text answer streamed in ``pieces``."""
        reply = cls().content(*pieces)
        metrics = {} if prompt_eval_count is None else {"prompt_eval_count": prompt_eval_count}
        return reply.done(**metrics)

    @classmethod
    def calls(cls, *calls: Any, content: str = "", in_done: bool = False) -> Reply:
        """Optional text, then ``calls`` in one chunk (or merged into the done line)."""
        reply = cls()
        if content:
            reply.content(content)
        if in_done:
            return reply.done(tool_calls=calls)
        return reply.tool_calls(*calls).done()

    @classmethod
    def http_error(cls, status: int, message: str) -> Reply:
        """An immediate HTTP error with Ollama's JSON body ``{"error": message}``."""
        return cls(status=status, error=message)

    @classmethod
    def plain_error(cls, status: int = 404, text: str = "404 page not found") -> Reply:
        """An immediate HTTP error with a plain-text body (Go's router)."""
        return cls(status=status, text=text)

    @classmethod
    def text_tool_call(cls, name: str, arguments: Mapping[str, Any], style: str = "tag") -> Reply:
        """A tool call written as plain text in ``content`` (template without ``.Tools``)."""
        payload = json.dumps({"name": name, "arguments": dict(arguments)})
        if style == "tag":
            text = f"<tool_call>\n{payload}\n</tool_call>"
        elif style == "fence":
            text = f"```json\n{payload}\n```"
        elif style == "bare":
            text = json.dumps({"name": name, "parameters": dict(arguments)})
        else:
            raise ValueError(f"unknown style {style!r}: use tag, fence or bare")
        return cls().content(text).done()

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The reply as the JSON spec ``from_json`` reads."""
        spec: dict[str, Any] = {"status": self.status}
        if self.error is not None:
            spec["error"] = self.error
        if self.text is not None:
            spec["text"] = self.text
        if self.steps:
            spec["steps"] = [dict(step) for step in self.steps]
        return spec

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> Reply:
        """Read a JSON spec, checking it so a typo fails loudly instead of hanging a test."""
        if not isinstance(spec, Mapping):
            raise ValueError(f"a reply spec must be a JSON object, got {spec!r:.100}")
        unknown = set(spec) - {"status", "error", "text", "steps"}
        if unknown:
            raise ValueError(f"unknown reply keys {sorted(unknown)}: use status/error/text/steps")
        reply = cls(
            status=int(spec.get("status", 200)), error=spec.get("error"), text=spec.get("text")
        )
        for raw in spec.get("steps") or []:
            if not isinstance(raw, Mapping) or raw.get("type") not in STEP_TYPES:
                raise ValueError(f"each step needs a type among {STEP_TYPES}, got {raw!r:.100}")
            step = dict(raw)
            if "tool_calls" in step:
                step["tool_calls"] = reply._wire_calls(step["tool_calls"])
            reply.steps.append(step)
        return reply

    # -- helpers ------------------------------------------------------------------------------

    def _wire_calls(self, calls: Iterable[Any]) -> list[dict[str, Any]]:
        wire: list[dict[str, Any]] = []
        for raw in calls:
            if isinstance(raw, Mapping) and "function" in raw:
                wire.append(dict(raw))
                continue
            if not isinstance(raw, Mapping) or "name" not in raw:
                raise ValueError(f"a tool call needs a name, got {raw!r:.100}")
            function: dict[str, Any] = {"name": raw["name"]}
            index = raw.get("index", AUTO)
            if index is AUTO:
                index = self._next_index
            if index is not None:
                function["index"] = index
                self._next_index = max(self._next_index, int(index) + 1)
            function["arguments"] = raw.get("arguments", {})
            entry: dict[str, Any] = {}
            call_id = raw.get("id", AUTO)
            if call_id is AUTO:
                call_id = new_call_id()
            if call_id is not None:
                entry["id"] = call_id
            entry["function"] = function
            wire.append(entry)
        return wire


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
