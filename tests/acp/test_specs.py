"""Specs over ACP: ``/spec PATH`` runs a spec as runSpec does, its criteria sent as the plan
(the agent process on stdio, the SDK's client side, the fake Ollama on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from acp import text_block

from tests.acp.conftest import EditorClient, agent_process
from tests.fake_ollama.replies import Reply
from tests.fake_ollama.server import FakeOllama
from tests.lsp_specs.helpers import FIX_GREETING, SPEC_REL, TICK_BOTH, write_spec


async def test_a_spec_prompt_runs_the_spec_with_its_criteria_as_the_plan(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    spec_path = write_spec(workspace)
    fake_ollama.enqueue(
        Reply.calls(FIX_GREETING), Reply.calls(*TICK_BOTH), Reply.say("Set GREETING to hello.")
    )
    client = EditorClient()
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(
            session_id=session.session_id, prompt=[text_block(f"/spec {SPEC_REL}")]
        )
        stored = await conn.list_sessions(cwd=str(workspace))

    assert answer.stop_reason == "end_turn"
    plans = client.of("plan")
    # First every criterion pending, at the end every one ticked.
    assert [e.status for e in plans[0].entries] == ["pending", "pending"]
    assert [e.status for e in plans[-1].entries] == ["completed", "completed"]
    assert len(plans[0].entries[0].content) > 0
    # The edits went through the client and stay unsaved there, yet the verify command (which
    # reads the disk) passed: the buffers it needed were saved for it, as written.
    greet = str(workspace / "greet.py")
    assert client.buffers[greet] == 'GREETING = "hello"\n'
    assert (workspace / "greet.py").read_text() == 'GREETING = "hello"\n'
    spec_text = client.buffers.get(str(spec_path), spec_path.read_text())
    assert "status: completed" in spec_text
    assert "[x]" in spec_text
    assert "completed" in client.message_text()
    # The spec run is a run of the session: load and undo know it.
    assert [s.session_id for s in stored.sessions] == [session.session_id]


async def test_the_spec_command_is_offered_and_a_bad_one_is_refused_with_the_fix(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await client.wait_for(lambda: client.of("available_commands_update"))
        answer = await conn.prompt(
            session_id=session.session_id, prompt=[text_block("/spec app.py")]
        )

    [offered] = client.of("available_commands_update")
    assert [c.name for c in offered.available_commands] == ["spec", "undo"]
    assert answer.stop_reason == "refusal"
    assert "app.py is not a spec" in client.message_text()
    assert ".chant/specs/" in client.message_text()
    assert fake_ollama.chat_requests == []
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
