"""Fallback for small models that write their tool calls as text instead of structured calls.

Some models (custom GGUF imports whose template lacks tools, AWQ builds, Llama-3 style prompts)
answer with ``<tool_call>{...}</tool_call>``, a fenced JSON block or a bare
``{"name": ..., "arguments": {...}}`` in ``content`` and no ``tool_calls``. The agent loop calls
:func:`extract_text_tool_calls` on such a reply and runs what it finds.

To keep ordinary prose and code from being executed, a JSON value counts as a call only when its
name is one of the known tools and its arguments are a JSON object (possibly JSON-encoded in a
string). An echoed tool *definition* (a JSON schema under ``parameters`` next to a
``description``) is not a call.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection
from typing import Any

from ollama_agent_ls.ollama.models import ToolCall

logger = logging.getLogger(__name__)

_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")
_WRAPPER_KEYS = ("tool_calls", "tool_call", "function_call", "action")
# A reply is a few kilobytes; the cap only stops pathological inputs (thousands of unbalanced
# brackets) from costing seconds, since each failed attempt may scan to the end of the text.
_MAX_ATTEMPTS = 5000

_DECODER = json.JSONDecoder()
_START = re.compile(r"[\[{]")
# Prefixes that name the function outside the JSON, followed by the arguments object:
# Llama-3.1 ``<function=name>{...}</function>`` and Mistral ``[TOOL_CALLS]name[ARGS]{...}``.
_NAMED_PREFIX = re.compile(
    r"<function=(?P<fn>[\w.\-]+)>\s*|\[TOOL_CALLS\]\s*(?P<mistral>[\w.\-]+)\s*\[ARGS\]\s*"
)


def extract_text_tool_calls(content: str, known_tools: Collection[str]) -> list[ToolCall]:
    """Tool calls written as text in ``content``, in order; only known names with object args."""
    try:
        return _find(content, frozenset(known_tools))
    except Exception:  # never let a parsing surprise break the agent loop
        logger.exception("scanning reply text for tool calls failed; treating it as prose")
        return []


def _find(content: str, known: frozenset[str]) -> list[ToolCall]:
    if not known or not content:
        return []
    results: list[ToolCall] = []
    position = 0
    attempts = 0
    length = len(content)
    while position < length:
        match = _START.search(content, position)
        if match is None:
            break
        start = match.start()
        attempts += 1
        if attempts > _MAX_ATTEMPTS:
            logger.debug("gave up scanning for text tool calls after %d attempts", attempts)
            break
        value, end = _decode_at(content, start)
        if end is None:
            position = start + 1
            continue
        # A decoded value is skipped whole either way: a non-call's inner braces are data.
        name = _named_prefix_before(content, start)
        if name is None:
            results.extend(_calls_from(value, known))
        else:
            results.extend(_calls_from_args(name, value, known))
        position = end
    return results


def _decode_at(content: str, start: int) -> tuple[Any, int | None]:
    try:
        value, end = _DECODER.raw_decode(content, start)
    except (ValueError, RecursionError):
        return None, None
    return value, end


def _named_prefix_before(content: str, start: int) -> str | None:
    """The function name of a prefix ending right at ``start``."""
    offset = max(0, start - 200)
    window = content[offset:start]
    match = None
    for candidate in _NAMED_PREFIX.finditer(window):
        match = candidate
    if match is None or match.end() != len(window):
        return None
    return match.group("fn") or match.group("mistral")


def _calls_from(value: Any, known: frozenset[str]) -> list[ToolCall]:
    if isinstance(value, list):
        calls: list[ToolCall] = []
        for item in value:
            call = _call_from(item, known)
            if call is not None:
                calls.append(call)
        return calls
    if isinstance(value, dict):
        call = _call_from(value, known)
        if call is not None:
            return [call]
        # Wrappers models invent around a call: {"thought": ..., "tool_call": {...}} and the like.
        for key in _WRAPPER_KEYS:
            calls = _calls_from(value.get(key), known)
            if calls:
                return calls
    return []


def _call_from(value: Any, known: frozenset[str]) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    if isinstance(function, dict):
        return _call_from(function, known)
    name = value.get("name")
    if not isinstance(name, str) or name not in known:
        return None
    for key in _ARGUMENT_KEYS:
        if key in value:
            arguments = _as_object(value[key])
            if arguments is None or _is_tool_definition(value, arguments):
                return None
            return ToolCall(name=name, arguments=arguments)
    return None


def _calls_from_args(name: str, value: Any, known: frozenset[str]) -> list[ToolCall]:
    if name not in known:
        return []
    arguments = _as_object(value)
    return [ToolCall(name=name, arguments=arguments)] if arguments is not None else []


def _as_object(arguments: Any) -> dict[str, Any] | None:
    # Some models JSON-encode the arguments (OpenAI style); at most twice, seen in the wild.
    for _ in range(2):
        if not isinstance(arguments, str):
            break
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return None
    if isinstance(arguments, dict) and all(isinstance(key, str) for key in arguments):
        return arguments
    return None


def _is_tool_definition(value: dict[str, Any], arguments: dict[str, Any]) -> bool:
    return (
        "description" in value
        and arguments.get("type") == "object"
        and isinstance(arguments.get("properties"), dict)
    )
