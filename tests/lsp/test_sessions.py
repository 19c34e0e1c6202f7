"""Sessions in the language server: every run belongs to one, followUp continues its conversation
(the request extends the earlier one unchanged), runTask starts one without a selection,
listSessions/getSession show them, and a follow-up and undoRun work after the server restarts
(issue 14)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcInvalidParams

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import RUN_SELECTION, UNDO_RUN, selection

APP = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
FOLLOW_UP = "ollamaAgent.followUp"
RUN_TASK = "ollamaAgent.runTask"
LIST_SESSIONS = "ollamaAgent.listSessions"
GET_SESSION = "ollamaAgent.getSession"


async def test_a_follow_up_extends_the_same_conversation(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."), Reply.say("It adds."))
    client = await start_editor({"editFormat": "tools"})
    uri = client.open("app.py")
    first = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
    assert first["status"] == "completed"
    session_id = first["sessionId"]
    assert isinstance(session_id, str) and session_id.startswith("s-")
    last_of_first = fake_ollama.chat_requests[-1].body["messages"]

    second = await client.command(
        FOLLOW_UP, {"sessionId": session_id, "instruction": "what does add do now?"}
    )

    assert second["status"] == "completed"
    assert second["sessionId"] == session_id and second["runId"] != first["runId"]
    sent = fake_ollama.chat_requests[-1].body["messages"]
    # The model keeps what it read and did: the request extends the earlier one unchanged.
    assert sent[: len(last_of_first)] == last_of_first
    assert sent[len(last_of_first)] == {"role": "assistant", "content": "Fixed the sign."}
    assert sent[-1] == {"role": "user", "content": "what does add do now?"}

    [listed] = await client.command(LIST_SESSIONS, {})
    assert listed["sessionId"] == session_id and listed["runs"] == 2
    shown = await client.command(GET_SESSION, {"sessionId": session_id})
    assert [r["runId"] for r in shown["runs"]] == [first["runId"], second["runId"]]
    assert shown["runs"][0]["changedFiles"] == [uri]
    roles = [m["role"] for m in shown["messages"]]
    assert roles[0] == "user" and "tool" in roles and roles[-1] == "assistant"
    assert shown["messages"][-1]["text"] == "It adds."
    calls = [c for m in shown["messages"] for c in m.get("toolCalls", [])]
    assert calls and calls[0]["name"] == "edit_file"


async def test_run_task_needs_no_selection(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    client = await start_editor({"editFormat": "tools"})
    result = await client.command(RUN_TASK, {"instruction": "make add add"})
    assert result["status"] == "completed"
    assert result["sessionId"].startswith("s-")
    assert "a + b" in client.text(client.uri("app.py"))
    prompt = fake_ollama.chat_requests[0].body["messages"][1]["content"]
    assert "make add add" in prompt


async def test_an_unknown_session_is_invalid_params_naming_it(
    start_editor: StartEditor, fake_ollama: FakeOllama
) -> None:
    client = await start_editor()
    with pytest.raises(JsonRpcInvalidParams, match="no session s-000000000000"):
        await client.command(FOLLOW_UP, {"sessionId": "s-000000000000", "instruction": "go on"})
    assert fake_ollama.chat_requests == []


async def test_a_follow_up_works_after_the_server_restarts(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.say("It subtracts."), Reply.say("Still subtracts."))
    first_server = await start_editor({"editFormat": "tools"})
    uri = first_server.open("app.py")
    first = await first_server.command(RUN_SELECTION, selection(uri, 0, 1, "explain"))
    last_of_first = fake_ollama.chat_requests[-1].body["messages"]
    await first_server.teardown()

    # Another server process: it knows the session only from the disk.
    second_server = await start_editor({"editFormat": "tools"})
    again = await second_server.command(
        FOLLOW_UP, {"sessionId": first["sessionId"], "instruction": "and now?"}
    )

    assert again["status"] == "completed"
    sent = fake_ollama.chat_requests[-1].body["messages"]
    assert sent[: len(last_of_first)] == last_of_first
    assert sent[-1] == {"role": "user", "content": "and now?"}
    # The new server's run is told apart from the earlier server's in the stored session.
    assert again["runId"] != first["runId"]
    shown = await second_server.command(GET_SESSION, {"sessionId": first["sessionId"]})
    assert [r["runId"] for r in shown["runs"]] == [first["runId"], again["runId"]]


async def test_undo_after_the_server_restarts_keeps_the_users_later_edit(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP + "\n\nVERSION = 1\n")
    (workspace / "other.py").write_text("LIMIT = 1\n")
    fake_ollama.enqueue(
        Reply.calls(
            FIX, call("edit_file", {"path": "other.py", "old_string": "1", "new_string": "2"})
        ),
        Reply.say("Fixed both."),
    )
    first_server = await start_editor({"editFormat": "tools"})
    app = first_server.open("app.py")
    first = await first_server.command(RUN_SELECTION, selection(app, 0, 1, "fix"))
    assert first["status"] == "completed"
    other = first_server.uri("other.py")
    # The user saves what the run changed, and the editor and its server are closed.
    for uri in (app, other):
        first_server.path_of(uri).write_text(first_server.text(uri))
    await first_server.teardown()

    second_server = await start_editor({"editFormat": "tools"})
    app = second_server.open("app.py")
    # The user edits a line of their own (unsaved); other.py stays closed: undo reads the disk.
    text = second_server.text(app)
    second_server.type(app, text.index("1\n"), text.index("1\n") + 1, "2")

    undo = await second_server.command(UNDO_RUN, {"runId": first["runId"]})

    assert undo["applied"] is True and undo["leftAlone"] == []
    assert sorted(undo["reverted"]) == sorted([app, other])
    assert second_server.text(app) == APP + "\n\nVERSION = 2\n"
    assert second_server.text(other) == "LIMIT = 1\n"
    with pytest.raises(JsonRpcInvalidParams, match=f"Run {first['runId']} was undone already"):
        await second_server.command(UNDO_RUN, {"runId": first["runId"]})
    shown = await second_server.command(GET_SESSION, {"sessionId": first["sessionId"]})
    assert shown["runs"][0]["undone"] is True


async def test_a_session_the_command_line_started_goes_on_in_the_editor(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    # One session core behind every face: the same store, the same conversation, the same undo.
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."), Reply.say("It adds."))
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url, "NO_COLOR": "1"}
    env.pop("OLLAMA_AGENT_MODEL", None)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ollama_agent_ls", "run", "fix add", "-w", str(workspace), "--json"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert (workspace / "app.py").read_text() == APP.replace("a - b", "a + b")
    last_of_first = fake_ollama.chat_requests[-1].body["messages"]

    client = await start_editor({"editFormat": "tools"})
    [listed] = await client.command(LIST_SESSIONS, {})
    assert listed["sessionId"] == first["sessionId"]
    again = await client.command(
        FOLLOW_UP, {"sessionId": first["sessionId"], "instruction": "what does add do now?"}
    )
    undo = await client.command(UNDO_RUN, {"runId": first["runId"]})

    assert again["status"] == "completed" and again["sessionId"] == first["sessionId"]
    sent = fake_ollama.chat_requests[-1].body["messages"]
    assert sent[: len(last_of_first)] == last_of_first
    assert sent[-1] == {"role": "user", "content": "what does add do now?"}
    assert undo["applied"] is True and undo["reverted"] == [client.uri("app.py")]
    assert client.text(client.uri("app.py")) == APP
