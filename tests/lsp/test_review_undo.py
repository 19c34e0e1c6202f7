"""Review mode (one confirmed edit at the end) and undoRun around a user's own edits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor
from tests.lsp.helpers import CANCEL, RUN_SELECTION, UNDO_RUN, selection, tool_results
from tests.waiting import wait_until

APP = "def add(a, b):\n    return a - b\n"
FIXED = APP.replace("a - b", "a + b")
EDIT = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


async def _open_for_review(
    start_editor: StartEditor, workspace: Path, *, apply: bool
) -> tuple[Editor, str]:
    """app.py open in review mode, the user set to apply (or discard) what the run staged."""
    (workspace / "app.py").write_text(APP)
    client = await start_editor({"applyMode": "review"})
    # VS Code confirms through its refactor preview; Neovim is asked Apply/Discard instead.
    client.review_accepts = apply
    client.answers.append("Apply" if apply else "Discard")
    return client, client.open("app.py")


async def _review_run(client: Editor, fake: FakeOllama, uri: str) -> tuple[dict[str, object], int]:
    """A review-mode run that edits app.py and reads it back; (result, edits seen mid-run)."""
    fake.enqueue(
        Reply.calls(EDIT),
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply().gate("end").done("Changed the sign."),
    )
    pending = asyncio.ensure_future(client.command(RUN_SELECTION, selection(uri, 0, 1, "fix")))
    await wait_until(lambda: len(fake.chat_requests) == 3, what="the last request")
    edits_mid_run = len(client.edits)
    assert client.text(uri) == APP
    fake.open_gate("end")
    result = await asyncio.wait_for(pending, 10)
    # The agent read its own staged write.
    assert "a + b" in tool_results(fake, 2)[-1]
    return result, edits_mid_run


async def test_review_accepted_applies_one_edit_at_the_end(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    client, uri = await _open_for_review(start_editor, workspace, apply=True)

    result, edits_mid_run = await _review_run(client, fake_ollama, uri)

    assert edits_mid_run == 0
    assert result["status"] == "completed"
    assert result["review"] == "applied"
    assert result["changedFiles"] == [uri]
    assert "Review: applied all the proposed changes." in str(result["summary"])
    assert client.text(uri) == FIXED
    [finished] = client.transcript_of(str(result["runId"]), "finished")
    assert finished["review"] == "applied" and finished["text"] == result["summary"]
    [record] = client.edits
    annotations = record.params.edit.change_annotations
    if client.is_vscode:
        # VS Code's Refactor Preview opens for an edit needing confirmation and starts exactly
        # those unticked: the agent's edits do not need it, so pressing Apply applies them all.
        assert annotations
        [asks] = [a for a in annotations.values() if a.needs_confirmation]
        assert asks.label == "Ollama agent: app.py:1-2: fix"
        [op] = record.params.edit.document_changes or []
        assert isinstance(op, types.TextDocumentEdit)
        assert all(isinstance(e, types.AnnotatedTextEdit) for e in op.edits)
        real = [e for e in op.edits if e.new_text or e.range.start != e.range.end]
        assert real and not any(annotations[e.annotation_id].needs_confirmation for e in real)
        assert client.message_requests == []
    else:
        # Neovim has no change annotations: the server asks Apply/Discard itself.
        assert not annotations
        [question] = client.message_requests
        assert "app.py" in question.message
        assert [a.title for a in question.actions or []] == ["Apply", "Discard"]
        diff = "".join(t["text"] for t in client.transcript if t["kind"] == "content")
        assert "+    return a + b" in diff


async def test_review_rejected_changes_nothing(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    client, uri = await _open_for_review(start_editor, workspace, apply=False)

    result, _ = await _review_run(client, fake_ollama, uri)

    assert result["status"] == "completed"
    assert result["review"] == "discarded"
    assert result["changedFiles"] == []
    assert "Review: discarded" in str(result["summary"])
    assert "nothing changed" in str(result["summary"])
    [finished] = client.transcript_of(str(result["runId"]), "finished")
    assert finished["review"] == "discarded" and finished["changedFiles"] == []
    assert client.text(uri) == APP
    assert (workspace / "app.py").read_text() == APP
    if client.is_vscode:
        [record] = client.edits
        assert record.applied is False
    else:
        assert client.edits == []


async def test_unticking_a_file_in_the_preview_applies_the_rest(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    (workspace / "notes.txt").write_text("one\n")
    fake_ollama.enqueue(
        Reply.calls(
            EDIT, call("edit_file", {"path": "notes.txt", "old_string": "one", "new_string": "1"})
        ),
        Reply.say("Changed both."),
    )
    client = await start_editor({"applyMode": "review"})
    if not client.is_vscode:
        pytest.skip("Neovim has no preview to untick in: the server asks Apply or Discard")
    uri, notes = client.open("app.py"), client.open("notes.txt")
    client.review_untick = {notes}

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))

    assert result["review"] == "partial"
    assert result["changedFiles"] == [uri]
    assert client.text(uri) == FIXED and client.text(notes) == "one\n"
    assert "Review: partial; applied app.py, left out (all or part of) notes.txt." in str(
        result["summary"]
    )
    [finished] = client.transcript_of(str(result["runId"]), "finished")
    assert finished["review"] == "partial" and finished["changedFiles"] == ["app.py"]
    # Undo takes back what was applied, nothing else.
    undo = await client.command(UNDO_RUN, {})
    assert undo["reverted"] == [uri] and client.text(uri) == APP


async def test_undo_without_a_run_id_says_the_latest_run_changed_nothing(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(EDIT), Reply.say("Fixed."), Reply.say("It adds now."))
    client = await start_editor()
    uri = client.open("app.py")
    first = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))
    second = await client.command(RUN_SELECTION, selection(uri, 0, 1, "explain add"))
    assert first["changedFiles"] == [uri] and second["changedFiles"] == []

    with pytest.raises(JsonRpcInvalidParams) as refused:
        await client.command(UNDO_RUN, {})

    message = str(refused.value)
    assert f'The latest run, {second["runId"]} ("app.py:1-2: explain add"), changed nothing' in (
        message
    )
    assert "pass its runId" in message
    assert client.text(uri) == FIXED  # the earlier run was not undone behind the user's back
    undo = await client.command(UNDO_RUN, {"runId": first["runId"]})
    assert undo["reverted"] == [uri] and client.text(uri) == APP


async def test_review_cancelled_drops_the_staged_edits(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(EDIT), Reply().hang())
    client = await start_editor({"applyMode": "review"})
    uri = client.open("app.py")
    pending = asyncio.ensure_future(client.command(RUN_SELECTION, selection(uri, 0, 1, "fix")))
    await wait_until(lambda: len(fake_ollama.chat_requests) == 2, what="the hanging request")

    await client.command(CANCEL, {})

    result = await asyncio.wait_for(pending, 10)
    assert result["status"] == "cancelled"
    assert result["changedFiles"] == []
    assert client.edits == []
    assert client.message_requests == []
    assert client.text(uri) == APP


TWO = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a + b\n"


async def test_undo_reverts_the_run_but_leaves_the_users_later_edit(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "ops.py").write_text(TWO)
    fake_ollama.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {
                    "path": "ops.py",
                    "old_string": "add(a, b):\n    return a - b",
                    "new_string": "add(a, b):\n    return a + b",
                },
            ),
            call(
                "edit_file",
                {
                    "path": "ops.py",
                    "old_string": "sub(a, b):\n    return a + b",
                    "new_string": "sub(a, b):\n    return a - b",
                },
            ),
        ),
        Reply.say("Swapped the signs."),
    )
    client = await start_editor()
    uri = client.open("ops.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 5, "fix both"))
    assert result["status"] == "completed"
    after_run = client.text(uri)
    assert after_run == "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
    # The user then changes the line the agent wrote in sub().
    client.type(uri, len(after_run) - 1, None, "  # mine")

    undo = await client.command(UNDO_RUN, {"runId": result["runId"]})

    assert undo["runId"] == result["runId"]
    assert undo["applied"] is True
    assert undo["reverted"] == [uri]
    assert undo["leftAlone"] == [
        {"uri": uri, "startLine": 6, "endLine": 6, "reason": "changed since the run"}
    ]
    assert client.text(uri) == (
        "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b  # mine\n"
    )
    # Nothing is left to undo; the error says what undoRun can undo.
    with pytest.raises(JsonRpcInvalidParams, match="no finished run with changes"):
        await client.command(UNDO_RUN, {})
    with pytest.raises(
        JsonRpcInvalidParams, match=r"no finished run run-99 .*only the last 20 runs"
    ):
        await client.command(UNDO_RUN, {"runId": "run-99"})
