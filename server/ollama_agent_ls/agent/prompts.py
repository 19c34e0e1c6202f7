"""The system prompt and the rendering of a task into the first user message."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SYSTEM_PROMPT_HEAD = """\
You are a coding agent working in a project; paths are relative to the project root. Change \
only what the task needs and keep the file's style."""
"""The part every edit format shares (the text formats add their own rules)."""

SYSTEM_PROMPT = """\
You are a coding agent working in a project. Use the tools to read, search and change files; \
paths are relative to the project root.
Rules:
- Read a file before you change it.
- For small changes use edit_file: old_string must be copied exactly from the file \
(without the line numbers read_file shows) and must be unique.
- write_file replaces the whole file: write the complete content, never placeholders such as \
"... existing code ...".
- Change only what the task needs; keep the file's style.
- Use run_command only when the task needs it (tests, builds).
- When the task is done, stop calling tools and reply with a short summary of what you changed."""

TEXT_TOOLS_ADDENDUM = """
Your model cannot call tools natively. To call a tool, reply with exactly one JSON object \
inside <tool_call></tool_call>, e.g. <tool_call>{{"name": "read_file", "arguments": \
{{"path": "src/app.py"}}}}</tool_call>, and wait for the result. Tools:
{tools}"""

CONTEXT_LINES = 20
"""Lines shown above and below a selection, so the model sees where it sits."""


@dataclass(frozen=True)
class SelectionContext:
    """A file excerpt for the prompt: the selected lines and their surroundings."""

    rel: str
    text: str
    """The whole file, newlines normalised to LF."""
    start_line: int
    """1-based first selected line."""
    end_line: int
    """1-based last selected line (inclusive)."""


@dataclass(frozen=True)
class AgentTask:
    """What a run is asked to do."""

    instruction: str
    label: str = ""
    """A short name for progress and edit labels."""
    selection: SelectionContext | None = None
    file: str | None = None
    """A file the task is about when there is no selection."""


def describe_tools(tools: Sequence[dict[str, Any]]) -> str:
    """One line per tool, ``- name(arg: type, opt?: type): description``, for text formats."""
    lines = []
    for tool in tools:
        fn = tool["function"]
        params = fn["parameters"]
        args = ", ".join(
            f"{name}{'' if name in params.get('required', ()) else '?'}: {spec.get('type', 'any')}"
            for name, spec in params["properties"].items()
        )
        lines.append(f"- {fn['name']}({args}): {fn['description']}")
    return "\n".join(lines)


def system_prompt(text_tools: Sequence[dict[str, Any]] | None = None) -> str:
    """The system prompt; with ``text_tools`` it also teaches the text tool-call format."""
    if not text_tools:
        return SYSTEM_PROMPT
    return SYSTEM_PROMPT + TEXT_TOOLS_ADDENDUM.format(tools=describe_tools(text_tools))


def render_task(task: AgentTask) -> str:
    """The first user message: instruction, then the file and selection with line numbers."""
    parts = [f"Task: {task.instruction.strip()}"]
    sel = task.selection
    if sel is not None:
        # Imported here: the tools pull in pydantic, which the server must not load before
        # answering initialize (this module is imported at start-up).
        from ollama_agent_ls.tools.edit_matcher import number_lines

        lines = sel.text.split("\n")
        start = max(1, sel.start_line)
        end = min(len(lines), max(start, sel.end_line))
        before_from = max(1, start - CONTEXT_LINES)
        after_to = min(len(lines), end + CONTEXT_LINES)
        parts.append(f"File: {sel.rel} ({len(lines)} lines). Selected lines {start}-{end}:")
        parts.append(number_lines(lines[start - 1 : end], start))
        if before_from < start or after_to > end:
            parts.append(f"Surrounding lines {before_from}-{after_to} (for context):")
            parts.append(number_lines(lines[before_from - 1 : after_to], before_from))
        parts.append(
            "Apply the task to the selected lines unless it says otherwise. The text above is "
            "current; edit it with edit_file."
        )
    elif task.file:
        parts.append(f"File: {task.file}")
    return "\n\n".join(parts)


def tool_call_summary(name: str, arguments: dict[str, Any], limit: int = 120) -> str:
    """One line describing a tool call for the transcript."""
    if name in {"read_file", "write_file", "edit_file", "delete_file"} and "path" in arguments:
        detail = str(arguments["path"])
        if name == "read_file" and arguments.get("start_line"):
            detail += f":{arguments.get('start_line')}-{arguments.get('end_line', '')}"
    elif name == "run_command":
        detail = str(arguments.get("command", ""))
    elif name == "search":
        detail = str(arguments.get("regex", ""))
    else:
        detail = json.dumps(arguments, ensure_ascii=False)
    if len(detail) > limit:
        detail = detail[: limit - 1] + "…"
    return f"{name} {detail}".rstrip()
