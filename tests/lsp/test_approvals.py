"""Approvals through window/showMessageRequest (clients not declaring approveCommand), and saving
buffers before a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import NEVER, Editor
from tests.lsp.helpers import RUN_SELECTION, selection, tool_results

FOLLOW_UP = "ollamaAgent.followUp"
APP = "def add(a, b):\n    return a - b\n"
TOUCH = call("run_command", {"command": "touch ran.txt"})


async def _run_touching(
    start_editor: StartEditor,
    workspace: Path,
    answer: object,
    settings: dict[str, Any] | None = None,
) -> tuple[Editor, dict[str, Any]]:
    """A run on app.py (the fake's replies queued by the caller); the user answers ``answer``."""
    (workspace / "app.py").write_text(APP)
    client = await start_editor(settings)
    client.answers.append(answer)
    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "touch a file"))
    return client, result


async def test_allowed_command_runs_after_the_user_is_asked(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.say("Ran it."))

    client, result = await _run_touching(start_editor, workspace, "Allow")

    assert result["status"] == "completed"
    [question] = client.message_requests
    assert "touch ran.txt" in question.message
    assert str(workspace) in question.message
    assert [a.title for a in question.actions or []] == ["Allow", "Allow for this session", "Deny"]
    assert (workspace / "ran.txt").exists()
    assert "[exit code 0]" in tool_results(fake_ollama, 1)[0]


async def test_allow_for_this_session_asks_once_in_the_session(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(
        Reply.calls(TOUCH), Reply.calls(TOUCH), Reply.say("Ran it twice."),
        Reply.calls(TOUCH), Reply.say("And in the follow-up."),
    )  # fmt: skip

    client, result = await _run_touching(start_editor, workspace, "Allow for this session")
    again = await client.command(
        FOLLOW_UP, {"sessionId": result["sessionId"], "instruction": "once more"}
    )

    assert result["status"] == "completed" and again["status"] == "completed"
    assert len(client.message_requests) == 1
    assert all("[exit code 0]" in r for r in tool_results(fake_ollama, 2))
    assert "[exit code 0]" in tool_results(fake_ollama, 3)[-1]


async def test_denied_command_does_not_run_and_the_model_is_told(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.say("Fine, I won't."))

    _, result = await _run_touching(start_editor, workspace, "Deny")

    assert result["status"] == "completed"
    assert not (workspace / "ran.txt").exists()
    assert "The user denied running `touch ran.txt`" in tool_results(fake_ollama, 1)[0]


async def test_unanswered_approval_times_out_as_not_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.say("Nobody answered."))

    client, result = await _run_touching(
        start_editor, workspace, NEVER, settings={"approvalTimeout": 0.3}
    )

    assert result["status"] == "completed"
    assert len(client.message_requests) == 1
    assert not (workspace / "ran.txt").exists()
    told = tool_results(fake_ollama, 1)[0]
    assert "Nobody answered the approval request for `touch ran.txt`" in told


@pytest.mark.parametrize("declared", [True, False], ids=["saves", "cannot-save"])
async def test_edited_buffers_are_saved_before_a_command(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, declared: bool
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(
        Reply.calls(call("edit_file", {"path": "app.py", "old_string": "-", "new_string": "+"})),
        Reply.calls(call("run_command", {"command": "cat app.py"})),
        Reply.say("The file on disk has the fix."),
    )
    client = await start_editor({"commandApproval": "always"}, save_documents=declared)
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix and show"))

    assert result["status"] == "completed"
    output = tool_results(fake_ollama, 2)[-1]
    if declared:
        # The client saved the buffer the run edited, so the command saw the agent's change.
        assert client.save_requests == [[uri]]
        assert (workspace / "app.py").read_text() == APP.replace("-", "+")
        assert "return a + b" in output
        assert "unsaved" not in output
    else:
        # Without saveDocuments the model is told the command sees the older disk text.
        assert client.save_requests == []
        assert "unsaved changes in the editor" in output
        assert "app.py" in output
        assert "return a - b" in output
