"""The file tools the model calls: read, list, search, write, edit, patch and delete."""

from __future__ import annotations

import difflib
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from pathspec import GitIgnoreSpec

from ollama_agent_ls.tools import patches
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.edit_matcher import number_lines, replace_unique
from ollama_agent_ls.tools.placeholders import find_placeholders
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import (
    BinaryFile,
    FileMissing,
    TextDocument,
    special_file_message,
    special_kind,
)
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


def _stat(path: Path, rel: str) -> os.stat_result | None:
    """``path``'s stat (links followed: resolve_path confined them), None when it is missing."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ToolError(
            f"{rel} cannot be used: {reason}. Check the path (list_files shows the files)."
        ) from exc


def _refuse_special(info: os.stat_result, rel: str, untouched: str) -> None:
    kind = special_kind(info.st_mode)
    if kind is not None:
        raise ToolError(special_file_message(rel, kind, untouched))


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", errors="surrogatepass"))


def _too_large_to_change(rel: str, size: int, limit: int) -> ToolError:
    return ToolError(
        f"{rel} is {size:,} bytes, more than readMaxBytes ({limit:,} bytes), the largest file "
        "the tools read whole; changing it means reading all of it, so it was left untouched. "
        f"Read parts of it with read_file(path={rel!r}, start_line=..., end_line=...), change "
        "it with run_command (e.g. sed) if that is allowed, or raise the readMaxBytes setting."
    )


def _read_existing(ctx: ToolContext, path: Path, rel: str) -> TextDocument | None:
    limit = ctx.settings.read_max_bytes
    info = _stat(path, rel)
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ToolError(f"{rel} is a directory, not a file; choose a file path inside it.")
        _refuse_special(info, rel, "Nothing was changed")
        if info.st_size > limit:
            raise _too_large_to_change(rel, info.st_size, limit)
    if not ctx.documents.exists(path):
        return None
    try:
        doc = ctx.documents.read(path)
    except FileMissing:
        return None
    size = _text_bytes(doc.text)
    if size > limit:
        raise _too_large_to_change(rel, size, limit)
    return doc


def _to_newline(text: str, newline: str) -> str:
    text = _lf(text)
    return text.replace("\n", newline) if newline != "\n" else text


def _too_large_to_read(rel: str, size: int, limit: int) -> ToolError:
    return ToolError(
        f"{rel} is {size:,} bytes, more than readMaxBytes ({limit:,} bytes), the largest file "
        "read_file reads whole, so it was not read. Read less: a line range, e.g. "
        f"read_file(path={rel!r}, start_line=1, end_line=200), or find the lines you need first "
        f"with run_command('grep -n PATTERN {rel}') if commands are allowed; or raise the "
        "readMaxBytes setting."
    )


async def read_file(
    ctx: ToolContext, path: str, start_line: int | None = None, end_line: int | None = None
) -> str:
    """The file's lines, numbered, optionally only start_line..end_line (1-based, inclusive)."""
    abs_path, rel = resolve_path(ctx.root, path)
    limit = ctx.settings.read_max_bytes
    ranged = start_line is not None or end_line is not None
    info = _stat(abs_path, rel)
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ToolError(
            f"{rel} is a directory, not a file. "
            f"Use list_files with glob '{rel}/**' to see its files."
        )
    if info is not None:
        _refuse_special(info, rel, "Nothing was read")
        if info.st_size > limit:
            if not ranged:
                raise _too_large_to_read(rel, info.st_size, limit)
            # A range of a big file is read line by line, never the whole file at once.
            return _numbered(rel, _disk_lines(abs_path, rel), start_line, end_line, None)
    try:
        doc = ctx.documents.read(abs_path)
    except FileMissing as exc:
        raise _missing(ctx, rel, "Use list_files to see which files exist.") from exc
    if not ranged and _text_bytes(doc.text) > limit:
        raise _too_large_to_read(rel, _text_bytes(doc.text), limit)
    lines = _lines(doc.text)
    if not lines:
        return f"{rel} is empty (0 lines)."
    numbered = ((line, len(line), "characters") for line in lines)
    return _numbered(rel, numbered, start_line, end_line, len(lines))


def _numbered(
    rel: str,
    lines: Iterable[tuple[str, int, str]],
    start_line: int | None,
    end_line: int | None,
    total: int | None,
) -> str:
    """Lines start..end of (line, full length, unit) triples, numbered and cut to stay small.

    ``total`` is None when the lines are streamed from a file too big to count up front.
    """
    start = max(1, 1 if start_line is None else int(start_line))
    end = None if end_line is None else int(end_line)
    if total is not None and start > total:
        raise _past_end(rel, start, total)
    if end is not None and end < start:
        raise ToolError(
            f"end_line {end} is before start_line {start}; give end_line >= start_line "
            "(or leave it out to read to the end)."
        )
    out: list[str] = []
    size = 0
    count = 0
    last = start - 1
    cut = at_end = False
    for number, (line, length, unit) in enumerate(lines, start=1):
        count = number
        if number < start:
            continue
        if end is not None and number > end:
            at_end = True
            break
        if length > READ_MAX_LINE_CHARS:
            line = line[:READ_MAX_LINE_CHARS] + f" [... line cut, {length} {unit}]"
        entry = f"{number:>6}\t{line}"
        if out and (len(out) >= READ_MAX_LINES or size + len(entry) + 1 > READ_MAX_BYTES):
            cut = True
            break
        out.append(entry)
        size += len(entry) + 1
        last = number
    if total is None and not (cut or at_end):
        total = count
    if total == 0:
        return f"{rel} is empty (0 lines)."
    if not out:
        raise _past_end(rel, start, count)
    text = "\n".join(out)
    of_total = f" of {total}" if total is not None else ""
    if cut:
        text += (
            f"\n[Output cut at line {last}{of_total} to stay small. Read the rest with "
            f"read_file(path={rel!r}, start_line={last + 1}).]"
        )
    elif start > 1 or total is None or last < total:
        text += f"\n[Lines {start}-{last}{of_total}.]"
    return text


def _past_end(rel: str, start: int, total: int) -> ToolError:
    return ToolError(
        f"start_line {start} is past the end of {rel}, which has {total} lines. "
        f"Use a start_line between 1 and {total}."
    )


_STREAM_LINE_BYTES = READ_MAX_LINE_CHARS * 4 + 2
"""The most of one line kept while streaming a big file (its shown part, in UTF-8, and a CRLF)."""


def _disk_lines(path: Path, rel: str) -> Iterator[tuple[str, int, str]]:
    """(line without its end, length, unit) of a file on disk, one line in memory at a time."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ToolError(f"{rel} cannot be read: {exc.strerror or exc}.") from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            _refuse_special(os.fstat(handle.fileno()), rel, "Nothing was read")
            if b"\x00" in handle.peek(8192)[:8192]:
                raise BinaryFile(f"{rel} is a binary file; the text tools cannot read it.")
            while True:
                head = handle.readline(_STREAM_LINE_BYTES)
                if not head:
                    return
                if head.endswith(b"\n"):
                    text = head.removesuffix(b"\n").removesuffix(b"\r")
                    decoded = text.decode("utf-8", errors="replace")
                    yield decoded, len(decoded), "characters"
                    continue
                # A very long line: skip the rest of it without keeping it.
                length = len(head)
                while True:
                    rest = handle.readline(1 << 16)
                    length += len(rest.removesuffix(b"\n"))
                    if not rest or rest.endswith(b"\n"):
                        break
                yield head.decode("utf-8", errors="replace"), length, "bytes"
        except OSError as exc:
            raise ToolError(f"{rel} cannot be read: {exc.strerror or exc}.") from exc


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
    too_big: list[str] = []
    largest = min(SEARCH_MAX_FILE_BYTES, ctx.settings.read_max_bytes)
    for rel in _files(ctx, glob):
        abs_path = ctx.root / rel
        try:
            info = os.stat(abs_path)
            if not stat.S_ISREG(info.st_mode):
                continue  # a FIFO or device swapped in since the walk: never opened
            if info.st_size > largest:
                too_big.append(rel)
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
    skipped = _skipped_note(too_big, largest)
    if not results:
        where = f" in files matching {glob!r}" if glob else ""
        return f"No matches for {regex!r}{where}.{skipped}"
    text = "\n".join(results)
    if more:
        text += (
            f"\n[... {more} more matches not shown; narrow the search with a more specific "
            "regex or a glob.]"
        )
    return text + skipped


def _skipped_note(too_big: list[str], largest: int) -> str:
    if not too_big:
        return ""
    shown = ", ".join(too_big[:5]) + (f" and {len(too_big) - 5} more" if len(too_big) > 5 else "")
    return (
        f"\n[Not searched, bigger than {largest:,} bytes: {shown}. Read them in line ranges "
        "with read_file(path, start_line, end_line), or grep them with run_command if commands "
        "are allowed.]"
    )


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
    """Delete a file; a symbolic link is deleted itself, its target is never touched."""
    link_path, link_rel = resolve_path(ctx.root, path, for_write=True, follow_symlinks=False)
    try:
        is_link = stat.S_ISLNK(os.lstat(link_path).st_mode)
        target = os.readlink(link_path) if is_link else ""
    except (FileNotFoundError, NotADirectoryError):
        is_link = False
    except OSError as exc:
        raise ToolError(f"{link_rel} cannot be deleted: {exc.strerror or exc}.") from exc
    if is_link:
        # The link's content is its target, as git stores it; the target is never opened.
        await ctx.apply_change(FileChange(link_path, link_rel, target, None))
        return f"Deleted the symbolic link {link_rel} (it pointed to {target}, left untouched)."
    abs_path, rel = resolve_path(ctx.root, path, for_write=True)
    existing = _read_existing(ctx, abs_path, rel)
    if existing is None:
        raise _missing(ctx, rel, "Nothing was deleted.")
    await ctx.apply_change(FileChange(abs_path, rel, existing.text, None))
    return f"Deleted {rel}."
