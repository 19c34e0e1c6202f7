"""Small helpers the language-server tests share: command arguments and what the model was told."""

from __future__ import annotations

from typing import Any

from tests.fake_ollama.server import FakeOllama

RUN_SELECTION = "ollamaAgent.runSelection"
IMPLEMENT_TODO = "ollamaAgent.implementTodo"
CANCEL = "ollamaAgent.cancel"
UNDO_RUN = "ollamaAgent.undoRun"
LIST_MODELS = "ollamaAgent.listModels"
CHECK_SETUP = "ollamaAgent.checkSetup"


def selection(uri: str, first: int, last: int, instruction: str, **extra: Any) -> dict[str, Any]:
    """runSelection arguments selecting whole lines ``first``..``last`` (0-based)."""
    return {
        "uri": uri,
        "range": {
            "start": {"line": first, "character": 0},
            "end": {"line": last + 1, "character": 0},
        },
        "instruction": instruction,
        **extra,
    }


def tool_results(fake: FakeOllama, request: int = -1) -> list[str]:
    """Contents of the tool messages in one /api/chat request the fake received."""
    body = fake.chat_requests[request].body
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


def user_prompt(fake: FakeOllama, request: int = 0) -> str:
    """The first user message of one /api/chat request."""
    body = fake.chat_requests[request].body
    return next(m["content"] for m in body["messages"] if m.get("role") == "user")
