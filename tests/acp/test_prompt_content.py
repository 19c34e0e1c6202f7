"""What a prompt carries in and what its turn reports out: embedded resources become the task,
the context used is reported, maxTurns ends the turn, and each tool call has its ACP kind
(search, delete; in a spec run think for a tick and execute for a verify command)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from acp import text_block
from acp.schema import EmbeddedResourceContentBlock, TextResourceContents

from tests.acp.conftest import EditorClient, agent_process
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp_specs.helpers import FIX_GREETING, SPEC_REL, TICK_BOTH, write_spec


async def test_an_embedded_resource_is_part_of_the_models_task(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    notes = workspace / "notes.md"
    # The editor embeds its buffer, which differs from the disk: the model gets the buffer.
    notes.write_text("old notes\n")
    embedded = EmbeddedResourceContentBlock(
        type="resource",
        resource=TextResourceContents(
            uri=notes.as_uri(), text="TODO: rename add to plus\n", mime_type="text/markdown"
        ),
    )
    client = EditorClient()
    fake_ollama.enqueue(Reply.say("Noted."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(
            session_id=session.session_id, prompt=[text_block("do what it says"), embedded]
        )

    assert answer.stop_reason == "end_turn"
    task = fake_ollama.chat_requests[0].body["messages"][-1]
    assert task["role"] == "user"
    assert "do what it says" in task["content"]
    assert "notes.md" in task["content"]  # named by its workspace path
    assert "TODO: rename add to plus" in task["content"]
    assert "old notes" not in task["content"]


async def test_the_context_used_is_reported_at_the_end_of_the_turn(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    fake_ollama.enqueue(Reply.say("Hello.", prompt_eval_count=1234))
    async with agent_process(client, fake_ollama.url, agent_log, "-o", "numCtx=8192") as (
        conn,
        _,
    ):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("hi")])

    (usage,) = client.of("usage_update")
    assert (usage.used, usage.size) == (1234, 8192)
    assert client.updates[-1] is usage  # after the answer's text: the turn's last word


async def test_max_turns_ends_the_turn_with_max_turn_requests(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    read = call("read_file", {"path": "app.py"})
    fake_ollama.enqueue(Reply.calls(read), Reply.calls(read), Reply.say("never reached"))
    async with agent_process(client, fake_ollama.url, agent_log, "-o", "maxTurns=1") as (
        conn,
        _,
    ):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("look")])

    assert answer.stop_reason == "max_turn_requests"
    assert len(fake_ollama.chat_requests) == 1
    assert "never reached" not in client.message_text()


async def test_delete_and_search_calls_have_their_kinds(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    (workspace / "old.py").write_text("x = 1\n")
    client = EditorClient()
    fake_ollama.enqueue(
        Reply.calls(call("search", {"regex": "return"})),
        Reply.calls(call("list_files", {"glob": "*.py"})),
        Reply.calls(call("delete_file", {"path": "old.py"})),
        Reply.say("Cleaned up."),
    )
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("clean up")])

    search, listing, delete = client.tool_calls()
    assert (search.kind, listing.kind, delete.kind) == ("search", "search", "delete")
    assert "app.py" in client.final(search.tool_call_id).content[0].content.text
    done = client.final(delete.tool_call_id)
    assert done.status == "completed"
    assert done.locations[0].path == str(workspace / "old.py")
    # ACP has no delete request: the file goes from the disk.
    assert not (workspace / "old.py").exists()


async def test_a_spec_run_ticks_criteria_as_think_calls_and_verifies_as_execute(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    write_spec(workspace)
    fake_ollama.enqueue(Reply.calls(FIX_GREETING), Reply.calls(*TICK_BOTH), Reply.say("Done."))
    client = EditorClient()
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block(f"/spec {SPEC_REL}")])

    edit, tick_1, tick_2, verify = client.tool_calls()
    assert (edit.kind, tick_1.kind, tick_2.kind) == ("edit", "think", "think")
    # The spec's verify command runs a command: an execute call with an id of its own.
    assert verify.kind == "execute" and "check.py" in verify.raw_input["command"]
    ids = [c.tool_call_id for c in client.tool_calls()]
    assert len(set(ids)) == 4 and "None" not in ids
    done = client.final(verify.tool_call_id)
    assert done.status == "completed"
