"""Undo puts back what the agent changed and leaves alone what the user changed since."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.undo import plan_undo

PATH = Path("/ws/notes.txt")
TEXTS = st.text(alphabet="ab \n\r\x0c\u2028", max_size=40)
# Characters str.splitlines breaks at but an editor does not: inside a line they must not move it.
FILLERS = st.text(alphabet=" \x0b\x0c\x1c\x85\u2028\u2029", max_size=3)
ENDS = st.sampled_from(["\n", "\r\n", "\r"])


def change(before: str | None, after: str | None) -> FileChange:
    return FileChange(PATH, "notes.txt", before, after)


def numbered(n: int, filler: str = "", end: str = "\n") -> list[str]:
    """Distinct lines, so that every diff lines them up one way only."""
    return [f"line {k}{filler}{end}" for k in range(n)]


def agent_edit(lines: list[str], kind: str, at: int, new: str = "agent\n") -> list[str]:
    """``lines`` after the agent replaced, deleted or inserted before line ``at`` (0-based)."""
    if kind == "replace":
        return [*lines[:at], new, *lines[at + 1 :]]
    if kind == "delete":
        return [*lines[:at], *lines[at + 1 :]]
    return [*lines[:at], new, *lines[at:]]


def user_edit(lines: list[str], original: str, replacement: str) -> list[str]:
    return [replacement if line == original else line for line in lines]


@settings(deadline=None)
@given(before=TEXTS, after=TEXTS)
def test_undo_of_an_untouched_change_restores_before(before: str, after: str) -> None:
    plan = plan_undo(change(before, after), after)
    assert plan.text == before
    assert plan.kept == []


@st.composite
def separate_edits(draw: st.DrawFn) -> tuple[int, str, int, int]:
    """(line count, agent's edit kind, agent's line, user's line) at least two lines apart."""
    n = draw(st.integers(3, 12))
    kind = draw(st.sampled_from(["replace", "delete", "insert"]))
    agent_at = draw(st.integers(0, n - 1))
    user_at = draw(st.integers(0, n - 1).filter(lambda u: abs(u - agent_at) >= 2))
    return n, kind, agent_at, user_at


@settings(deadline=None)
@given(separate_edits(), FILLERS, ENDS)
def test_a_user_edit_where_the_agent_did_not_touch_survives_the_undo(
    edits: tuple[int, str, int, int], filler: str, end: str
) -> None:
    n, kind, agent_at, user_at = edits
    before = numbered(n, filler, end)
    after = agent_edit(before, kind, agent_at, f"agent{filler}{end}")
    mine = f"user{filler}{end}"
    current = user_edit(after, before[user_at], mine)
    plan = plan_undo(change("".join(before), "".join(after)), "".join(current))
    assert plan.text == "".join(user_edit(before, before[user_at], mine))
    assert plan.reverted == 1
    assert plan.kept == []


@settings(deadline=None)
@given(n=st.integers(1, 12), filler=FILLERS, end=ENDS, data=st.data())
def test_a_region_the_user_changed_again_is_kept_and_listed(
    n: int, filler: str, end: str, data: st.DataObject
) -> None:
    before = numbered(n, filler, end)
    at = data.draw(st.integers(0, n - 1))
    after = agent_edit(before, "replace", at, f"agent{filler}{end}")
    current = user_edit(after, after[at], f"user{filler}{end}")
    plan = plan_undo(change("".join(before), "".join(after)), "".join(current))
    assert plan.text == "".join(current)
    assert plan.reverted == 0
    assert plan.kept == [(at + 1, at + 1)]


@settings(deadline=None)
@given(n=st.integers(4, 12), filler=FILLERS, end=ENDS, data=st.data())
def test_only_the_regions_the_user_left_alone_are_reverted(
    n: int, filler: str, end: str, data: st.DataObject
) -> None:
    before = numbered(n, filler, end)
    first = data.draw(st.integers(0, n - 3))
    second = data.draw(st.integers(first + 2, n - 1))
    after = [*before]
    after[first] = f"agent one{filler}{end}"
    after[second] = f"agent two{filler}{end}"
    user_first = data.draw(st.booleans())
    touched = first if user_first else second
    mine = f"user{filler}{end}"
    current = user_edit(after, after[touched], mine)
    plan = plan_undo(change("".join(before), "".join(after)), "".join(current))
    expected = [*before]
    expected[touched] = mine
    assert plan.text == "".join(expected)
    assert plan.reverted == 1
    assert plan.kept == [(touched + 1, touched + 1)]


def test_undo_of_a_created_file_deletes_it_while_it_is_unchanged() -> None:
    plan = plan_undo(change(None, "new\n"), "new\n")
    assert plan.text is None
    assert plan.reverted == 1


def test_a_created_file_the_user_edited_is_kept_whole() -> None:
    plan = plan_undo(change(None, "new\n"), "new\nmine\nmore\n")
    assert plan.text == "new\nmine\nmore\n"
    assert plan.reverted == 0
    assert plan.kept == [(1, 3)]
    assert plan.reason == "edited since"


def test_a_created_file_already_gone_needs_nothing() -> None:
    plan = plan_undo(change(None, "new\n"), None)
    assert plan.text is None
    assert plan.reverted == 0
    assert plan.reason == "already deleted"


def test_undo_of_a_deleted_file_brings_it_back() -> None:
    plan = plan_undo(change("old\ntext\n", None), None)
    assert plan.text == "old\ntext\n"
    assert plan.reverted == 1


def test_a_deleted_file_is_not_restored_over_a_new_one() -> None:
    plan = plan_undo(change("old\n", None), "the user's new file\n")
    assert plan.text == "the user's new file\n"
    assert plan.reverted == 0
    assert plan.reason == "a file exists there again"


def test_a_modified_file_the_user_deleted_stays_deleted() -> None:
    plan = plan_undo(change("a\n", "b\n"), None)
    assert plan.text is None
    assert plan.reverted == 0
    assert plan.reason == "deleted since the run"


# Python and C files use form feeds as page breaks, and U+2028 turns up inside JS strings; an
# editor counts neither as a line break, so neither may shift the lines undo reports.
SOURCE_BEFORE = [
    "# -*- coding: utf-8 -*-\n",
    "\x0c\n",
    "def greet():\n",
    "    return 'hi\u2028there'\n",
    "\x0c\n",
    "def answer():\n",
    "    return 42\n",
    "\n",
    "def last():\n",
    "    return None\n",
]


def test_lines_with_form_feeds_and_line_separators_are_counted_as_an_editor_counts_them() -> None:
    after = [*SOURCE_BEFORE]
    after[3] = "    return 'hello\u2028there'\n"
    after[6] = "    return 43\n"
    current = [*after]
    current[6] = "    return 44  # mine\x0c\n"
    plan = plan_undo(change("".join(SOURCE_BEFORE), "".join(after)), "".join(current))
    expected = [*SOURCE_BEFORE]
    expected[6] = current[6]
    assert plan.text == "".join(expected)
    assert plan.reverted == 1
    assert plan.kept == [(7, 7)]


def test_a_created_file_with_form_feeds_is_kept_whole_by_its_editor_line_count() -> None:
    plan = plan_undo(change(None, "a\n"), "a\x0cb\u2028c\r\nd\re\n")
    assert plan.kept == [(1, 3)]
