"""Edit maths for the language server: minimal edits between two texts and LSP positions.

Offsets are ``str`` indices (code points). LSP positions are (line, character) where lines break
at ``"\\n"``, ``"\\r\\n"`` or ``"\\r"`` and characters count code units of the negotiated position
encoding (UTF-16 unless the client chose otherwise).
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from collections.abc import Callable
from typing import Literal, NamedTuple

from lsprotocol import types as lsp

Encoding = Literal["utf-8", "utf-16", "utf-32"]

_EXACT_DIFF_PAIRS = 50_000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class LineEdit(NamedTuple):
    """Replace ``before[start:end]`` with ``new_text``."""

    start: int
    end: int
    new_text: str


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their line breaks kept, split the way LSP counts lines."""
    return _LINE.findall(text)


def minimal_line_edits(before: str, after: str) -> list[LineEdit]:
    """Sorted, non-overlapping edits turning ``before`` into ``after``; only changed text."""
    if before == after:
        return []
    old_lines = split_lines(before)
    new_lines = split_lines(after)
    # Trimming the common head and tail first makes the usual small change O(n) instead of
    # handing SequenceMatcher two 20,000-line sequences.
    head = 0
    limit = min(len(old_lines), len(new_lines))
    while head < limit and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    limit -= head
    while tail < limit and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    old_middle = old_lines[head : len(old_lines) - tail]
    new_middle = new_lines[head : len(new_lines) - tail]

    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))

    blocks: list[tuple[int, int, int, int]] = []
    matcher = difflib.SequenceMatcher(
        None, old_middle, new_middle, autojunk=_repetitive(old_middle, new_middle)
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if blocks and blocks[-1][1] == i1 and blocks[-1][3] == j1:
            blocks[-1] = (blocks[-1][0], i2, blocks[-1][2], j2)
        else:
            blocks.append((i1, i2, j1, j2))

    edits: list[LineEdit] = []
    for i1, i2, j1, j2 in blocks:
        start = starts[head + i1]
        end = starts[head + i2]
        edits.append(_refine(before, start, end, "".join(new_middle[j1:j2])))
    return edits


def _repetitive(old: list[str], new: list[str]) -> bool:
    """True when lines repeat so much that an exact diff would take seconds.

    SequenceMatcher without autojunk is cubic on lines that occur many times in both texts (a
    file of identical lines: 1,000 of them take 11 s). Past this bound, difflib's autojunk
    heuristic keeps the diff fast; the edits stay correct, only coarser.
    """
    counts = Counter(new)
    pairs = sum(counts.get(line, 0) for line in old)
    return pairs > _EXACT_DIFF_PAIRS


def _refine(before: str, start: int, end: int, new_text: str) -> LineEdit:
    """Shrink a line-block replacement to the characters that differ, so cursors there survive."""
    old_text = before[start:end]
    prefix = _shared_head(old_text, new_text)
    suffix = _shared_tail(old_text, new_text, min(len(old_text), len(new_text)) - prefix)
    start += prefix
    end -= suffix
    new_text = new_text[prefix : len(new_text) - suffix]
    # No LSP position lies between "\r" and "\n": widen over the pair instead.
    if 0 < start < len(before) and before[start - 1] == "\r" and before[start] == "\n":
        start -= 1
        new_text = "\r" + new_text
    if 0 < end < len(before) and before[end - 1] == "\r" and before[end] == "\n":
        end += 1
        new_text += "\n"
    return LineEdit(start, end, new_text)


def apply_edits(text: str, edits: list[LineEdit]) -> str:
    """``text`` with sorted, non-overlapping ``edits`` applied."""
    pieces: list[str] = []
    position = 0
    for start, end, new_text in edits:
        pieces.append(text[position:start])
        pieces.append(new_text)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _normalise(encoding: str) -> Encoding:
    value = str(getattr(encoding, "value", encoding)).lower()
    if value == "utf-8":
        return "utf-8"
    if value == "utf-32":
        return "utf-32"
    if value == "utf-16":
        return "utf-16"
    raise ValueError(
        f"unknown position encoding {encoding!r}; use 'utf-8', 'utf-16' or 'utf-32' "
        "(the values of lsprotocol's PositionEncodingKind)"
    )


def _units(text: str, encoding: Encoding) -> int:
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text.encode("utf-8", "surrogatepass"))


def _char_units(char: str, encoding: Encoding) -> int:
    code = ord(char)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    return 3 if code < 0x10000 else 4


class LineIndex:
    """Line starts of one text, for fast offset <-> LSP position conversion."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = _normalise(encoding)
        self.line_starts = [0]
        self.line_starts.extend(match.end() for match in _LINE_BREAK.finditer(text))

    @property
    def line_count(self) -> int:
        """Number of lines (a trailing line break starts an empty last line)."""
        return len(self.line_starts)

    def line_end(self, line: int) -> int:
        """Offset where ``line``'s content ends (before its line break)."""
        if line + 1 >= len(self.line_starts):
            return len(self.text)
        end = self.line_starts[line + 1]
        if self.text.startswith("\r\n", end - 2):
            return end - 2
        return end - 1

    def position(self, offset: int) -> tuple[int, int]:
        """(line, character) of ``offset``, clamped into the text."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[line]
        return line, _units(self.text[start:offset], self.encoding)

    def offset(self, line: int, character: int) -> int:
        """Offset of (line, character); past the line's end means its end, as LSP says."""
        if line < 0:
            return 0
        if line >= len(self.line_starts):
            return len(self.text)
        start = self.line_starts[line]
        end = self.line_end(line)
        character = max(0, character)
        content = self.text[start:end]
        if self.encoding == "utf-32" or content.isascii():
            return start + min(character, len(content))
        units = 0
        for index, char in enumerate(content):
            units += _char_units(char, self.encoding)
            if units > character:
                # A position inside a character's code units means that character's start.
                return start + index
        return end


def offset_to_position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    """(line, character in ``encoding`` code units) of a ``str`` offset into ``text``."""
    return LineIndex(text, encoding).position(offset)


def position_to_offset(text: str, line: int, character: int, encoding: str) -> int:
    """``str`` offset into ``text`` of an LSP (line, character) in ``encoding`` code units."""
    return LineIndex(text, encoding).offset(line, character)


_BLOCK = 1 << 15
"""Characters compared at a time when looking for the shared head and tail of two texts."""


def _shared_run(limit: int, same: Callable[[int, int], bool]) -> int:
    """Largest ``n <= limit`` with ``same(0, n)``, where ``same(i, j)`` compares positions
    ``[i, j)`` of the run: block compares (each character copied once), then bisect."""
    i = 0
    while i < limit:
        step = min(_BLOCK, limit - i)
        if not same(i, i + step):
            break
        i += step
    if i >= limit:
        return limit
    low, high = i, min(i + _BLOCK, limit)
    while low < high:
        mid = (low + high + 1) // 2
        if same(i, mid):
            low = mid
        else:
            high = mid - 1
    return low


def _shared_head(a: str, b: str) -> int:
    """Length of the common prefix."""
    return _shared_run(min(len(a), len(b)), lambda i, j: a[i:j] == b[i:j])


def _shared_tail(a: str, b: str, limit: int) -> int:
    """Length of the common suffix, at most ``limit``."""
    la, lb = len(a), len(b)
    return _shared_run(limit, lambda i, j: a[la - j : la - i] == b[lb - j : lb - i])


def _after_line_break(text: str, i: int) -> int:
    """Offset just past the first line break at or after ``i`` (``len(text)`` if none)."""
    n = text.find("\n", i)
    r = text.find("\r", i, n if n != -1 else len(text))
    if r != -1:
        return r + 2 if text.startswith("\r\n", r) else r + 1
    return len(text) if n == -1 else n + 1


def changed_lines(before: str, after: str) -> tuple[int, int]:
    """(head, tail): both texts share ``before[:head]`` and their last ``tail`` characters,
    each a run of whole lines, so only the lines between need diffing."""
    head = _shared_head(before, after)
    tail = _shared_tail(before, after, min(len(before), len(after)) - head)
    start = max(before.rfind("\n", 0, head), before.rfind("\r", 0, head)) + 1
    if 0 < start < len(before) and before[start - 1] == "\r" and before[start] == "\n":
        start -= 1  # never split a CRLF pair: back to the line the "\r" ends
        start = max(before.rfind("\n", 0, start), before.rfind("\r", 0, start)) + 1
    end = _after_line_break(before, max(start, len(before) - tail))
    return start, min(len(before) - end, tail)


def to_lsp_text_edits(before: str, after: str, encoding: str) -> list[lsp.TextEdit]:
    """LSP TextEdits, in ``encoding`` positions, that turn ``before`` into ``after``."""
    if before == after:
        return []
    # Diff and index only the changed lines: a one-line edit in a 1 MB file stays cheap.
    head, tail = changed_lines(before, after)
    if before.find("\r", 0, head) == -1:
        base = before.count("\n", 0, head)
    else:
        base = len(_LINE_BREAK.findall(before, 0, head))
    region = before[head : len(before) - tail]
    index = LineIndex(region, encoding)
    result: list[lsp.TextEdit] = []
    for start, end, new_text in minimal_line_edits(region, after[head : len(after) - tail]):
        if head + start == len(before) and start == end:
            last_line = base + index.position(start)[0] - 1
            moved = _insert_before_final_break(before, last_line, new_text, encoding)
            if moved is not None:
                result.append(moved)
                continue
        start_line, start_char = index.position(start)
        end_line, end_char = index.position(end)
        result.append(
            lsp.TextEdit(
                range=lsp.Range(
                    start=lsp.Position(line=base + start_line, character=start_char),
                    end=lsp.Position(line=base + end_line, character=end_char),
                ),
                new_text=new_text,
            )
        )
    return result


def _final_break(text: str) -> str:
    """The line break ``text`` ends with ("" when it ends without one)."""
    if text.endswith("\r\n"):
        return "\r\n"
    return text[-1] if text.endswith(("\n", "\r")) else ""


def _insert_before_final_break(
    before: str, line: int, new_text: str, encoding: str
) -> lsp.TextEdit | None:
    """An insert at the very end of ``before`` moved in front of its final line break (to the
    end of ``line``, the line that break ends), when ``before`` and ``new_text`` both end with
    that break; None otherwise.

    An insert at the end of a newline-terminated document sits at (line count - 1, 0), past the
    last line an editor that counts lines without the empty one shows; Neovim 0.10 and 0.11
    apply such an edit as whole lines and add an empty line. The same text change made as
    "break + text without its final break" inserted before the final break lands exactly in
    every editor: ``before + new_text == before[:-n] + brk + new_text[:-n] + brk``.
    """
    brk = _final_break(before)
    if not brk or not new_text.endswith(brk):
        return None
    at = len(before) - len(brk)
    line_start = max(before.rfind("\n", 0, at), before.rfind("\r", 0, at)) + 1
    character = _units(before[line_start:at], _normalise(encoding))
    position = lsp.Position(line=line, character=character)
    return lsp.TextEdit(
        range=lsp.Range(start=position, end=position),
        new_text=brk + new_text[: len(new_text) - len(brk)],
    )
