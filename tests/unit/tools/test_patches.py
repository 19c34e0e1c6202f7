"""Unified-diff patches: placed by context, tolerant of model-written headers, all or nothing."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ollama_agent_ls.tools.context import ToolError
from ollama_agent_ls.tools.patches import PatchedFile, apply_patch

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))


def reader(files: dict[str, str]) -> Callable[[str], str | None]:
    return lambda rel: files.get(rel)


def diff(a: str, b: str, name: str = "f.txt") -> str:
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
    )


def changed(text: str) -> str:
    return text.replace("line 5\n", "line five\n").replace("line 15\n", "")


def test_difflib_patch_applies() -> None:
    [result] = apply_patch(diff(ORIGINAL, changed(ORIGINAL)), reader({"f.txt": ORIGINAL}))
    assert result == PatchedFile("f.txt", ORIGINAL, changed(ORIGINAL))


def test_hunks_are_placed_by_context_not_line_numbers() -> None:
    patch = diff(ORIGINAL, changed(ORIGINAL))
    shifted = "".join(f"new {i}\n" for i in range(7)) + ORIGINAL
    [result] = apply_patch(patch, reader({"f.txt": shifted}))
    assert result.after == changed(shifted)


def test_model_style_patch_without_git_header_wrong_counts_and_fences() -> None:
    patch = (
        "Here is the fix:\n"
        "```diff\n"
        "--- f.txt\n"
        "+++ f.txt\n"
        "@@ -3,99 +3,1 @@\n"
        " line 4\n"
        "-line 5\n"
        "+line five\n"
        " line 6\n"
        "```\n"
        "This renames line 5."
    )
    [result] = apply_patch(patch, reader({"f.txt": ORIGINAL}))
    assert result.after == ORIGINAL.replace("line 5\n", "line five\n")


def test_bare_hunk_header_and_missing_trailing_newline() -> None:
    patch = "--- a/f.txt\n+++ b/f.txt\n@@\n line 9\n-line 10\n+line ten"
    [result] = apply_patch(patch, reader({"f.txt": ORIGINAL}))
    assert result.after == ORIGINAL.replace("line 10\n", "line ten\n")


def test_trailing_whitespace_in_context_is_tolerated_and_file_version_kept() -> None:
    text = "a = 1   \nb = 2\nc = 3\n"
    patch = "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+b = 20\n c = 3\n"
    [result] = apply_patch(patch, reader({"x.py": text}))
    assert result.after == "a = 1   \nb = 20\nc = 3\n"


def test_empty_context_line_without_its_space() -> None:
    text = "def f():\n    a = 1\n\n    return a\n"
    patch = (
        "--- a/m.py\n+++ b/m.py\n@@ -1,4 +1,4 @@\n     a = 1\n\n-    return a\n+    return a + 1\n"
    )
    [result] = apply_patch(patch, reader({"m.py": text}))
    assert result.after == "def f():\n    a = 1\n\n    return a + 1\n"


def test_nearest_candidate_to_stated_line_wins() -> None:
    text = "x\nsame\ny\n" + "pad\n" * 10 + "x\nsame\ny\n"
    patch = "--- a/t\n+++ b/t\n@@ -14,3 +14,3 @@\n x\n-same\n+changed\n y\n"
    [result] = apply_patch(patch, reader({"t": text}))
    assert result.after == "x\nsame\ny\n" + "pad\n" * 10 + "x\nchanged\ny\n"


def test_create_and_delete_files() -> None:
    patch = (
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+import os\n+print(os.sep)\n"
        "--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone = True\n"
    )
    results = apply_patch(patch, reader({"old.py": "gone = True\n"}))
    assert results == [
        PatchedFile("new.py", None, "import os\nprint(os.sep)\n"),
        PatchedFile("old.py", "gone = True\n", None),
    ]


def test_git_style_new_file() -> None:
    patch = (
        "diff --git a/n.txt b/n.txt\nnew file mode 100644\nindex 0000000..e69de29\n"
        "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hello\n"
    )
    assert apply_patch(patch, reader({})) == [PatchedFile("n.txt", None, "hello\n")]


def test_no_newline_marker_is_honoured() -> None:
    patch = "--- a/t\n+++ b/t\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n"
    assert apply_patch(patch, reader({"t": "a\n"}))[0].after == "b"


def test_unplaceable_hunk_names_file_header_and_context() -> None:
    patch = "--- a/f.txt\n+++ b/f.txt\n@@ -3,3 +3,3 @@\n line 4\n-line 55\n+line x\n line 6\n"
    with pytest.raises(ToolError) as info:
        apply_patch(patch, reader({"f.txt": ORIGINAL}))
    message = str(info.value)
    assert "f.txt" in message
    assert "@@ -3,3 +3,3 @@" in message
    assert "line 55" in message
    assert "read_file" in message


def test_all_or_nothing_when_a_later_file_fails() -> None:
    good = diff(ORIGINAL, changed(ORIGINAL), "a.txt")
    bad = "--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-missing line\n+x\n"
    with pytest.raises(ToolError, match=r"b\.txt"):
        apply_patch(good + bad, reader({"a.txt": ORIGINAL, "b.txt": ORIGINAL}))


def test_patching_a_missing_file_or_creating_an_existing_one_is_refused() -> None:
    with pytest.raises(ToolError, match="does not exist"):
        apply_patch(diff(ORIGINAL, changed(ORIGINAL)), reader({}))
    create = "--- /dev/null\n+++ b/f.txt\n@@ -0,0 +1 @@\n+x\n"
    with pytest.raises(ToolError, match="already exists"):
        apply_patch(create, reader({"f.txt": ORIGINAL}))


def test_garbage_is_reported_with_the_expected_format() -> None:
    with pytest.raises(ToolError, match="no file changes"):
        apply_patch("please change line 5", reader({"f.txt": ORIGINAL}))
    with pytest.raises(ToolError, match=r"could not be parsed.*'\+\+\+ b/path'"):
        apply_patch("@@ -1 +1 @@\n-line 1\n+one\n", reader({"f.txt": ORIGINAL}))
    with pytest.raises(ToolError, match="empty"):
        apply_patch("  \n", reader({}))


lines = st.lists(st.sampled_from(["a", "b", "c", "", "def f():", "    return 1", "}"]), max_size=25)


@given(a=lines, b=lines, shift=st.integers(0, 5))
def test_difflib_diff_applies_even_when_lines_shift(a: list[str], b: list[str], shift: int) -> None:
    old = "".join(line + "\n" for line in a)
    new = "".join(line + "\n" for line in b)
    patch = diff(old, new)
    # Without lines in a, the hunk has no context and only its line number can place it.
    assume(patch and (a or shift == 0))
    top = "".join(f"inserted {i}\n" for i in range(shift))
    results = apply_patch(patch, reader({"f.txt": top + old}))
    expected = top + new
    assert [(r.rel, r.after) for r in results] == (
        [] if expected == top + old else [("f.txt", expected)]
    )
