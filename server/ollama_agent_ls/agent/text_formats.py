"""Edit formats beside native tool calls: what the model is asked to write, and how it is read.

Small local models rarely produce reliable structured tool calls, but they can write a whole file
or SEARCH/REPLACE blocks in one reply (aider's finding). In those formats the reply's blocks are
turned into ordinary ``edit_file`` / ``write_file`` calls, so change records, editor edits,
review and undo work exactly as for native calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ollama_agent_ls.agent.prompts import SYSTEM_PROMPT_HEAD, AgentTask, describe_tools
from ollama_agent_ls.ollama.models import ModelInfo, ToolCall

Format = Literal["tools", "search-replace", "whole"]

EDIT_TOOLS = frozenset({"write_file", "edit_file", "apply_patch"})
"""Tools replaced by the reply's blocks in the text formats."""
READ_ONLY_TOOLS = frozenset({"read_file", "list_files", "search"})

SMALL_MODEL_BILLIONS = 4.0
"""Below this size (parameters) ``auto`` asks for text blocks: such models fumble tool calls."""

FILES_LISTED = 40
"""Files named in a text-format task, so the model need not spend a turn listing them."""

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bm])\b", re.IGNORECASE)
_NAME_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)
_NUMBERED = re.compile(r"(?m)^ {0,5}\d+\t")


def parameter_billions(info: ModelInfo) -> float | None:
    """The model's size in billions of parameters, from the server's details or its name."""
    if info.parameter_size:
        match = _SIZE.search(info.parameter_size)
        if match:
            value = float(match.group(1))
            return value / 1000 if match.group(2).lower() == "m" else value
    match = _NAME_SIZE.search(info.name.rsplit("/", 1)[-1])
    return float(match.group(1)) if match else None


def choose_edit_format(setting: str, info: ModelInfo) -> tuple[Format, str]:
    """The format a run starts in and why (``auto``: from the model's capabilities and size)."""
    if setting in ("tools", "search-replace", "whole"):
        return setting, f"editFormat={setting}"  # type: ignore[return-value]
    if info.capabilities and not info.supports_tools:
        return "search-replace", f"model '{info.name}' has no tools capability"
    size = parameter_billions(info)
    if size is not None and size < SMALL_MODEL_BILLIONS:
        return "search-replace", f"model '{info.name}' is small ({size:g}B parameters)"
    return "tools", "native tool calls"


WHOLE_MAX_CHARS = 4000
"""Files up to this size a small model rewrites whole (one reply, no text to match exactly);
larger ones cost too much output on a CPU, so they get SEARCH/REPLACE blocks."""


def prefer_whole(fmt: Format, shown: dict[str, str]) -> Format:
    """``auto``'s text format once the task's files are known: whole for small files."""
    if fmt == "search-replace" and shown and all(len(t) <= WHOLE_MAX_CHARS for t in shown.values()):
        return "whole"
    return fmt


@dataclass
class FormatMemory:
    """What ``auto`` learned per model: the text format it switched to after unreadable calls.

    The well-formed rate itself is in each run's metrics (callReplies, formatErrors).
    """

    switched: dict[str, Format] = field(default_factory=dict)


SEARCH_REPLACE_RULES = """\
To change a file, reply with SEARCH/REPLACE blocks in exactly this format:
path/to/file.py
```
<<<<<<< SEARCH
lines copied exactly from the file
=======
the lines to put in their place
>>>>>>> REPLACE
```
The first line is just the file's path. SEARCH must match the file exactly, indentation \
included; keep it to a few unique lines. An empty SEARCH creates a new file. Write all the \
blocks the task needs in one reply."""

WHOLE_RULES = """\
To change or create a file, reply with its entire new content in exactly this format:
path/to/file.py
```
the entire content of the file
```
The first line is just the file's path. Write every line of the file, never "..." or a \
placeholder. Write all the files the task needs in one reply."""

TEXT_TOOL_RULES = """\
Other tools: write one JSON object per call inside <tool_call></tool_call>, e.g. \
<tool_call>{{"name": "read_file", "arguments": {{"path": "app.py"}}}}</tool_call>, and wait for \
the result. Tools:
{tools}"""

TEXT_DONE_RULE = """\
When the task is done, reply with a one-line summary and no blocks."""

SWITCHED_MARK = "so from now on write plain text instead."
"""In the switch note only: a resumed session finds the note by it (a compaction keeps it)."""
SWITCH_NOTE = "{why}, " + SWITCHED_MARK + " {rules}\n{tools}"
UNREADABLE_CALLS = "Your tool calls could not be read as tool calls"
MISSING_CALLS = "You answered with code but called no tool and changed no file"


def format_rules(fmt: Format) -> str:
    """The instructions of one text format."""
    return WHOLE_RULES if fmt == "whole" else SEARCH_REPLACE_RULES


def text_tools(tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools still called in a text format: everything but the edit tools."""
    return [t for t in tools if t["function"]["name"] not in EDIT_TOOLS]


def text_system_prompt(fmt: Format, tools: Sequence[dict[str, Any]]) -> str:
    """The system prompt of a text format (no tool schemas are sent: they cost prefill)."""
    listed = describe_tools(text_tools(tools))
    return "\n".join(
        [
            SYSTEM_PROMPT_HEAD,
            format_rules(fmt),
            TEXT_TOOL_RULES.format(tools=listed),
            TEXT_DONE_RULE,
        ]
    )


def switch_note(fmt: Format, tools: Sequence[dict[str, Any]], why: str = UNREADABLE_CALLS) -> str:
    """Appended once (never spliced into the system prompt) when ``auto`` leaves native calls."""
    listed = TEXT_TOOL_RULES.format(tools=describe_tools(text_tools(tools)))
    return SWITCH_NOTE.format(why=why, rules=format_rules(fmt), tools=listed)


def fenced(path: str, text: str) -> str:
    """A file shown to the model as its path and a fence long enough for its content."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{path}\n{fence}\n{body}{fence}"


def strip_line_numbers(read_result: str) -> str:
    """read_file's text without its line numbers, which the text formats must not copy."""
    return _NUMBERED.sub("", read_result)


SHOWN_FILES_MAX_CHARS = 16_000
"""Most file text a text-format task shows up front (files the instruction names, or a tiny
project in full), so a small model edits what it has seen instead of guessing."""
TINY_PROJECT_FILES = 6


def files_to_show(
    task: AgentTask, files: Sequence[str], read_text: Callable[[str], str | None]
) -> dict[str, str]:
    """The files a text-format task shows in full: the task's file, files its instruction names,
    or every file of a tiny project; at most ``SHOWN_FILES_MAX_CHARS`` in all."""
    wanted: list[str] = [task.file] if task.file else []
    words = set(re.findall(r"[\w./-]+", task.instruction))
    for path in files:
        if path in words or path.rsplit("/", 1)[-1] in words:
            wanted.append(path)
    if not wanted and len(files) <= TINY_PROJECT_FILES:
        wanted = list(files)
    shown: dict[str, str] = {}
    total = 0
    for path in dict.fromkeys(wanted):
        text = read_text(path)
        if text is None or total + len(text) > SHOWN_FILES_MAX_CHARS:
            continue
        shown[path] = text
        total += len(text)
    return shown


def render_text_task(
    task: AgentTask,
    fmt: Format,
    *,
    shown: dict[str, str] | None = None,
    files: Sequence[str] = (),
) -> str:
    """The first user message of a text-format run: the task, files in full, the file list."""
    from ollama_agent_ls.agent.edit_blocks import REWRITE_LINES_INSTRUCTIONS

    parts = [f"Task: {task.instruction.strip()}"]
    sel = task.selection
    if sel is not None:
        lines = sel.text.split("\n")
        start = max(1, sel.start_line)
        end = min(len(lines), max(start, sel.end_line))
        parts.append(f"File {sel.rel}:\n{fenced(sel.rel, sel.text)}")
        selected = "\n".join(lines[start - 1 : end])
        parts.append(f"Selected lines {start}-{end} of {sel.rel}:\n```\n{selected}\n```")
        parts.append(REWRITE_LINES_INSTRUCTIONS)
        return "\n\n".join(parts)
    for path, text in (shown or {}).items():
        parts.append(f"File {path}:\n{fenced(path, text)}")
    if files:
        listed = list(files[:FILES_LISTED])
        more = f" (and {len(files) - len(listed)} more)" if len(files) > len(listed) else ""
        parts.append("Files in the project: " + ", ".join(listed) + more)
    what = (
        "SEARCH/REPLACE blocks"
        if fmt == "search-replace"
        else "entire new content of each file you change"
    )
    parts.append(
        f"Do the task now: reply with the {what}, in the format described. To see a file that "
        "is not shown here, call read_file first."
    )
    return "\n\n".join(parts)


def fix_path(path: str, project_files: Collection[str]) -> str:
    """The project file a model meant: without the prompt's ``path/to/`` placeholder, and a
    missing path mapped to the one project file with its name."""
    cleaned = path.strip().removeprefix("./")
    if cleaned.startswith("path/to/"):
        cleaned = cleaned[len("path/to/") :]
    if cleaned in project_files:
        return cleaned
    # ".textkit/slug.py" for textkit/slug.py: seen from the 1.5B on a spec task.
    undotted = cleaned[1:] if cleaned.startswith(".") and not cleaned.startswith("..") else ""
    if undotted and any(
        f == undotted or f.startswith(undotted.split("/")[0] + "/") for f in project_files
    ):
        return undotted
    name = cleaned.rsplit("/", 1)[-1]
    same_name = [f for f in project_files if f.rsplit("/", 1)[-1] == name]
    return same_name[0] if len(same_name) == 1 else cleaned


@dataclass
class ReadEdits:
    """The edits found in one reply, as tool calls, plus what could not be read."""

    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    prose: str = ""


def read_edits(
    reply: str,
    fmt: Format,
    task: AgentTask,
    known_paths: Sequence[str],
    turn: int,
    current_text: Callable[[str], str | None] = lambda path: None,
    project_files: Collection[str] = (),
) -> ReadEdits:
    """The reply's edit blocks in ``fmt`` as edit_file/write_file calls (ids stable per turn).

    ``known_paths`` are the files the model has seen; ``current_text`` gives a file's text (None
    when it does not exist): an empty SEARCH on a file with content appends to it, as aider does,
    and a whole listing of an existing file the model never saw is refused (it was guessed).
    """
    from ollama_agent_ls.agent import edit_blocks as eb

    found = ReadEdits()
    parsed = eb.parse_search_replace(reply, known_paths)
    if not parsed.edits and not parsed.errors and fmt == "whole" and task.selection is None:
        parsed = eb.parse_whole_files(reply, known_paths)
    found.errors.extend(parsed.errors)
    found.prose = parsed.prose
    for edit in parsed.edits:
        path = fix_path(edit.path, project_files)
        if isinstance(edit, eb.WholeFile):
            old = current_text(path)
            problem = _truncated_listing(eb.WholeFile(path, edit.content), old)
            lost = dropped_definitions(old or "", edit.content, task.instruction)
            if problem is None and lost:
                problem = _dropped_note(path, lost)
            if problem is None and old is not None and path not in known_paths:
                problem = (
                    f"You have not seen {path}, so your listing of it was not written: read it "
                    "with read_file first, then write the whole file."
                )
            if problem:
                found.errors.append(problem)
                continue
            found.calls.append(ToolCall("write_file", {"path": path, "content": edit.content}))
        elif edit.search == "":
            existing = current_text(path) or ""
            if existing and not existing.endswith("\n"):
                existing += "\n"
            content = existing + edit.replace
            found.calls.append(ToolCall("write_file", {"path": path, "content": content}))
        else:
            found.calls.append(
                ToolCall(
                    "edit_file",
                    {"path": path, "old_string": edit.search, "new_string": edit.replace},
                )
            )
    if not found.calls and not found.errors and task.selection is not None:
        rewritten = eb.parse_rewritten_lines(reply)
        if rewritten is not None:
            sel = task.selection
            lines = sel.text.split("\n")
            selected = "\n".join(lines[max(1, sel.start_line) - 1 : sel.end_line])
            lost = dropped_definitions(selected, rewritten, task.instruction)
            if lost:
                found.errors.append(_dropped_note(f"lines {sel.start_line}-{sel.end_line}", lost))
            else:
                found.calls.append(rewrite_selection_call(task, rewritten))
    for i, call in enumerate(found.calls):
        call.id = f"edit_{turn}_{i}"
    return found


# Top-level only: a refactor may rightly drop a method (a dataclass loses its __init__); a whole
# function or class that vanishes is what a small model's partial rewrite looks like.
_DEFINITION = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.MULTILINE)


def dropped_definitions(old: str, new: str, instruction: str) -> list[str]:
    """Functions and classes defined in ``old`` but not in ``new`` that the task does not name.

    A small model asked to rewrite a whole file or selection often writes only the function it
    changed, which would delete the others; a rename or a removal names what goes away.
    """
    kept = set(_DEFINITION.findall(new))
    named = set(re.findall(r"\w+", instruction))
    lost = [n for n in _DEFINITION.findall(old) if n not in kept and n not in named]
    return list(dict.fromkeys(lost))


def _dropped_note(where: str, lost: list[str]) -> str:
    names = ", ".join(lost)
    return (
        f"Your rewrite of {where} leaves out {names}, so it was not applied. Write all of it "
        "again, every function and class included, changing only what the task asks."
    )


def _truncated_listing(edit: Any, old: str | None) -> str | None:
    """Why a whole-file listing looks like a fragment rather than the file; None when it is fine.

    A 1.5B model answered a whole-format task with a fence holding only the file's name, which
    would have replaced the file. Listings much shorter than the file are refused, not written.
    """
    new_lines = [line for line in edit.content.split("\n") if line.strip()]
    if edit.content.strip() == edit.path:
        return (
            f"Your listing of {edit.path} holds only its name. Write the file's path on one line, "
            "then its entire new content in a fenced block."
        )
    if old is None:
        return None
    old_lines = [line for line in old.split("\n") if line.strip()]
    if len(old_lines) >= 4 and len(new_lines) < len(old_lines) / 2:
        return (
            f"Your listing of {edit.path} has {len(new_lines)} lines where the file has "
            f"{len(old_lines)}; it was not written. Write the entire file, every line of it."
        )
    return None


def rewrite_selection_call(task: AgentTask, new_lines: str) -> ToolCall:
    """An edit_file call replacing the task's selected lines with ``new_lines``."""
    sel = task.selection
    assert sel is not None
    lines = sel.text.split("\n")
    start = max(1, sel.start_line)
    end = min(len(lines), max(start, sel.end_line))
    old = "\n".join(lines[start - 1 : end])
    new = new_lines[:-1] if new_lines.endswith("\n") else new_lines
    # Unique context makes the match exact: the lines before the selection pin it down.
    before = "\n".join(lines[max(0, start - 4) : start - 1])
    if before and sel.text.count(old) != 1:
        old, new = before + "\n" + old, before + "\n" + new
    return ToolCall("edit_file", {"path": sel.rel, "old_string": old, "new_string": new})
