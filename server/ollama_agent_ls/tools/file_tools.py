"""The file tools the model calls: read, list, search, write, edit, patch and delete."""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path, PurePosixPath

from pathspec import GitIgnoreSpec

from ollama_agent_ls.tools import patches
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.edit_matcher import number_lines, replace_unique
from ollama_agent_ls.tools.placeholders import find_placeholders
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import FileMissing, TextDocument
from ollama_agent_ls.workspace.paths import iter_workspace_files, resolve_path

logger = logging.getLogger(__name__)

READ_MAX_LINES = 2000
READ_MAX_BYTES = 100_000
READ_MAX_LINE_CHARS = 2000
LIST_MAX_ENTRIES = 500
SEARCH_MAX_MATCHES = 200
SEARCH_MAX_LINE_CHARS = 200
SEARCH_MAX_FILE_BYTES = 2_000_000
WALK_LIMIT = 100_000
_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")


def _lf(text: str) -> str:
    """``text`` with CRLF line ends as LF: the tools match and count lines on LF text."""
    return text.replace("\r\n", "\n")


def _lines(text: str) -> list[str]:
    lines = _lf(text).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _similar_paths(root: Path, rel: str, limit: int = 5) -> list[str]:
    files = list(iter_workspace_files(root, limit=20_000))
    name = PurePosixPath(rel).name
    same_name = [f for f in files if PurePosixPath(f).name == name]
    close = difflib.get_close_matches(rel, files, n=limit, cutoff=0.6)
    return list(dict.fromkeys([*same_name, *close]))[:limit]


def _missing(ctx: ToolContext, rel: str, extra: str) -> ToolError:
    similar = _similar_paths(ctx.root, rel)
    hint = f" Similar paths: {', '.join(similar)}." if similar else ""
    return ToolError(f"{rel} does not exist.{hint} {extra}".rstrip())


def _read_existing(ctx: ToolContext, path: Path, rel: str) -> TextDocument | None:
    if path.is_dir():
        raise ToolError(f"{rel} is a directory, not a file; choose a file path inside it.")
    if not ctx.documents.exists(path):
        return None
    try:
        return ctx.documents.read(path)
    except FileMissing:
        return None


def _to_newline(text: str, newline: str) -> str:
    text = _lf(text)
    return text.replace("\n", newline) if newline != "\n" else text


async def read_file(
    ctx: ToolContext, path: str, start_line: int | None = None, end_line: int | None = None
) -> str:
    """The file's lines, numbered, optionally only start_line..end_line (1-based, inclusive)."""
    abs_path, rel = resolve_path(ctx.root, path)
    if abs_path.is_dir():
        raise ToolError(
            f"{rel} is a directory, not a file. "
            f"Use list_files with glob '{rel}/**' to see its files."
        )
    try:
        doc = ctx.documents.read(abs_path)
    except FileMissing as exc:
        raise _missing(ctx, rel, "Use list_files to see which files exist.") from exc
    lines = _lines(doc.text)
    total = len(lines)
    if total == 0:
        return f"{rel} is empty (0 lines)."
    start = 1 if start_line is None else int(start_line)
    end = total if end_line is None else int(end_line)
    start = max(1, start)
    if start > total:
        raise ToolError(
            f"start_line {start} is past the end of {rel}, which has {total} lines. "
            f"Use a start_line between 1 and {total}."
        )
    if end < start:
        raise ToolError(
            f"end_line {end} is before start_line {start}; give end_line >= start_line "
            "(or leave it out to read to the end)."
        )
    end = min(end, total)
    out: list[str] = []
    size = 0
    last = start - 1
    for number in range(start, end + 1):
        line = lines[number - 1]
        if len(line) > READ_MAX_LINE_CHARS:
            line = line[:READ_MAX_LINE_CHARS] + f" [... line cut, {len(line)} characters]"
        entry = f"{number:>6}\t{line}"
        if out and (len(out) >= READ_MAX_LINES or size + len(entry) + 1 > READ_MAX_BYTES):
            break
        out.append(entry)
        size += len(entry) + 1
        last = number
    text = "\n".join(out)
    if last < end:
        text += (
            f"\n[Output cut at line {last} of {total} to stay small. Read the rest with "
            f"read_file(path={rel!r}, start_line={last + 1}).]"
        )
    elif start > 1 or end < total:
        text += f"\n[Lines {start}-{end} of {total}.]"
    return text


def _expand_braces(pattern: str) -> list[str]:
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    out: list[str] = []
    for option in match.group(1).split(","):
        out.extend(_expand_braces(head + option + tail))
    return out


def glob_matcher(glob: str | None) -> GitIgnoreSpec | None:
    """A matcher for a tool's glob ('*.py' matches at any depth, 'src/**/*.ts' is anchored)."""
    if glob is None or not glob.strip():
        return None
    patterns: list[str] = []
    for part in glob.split():
        part = part.strip().strip("'\"")
        part = part.removeprefix("./")
        if part in (".", "*", "**", "**/*"):
            return None
        if part:
            patterns.extend(_expand_braces(part))
    return GitIgnoreSpec.from_lines(patterns) if patterns else None


def _files(ctx: ToolContext, glob: str | None) -> list[str]:
    matcher = glob_matcher(glob)
    files = iter_workspace_files(ctx.root, limit=WALK_LIMIT)
    chosen = [f for f in files if matcher is None or matcher.match_file(f)]
    return sorted(chosen)


async def list_files(ctx: ToolContext, glob: str | None = None) -> str:
    """Files under the workspace root without ignored ones, optionally filtered by a glob."""
    files = _files(ctx, glob)
    if not files:
        if glob:
            broader = f"**/{glob.strip()}" if "/" in glob and "**" not in glob else "**/*.py"
            return (
                f"No files match the glob {glob!r}. Try a broader glob such as {broader!r}, "
                "or list_files without a glob."
            )
        return "The workspace has no files (apart from ignored ones)."
    shown = files[:LIST_MAX_ENTRIES]
    text = "\n".join(shown)
    if len(files) > LIST_MAX_ENTRIES:
        text += (
            f"\n[... {len(files) - LIST_MAX_ENTRIES} more files not shown; narrow the list with "
            "a glob such as 'src/**/*.py'.]"
        )
    return text


async def search(ctx: ToolContext, regex: str, glob: str | None = None) -> str:
    """Lines matching a Python regular expression, as 'path:line: text'."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ToolError(
            f"Invalid regex {regex!r}: {exc}. Escape special characters such as ( ) [ ] {{ }} "
            ". * + ? | \\ with a backslash to search for them literally."
        ) from exc
    results: list[str] = []
    more = 0
    for rel in _files(ctx, glob):
        abs_path = ctx.root / rel
        try:
            if abs_path.stat().st_size > SEARCH_MAX_FILE_BYTES:
                continue
            doc = ctx.documents.read(abs_path)
        except Exception:  # unreadable, binary or non-UTF-8 files are skipped
            continue
        for number, line in enumerate(_lines(doc.text), start=1):
            if not pattern.search(line):
                continue
            if len(results) >= SEARCH_MAX_MATCHES:
                more += 1
                continue
            shown = line.strip()
            if len(shown) > SEARCH_MAX_LINE_CHARS:
                shown = shown[:SEARCH_MAX_LINE_CHARS] + " [...]"
            results.append(f"{rel}:{number}: {shown}")
    if not results:
        where = f" in files matching {glob!r}" if glob else ""
        return f"No matches for {regex!r}{where}."
    text = "\n".join(results)
    if more:
        text += (
            f"\n[... {more} more matches not shown; narrow the search with a more specific "
            "regex or a glob.]"
        )
    return text


async def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create a file or replace all of its content."""
    abs_path, rel = resolve_path(ctx.root, path, for_write=True)
    existing = _read_existing(ctx, abs_path, rel)
    if existing is None:
        await ctx.apply_change(FileChange(abs_path, rel, None, content))
        return f"Created {rel} ({len(_lines(content))} lines)."
    placeholders = find_placeholders(content, existing.text)
    if placeholders:
        shown = "; ".join(f"line {n}: {text!r}" for n, text in placeholders[:5])
        raise ToolError(
            f"Refused to replace {rel}: the new content has placeholder lines that stand for "
            f"code left out ({shown}). write_file replaces the WHOLE file, so that code would be "
            "lost. Use edit_file to change part of the file, or write the complete content."
        )
    new_text = _to_newline(content, existing.newline) if existing.newline != "\n" else content
    if new_text == existing.text:
        return f"{rel} already has exactly this content; nothing changed."
    await ctx.apply_change(FileChange(abs_path, rel, existing.text, new_text))
    return f"Replaced the content of {rel} ({len(_lines(new_text))} lines)."


async def edit_file(
    ctx: ToolContext, path: str, old_string: str, new_string: str, replace_all: bool = False
) -> str:
    """Replace old_string with new_string in a file; the match must be unique unless replace_all."""
    abs_path, rel = resolve_path(ctx.root, path, for_write=True)
    existing = _read_existing(ctx, abs_path, rel)
    if existing is None:
        raise _missing(ctx, rel, "To create a file use write_file.")
    result = replace_unique(
        _lf(existing.text),
        _lf(old_string),
        _lf(new_string),
        replace_all=bool(replace_all),
        label=rel,
    )
    after = _to_newline(result.new_text, existing.newline)
    await ctx.apply_change(FileChange(abs_path, rel, existing.text, after))
    how = {
        "exact": "",
        "trailing_whitespace": " (old_string matched after ignoring trailing whitespace)",
        "indentation": (
            " (old_string matched at a different indentation; new_string was re-indented to "
            "the file's indentation - check the result)"
        ),
    }[result.strategy]
    if result.count > 1:
        return f"Edited {rel}: replaced {result.count} occurrences{how}."
    new_lines = _lines(result.new_text)
    first, last = result.first_line, result.last_line
    summary = f"Edited {rel}: lines {first}-{last} now read{how}:"
    if last - first < 12 and first <= len(new_lines):
        return summary + "\n" + number_lines(new_lines[first - 1 : last], first)
    return (
        f"Edited {rel}: replaced text at line {first}; the new text is lines {first}-{last}{how}."
    )


async def apply_patch(ctx: ToolContext, patch: str) -> str:
    """Apply a unified diff to one or more files; hunks are placed by their context lines."""
    docs: dict[str, TextDocument] = {}
    targets: dict[str, tuple[Path, str]] = {}

    def read(raw: str) -> str | None:
        abs_path, rel = resolve_path(ctx.root, raw, for_write=True)
        targets[raw] = (abs_path, rel)
        doc = _read_existing(ctx, abs_path, rel)
        if doc is None:
            return None
        docs[raw] = doc
        return _lf(doc.text)

    results = patches.apply_patch(patch, read)
    if not results:
        return "The patch changes nothing (every file already has that content)."
    changes: list[FileChange] = []
    for patched in results:
        abs_path, rel = targets[patched.rel]
        doc = docs.get(patched.rel)
        before = doc.text if doc is not None else None
        after = patched.after
        if after is not None and doc is not None:
            after = _to_newline(after, doc.newline)
        changes.append(FileChange(abs_path, rel, before, after))
    applied: list[FileChange] = []
    for change in changes:
        try:
            await ctx.apply_change(change)
        except ChangeRejected as exc:
            raise ChangeRejected(await _undo(ctx, applied, str(exc))) from exc
        applied.append(change)
    return "Patched: " + ", ".join(_describe(change) for change in changes) + "."


async def _undo(ctx: ToolContext, applied: list[FileChange], reason: str) -> str:
    for change in reversed(applied):
        try:
            await ctx.apply_change(FileChange(change.path, change.rel, change.after, change.before))
        except ChangeRejected:
            done = ", ".join(c.rel for c in applied)
            return f"{reason} The patch was applied only partly: {done} already changed."
    return f"{reason} No file was changed by the patch."


def _describe(change: FileChange) -> str:
    if change.kind == "create":
        return f"{change.rel} (created, {len(_lines(change.after or ''))} lines)"
    if change.kind == "delete":
        return f"{change.rel} (deleted)"
    before, after = _lines(change.before or ""), _lines(change.after or "")
    added = removed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return f"{change.rel} (+{added} -{removed} lines)"


async def delete_file(ctx: ToolContext, path: str) -> str:
    """Delete a file."""
    abs_path, rel = resolve_path(ctx.root, path, for_write=True)
    existing = _read_existing(ctx, abs_path, rel)
    if existing is None:
        raise _missing(ctx, rel, "Nothing was deleted.")
    await ctx.apply_change(FileChange(abs_path, rel, existing.text, None))
    return f"Deleted {rel}."
