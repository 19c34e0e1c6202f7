"""The review / --dry-run diff: lines split where git splits them, and the diff applies."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ollama_agent_ls.tools.patches import apply_patch
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.staging import unified_diff

# No lone "\r": apply_patch, the model-facing applier used as the check here, reads "\r" as a
# line end on purpose (models mix line endings); git keeps it inside the line.
TEXTS = st.text(alphabet="ab\n\x0c\u2028", max_size=30)


def _change(before: str | None, after: str | None) -> FileChange:
    return FileChange(Path("/ws/m.py"), "m.py", before, after)


def test_form_feeds_and_line_separators_stay_inside_their_line() -> None:
    before = "import os\n\x0c\ndef f():\n    s = 'a\u2028b'\n    return 1\n"
    after = before.replace("return 1", "return 2")
    diff = unified_diff([_change(before, after)])
    assert "No newline" not in diff
    changed = [line for line in diff.split("\n") if line[:1] in ("-", "+")][2:]  # after ---/+++
    assert changed == ["-    return 1", "+    return 2"]
    assert "@@ -2,4 +2,4 @@" in diff  # line numbers as git and the editor count them


@given(TEXTS, TEXTS)
def test_the_diff_applies_back_to_the_new_text(before: str, after: str) -> None:
    diff = unified_diff([_change(before, after)])
    if before == after:
        assert diff == ""
        return
    [patched] = apply_patch(diff, lambda rel: before if rel == "m.py" else None)
    assert patched.after == after
