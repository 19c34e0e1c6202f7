"""MCP tools in the language server: a run offers the servers' tools and calls them (a real SDK
server over stdio, tests/mcp_servers/echo_server.py), the same tool bytes on every turn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor

SERVER = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")


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
