"""Modes and the model over ACP: switching a session's mode changes what a command does, the
model option picks the model of the next chat request, and initialize names the agent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, cast

from acp import spawn_agent_process, text_block
from acp.interfaces import Client

from tests.acp.conftest import AGENT, FS_CAPABILITIES, EditorClient, agent_process
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama


def run(command: str) -> dict[str, object]:
    return call("run_command", {"command": command})


async def test_initialize_names_the_agent_and_what_it_accepts(
    fake_ollama: FakeOllama, agent_log: IO[str]
) -> None:
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url, "NO_COLOR": "1"}
    env.pop("OLLAMA_AGENT_MODEL", None)
    client = cast("Client", EditorClient())  # the SDK's Protocol, which it implements
    async with spawn_agent_process(
        client, *AGENT, env=env, transport_kwargs={"stderr": agent_log}
    ) as (conn, _):
        answer = await conn.initialize(protocol_version=1, client_capabilities=FS_CAPABILITIES)

    assert answer.protocol_version == 1
    assert answer.agent_info is not None and answer.agent_info.name == "ollama-agent-ls"
    assert answer.agent_info.version
    capabilities = answer.agent_capabilities
    assert capabilities is not None and capabilities.load_session is True
    assert capabilities.prompt_capabilities is not None
    assert capabilities.prompt_capabilities.embedded_context is True


async def touch_in_mode(
    mode: str, fake_ollama: FakeOllama, workspace: Path, log: IO[str], then: str
) -> EditorClient:
    """One prompt in a session switched from ask to ``mode``, whose model runs ``touch``."""
    client = EditorClient()
    fake_ollama.enqueue(Reply.calls(run("touch made-by-agent")), Reply.say(then))
    async with agent_process(client, fake_ollama.url, log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        assert session.modes is not None and session.modes.current_mode_id == "ask"
        await conn.set_session_mode(session_id=session.session_id, mode_id=mode)
        await conn.prompt(session_id=session.session_id, prompt=[text_block("make a file")])
    return client


async def test_mode_never_runs_no_command_and_asks_nobody(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = await touch_in_mode("never", fake_ollama, workspace, agent_log, "Could not.")

    assert client.asked == []
    assert not (workspace / "made-by-agent").exists()
    (started,) = client.tool_calls()
    assert client.final(started.tool_call_id).status == "failed"
    heard = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "commandApproval=never" in heard


async def test_mode_always_runs_a_command_in_the_sandbox_without_asking(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = await touch_in_mode("always", fake_ollama, workspace, agent_log, "Made it.")

    assert client.asked == []
    assert (workspace / "made-by-agent").exists()
    (started,) = client.tool_calls()
    done = client.final(started.tool_call_id)
    assert done.status == "completed" and done.raw_output["exitCode"] == 0
    # The switch was announced to the client with the options' new values.
    (changed,) = client.of("config_option_update")
    mode = next(o for o in changed.config_options if o.id == "mode")
    assert mode.current_value == "always"


async def test_the_model_option_picks_the_model_of_the_next_request(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient()
    fake_ollama.enqueue(Reply.say("one"), Reply.say("two"))
    async with agent_process(client, fake_ollama.url, agent_log, "-m", "qwen3:8b") as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        sid = session.session_id
        offered = next(o for o in session.config_options or [] if o.id == "model")
        assert offered.current_value == "qwen3:8b"
        assert "llama3.1:8b" in [o.value for o in offered.options]
        await conn.prompt(session_id=sid, prompt=[text_block("first")])
        answer = await conn.set_config_option(
            config_id="model", session_id=sid, value="llama3.1:8b"
        )
        await conn.prompt(session_id=sid, prompt=[text_block("second")])

    model = next(o for o in answer.config_options if o.id == "model")
    assert model.current_value == "llama3.1:8b"
    first, second = fake_ollama.chat_requests
    assert (first.body["model"], second.body["model"]) == ("qwen3:8b", "llama3.1:8b")
