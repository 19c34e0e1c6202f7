"""Cancel, session/load after a restart, and bad input answered while the agent stays up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO

import pytest
from acp import RequestError, text_block

from tests.acp.conftest import EditorClient, agent_process, pick
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
CANCEL_WITHIN = 1.0


async def _cancel_and_time(conn, session_id: str, prompt: asyncio.Task) -> tuple[str, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await conn.cancel(session_id=session_id)
    answer = await asyncio.wait_for(prompt, 10)
    return answer.stop_reason, loop.time() - start


async def test_cancel_stops_the_model_mid_stream_within_a_second(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    fake_ollama.enqueue(Reply().content("Working on it").hang())
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        prompt = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=[text_block("go")]))
        await client.wait_for(lambda: "Working on it" in client.message_text())
        stop, took = await _cancel_and_time(conn, sid, prompt)
        assert await asyncio.to_thread(fake_ollama.wait_for_disconnects, 1, 5) >= 1
    assert stop == "cancelled"
    assert took < CANCEL_WITHIN


async def test_cancel_kills_a_running_command_within_a_second(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(Reply.calls(call("run_command", {"command": "sleep 60"})))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        prompt = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=[text_block("wait")]))
        await client.wait_for(
            lambda: any(u.status == "in_progress" for u in client.of("tool_call_update"))
        )
        stop, took = await _cancel_and_time(conn, sid, prompt)
    assert stop == "cancelled"
    assert took < CANCEL_WITHIN


async def test_cancel_while_a_permission_request_is_pending(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(hold_permission=True)
    fake_ollama.enqueue(Reply.calls(call("run_command", {"command": "touch ran"})))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        prompt = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=[text_block("do")]))
        await client.wait_for(lambda: client.asked)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await conn.cancel(session_id=sid)
        client.answer_cancelled()  # the client's part: pending requests answered cancelled
        answer = await asyncio.wait_for(prompt, 10)
        took = loop.time() - start
        # The agent stays usable: the next prompt is answered.
        fake_ollama.enqueue(Reply.say("Fine."))
        again = await conn.prompt(session_id=sid, prompt=[text_block("anything else?")])
    assert answer.stop_reason == "cancelled"
    assert took < CANCEL_WITHIN
    assert not (workspace / "ran").exists()
    assert again.stop_reason == "end_turn"


async def test_session_load_replays_the_conversation_after_a_restart(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    first = EditorClient()
    fake_ollama.enqueue(Reply().thinking("a sign").tool_calls(FIX).done(), Reply.say("Fixed."))
    async with agent_process(first, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        await conn.prompt(session_id=sid, prompt=[text_block("fix add")])
    sent_first = fake_ollama.chat_requests[-1].body["messages"]

    second = EditorClient()
    async with agent_process(second, fake_ollama.url, agent_log) as (conn, _):
        listed = await conn.list_sessions(cwd=str(workspace))
        loaded = await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
        # The conversation, then the slash commands the session offers.
        *replayed, offered = second.updates
        assert offered.session_update == "available_commands_update"
        fake_ollama.enqueue(Reply.say("It returns a + b now."))
        await conn.prompt(session_id=sid, prompt=[text_block("what does add return?")])

    assert sid in [s.session_id for s in listed.sessions]
    assert loaded.modes.current_mode_id == "ask"
    kinds = [u.session_update for u in replayed]
    assert kinds[0] == "user_message_chunk" and replayed[0].content.text == "fix add"
    assert "agent_thought_chunk" in kinds
    (edit,) = [u for u in replayed if u.session_update == "tool_call"]
    assert (edit.kind, edit.raw_input["path"]) == ("edit", "app.py")
    assert [u.status for u in replayed if u.session_update == "tool_call_update"] == ["completed"]
    assert replayed[-1].content.text == "Fixed."
    # The follow-up continues the same conversation: its request extends the stored one.
    follow_up = fake_ollama.chat_requests[-1].body["messages"]
    assert follow_up[: len(sent_first)] == sent_first
    assert follow_up[-1] == {"role": "user", "content": "what does add return?"}
    assert "It returns a + b now." in second.message_text()


async def test_bad_input_gets_json_rpc_errors_and_the_agent_stays_up(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, proc):
        with pytest.raises(RequestError) as unknown:
            await conn.prompt(session_id="s-nope", prompt=[text_block("hi")])
        raw = conn._conn  # the SDK's JSON-RPC connection, to send what its typed API cannot
        with pytest.raises(RequestError) as invalid:
            await raw.send_request("session/prompt", {"sessionId": "s-nope"})
        with pytest.raises(RequestError) as relative:
            await conn.new_session(cwd="relative/dir", mcp_servers=[])
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        with pytest.raises(RequestError) as mode:
            await conn.set_session_mode(session_id=session.session_id, mode_id="yolo")
        with pytest.raises(RequestError) as method:
            await raw.send_request("session/frobnicate", {})
        assert proc.stdin is not None
        proc.stdin.write(b"this is not json\n")
        await proc.stdin.drain()
        fake_ollama.enqueue(Reply.say("Still here."))
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("hi")])

    assert unknown.value.code == -32602 and "s-nope" in str(unknown.value)
    assert invalid.value.code == -32602
    assert relative.value.code == -32602 and "absolute" in str(relative.value)
    assert mode.value.code == -32602 and "ask, allowlist, always, never" in str(mode.value)
    assert method.value.code == -32601
    assert answer.stop_reason == "end_turn"
