"""Files over ACP: a client without fs capabilities gets the disk, an edit over a buffer the user
changed meanwhile is refused, and a path outside the workspace is never touched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from acp import text_block
from acp.schema import ClientCapabilities, ReadTextFileResponse

from tests.acp.conftest import EditorClient, agent_process
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

ORIGINAL = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


@dataclass
class TypingEditor(EditorClient):
    """An editor whose user types into one file just after the agent has read it."""

    typed_path: str = ""
    typed_text: str | None = None
    """What the user's buffer holds once the agent's first read of ``typed_path`` is answered."""

    async def read_text_file(self, path: str, session_id: str, **kw: Any) -> ReadTextFileResponse:
        answer = await super().read_text_file(path, session_id, **kw)
        if path == self.typed_path and self.typed_text is not None:
            self.buffers[path] = self.typed_text
            self.typed_text = None
        return answer


async def test_a_client_without_fs_capabilities_gets_reads_and_writes_on_disk(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    app = str(workspace / "app.py")
    client = EditorClient()
    # A buffer the client never offered to share: the agent must not see or write it.
    client.buffers[app] = "# buffer only\n" + ORIGINAL
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "app.py"})), Reply.calls(FIX), Reply.say("Fixed.")
    )
    async with agent_process(
        client, fake_ollama.url, agent_log, capabilities=ClientCapabilities()
    ) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("fix add")])

    assert answer.stop_reason == "end_turn"
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert client.writes == []
    read_result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "return a - b" in read_result and "buffer only" not in read_result
    _, edit = client.tool_calls()
    diff = client.final(edit.tool_call_id).content[0]
    assert (diff.old_text, diff.new_text) == (ORIGINAL, "def add(a, b):\n    return a + b\n")


async def test_an_edit_over_a_buffer_the_user_changed_since_is_refused(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    app = str(workspace / "app.py")
    users_text = "def add(a, b):\n    return a - b  # keep: the user is typing here\n"
    client = TypingEditor(typed_path=app, typed_text=users_text)
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("It changed under me."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("fix add")])

    assert client.writes == []
    assert client.buffers[app] == users_text
    assert (workspace / "app.py").read_text() == ORIGINAL
    (edit,) = client.tool_calls()
    assert client.final(edit.tool_call_id).status == "failed"
    heard = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "changed in the editor after it was read" in heard
    assert "Read it again" in heard


async def test_a_path_outside_the_workspace_is_refused_and_left_alone(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    outside = workspace.parent / "outside.py"
    outside.write_text("SECRET = 1\n")
    client = EditorClient()
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "../outside.py", "content": "SECRET = 2\n"})),
        Reply.calls(
            call("edit_file", {"path": str(outside), "old_string": "1", "new_string": "3"})
        ),
        Reply.say("Both refused."),
    )
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("edit outside")])

    assert outside.read_text() == "SECRET = 1\n"
    assert client.writes == []
    for call_update in client.tool_calls():
        assert client.final(call_update.tool_call_id).status == "failed"
    for request in fake_ollama.chat_requests[1:3]:
        heard = request.body["messages"][-1]["content"]
        assert "is refused" in heard and str(workspace) in heard
