"""Commands over ACP meet the same boundary as elsewhere: the sandbox blocks a write outside the
workspace, only the person may let it run outside once, and "allow always" lasts the session
(the agent process on stdio, real bubblewrap, the fake Ollama on loopback)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from acp import text_block
from acp.schema import PermissionOption, ToolCallUpdate

from tests.acp.conftest import EditorClient, agent_process, pick
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama


def _always_or_reject(_call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
    kinds = {o.kind: o.option_id for o in options}
    return kinds.get("allow_always", kinds.get("reject_once"))


def run(command: str) -> dict[str, object]:
    return call("run_command", {"command": command})


def write_to(target: Path) -> str:
    """A command whose write outside the workspace only the sandbox can see (no shell path)."""
    return f"python3 -c \"open('{target}', 'w').write('made')\""


async def test_a_blocked_command_runs_outside_only_when_the_person_says_so(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "new.txt"
    # "Allow always" wherever it is offered, else "reject": the blocked command's offer has no
    # allow-always, so an answer meant for the session cannot carry a command past the sandbox.
    client = EditorClient(decide=_always_or_reject)
    fake_ollama.enqueue(Reply.calls(run(write_to(target))), Reply.say("Tried."))
    async with agent_process(
        client, fake_ollama.url, agent_log, "-o", "commandApproval=always"
    ) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("write")])

    assert answer.stop_reason == "end_turn"
    # Inline code is asked about even under "always" (the policy cannot tell what it does); the
    # person allows it for the session, and the sandbox still blocks its write.
    first, offer = client.asked
    assert "allow_always" in [o.kind for o in first.options]
    assert first.tool_call.raw_input["outsideSandbox"] is False
    assert [o.kind for o in offer.options] == ["allow_once", "reject_once"]
    assert offer.options[0].name == "Run outside the sandbox (once)"
    assert offer.tool_call.raw_input["outsideSandbox"] is True
    assert not target.exists()
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "the sandbox blocked a write outside the workspace" in result


async def test_the_person_lets_a_blocked_command_run_outside_once(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "new.txt"
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(Reply.calls(run(write_to(target))), Reply.say("Wrote it."))
    async with agent_process(
        client, fake_ollama.url, agent_log, "-o", "commandApproval=always"
    ) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("write")])

    offer = client.asked[-1]
    assert offer.tool_call.raw_input["outsideSandbox"] is True
    assert target.read_text() == "made"


async def test_allow_always_holds_for_the_sessions_later_prompts(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    client = EditorClient(decide=pick("allow_always"))
    fake_ollama.enqueue(
        Reply.calls(run("echo one")), Reply.say("Ran it."),
        Reply.calls(run("echo one")), Reply.say("Ran it again."),
    )  # fmt: skip
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("run it")])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("once more")])
        other = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        fake_ollama.enqueue(Reply.calls(run("echo one")), Reply.say("Ran it here."))
        await conn.prompt(session_id=other.session_id, prompt=[text_block("run it")])

    # Asked in the first prompt only; a new session asks again.
    assert len(client.asked) == 2
    outputs = [
        r.body["messages"][-1]["content"]
        for r in fake_ollama.chat_requests
        if r.body["messages"][-1]["role"] == "tool"
    ]
    assert len(outputs) == 3 and all("one" in o for o in outputs)
