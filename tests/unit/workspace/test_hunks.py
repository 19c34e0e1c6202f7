"""A run's change as hunks kept or reverted one at a time, the user's edits surviving.

Property tests over random texts: reverting every hunk in any order gives the text before the
run; a user edit away from the hunks survives; after keeping some hunks and reverting others, an
undo of the run leaves exactly the kept ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.hunks import (
    HunkError,
    effective_change,
    file_hunks,
    find_hunk,
    locate,
    revert_hunk,
)
from ollama_agent_ls.workspace.undo import plan_undo

lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\n"]), max_size=14)


# Lines each text holds once: where a text repeats lines, which copy a diff matches is a guess,
# and a user's edit can make the diff take another copy.
@st.composite
def _edited(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Distinct lines before, and after them the same with lines dropped, replaced, added."""
    before = [f"line {n}\n" for n in range(draw(st.integers(0, 20)))]
    after: list[str] = []
    for n, line in enumerate(before):
        edit = draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace", "add"]))
        if edit in ("keep", "add"):
            after.append(line)
        if edit in ("replace", "add"):
            after.append(f"new {n}\n")
    return before, after


def _change(before: list[str], after: list[str]) -> FileChange:
    return FileChange(Path("/w/f.py"), "f.py", "".join(before), "".join(after))


@settings(deadline=None, max_examples=300)
@given(lines, lines, st.randoms(use_true_random=False))
def test_reverting_every_hunk_in_any_order_gives_the_text_before(before, after, rng) -> None:
    change = _change(before, after)
    hunks = file_hunks(change)
    rng.shuffle(hunks)
    current: str | None = change.after
    reverted: list[str] = []
    for hunk in hunks:
        current = revert_hunk(change, hunk, current, reverted)
        reverted.append(hunk.id)
    assert current == change.before
    assert effective_change(change, (), reverted) is None


@settings(deadline=None, max_examples=300)
@given(lines, lines)
def test_each_hunk_is_located_where_the_run_left_it(before, after) -> None:
    change = _change(before, after)
    for hunk in file_hunks(change):
        assert locate(change, hunk, change.after) == hunk.new
        start, end = hunk.new
        assert "".join(after[start:end]) == hunk.new_text
        assert "".join(before[hunk.old[0] : hunk.old[1]]) == hunk.old_text


def _quiet_line(before: list[str], after: list[str]) -> tuple[int, int] | None:
    """A line both texts share with unchanged lines on both sides: (in before, in after)."""
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal" and i2 - i1 >= 3:
            return i1 + 1, j1 + 1
    return None


@settings(deadline=None, max_examples=300)
@given(_edited(), st.randoms(use_true_random=False))
def test_a_user_edit_away_from_the_hunks_survives_their_reverts(texts, rng) -> None:
    before, after = texts
    quiet = _quiet_line(before, after)
    assume(quiet is not None)
    assert quiet is not None
    change = _change(before, after)
    now = list(after)
    now[quiet[1]] = "USER EDIT\n"
    current: str | None = "".join(now)
    hunks = file_hunks(change)
    rng.shuffle(hunks)
    reverted: list[str] = []
    for hunk in hunks:
        current = revert_hunk(change, hunk, current, reverted)
        reverted.append(hunk.id)
    expected = list(before)
    expected[quiet[0]] = "USER EDIT\n"
    assert current == "".join(expected)


@settings(deadline=None, max_examples=300)
@given(lines, lines, st.randoms(use_true_random=False))
def test_undo_after_keeping_and_reverting_hunks_leaves_exactly_the_kept_ones(
    before, after, rng
) -> None:
    change = _change(before, after)
    hunks = file_hunks(change)
    kept = {h.id for h in hunks if rng.random() < 0.4}
    to_revert = [h for h in hunks if h.id not in kept and rng.random() < 0.5]
    current: str | None = change.after
    reverted: list[str] = []
    for hunk in to_revert:
        current = revert_hunk(change, hunk, current, reverted)
        reverted.append(hunk.id)
    effective = effective_change(change, kept, reverted)
    # What the file should hold once the run is undone: the text before, plus the kept hunks.
    wanted = list(before)
    for hunk in sorted((h for h in hunks if h.id in kept), key=lambda h: -h.old[0]):
        wanted[hunk.old[0] : hunk.old[1]] = after[hunk.new[0] : hunk.new[1]]
    if effective is None:
        assert current == "".join(wanted)
        return
    assert effective.after == current
    plan = plan_undo(effective, current)
    assert not plan.kept
    assert plan.text == "".join(wanted)


def test_a_hunk_the_user_edited_is_not_reverted_and_the_error_says_what_to_do() -> None:
    change = _change(["a\n", "b\n", "c\n", "d\n"], ["a\n", "B\n", "c\n", "d\n"])
    [hunk] = file_hunks(change)
    edited = "a\nB, edited by the user\nc\nd\n"
    assert locate(change, hunk, edited) is None
    with pytest.raises(HunkError, match=r"h1 in f\.py were edited since the run") as caught:
        revert_hunk(change, hunk, edited)
    assert "keep the hunk" in str(caught.value)
    with pytest.raises(HunkError, match="reverted already"):
        revert_hunk(change, hunk, change.before, ["h1"])


def test_an_unknown_hunk_id_names_the_ones_there_are() -> None:
    change = _change(["a\n", "b\n", "c\n"], ["A\n", "b\n", "C\n"])
    assert [h.id for h in file_hunks(change)] == ["h1", "h2"]
    with pytest.raises(HunkError, match=r"no hunk 'h9' .*its hunks: h1, h2.*runChanges"):
        find_hunk(change, "h9")


def test_a_created_file_is_one_hunk_and_reverting_it_deletes_the_file() -> None:
    created = FileChange(Path("/w/new.py"), "new.py", None, "x = 1\ny = 2\n")
    [hunk] = file_hunks(created)
    assert hunk.new_text == "x = 1\ny = 2\n" and hunk.old_text == ""
    assert revert_hunk(created, hunk, created.after) is None
    with pytest.raises(HunkError, match="changed since the run"):
        revert_hunk(created, hunk, "x = 1\ny = 3\n")
    assert effective_change(created, ["h1"], []) is None
    assert effective_change(created, [], []) is created


def test_swapped_lines_in_two_functions_are_two_hunks() -> None:
    # Each function's old line is the other's new one: a greedy diff makes one hunk over both.
    before = ["def add():\n", "    a - b\n", "\n", "def sub():\n", "    a + b\n"]
    after = ["def add():\n", "    a + b\n", "\n", "def sub():\n", "    a - b\n"]
    hunks = file_hunks(_change(before, after))
    assert [(h.old, h.new, h.new_text) for h in hunks] == [
        ((1, 2), (1, 2), "    a + b\n"),
        ((4, 5), (4, 5), "    a - b\n"),
    ]


@settings(max_examples=200, deadline=None)
@given(lines, lines)
def test_hunks_leave_as_many_lines_unchanged_as_any_diff_can(before, after) -> None:
    hunks = file_hunks(_change(before, after))
    unchanged = len(before) - sum(h.old[1] - h.old[0] for h in hunks)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    assert unchanged >= sum(size for *_, size in matcher.get_matching_blocks())
