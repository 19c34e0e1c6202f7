"""What a run reports while it goes: the transcript kinds the editors show, plus progress."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ollama_agent_ls.workspace.changes import FileChange

EventKind = Literal[
    "started",
    "thinking",
    "content",
    "toolCall",
    "toolResult",
    "commandRunning",
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


DIFF_CONTEXT = 2
"""Unchanged lines around each change in a transcript diff: enough to see where it is."""
DIFF_MAX_LINES = 40
"""Most diff lines (hunk headers and body, not the file headers) an event carries."""
DIFF_LINE_CHARS = 200
"""Longest diff line kept: one minified line must not fill the transcript."""
DIFF_MATCH_MAX_LINES = 4000
"""Changed regions longer than this (old and new lines together) are shown as all old lines
removed and all new ones added: difflib's matching takes quadratic time on them."""


@dataclass(frozen=True)
class CompactDiff:
    """A transcript's view of changes: a unified diff, cut to size, and how much was cut."""

    text: str
    omitted_lines: int


def _cut(line: str) -> str:
    return line if len(line) <= DIFF_LINE_CHARS else line[: DIFF_LINE_CHARS - 1] + "…"


def compact_diff(
    changes: Iterable[FileChange],
    max_lines: int = DIFF_MAX_LINES,
    context: int = DIFF_CONTEXT,
) -> CompactDiff:
    """A unified diff of ``changes`` (file headers kept) of at most ``max_lines`` hunk lines."""
    out: list[str] = []
    budget = max_lines
    omitted = 0
    for change in changes:
        body = _hunks(change.before or "", change.after or "", context)
        if not body:
            continue
        out.append("--- /dev/null" if change.before is None else f"--- a/{change.rel}")
        out.append("+++ /dev/null" if change.after is None else f"+++ b/{change.rel}")
        kept = body[: max(budget, 0)]
        out.extend(_cut(line) for line in kept)
        budget -= len(kept)
        omitted += len(body) - len(kept)
    return CompactDiff("\n".join(out) + "\n" if out else "", omitted)


_NO_EOL = "\\ No newline at end of file"


def _lines(text: str) -> list[str]:
    """Lines as a diff sees them; a last line without a newline is followed by git's marker."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        return lines[:-1]
    return [*lines, _NO_EOL]


def _hunks(before: str, after: str, context: int) -> list[str]:
    """The hunk lines (``@@`` headers included) of a diff from ``before`` to ``after``."""
    a, b = _lines(before), _lines(after)
    if a == b:
        return []
    # The common start and end are cut first: difflib's matcher is slow on large files, and an
    # edit usually touches a few lines of one.
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    lead = max(0, start - context)
    trail = max(0, end - context)
    mid_a, mid_b = a[lead : len(a) - trail], b[lead : len(b) - trail]
    if len(mid_a) + len(mid_b) > DIFF_MATCH_MAX_LINES:
        # One hunk, old lines then new: correct, and linear in the size of the change.
        return [
            f"@@ -{_range(lead, len(mid_a))} +{_range(lead, len(mid_b))} @@",
            *(" " + line for line in a[lead:start]),
            *("-" + line for line in a[start : len(a) - end]),
            *("+" + line for line in b[start : len(b) - end]),
            *(" " + line for line in a[len(a) - end : len(a) - trail]),
        ]
    diff = difflib.unified_diff(mid_a, mid_b, lineterm="", n=context)
    lines = list(diff)[2:]  # difflib's own file headers; the caller writes the real ones
    return [_shift_hunk(line, lead) if line.startswith("@@") else line for line in lines]


def _range(start: int, length: int) -> str:
    """A hunk side as difflib writes it: 1-based start, length left out when it is 1."""
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _shift_hunk(header: str, offset: int) -> str:
    """A hunk header of a diff of a file's middle, renumbered for the whole file."""
    m = _HUNK.match(header)
    if m is None or offset == 0:
        return header
    a_start, a_len, b_start, b_len = m.groups()
    # An empty side's start names the line before it, which the same offset moves.
    a_new = int(a_start) + offset
    b_new = int(b_start) + offset
    return f"@@ -{a_new}{a_len or ''} +{b_new}{b_len or ''} @@" + header[m.end() :]
