"""Commands over ACP: session/request_permission, the destructive floor, the stale-file note."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO, Any

from acp import text_block

from tests.acp.conftest import EditorClient, agent_process, pick
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama


def run(command: str) -> dict[str, object]:
    return call("run_command", {"command": command})


async def test_an_allowed_command_runs_and_its_output_is_the_tool_calls_content(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(Reply.calls(run("echo hello-from-sandbox")), Reply.say("It printed."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("say hi")])

    assert answer.stop_reason == "end_turn"
    (asked,) = client.asked
    (started,) = client.tool_calls()
    assert started.kind == "execute"
    assert asked.tool_call.tool_call_id == started.tool_call_id
    assert [o.kind for o in asked.options] == ["allow_once", "allow_always", "reject_once"]
    done = client.final(started.tool_call_id)
    assert done.status == "completed"
    assert "hello-from-sandbox" in done.content[-1].content.text
    assert done.raw_output["exitCode"] == 0


async def test_a_rejected_command_does_not_run_and_the_model_hears_it(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(decide=pick("reject_once"))
    fake_ollama.enqueue(Reply.calls(run("touch made-by-agent")), Reply.say("Skipped it."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("make a file")])

    assert not (workspace / "made-by-agent").exists()
    (started,) = client.tool_calls()
    assert client.final(started.tool_call_id).status == "failed"
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "denied" in result


async def test_allow_always_covers_the_session_but_never_a_destructive_command(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    (workspace / "build").mkdir()
    (workspace / "build" / "out.o").write_text("x")
    # The person answers "allow always" wherever it is offered, "allow" elsewhere.
    client = EditorClient(decide=pick("allow_always"))
    fake_ollama.enqueue(
        Reply.calls(run("echo one")),
        Reply.calls(run("echo one")),
        Reply.calls(run("rm -rf build")),
        Reply.calls(run("mkdir build")),
        Reply.calls(run("rm -rf build")),
        Reply.say("Done."),
    )
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("clean up")])

    asked = [a.tool_call.raw_input["command"] for a in client.asked]
    # echo: asked once, then allowed for the session; rm -rf: asked both times.
    assert asked == ["echo one", "rm -rf build", "mkdir build", "rm -rf build"]
    destructive = [a for a in client.asked if a.tool_call.raw_input["destructive"]]
    assert len(destructive) == 2
    for request in destructive:
        assert [o.kind for o in request.options] == ["allow_once", "reject_once"]
    assert not (workspace / "build").exists()


async def test_a_command_is_told_which_files_the_editor_has_not_saved(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(decide=pick("allow_once"))
    fix = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
    fake_ollama.enqueue(Reply.calls(fix), Reply.calls(run("cat app.py")), Reply.say("ok"))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("fix and show")])

    result = fake_ollama.chat_requests[2].body["messages"][-1]["content"]
    assert "not saved yet" in result and "app.py" in result
    assert "a - b" in result  # the command really saw the old text on disk


async def test_a_running_commands_output_streams_as_its_tool_calls_content(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    # The command prints a line, then waits until the test has seen that line in an update.
    command = "echo first-line; while [ ! -f go ]; do sleep 0.05; done; echo second-line"
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(Reply.calls(run(command)), Reply.say("It printed two lines."))
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        prompt = asyncio.ensure_future(
            conn.prompt(session_id=session.session_id, prompt=[text_block("run it")])
        )

        def streamed() -> list[Any]:
            return [
                u
                for u in client.of("tool_call_update")
                if u.status == "in_progress" and u.content
                and "first-line" in u.content[-1].content.text
            ]  # fmt: skip

        await client.wait_for(streamed)
        (workspace / "go").write_text("")
        answer = await prompt

    assert answer.stop_reason == "end_turn"
    [started] = client.tool_calls()
    assert "second-line" not in streamed()[0].content[-1].content.text
    done = client.final(started.tool_call_id)
    assert done.status == "completed"
    assert "first-line\nsecond-line" in done.content[-1].content.text
