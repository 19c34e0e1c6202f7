"""ACP's session/new mcpServers: the client's stdio servers are started and their tools offered
with the same approvals as the mcpServers setting's (a real SDK server, the real agent)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO

from acp import text_block
from acp.schema import EnvVariable, HttpMcpServer, McpServerStdio, SseMcpServer

from tests.acp.conftest import EditorClient, agent_process, pick
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.mcp_servers.loopback_http import http_echo_server

SERVER = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")


async def test_session_new_mcp_servers_are_offered_and_ask_first(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(
        Reply.calls(call("echo__echo", {"text": "from acp"})), Reply.say("It echoed.")
    )
    echo = McpServerStdio(
        name="echo",
        command=sys.executable,
        args=[SERVER],
        env=[EnvVariable(name="ECHO_CALLS", value=str(calls))],
    )
    sse = SseMcpServer(type="sse", name="old", url="http://127.0.0.1:9/sse", headers=[])
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[echo, sse])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("echo")])
    assert answer.stop_reason == "end_turn"
    names = [t["function"]["name"] for t in fake_ollama.chat_requests[0].body["tools"]]
    assert "echo__echo" in names
    [asked] = client.asked
    assert asked.tool_call.title.startswith('Call MCP tool: echo__echo {"text": "from acp"}')
    assert asked.tool_call.kind == "other"  # an MCP call, not a shell command
    assert calls.read_text() == "echo from acp\n"
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert result == "echo: from acp"
    assert "MCP server 'old' from the client uses sse transport" in client.message_text()


def _gone(pid: int) -> bool:
    """True once process ``pid`` has ended (a zombie has ended too)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def test_the_servers_stop_when_the_agent_process_ends(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "echo.pid"
    client = EditorClient(decide=pick("allow_once"))
    fake_ollama.enqueue(Reply.calls(call("echo__echo", {"text": "x"})), Reply.say("Echoed."))
    # --linger: the server does not exit by itself when its stdin closes, so only the agent
    # stopping it ends it.
    echo = McpServerStdio(
        name="echo", command=sys.executable, args=[SERVER, "--pid-file", str(pid_file), "--linger"],
        env=[],
    )  # fmt: skip
    async with agent_process(client, fake_ollama.url, agent_log) as (conn, proc):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[echo])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("echo")])
        assert answer.stop_reason == "end_turn"
        pid = int(pid_file.read_text())
        assert not _gone(pid)
    assert proc.returncode is not None
    assert _gone(pid)


async def test_an_http_server_from_the_client_takes_its_policy_from_the_setting_of_its_name(
    fake_ollama: FakeOllama, workspace: Path, agent_log: IO[str]
) -> None:
    # The client gives the server (its URL); the user's mcpServers entry of the same name gives
    # what may run unasked. The setting's own URL is never used.
    policy = json.dumps({"web": {"url": "http://127.0.0.1:9/unused", "autoApprove": ["echo"]}})
    client = EditorClient(decide=pick("reject_once"))
    fake_ollama.enqueue(Reply.calls(call("web__echo", {"text": "over http"})), Reply.say("Done."))
    with http_echo_server() as url:
        web = HttpMcpServer(type="http", name="web", url=url, headers=[])
        async with agent_process(
            client, fake_ollama.url, agent_log, "-o", f"mcpServers={policy}"
        ) as (conn, _):
            session = await conn.new_session(cwd=str(workspace), mcp_servers=[web])
            answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("go")])

    assert answer.stop_reason == "end_turn"
    assert client.asked == []  # autoApprove from the setting: nobody was asked
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert result == "echo: over http"
