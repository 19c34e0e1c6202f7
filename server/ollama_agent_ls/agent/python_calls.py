"""Tool calls a small model writes as Python: ``check_criterion(2, "the test passes")``.

Seen on the real Qwen2.5-Coder-1.5B in a spec run: it ticked criteria by writing the call as a
line of Python, which the JSON forms cannot read, so no criterion was ever ticked. A line counts
only when it is, on its own and outside a code fence, one call of a known tool whose arguments
are all literals (``ast.literal_eval``); positional arguments take the tool's parameter order.
Code a model writes into a file is in a fence or part of a larger statement, and never runs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ollama_agent_ls.ollama.models import ToolCall

_MAX_CALL_CHARS = 200_000
_MAX_ATTEMPTS = 40
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


@dataclass
class PythonCalls:
    """Calls read, each with its offset, and messages for calls that could not be read."""

    calls: list[tuple[int, ToolCall]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def _fenced(content: str) -> list[tuple[int, int]]:
    spans = []
    marks = [m.start() for m in _FENCE.finditer(content)]
    for i in range(0, len(marks) - 1, 2):
        spans.append((marks[i], marks[i + 1]))
    if len(marks) % 2:
        spans.append((marks[-1], len(content)))
    return spans


def _arguments(
    node: ast.Call, name: str, order: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    args: dict[str, Any] = {}
    if len(node.args) > len(order):
        return None, f"{name} takes at most {len(order)} argument(s) ({', '.join(order)})"
    try:
        for key, value in zip(order, node.args, strict=False):
            args[key] = ast.literal_eval(value)
        for keyword in node.keywords:
            if keyword.arg is None:
                return None, f"{name}(**...) cannot be read: name each argument"
            args[keyword.arg] = ast.literal_eval(keyword.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, f"the arguments of {name}(...) must be plain values (strings, numbers)"
    return args, ""


def _call_name(node: ast.expr, known: Collection[str]) -> str | None:
    if isinstance(node, ast.Name) and node.id in known:
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "functions"
        and node.attr in known
    ):
        return node.attr
    return None


def find_python_calls(content: str, parameters: Mapping[str, Sequence[str]]) -> PythonCalls:
    """Lines of ``content`` that are a single Python call of a tool in ``parameters``."""
    found = PythonCalls()
    names = sorted(parameters, key=len, reverse=True)
    if not names or "(" not in content:
        return found
    start_re = re.compile(
        r"^[ \t]*(?:functions\.)?(" + "|".join(re.escape(n) for n in names) + r")\(",
        re.MULTILINE,
    )
    fences = _fenced(content)
    ends = [m.start() for m in re.finditer(r"\)[ \t]*;?[ \t]*(?=\n|$)", content)]
    for match in start_re.finditer(content):
        start = match.start()
        if any(a <= start < b for a, b in fences):
            continue
        node = _parse_call(content, start, ends)
        if node is None:
            continue
        name = _call_name(node.func, parameters)
        if name is None:
            continue
        arguments, problem = _arguments(node, name, parameters[name])
        if arguments is None:
            found.problems.append((start, f"Could not read the call `{name}(...)`: {problem}."))
            continue
        found.calls.append((start, ToolCall(name, arguments)))
    return found


def _parse_call(content: str, start: int, ends: list[int]) -> ast.Call | None:
    """The call expression starting at ``start`` and ending at a line end, if there is one."""
    attempts = 0
    for end in ends:
        if end <= start:
            continue
        if end - start > _MAX_CALL_CHARS or attempts >= _MAX_ATTEMPTS:
            return None
        attempts += 1
        try:
            tree = ast.parse(content[start : end + 1].strip(), mode="eval")
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        return tree.body if isinstance(tree.body, ast.Call) else None
    return None
