"""Reverting a run region by region, leaving alone whatever the user changed since."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import DocumentError, DocumentSource
from ollama_agent_ls.workspace.text_edits import split_lines


@dataclass
class UndoPlan:
    """What undoing one file's change does."""

    text: str | None
    """The file's text after the undo (None: delete it); unchanged when nothing is reverted."""
    reverted: int = 0
    """Regions put back as they were before the run."""
    kept: list[tuple[int, int]] = field(default_factory=list)
    """1-based line ranges (in the current text) left alone because the user changed them."""
    reason: str = ""


def plan_undo(change: FileChange, current: str | None) -> UndoPlan:
    """How to revert ``change`` given the file's ``current`` text (None: it does not exist)."""
    if change.kind == "create":
        if current is None:
            return UndoPlan(None, reason="already deleted")
        if current == change.after:
            return UndoPlan(None, reverted=1)
        return UndoPlan(
            current, kept=[(1, max(1, len(split_lines(current))))], reason="edited since"
        )
    if change.kind == "delete":
        if current is None:
            return UndoPlan(change.before, reverted=1)
        return UndoPlan(current, reason="a file exists there again")
    if current is None:
        return UndoPlan(None, reason="deleted since the run")
    before, after, now = (
        split_lines(change.before or ""),
        split_lines(change.after or ""),
        split_lines(current),
    )
    agent_regions = [
        (i1, i2, j1, j2)
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, before, after, autojunk=False
        ).get_opcodes()
        if tag != "equal"
    ]
    equal_blocks = [
        (a1, a2, c1)
        for tag, a1, a2, c1, _ in difflib.SequenceMatcher(
            None, after, now, autojunk=False
        ).get_opcodes()
        if tag == "equal"
    ]
    replacements: list[tuple[int, int, list[str]]] = []
    plan = UndoPlan(current)
    for i1, i2, j1, j2 in agent_regions:
        where = _intact(j1, j2, equal_blocks, len(after))
        if where is None:
            approx = _approx_line(j1, equal_blocks)
            plan.kept.append((approx + 1, approx + max(1, j2 - j1)))
            continue
        replacements.append((where, where + (j2 - j1), before[i1:i2]))
    for start, end, lines in sorted(replacements, reverse=True):
        now[start:end] = lines
    plan.reverted = len(replacements)
    if replacements:
        plan.text = "".join(now)
    return plan


@dataclass(frozen=True)
class Revert:
    """One file put back: the change that does it (from the current text) and the version of the
    editor's document it applies to (None: the text came from disk)."""

    change: FileChange
    version: int | None


@dataclass(frozen=True)
class LeftAlone:
    """Part of a run's change that undo does not revert, and why."""

    change: FileChange
    lines: tuple[int, int] | None
    """The 1-based line range (in the current text) the user changed; None: the whole file."""
    reason: str


@dataclass
class RunUndoPlan:
    """What undoing a run's text changes does, file by file."""

    reverts: list[Revert] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)


def plan_run_undo(changes: list[FileChange], documents: DocumentSource) -> RunUndoPlan:
    """How to revert a run's net ``changes`` (newest first) against the files' current texts in
    ``documents``: the regions still as the agent left them go back, the user's later edits stay."""
    plan = RunUndoPlan()
    for change in reversed(changes):
        try:
            current = documents.read(change.path) if documents.exists(change.path) else None
        except DocumentError as exc:
            plan.left_alone.append(LeftAlone(change, None, str(exc)))
            continue
        current_text = current.text if current is not None else None
        one = plan_undo(change, current_text)
        for start, end in one.kept:
            plan.left_alone.append(LeftAlone(change, (start, end), "changed since the run"))
        if one.reason and not one.reverted:
            plan.left_alone.append(LeftAlone(change, None, one.reason))
        if one.reverted:
            undo = FileChange(change.path, change.rel, current_text, one.text)
            plan.reverts.append(Revert(undo, current.version if current is not None else None))
    return plan


def _intact(j1: int, j2: int, blocks: list[tuple[int, int, int]], total: int) -> int | None:
    """Where lines [j1, j2) of the agent's text sit in the current text, if untouched."""
    for a1, a2, c1 in blocks:
        if j1 == j2:
            # A pure deletion by the agent: the lines on both sides of the gap must be untouched
            # (at a file edge, the one side there is).
            if a1 < j1 < a2 or (j1 == a1 == 0) or (j1 == a2 == total):
                return c1 + (j1 - a1)
        elif a1 <= j1 and j2 <= a2:
            return c1 + (j1 - a1)
    if j1 == j2 == total == 0:
        return 0
    return None


def _approx_line(j: int, blocks: list[tuple[int, int, int]]) -> int:
    best = 0
    for a1, a2, c1 in blocks:
        if a1 <= j:
            best = c1 + min(j, a2) - a1
    return best
