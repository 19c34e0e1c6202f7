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
from dataclasses import dataclass

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
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    regions = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    return [
        Hunk(
            f"h{n}",
            (i1, i2),
            (j1, j2),
            "".join(before[i1:i2]),
            "".join(after[j1:j2]),
        )
        for n, (_, i1, i2, j1, j2) in enumerate(regions, start=1)
    ]


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
