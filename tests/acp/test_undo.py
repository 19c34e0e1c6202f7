"""``/undo`` over ACP: the session's latest run with changes goes back through the client's
buffers, the user's later edit kept (the agent process on stdio, the fake Ollama on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from acp import text_block

from tests.acp.conftest import EditorClient, agent_process
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n\n\nVERSION = 1\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


async def test_undo_puts_the_latest_run_back_and_keeps_the_users_edit(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    app = workspace / "app.py"
    app.write_text(APP)
    client = EditorClient()
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        await conn.prompt(session_id=sid, prompt=[text_block("fix add")])
        assert client.buffers[str(app)] == APP.replace("a - b", "a + b")
        # The user edits another line in the editor (unsaved), then asks to undo.
        client.buffers[str(app)] = client.buffers[str(app)].replace("VERSION = 1", "VERSION = 2")
        undo = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])
        again = await conn.prompt(session_id=sid, prompt=[text_block("/undo")])

    assert undo.stop_reason == again.stop_reason == "end_turn"
    assert client.buffers[str(app)] == APP.replace("VERSION = 1", "VERSION = 2")
    said = client.message_text()
    assert "reverted app.py" in said
    assert "Nothing to undo" in said
    assert len(fake_ollama.chat_requests) == 2  # /undo never asks the model
