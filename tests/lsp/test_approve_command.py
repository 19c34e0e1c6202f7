"""ollamaAgent/approveCommand: a client declaring it is asked through it (not showMessageRequest),
and its decisions allow once, allow for the session (follow-ups included, a new session asked
again), deny, or, unanswered, leave the command unrun while the server keeps answering."""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, _plain, capabilities
from tests.lsp.helpers import RUN_SELECTION, selection, tool_results

APPROVE_COMMAND = "ollamaAgent/approveCommand"
FOLLOW_UP = "ollamaAgent.followUp"
RUN_TASK = "ollamaAgent.runTask"
LIST_SESSIONS = "ollamaAgent.listSessions"
APP = "def add(a, b):\n    return a - b\n"
TOUCH = call("run_command", {"command": "touch ran.txt"})
UNANSWERED = "unanswered"


class ChatPanel:
    """What a chat panel does with approveCommand: records each question, answers in order."""

    def __init__(self, client: Editor, *decisions: Any) -> None:
        self.questions: list[dict[str, Any]] = []
        self.decisions = deque(decisions)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

        @client.feature(APPROVE_COMMAND)
        async def on_approve(params: Any) -> Any:
            self.questions.append(_plain(params))
            self.asked.set()
            decision = self.decisions.popleft()
            if decision == UNANSWERED:
                await self.release.wait()
                return None
            return decision if isinstance(decision, dict) else {"decision": decision}


async def _panel_client(
    start_editor: StartEditor,
    editor_name: str,
    workspace: Path,
    *decisions: Any,
    options: dict[str, Any] | None = None,
) -> tuple[Editor, ChatPanel, str]:
    """A client declaring approveCommand, app.py open; (client, panel, app.py's uri)."""
    (workspace / "app.py").write_text(APP)
    caps = capabilities(editor_name)
    caps.experimental = {"ollamaAgent": {"saveDocuments": True, "approveCommand": True}}
    client = await start_editor(options, caps=caps)
    panel = ChatPanel(client, *decisions)
    return client, panel, client.open("app.py")


async def test_the_question_carries_the_run_the_session_and_the_command(
    start_editor: StartEditor, editor_name: str, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.calls(TOUCH), Reply.say("Ran it once."))
    client, panel, uri = await _panel_client(start_editor, editor_name, workspace, "allow", "deny")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "touch a file"))

    assert result["status"] == "completed"
    first, second = panel.questions
    assert first == {
        "runId": result["runId"],
        "sessionId": result["sessionId"],
        "command": "touch ran.txt",
        "cwd": str(workspace),
        "destructive": False,
        "reason": first["reason"],
        "timeoutSeconds": 5,
        "kind": "command",
    }
    assert first["reason"].startswith("the agent asks before every command")
    # "allow" is for this one call: the same command in the same run asks again.
    assert second["command"] == "touch ran.txt"
    ran, denied = tool_results(fake_ollama, 2)
    assert "[exit code 0]" in ran
    assert "The user denied running `touch ran.txt`" in denied
    assert client.message_requests == []


async def test_allow_for_the_session_covers_its_follow_ups_not_a_new_session(
    start_editor: StartEditor, editor_name: str, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(
        Reply.calls(TOUCH), Reply.say("Ran it."),
        Reply.calls(TOUCH), Reply.say("Ran it again."),
        Reply.calls(TOUCH), Reply.say("Not allowed here."),
    )  # fmt: skip
    client, panel, uri = await _panel_client(
        start_editor, editor_name, workspace, "allowSession", "deny"
    )
    first = await client.command(RUN_SELECTION, selection(uri, 0, 1, "touch a file"))
    assert first["status"] == "completed"
    assert (workspace / "ran.txt").exists()
    (workspace / "ran.txt").unlink()

    again = await client.command(
        FOLLOW_UP, {"sessionId": first["sessionId"], "instruction": "once more"}
    )

    assert again["status"] == "completed" and again["sessionId"] == first["sessionId"]
    assert len(panel.questions) == 1
    assert (workspace / "ran.txt").exists()
    assert "[exit code 0]" in tool_results(fake_ollama, 3)[-1]
    (workspace / "ran.txt").unlink()

    other = await client.command(RUN_TASK, {"instruction": "touch it too"})

    assert other["sessionId"] != first["sessionId"]
    assert [q["sessionId"] for q in panel.questions] == [first["sessionId"], other["sessionId"]]
    assert not (workspace / "ran.txt").exists()
    assert "The user denied running `touch ran.txt`" in tool_results(fake_ollama, 5)[-1]


async def test_deny_and_a_malformed_answer_do_not_run_it(
    start_editor: StartEditor, editor_name: str, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.calls(TOUCH), Reply.say("Left it."))
    client, panel, uri = await _panel_client(
        start_editor, editor_name, workspace, "deny", {"decision": "yes please"}
    )

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "touch a file"))

    assert result["status"] == "completed"
    assert len(panel.questions) == 2
    assert not (workspace / "ran.txt").exists()
    told = tool_results(fake_ollama, 2)
    assert all("The user denied running `touch ran.txt`" in t for t in told)
    logged = [m.message for m in client.log_messages]
    assert any("'yes please', not one of allow, allowSession, deny" in m for m in logged), logged


async def test_no_answer_in_time_tells_the_model_and_the_server_keeps_answering(
    start_editor: StartEditor, editor_name: str, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(TOUCH), Reply.say("Nobody answered."))
    client, panel, uri = await _panel_client(
        start_editor, editor_name, workspace, UNANSWERED, options={"approvalTimeout": 1}
    )
    try:
        pending = asyncio.ensure_future(
            client.command(RUN_SELECTION, selection(uri, 0, 1, "touch a file"))
        )
        await asyncio.wait_for(panel.asked.wait(), 10)
        # While the question waits, other requests are answered.
        assert await asyncio.wait_for(client.command(LIST_SESSIONS, {}), 5) == []

        result = await asyncio.wait_for(pending, 10)
    finally:
        panel.release.set()

    assert result["status"] == "completed"
    assert panel.questions[0]["timeoutSeconds"] == 1
    assert not (workspace / "ran.txt").exists()
    told = tool_results(fake_ollama, 1)[0]
    assert "Nobody answered the approval request for `touch ran.txt` within 1 s" in told
    [listed] = await client.command(LIST_SESSIONS, {})
    assert listed["sessionId"] == result["sessionId"]


@pytest.mark.parametrize(
    ("decision", "ran"), [("allowOutsideSandbox", True), ("allow", False)], ids=["outside", "plain"]
)
async def test_only_allow_outside_sandbox_lets_a_blocked_command_out(
    start_editor: StartEditor,
    editor_name: str,
    fake_ollama: FakeOllama,
    workspace: Path,
    tmp_path: Path,
    decision: str,
    ran: bool,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # A script the destructive floor cannot see into: the sandbox alone stops it.
    (workspace / "w.py").write_text(f"open({str(outside / 'x.txt')!r}, 'w').write('x')\n")
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "python3 w.py"})), Reply.say("Done.")
    )
    client, panel, uri = await _panel_client(
        start_editor, editor_name, workspace, decision, options={"commandApproval": "always"}
    )

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "write it"))

    assert result["status"] == "completed"
    [question] = panel.questions
    assert question["outsideSandbox"] is True and question["destructive"] is True
    assert question["command"] == "python3 w.py"
    assert (outside / "x.txt").exists() is ran
    told = tool_results(fake_ollama, 1)[0]
    assert ("outside the sandbox, once" in told) is ran
