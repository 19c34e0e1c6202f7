"""A prompt over real stdio: reads through the editor's buffer, edits land through the editor."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from acp import text_block

from tests.acp.conftest import EditorClient, agent_process
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


async def test_a_prompt_reads_the_buffer_and_edits_through_the_editor(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    app = str(workspace / "app.py")
    client = EditorClient()
    # The user typed a docstring and did not save: the agent must see and keep it.
    client.buffers[app] = '"""Sums."""\ndef add(a, b):\n    return a - b\n'
    fake_ollama.enqueue(
        Reply().thinking("look first").tool_calls(call("read_file", {"path": "app.py"})).done(),
        Reply.calls(FIX),
        Reply.say("Fixed the sign."),
    )
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("fix add")])

    assert answer.stop_reason == "end_turn"
    assert client.writes == [(app, '"""Sums."""\ndef add(a, b):\n    return a + b\n')]
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
    read, edit = client.tool_calls()
    assert (read.kind, edit.kind) == ("read", "edit")
    assert read.locations[0].path == app
    done = client.final(edit.tool_call_id)
    assert done.status == "completed"
    diff = done.content[0]
    assert diff.type == "diff" and diff.path == app
    assert diff.old_text == '"""Sums."""\ndef add(a, b):\n    return a - b\n'
    assert diff.new_text == '"""Sums."""\ndef add(a, b):\n    return a + b\n'
    assert done.locations[0].line == 3
    assert "look first" in "".join(u.content.text for u in client.of("agent_thought_chunk"))
    assert "Fixed the sign." in client.message_text()
    # The model read the buffer, not the disk.
    tool_result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert '"""Sums."""' in tool_result
