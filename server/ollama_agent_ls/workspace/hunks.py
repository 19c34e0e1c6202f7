"""A run's change to one file as hunks that can be kept or reverted one at a time.

The hunks come from the run's own record (the text before and after it), so their ids stay the
same however the user edits the file since. Where a hunk sits now is found by matching the run's
text against the current one, as undo does: a hunk whose lines the user changed is not located
and cannot be reverted (the user's edit wins). Kept and reverted hunks make the run's effective
change, which is what a later undo plans with: a kept hunk stays, a reverted one is done.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.text_edits import split_lines


class HunkError(Exception):
    """A hunk cannot be kept or reverted; the message says why and what to do."""


@dataclass(frozen=True)
class Hunk:
    """One region the run changed: lines ``old`` of the text before, ``new`` of the text after."""

    id: str
    old: tuple[int, int]
    """0-based ``[start, end)`` line range in the text before the run."""
    new: tuple[int, int]
    """0-based ``[start, end)`` line range in the text after the run."""
    old_text: str
    new_text: str


def file_hunks(change: FileChange) -> list[Hunk]:
    """The hunks of ``change`` in file order, with ids ``h1``, ``h2``, ...

    A created or deleted file is one hunk: the whole file.
    """
    before, after = split_lines(change.before or ""), split_lines(change.after or "")
    if change.kind != "modify":
        return [Hunk("h1", (0, len(before)), (0, len(after)), "".join(before), "".join(after))]
    return [
        Hunk(
            f"h{n}",
            (i1, i2),
            (j1, j2),
            "".join(before[i1:i2]),
            "".join(after[j1:j2]),
        )
        for n, (i1, i2, j1, j2) in enumerate(_changed_regions(before, after), start=1)
    ]


_EXACT_CELLS = 40_000
"""Largest (changed lines before) x (changed lines after) diffed exactly (a longest common
subsequence, ~20 ms); bigger middles take difflib's faster, greedier matching."""


def _changed_regions(before: list[str], after: list[str]) -> list[tuple[int, int, int, int]]:
    """``[i1, i2) -> [j1, j2)`` line regions that differ, in order.

    difflib matches the longest run of equal lines first, so two functions whose signs the run
    swapped (one's old line is the other's new one) come out as one hunk over both; a longest
    common subsequence keeps them two, as git shows them.
    """
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(before), len(after)) - head
        and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]
    ):
        tail += 1
    a, b = before[head : len(before) - tail], after[head : len(after) - tail]
    if len(a) * len(b) > _EXACT_CELLS:
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        return [
            (head + i1, head + i2, head + j1, head + j2)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"
        ]
    # lcs[i][j]: length of the longest common subsequence of a[i:] and b[j:].
    lcs = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        row, below = lcs[i], lcs[i + 1]
        for j in range(len(b) - 1, -1, -1):
            row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
    regions: list[tuple[int, int, int, int]] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if i < len(a) and j < len(b) and a[i] == b[j]:
            i, j = i + 1, j + 1
            continue
        i1, j1 = i, j
        while i < len(a) or j < len(b):
            if i < len(a) and j < len(b) and a[i] == b[j] and lcs[i][j] == lcs[i + 1][j + 1] + 1:
                break
            if j >= len(b) or (i < len(a) and lcs[i + 1][j] >= lcs[i][j + 1]):
                i += 1
            else:
                j += 1
        regions.append((head + i1, head + i, head + j1, head + j))
    return regions


def find_hunk(change: FileChange, hunk_id: str) -> Hunk:
    """The hunk ``hunk_id`` of ``change``; HunkError naming the ids there are when unknown."""
    hunks = file_hunks(change)
    for hunk in hunks:
        if hunk.id == hunk_id:
            return hunk
    known = ", ".join(h.id for h in hunks) or "none"
    raise HunkError(
        f"{change.rel} has no hunk {hunk_id!r} in this run (its hunks: {known}); "
        "ask ollamaAgent.runChanges for the current list."
    )


def locate(
    change: FileChange, hunk: Hunk, current: str | None, reverted: Collection[str] = ()
) -> tuple[int, int] | None:
    """Where ``hunk``'s lines are in ``current`` (0-based ``[start, end)``), or None when the
    user changed them (or the file is gone). ``reverted``: hunks reverted before, whose old
    text the file holds now."""
    if current is None:
        return None
    after, now = _text_after(change, reverted), split_lines(current)
    shift = sum(
        (h.old[1] - h.old[0]) - (h.new[1] - h.new[0])
        for h in file_hunks(change)
        if h.id in reverted and h.new[0] < hunk.new[0]
    )
    start, end = hunk.new[0] + shift, hunk.new[1] + shift
    matcher = difflib.SequenceMatcher(None, after, now, autojunk=False)
    for tag, a1, a2, c1, _ in matcher.get_opcodes():
        if tag != "equal":
            continue
        if start == end:
            # A deletion by the run: the lines on both sides of the gap must be untouched (at a
            # file edge, the one side there is).
            if a1 < start < a2 or start == a1 == 0 or start == a2 == len(after):
                return c1 + start - a1, c1 + start - a1
        elif a1 <= start and end <= a2:
            return c1 + start - a1, c1 + end - a1
    if start == end == len(after) == 0:
        return 0, 0
    return None


def revert_hunk(
    change: FileChange, hunk: Hunk, current: str | None, reverted: Collection[str] = ()
) -> str | None:
    """``current`` with ``hunk`` put back as it was before the run (None: delete the file)."""
    if hunk.id in reverted:
        raise HunkError(f"{hunk.id} of {change.rel} is reverted already.")
    if change.kind != "modify":
        if current != change.after:
            raise HunkError(
                f"{change.rel} changed since the run, so reverting its creation or deletion "
                "would lose that; undo it by hand or keep it."
            )
        return change.before
    where = locate(change, hunk, current, reverted)
    if where is None or current is None:
        raise HunkError(
            f"The lines of {hunk.id} in {change.rel} were edited since the run, so reverting "
            "it would lose those edits; change them back by hand or keep the hunk."
        )
    lines = split_lines(current)
    lines[where[0] : where[1]] = split_lines(hunk.old_text)
    return "".join(lines)


def effective_change(
    change: FileChange, kept: Collection[str], reverted: Collection[str]
) -> FileChange | None:
    """The change an undo of the run should revert: kept hunks count as the text before, reverted
    ones as already undone. None when nothing of the change is left to undo."""
    if set(kept) & set(reverted):
        raise ValueError("a hunk is either kept or reverted")
    if not kept and not reverted:
        return change if change.before != change.after else None
    if change.kind != "modify":
        return None if {"h1"} & (set(kept) | set(reverted)) else change
    before = "".join(_merged(change, lambda h: h.id in kept))
    after = "".join(_text_after(change, reverted))
    if before == after:
        return None
    return FileChange(change.path, change.rel, before, after)


def _text_after(change: FileChange, reverted: Collection[str]) -> list[str]:
    """The lines after the run, with the ``reverted`` hunks put back as they were."""
    return _merged(change, lambda h: h.id not in reverted)


def _merged(change: FileChange, take_new: Callable[[Hunk], bool]) -> list[str]:
    """The text before the run, with the hunks ``take_new`` picks as the run left them."""
    before, after = split_lines(change.before or ""), split_lines(change.after or "")
    if change.kind != "modify":
        return after if take_new(file_hunks(change)[0]) else before
    lines: list[str] = []
    at = 0
    for hunk in file_hunks(change):
        i1, i2 = hunk.old
        lines += before[at:i1]
        lines += after[hunk.new[0] : hunk.new[1]] if take_new(hunk) else before[i1:i2]
        at = i2
    return lines + before[at:]


HunkStatus = Literal["pending", "kept", "reverted"]


@dataclass
class HunkStates:
    """Which hunks of one file's change were kept and which reverted (the rest are pending)."""

    kept: set[str] = field(default_factory=set)
    reverted: set[str] = field(default_factory=set)

    def status(self, hunk_id: str) -> HunkStatus:
        """pending, kept or reverted."""
        if hunk_id in self.kept:
            return "kept"
        return "reverted" if hunk_id in self.reverted else "pending"

    def keep(self, hunk_id: str) -> None:
        """Mark ``hunk_id`` kept: a later undo leaves it alone."""
        if hunk_id in self.reverted:
            raise HunkError(f"{hunk_id} is reverted already, so there is nothing left to keep.")
        self.kept.add(hunk_id)

    def revert(self, hunk_id: str) -> None:
        """Mark ``hunk_id`` reverted (a kept hunk may still be reverted: the user changed mind)."""
        self.kept.discard(hunk_id)
        self.reverted.add(hunk_id)

    def to_json(self) -> dict[str, list[str]]:
        """The states as stored."""
        return {"kept": sorted(self.kept), "reverted": sorted(self.reverted)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HunkStates:
        """The states ``to_json`` stored."""
        return cls(set(data.get("kept") or ()), set(data.get("reverted") or ()))


def effective_changes(
    changes: list[FileChange], states: dict[Path, HunkStates]
) -> list[FileChange]:
    """``changes`` as an undo should revert them, given each file's kept and reverted hunks."""
    result: list[FileChange] = []
    for change in changes:
        state = states.get(change.path)
        left = effective_change(change, state.kept, state.reverted) if state else change
        if left is not None:
            result.append(left)
    return result
