"""MCP tools in the language server: a run offers the servers' tools and calls them (a real SDK
server over stdio, tests/mcp_servers/echo_server.py), the same tool bytes on every turn; runs
share one server process, which stops when the editor shuts the language server down; calls
that are not auto-approved ask the editor; checkSetup names the servers and their tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ollama_agent_ls.tools.schemas import CORE_TOOLS
from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import server_process
from tests.lsp.helpers import CHECK_SETUP, tool_results

SERVER = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")
RUN_TASK = "ollamaAgent.runTask"


def _gone(pid: int) -> bool:
    """True once process ``pid`` has ended (a zombie has ended too: only its parent's wait is
    left)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def test_a_run_in_the_editor_calls_an_auto_approved_mcp_tool(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("echo__echo", {"text": "hi"})), Reply.say("The server said hi.")
    )
    servers = {"echo": {"command": sys.executable, "args": [SERVER], "autoApprove": ["echo"]}}
    client = await start_editor({"mcpServers": servers})

    result = await client.command("ollamaAgent.runTask", {"instruction": "ask the echo server"})

    assert result["status"] == "completed", result["summary"]
    first, second = fake_ollama.chat_requests
    names = [t["function"]["name"] for t in first.body["tools"]]
    assert "echo__echo" in names
    assert json.dumps(second.body["tools"]) == json.dumps(first.body["tools"])
    assert second.body["messages"][-1] == {
        "role": "tool",
        "content": "echo: hi",
        "tool_name": "echo__echo",
        "tool_call_id": second.body["messages"][-2]["tool_calls"][0]["id"],
    }


async def test_runs_share_one_server_process_and_shutdown_stops_it(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "echo.pid"
    fake_ollama.enqueue(
        Reply.calls(call("echo__echo", {"text": "one"})), Reply.say("First."),
        Reply.calls(call("echo__echo", {"text": "two"})), Reply.say("Second."),
    )  # fmt: skip
    args = [SERVER, "--pid-file", str(pid_file)]
    servers = {"echo": {"command": sys.executable, "args": args, "autoApprove": ["echo"]}}
    client = await start_editor({"mcpServers": servers})

    first = await client.command(RUN_TASK, {"instruction": "echo one"})
    pid = int(pid_file.read_text())
    second = await client.command(RUN_TASK, {"instruction": "echo two"})

    assert first["status"] == second["status"] == "completed"
    assert second["sessionId"] != first["sessionId"]
    assert tool_results(fake_ollama, 3)[-1] == "echo: two"
    assert int(pid_file.read_text()) == pid and not _gone(pid)  # the same process, reused
    # The shutdown answer comes once the servers are stopped, before the editor says exit.
    await client.shutdown_async(None)
    try:
        assert _gone(pid)
    finally:
        client.exit(None)
        await server_process(client).wait()


async def test_a_call_that_is_not_auto_approved_asks_the_editor_and_deny_skips_it(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    fake_ollama.enqueue(
        Reply.calls(call("echo__echo", {"text": "hi"})), Reply.say("It was not allowed.")
    )
    env = {"ECHO_CALLS": str(calls)}
    servers = {"echo": {"command": sys.executable, "args": [SERVER], "env": env}}
    client = await start_editor({"mcpServers": servers})
    client.answers.append("Deny")

    result = await client.command(RUN_TASK, {"instruction": "ask the echo server"})

    assert result["status"] == "completed", result["summary"]
    [asked] = client.message_requests
    assert asked.message.startswith(
        'Ollama agent wants to call an MCP tool:\necho__echo {"text": "hi"}\n'
    )
    assert "MCP tool 'echo' of server 'echo': it runs outside the sandbox" in asked.message
    assert [a.title for a in asked.actions or []] == ["Allow", "Allow for this session", "Deny"]
    assert not calls.exists()  # the server was never called
    [denied] = tool_results(fake_ollama, 1)
    assert denied.startswith("Error: The user denied calling echo__echo.")


async def test_check_setup_names_each_server_and_its_tools_or_why_it_failed(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    servers = {
        "echo": {"command": sys.executable, "args": [SERVER], "tools": ["echo", "picture"]},
        "broken": {"command": str(tmp_path / "no-such-server")},
    }
    client = await start_editor({"mcpServers": servers})

    report = await client.command(CHECK_SETUP)

    echo, broken = sorted(report["mcpServers"], key=lambda s: s["name"] != "echo")
    tools = ["echo__echo", "echo__picture"]
    assert echo == {"name": "echo", "ok": True, "tools": tools, "error": None}
    assert broken["name"] == "broken" and broken["ok"] is False and broken["tools"] == []
    assert "its command was not found" in broken["error"]
    assert report["toolCount"] == len(CORE_TOOLS) + 2
    assert any("MCP servers run outside the sandbox" in w for w in report["warnings"])
