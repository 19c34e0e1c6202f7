"""Applying unified diffs by their context, forgiving the header mistakes small models make."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unidiff import PatchSet, UnidiffParseError  # type: ignore[import-untyped]

from ollama_agent_ls.tools.context import ToolError

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_LOOSE_HUNK_HEADER = re.compile(r"^@@.*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NO_NEWLINE = "\\ No newline at end of file"
_DEV_NULL = "/dev/null"
_QUOTE_LINES = 5


@dataclass(frozen=True)
class PatchedFile:
    """One file's text before and after the patch (``None`` = the file does not exist)."""

    rel: str
    before: str | None
    after: str | None


@dataclass
class _Hunk:
    header: str
    source_start: int
    lines: list[tuple[str, str]]
    """(kind, text) with kind ' ', '-' or '+'."""
    source_no_eol: bool = False
    target_no_eol: bool = False

    @property
    def source(self) -> list[str]:
        return [text for kind, text in self.lines if kind != "+"]


def _strip_fences(lines: list[str]) -> list[str]:
    fenced = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    if len(fenced) >= 2:
        # Keep what is inside the fences: models put prose before and after them.
        inside: list[str] = []
        for start, end in zip(fenced[::2], fenced[1::2], strict=False):
            inside.extend(lines[start + 1 : end])
        return inside
    return [line for line in lines if not _FENCE.match(line)]


def _is_file_header(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith("diff --git ") or line.startswith("Index: "):
        return True
    return line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _normalise(patch: str) -> str:
    """Rewrite the patch so that unidiff parses it: fences gone, hunk counts recounted."""
    lines = _strip_fences(patch.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not _LOOSE_HUNK_HEADER.match(line):
            out.append(line)
            i += 1
            continue
        header = _HUNK_HEADER.match(line)
        src_start = int(header.group(1)) if header else 1
        tgt_start = int(header.group(3)) if header else src_start
        section = header.group(5) if header else ""
        i += 1
        body: list[str] = []
        while i < len(lines) and not _LOOSE_HUNK_HEADER.match(lines[i]):
            if _is_file_header(lines, i):
                break
            body.append(lines[i])
            i += 1
        # Trailing empty or prose lines end the hunk (separators, explanations); a " " line is
        # real context for an empty line and stays.
        while body and (body[-1] == "" or body[-1][:1] not in " +-\\"):
            body.pop()
        fixed: list[str] = []
        src_len = tgt_len = 0
        for raw in body:
            kind = raw[:1]
            if raw.startswith("\\"):
                fixed.append(_NO_NEWLINE)
                continue
            if kind not in ("+", "-", " "):
                # A context line whose leading space the model dropped (often an empty line).
                raw = " " + raw
                kind = " "
            fixed.append(raw)
            src_len += kind != "+"
            tgt_len += kind != "-"
        if src_len == 0 and src_start > 0 and not header:
            src_start = 0
        out.append(f"@@ -{src_start},{src_len} +{tgt_start},{tgt_len} @@ {section}".rstrip())
        out.extend(fixed)
    text = "\n".join(out)
    return text if text.endswith("\n") else text + "\n"


def _strip_prefix(name: str) -> str:
    name = name.strip()
    if name.startswith(("a/", "b/")):
        return name[2:]
    return name


def _hunks(patched: Any) -> list[_Hunk]:
    hunks: list[_Hunk] = []
    for hunk in patched:
        header = (
            f"@@ -{hunk.source_start},{hunk.source_length} "
            f"+{hunk.target_start},{hunk.target_length} @@"
        )
        ours = _Hunk(header, hunk.source_start, [])
        last_kind = ""
        for line in hunk:
            kind = line.line_type
            if kind == "\\":
                if last_kind in ("-", " "):
                    ours.source_no_eol = True
                if last_kind in ("+", " "):
                    ours.target_no_eol = True
                continue
            if kind not in ("+", "-", " "):
                continue
            value = line.value[:-1] if line.value.endswith("\n") else line.value
            ours.lines.append((kind, value))
            last_kind = kind
        hunks.append(ours)
    return hunks


def _find(lines: list[str], source: list[str], used: list[tuple[int, int]]) -> list[int]:
    size = len(source)

    def free(start: int) -> bool:
        return all(start + size <= a or start >= b for a, b in used)

    comparisons: list[Callable[[str], str]] = [str, str.rstrip]
    for compare in comparisons:
        want = [compare(line) for line in source]
        starts = [
            start
            for start in range(len(lines) - size + 1)
            if free(start) and all(compare(lines[start + j]) == want[j] for j in range(size))
        ]
        if starts:
            return starts
    return []


def _apply_hunks(rel: str, text: str, hunks: list[_Hunk]) -> str:
    had_eol = text.endswith("\n")
    lines = text.split("\n")
    if had_eol or text == "":
        lines.pop()
    used: list[tuple[int, int]] = []
    placed: list[tuple[int, _Hunk]] = []
    offset = 0
    for hunk in hunks:
        source = hunk.source
        expected = max(0, hunk.source_start - 1 + offset)
        if not source:
            # Pure insertion: "-N,0" means after line N.
            start = min(len(lines), max(0, hunk.source_start + offset))
            starts = [start]
        else:
            starts = _find(lines, source, used)
        if not starts:
            quote = "\n".join(f"  {line}" for line in source[:_QUOTE_LINES])
            raise ToolError(
                f"Patch hunk {hunk.header} for {rel} does not match the file: its context and "
                f"removed lines were not found. The hunk expects:\n{quote}\nRead {rel} again with "
                "read_file and make the context and '-' lines copy the file exactly (or use "
                "edit_file). Nothing was changed."
            )
        start = min(starts, key=lambda s: (abs(s - expected), s))
        offset = start - (hunk.source_start - 1) if source else offset
        used.append((start, start + len(source)))
        placed.append((start, hunk))
    eol = had_eol or text == ""
    for start, hunk in sorted(placed, key=lambda item: item[0], reverse=True):
        end = start + len(hunk.source)
        original = lines[start:end]
        replacement: list[str] = []
        cursor = 0
        for kind, value in hunk.lines:
            if kind == " ":
                # Keep the file's own version of a context line (whitespace may differ).
                replacement.append(original[cursor])
                cursor += 1
            elif kind == "-":
                cursor += 1
            else:
                replacement.append(value)
        at_end = end == len(lines)
        lines[start:end] = replacement
        if at_end:
            if hunk.target_no_eol:
                eol = False
            elif hunk.source_no_eol:
                eol = True
    result = "\n".join(lines)
    if lines and eol:
        result += "\n"
    return result


def apply_patch(patch: str, read: Callable[[str], str | None]) -> list[PatchedFile]:
    """Apply a unified diff to texts from ``read`` (None = missing); all files or none."""
    if not patch.strip():
        raise ToolError("The patch is empty. Pass a unified diff with ---/+++ headers and hunks.")
    try:
        patch_set = PatchSet(_normalise(patch))
    except UnidiffParseError as exc:
        raise ToolError(
            f"The patch could not be parsed ({str(exc).strip()}). Write a unified diff: "
            "'--- a/path' and '+++ b/path' lines, then hunks starting with "
            "'@@ -start,count +start,count @@' whose lines begin with ' ', '-' or '+'."
        ) from exc
    if not len(patch_set):
        raise ToolError(
            "The patch holds no file changes. Start each file with '--- a/path' and "
            "'+++ b/path' lines, followed by '@@ ... @@' hunks."
        )
    originals: dict[str, str | None] = {}
    current: dict[str, str | None] = {}
    order: list[str] = []
    for patched in patch_set:
        source = _strip_prefix(patched.source_file or _DEV_NULL)
        target = _strip_prefix(patched.target_file or _DEV_NULL)
        creating = source == _DEV_NULL
        deleting = target == _DEV_NULL
        if creating and deleting:
            raise ToolError("A patch section has /dev/null as both source and target; fix it.")
        rel = target if creating else source
        if not deleting and not creating and target != source:
            raise ToolError(
                f"The patch renames {source} to {target}, which apply_patch does not do. "
                "Create the new file with write_file and delete the old one with delete_file."
            )
        if rel not in current:
            originals[rel] = current[rel] = read(rel)
            order.append(rel)
        text = current[rel]
        hunks = _hunks(patched)
        if creating:
            if text is not None:
                raise ToolError(
                    f"The patch creates {rel} (from /dev/null), but {rel} already exists. "
                    "Read it and patch its current content, or replace it with write_file."
                )
            text = ""
        elif text is None:
            raise ToolError(
                f"{rel} does not exist, so the patch cannot change it. To create it use "
                "'--- /dev/null' and '+++ b/" + rel + "', or write_file."
            )
        elif not hunks and not deleting:
            raise ToolError(
                f"The patch section for {rel} has no hunks. Add '@@ ... @@' hunks with the lines "
                "to change."
            )
        new_text = _apply_hunks(rel, text, hunks)
        current[rel] = None if deleting else new_text
    return [
        PatchedFile(rel, originals[rel], current[rel])
        for rel in order
        if originals[rel] != current[rel]
    ]
