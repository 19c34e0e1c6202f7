"""The names MCP tools reach the model by: ``SERVER__TOOL``, safe for every backend."""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 64
"""OpenAI's limit for a function name (``^[a-zA-Z0-9_-]{1,64}$``); Ollama takes what it takes."""
SEPARATOR = "__"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
SAFE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def tool_name(server: str, tool: str) -> str:
    """``server__tool`` with unsafe characters as ``_``; too long: cut, with a short hash of
    the full name so two long names stay apart."""
    raw = f"{server}{SEPARATOR}{tool}"
    safe = _UNSAFE.sub("_", raw)
    if len(safe) <= MAX_NAME:
        return safe
    return f"{safe[: MAX_NAME - 9]}_{_digest(raw)}"


def unique_names(pairs: list[tuple[str, str]]) -> list[str]:
    """Model-facing names for (server, tool) pairs, in order; a name that two pairs would
    share gets the full name's hash on the second one."""
    taken: set[str] = set()
    out: list[str] = []
    for server, tool in pairs:
        name = tool_name(server, tool)
        if name in taken:
            raw = f"{server}{SEPARATOR}{tool}"
            name = f"{name[: MAX_NAME - 9]}_{_digest(raw)}"
        taken.add(name)
        out.append(name)
    return out
