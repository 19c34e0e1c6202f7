"""What a run reports while it goes: the transcript kinds the editors show, plus progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

EventKind = Literal[
    "started",
    "thinking",
    "content",
    "toolCall",
    "toolResult",
    "edit",
    "warning",
    "error",
    "finished",
    "progress",
]

TRANSCRIPT_KINDS: frozenset[str] = frozenset(get_args(EventKind)) - {"progress"}
"""Kinds editors show; ``progress`` only drives $/progress and status lines."""


@dataclass(slots=True)
class AgentEvent:
    """One thing that happened in a run; ``data`` holds kind-specific fields (JSON-safe).

    Not frozen: one is made per streamed token, and a frozen dataclass's __init__ is slower.
    """

    kind: EventKind
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


EventCallback = Callable[[AgentEvent], None]
