"""Finding old_string in a file: exact first, then tolerant of whitespace small models get wrong."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from ollama_agent_ls.tools.context import ToolError

Strategy = Literal["exact", "trailing_whitespace", "indentation"]

_QUOTE_LINES = 15
_TAB_WIDTHS = (4, 8, 2)
_LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+\t")
# Finders return (0-based start line, strategy detail) for every window that matches.
_Finder = Callable[[list[str], list[str]], list[tuple[int, str]]]


class EditNoMatch(ToolError):
    """old_string is not in the file, even allowing for whitespace differences."""


class EditAmbiguous(ToolError):
    """old_string occurs more than once and replace_all was not asked for."""


@dataclass(frozen=True)
class MatchResult:
    """The text after the edit and how old_string was found."""

    new_text: str
    strategy: Strategy
    first_line: int
    """1-based line of the first replaced region in the original text."""
    count: int
    """How many regions were replaced."""
    last_line: int
    """1-based last line of the first replacement in ``new_text``."""


def replace_unique(
    text: str, old: str, new: str, *, replace_all: bool = False, label: str = "the file"
) -> MatchResult:
    """Replace the one occurrence of ``old`` with ``new`` (all of them with ``replace_all``)."""
    if old == "":
        raise ToolError(
            "old_string is empty. To create a file or replace all of its content use write_file; "
            "to edit, copy the lines to change from read_file into old_string."
        )
    if old == new:
        raise ToolError(
            "old_string and new_string are identical, so the edit would make no change. "
            "Put the changed text in new_string."
        )
    result = _exact(text, old, new, replace_all, label)
    if result is not None:
        return result
    text_lines = text.split("\n")
    old_lines = _block_lines(old)
    new_lines = _block_lines(new)
    finders: list[tuple[Strategy, _Finder]] = [
        ("trailing_whitespace", _trailing_ws_matches),
        ("indentation", _indent_matches),
    ]
    for strategy, finder in finders:
        matches = finder(text_lines, old_lines)
        if not matches:
            continue
        if len(matches) > 1 and not replace_all:
            raise _ambiguous([start + 1 for start, _ in matches], label)
        chosen = _non_overlapping(matches, len(old_lines))
        return _replace_lines(text_lines, chosen, len(old_lines), old_lines, new_lines, strategy)
    raise _no_match(text_lines, old, old_lines, label)


def _exact(text: str, old: str, new: str, replace_all: bool, label: str) -> MatchResult | None:
    first = text.find(old)
    if first < 0:
        return None
    positions = [first]
    pos = text.find(old, first + 1)
    while pos >= 0:
        positions.append(pos)
        pos = text.find(old, pos + 1)
    first_line = text.count("\n", 0, first) + 1
    if len(positions) > 1 and not replace_all:
        lines = sorted({text.count("\n", 0, p) + 1 for p in positions})
        raise _ambiguous(lines, label)
    if replace_all:
        new_text = text.replace(old, new)
        count = text.count(old)
    else:
        new_text = text[:first] + new + text[first + len(old) :]
        count = 1
    last_line = first_line + new.count("\n")
    if new.endswith("\n") and new:
        last_line -= 1
    return MatchResult(new_text, "exact", first_line, count, max(first_line, last_line))


def _block_lines(value: str) -> list[str]:
    """Lines of ``value``; a final line break does not start another line."""
    if value == "":
        return []
    lines = value.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _trailing_ws_matches(text_lines: list[str], old_lines: list[str]) -> list[tuple[int, str]]:
    want = [line.rstrip() for line in old_lines]
    size = len(want)
    return [
        (start, "")
        for start in range(len(text_lines) - size + 1)
        if all(text_lines[start + j].rstrip() == want[j] for j in range(size))
    ]


def _split_indent(line: str) -> tuple[str, str]:
    stripped = line.lstrip(" \t")
    return line[: len(line) - len(stripped)], stripped.rstrip()


def _width(indent: str, tab: int) -> int:
    return len(indent.expandtabs(tab))


def _base(lines: list[tuple[str, str]], tab: int) -> int:
    widths = [_width(indent, tab) for indent, body in lines if body]
    return min(widths) if widths else 0


def _indent_matches(text_lines: list[str], old_lines: list[str]) -> list[tuple[int, str]]:
    """Windows whose lines equal old_lines up to a shift of the whole block's indentation."""
    old_split = [_split_indent(line) for line in old_lines]
    bodies = [body for _, body in old_split]
    if not any(bodies):
        return []
    size = len(old_lines)
    text_split = [_split_indent(line) for line in text_lines]
    matches: list[tuple[int, str]] = []
    for start in range(len(text_lines) - size + 1):
        window = text_split[start : start + size]
        if any(window[j][1] != bodies[j] for j in range(size)):
            continue
        for tab in _TAB_WIDTHS:
            old_base, win_base = _base(old_split, tab), _base(window, tab)
            if all(
                not body
                or _width(window[j][0], tab) - win_base == _width(old_split[j][0], tab) - old_base
                for j, body in enumerate(bodies)
            ):
                matches.append((start, str(tab)))
                break
    return matches


def _non_overlapping(matches: list[tuple[int, str]], size: int) -> list[tuple[int, str]]:
    chosen: list[tuple[int, str]] = []
    for start, info in matches:
        if not chosen or start >= chosen[-1][0] + max(size, 1):
            chosen.append((start, info))
    return chosen


def _reindent(window: list[str], old_lines: list[str], new_lines: list[str], tab: int) -> list[str]:
    """new_lines moved from old's base indentation to the matched block's, relative shape kept."""
    win_split = [_split_indent(line) for line in window]
    old_split = [_split_indent(line) for line in old_lines]
    shift = _base(win_split, tab) - _base(old_split, tab)
    use_tabs = any(indent.startswith("\t") for indent, body in win_split if body)
    out: list[str] = []
    for line in new_lines:
        indent, _ = _split_indent(line)
        rest = line[len(indent) :]
        if not rest.strip():
            out.append("")
            continue
        width = max(0, _width(indent, tab) + shift)
        lead = "\t" * (width // tab) + " " * (width % tab) if use_tabs else " " * width
        out.append(lead + rest)
    return out


def _replace_lines(
    text_lines: list[str],
    matches: list[tuple[int, str]],
    size: int,
    old_lines: list[str],
    new_lines: list[str],
    strategy: Strategy,
) -> MatchResult:
    lines = list(text_lines)
    replacements: list[list[str]] = []
    for start, info in matches:
        window = text_lines[start : start + size]
        if strategy == "indentation":
            replacements.append(_reindent(window, old_lines, new_lines, int(info)))
        else:
            replacements.append(list(new_lines))
    for (start, _), replacement in reversed(list(zip(matches, replacements, strict=True))):
        lines[start : start + size] = replacement
    first = matches[0][0] + 1
    last = max(first, first + len(replacements[0]) - 1)
    return MatchResult("\n".join(lines), strategy, first, len(matches), last)


def _ambiguous(lines: list[int], label: str) -> EditAmbiguous:
    shown = ", ".join(str(n) for n in lines[:20])
    more = f" and {len(lines) - 20} more" if len(lines) > 20 else ""
    return EditAmbiguous(
        f"old_string occurs {len(lines)} times in {label} (lines {shown}{more}). Add surrounding "
        "lines to old_string so that it matches only the place to change, or set replace_all "
        "to true to change every occurrence."
    )


def number_lines(lines: Sequence[str], first: int) -> str:
    """Lines prefixed with their 1-based numbers the way read_file shows them."""
    return "\n".join(f"{first + i:>6}\t{line}" for i, line in enumerate(lines))


def closest_region(text_lines: list[str], old_lines: list[str]) -> tuple[int, float]:
    """0-based start of the window of len(old_lines) lines most similar to old_lines, and ratio."""
    size = max(1, len(old_lines))
    target = "\n".join(line.strip() for line in old_lines)
    matcher = SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(target)
    best, best_ratio = 0, -1.0
    checks: list[Callable[[], float]] = [matcher.real_quick_ratio, matcher.quick_ratio]
    for start in range(max(1, len(text_lines) - size + 1)):
        window = "\n".join(line.strip() for line in text_lines[start : start + size])
        matcher.set_seq1(window)
        if any(check() <= best_ratio for check in checks):
            continue
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best, best_ratio = start, ratio
    return best, best_ratio


def _no_match(text_lines: list[str], old: str, old_lines: list[str], label: str) -> EditNoMatch:
    hint = ""
    if old_lines and all(_LINE_NUMBER_PREFIX.match(line) for line in old_lines if line.strip()):
        hint = (
            " old_string seems to start each line with a line number from read_file; "
            "leave the numbers and the tab after them out."
        )
    if not any(line.strip() for line in text_lines):
        return EditNoMatch(
            f"old_string was not found: {label} is empty.{hint} Use write_file to give it content."
        )
    start, _ = closest_region(text_lines, old_lines or [old])
    size = min(max(1, len(old_lines)), _QUOTE_LINES)
    region = text_lines[start : start + size]
    cut = " (cut)" if len(old_lines) > _QUOTE_LINES else ""
    quote = number_lines(region, start + 1)
    return EditNoMatch(
        # The first line is a whole sentence: a transcript shows only that line of a result.
        f"old_string was not found in {label}, not even ignoring trailing whitespace and "
        f"indentation.{hint} Call read_file again and copy old_string exactly from its output "
        "(every character, without the line-number prefix), then retry. The most similar "
        f"region is lines {start + 1}-{start + len(region)}{cut}, quoted below.\n{quote}"
    )
