"""Verify commands read the disk: what the editor holds unsaved must be saved first, or said."""

from __future__ import annotations

from pathlib import Path

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp_specs.helpers import (
    FIX_GREETING,
    RUN_SPEC,
    SPEC_REL,
    TICK_BOTH,
    VERIFY,
    VERIFY_SPEC,
    frontmatter_lines,
    start_for_specs,
    write_spec,
)

FIXED = 'GREETING = "hello"\n'


async def test_verify_spec_saves_what_the_user_typed_before_running(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    greet = client.open("greet.py")
    # The user fixes greet.py by hand and clicks "Verify spec" without saving.
    client.type(greet, 0, len("GREETING = None"), 'GREETING = "hello"')

    result = await client.command(VERIFY_SPEC, {"uri": uri})

    assert result["passed"] is True, result
    assert result["unsaved"] == []
    assert "check ok" in result["verify"][0]["output"]
    assert client.save_requests == [[greet]]
    assert (workspace / "greet.py").read_text() == FIXED
    assert fake_ollama.chat_requests == []


async def test_verify_spec_in_an_editor_that_cannot_save_says_what_it_tested(
    start_editor: StartEditor, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor, save_documents=False)
    uri = client.open(SPEC_REL, language_id="markdown")
    greet = client.open("greet.py")
    client.type(greet, 0, len("GREETING = None"), 'GREETING = "hello"')

    result = await client.command(VERIFY_SPEC, {"uri": uri})

    # The verdict is about the disk, and the reply says so instead of a bare failure.
    assert result["passed"] is False
    assert result["unsaved"] == [greet]
    [report] = result["verify"]
    assert report["ran"] is True
    assert "greet.py have unsaved changes" in report["output"]
    assert "CHECK-FAILED" in report["output"]
    assert (workspace / "greet.py").read_text() == "GREETING = None\n"


async def test_spec_run_in_an_editor_that_cannot_save_does_not_verify_stale_files(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor, save_documents=False)
    uri = client.open(SPEC_REL, language_id="markdown")
    fake_ollama.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )

    result = await client.command(RUN_SPEC, {"uri": uri})

    # The edit is only in the editor's buffer; running check.py would judge the old file, and
    # no fix round could change that: the run stops for the user to save and verify.
    assert client.text(client.uri("greet.py")) == FIXED
    assert (workspace / "greet.py").read_text() == "GREETING = None\n"
    assert result["specStatus"] == "needs_attention", result
    assert result["verify"] == [{"command": VERIFY, "passed": False, "exitCode": None}]
    assert len(fake_ollama.chat_requests) == 3
    text = client.text(uri)
    assert "status: needs_attention" in frontmatter_lines(text)
    output = text.split("## Agent Output", 1)[1]
    assert "could not run" in output
    assert "greet.py changed in the editor but not on disk" in output
    assert "Save them, then run Verify spec" in output
    assert "CHECK-FAILED" not in output


async def test_review_mode_spec_run_leaves_verify_to_after_the_review(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor, {"applyMode": "review"})
    client.default_answer = "Apply"  # Neovim has no refactor preview: it is asked instead
    uri = client.open(SPEC_REL, language_id="markdown")
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "greet.py", "content": FIXED})),
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "wrote greet.py"})),
        "Wrote it.",
    )

    result = await client.command(RUN_SPEC, {"uri": uri})

    # The staged change was not on disk while verify could run: it was not judged, and no fix
    # round was spent on it; the review then applied it.
    assert result["specStatus"] == "needs_attention", result
    assert result["verify"] == [{"command": VERIFY, "passed": False, "exitCode": None}]
    assert len(fake_ollama.chat_requests) == 3
    assert client.text(client.uri("greet.py")) == FIXED
    output = client.text(uri).split("## Agent Output", 1)[1]
    assert "in review mode the changes to greet.py reach the files only after the run" in output
    assert "- [x] `greet.py` defines" in client.text(uri)
