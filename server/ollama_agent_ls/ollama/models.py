"""Typed shapes of what goes over the wire to and from Ollama's native /api/chat."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass
class ToolCall:
    """One function call requested by the model; ``arguments`` is always a JSON object."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None
    index: int | None = None
    parse_error: str | None = None
    """Why the arguments could not be read (then ``arguments`` is empty); told to the model."""

    def to_wire(self) -> dict[str, Any]:
        """The call as Ollama expects it back in the assistant message."""
        function: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.index is not None:
            function["index"] = self.index
        wire: dict[str, Any] = {"function": function}
        if self.id is not None:
            wire["id"] = self.id
        return wire


@dataclass
class Message:
    """A chat message; tool results carry ``tool_name`` and ``tool_call_id``."""

    role: Role
    content: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_name: str | None = None
    tool_call_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The message as a JSON object for the request body."""
        wire: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.thinking:
            wire["thinking"] = self.thinking
        if self.tool_calls:
            wire["tool_calls"] = [call.to_wire() for call in self.tool_calls]
        if self.tool_name is not None:
            wire["tool_name"] = self.tool_name
        if self.tool_call_id is not None:
            wire["tool_call_id"] = self.tool_call_id
        return wire


@dataclass(frozen=True)
class ContentDelta:
    """A piece of the visible answer."""

    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    """A piece of the model's reasoning; never written to a file."""

    text: str


@dataclass(frozen=True)
class ToolCallsReceived:
    """Complete tool calls found in one streamed line (possibly several)."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ChatMetrics:
    """Counters of one reply (durations in nanoseconds; ``prompt_eval_count`` is the whole prompt
    where the server reports it, cached part included)."""

    done_reason: str = "stop"
    total_duration: int = 0
    load_duration: int = 0
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0
    cached_prompt_tokens: int | None = None
    """Prompt tokens the server reused from its cache, where it says (llama.cpp, vLLM)."""

    @property
    def prefill_tokens(self) -> int:
        """Prompt tokens evaluated for this request (the prompt less what the cache held)."""
        return max(0, self.prompt_eval_count - (self.cached_prompt_tokens or 0))

    @property
    def tokens_per_second(self) -> float:
        """Generation speed of this reply; 0 when Ollama reported no duration."""
        if self.eval_duration <= 0:
            return 0.0
        return self.eval_count / (self.eval_duration / 1e9)


@dataclass(frozen=True)
class ChatDone:
    """The end of one reply, with Ollama's metrics."""

    metrics: ChatMetrics


ChatEvent = ContentDelta | ThinkingDelta | ToolCallsReceived | ChatDone


@dataclass(frozen=True)
class ModelInfo:
    """What /api/show tells about a model."""

    name: str
    context_length: int | None
    capabilities: tuple[str, ...]
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None

    @property
    def supports_tools(self) -> bool:
        """True when the model's template renders tools (the ``tools`` capability)."""
        return "tools" in self.capabilities

    @property
    def supports_thinking(self) -> bool:
        """True when the model accepts ``think``."""
        return "thinking" in self.capabilities


@dataclass(frozen=True)
class InstalledModel:
    """One entry of /api/tags."""

    name: str
    size: int = 0
    modified_at: str = ""
    capabilities: tuple[str, ...] = ()
