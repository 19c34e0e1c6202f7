"""`ollama-agent-ls run` with MCP servers, as a user runs it: the fake Ollama scripts the model's
calls to a real SDK server over stdio (tests/mcp_servers/echo_server.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.e2e.test_cli_run import cli
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

SERVER = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")


def servers(**entries: dict[str, object]) -> str:
    return "mcpServers=" + json.dumps(
        {name: {"command": sys.executable, **entry} for name, entry in entries.items()}
    )


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_model_calls_an_auto_approved_mcp_tool(fake_ollama: FakeOllama, tmp_path) -> None:
    pid_file = tmp_path / "echo.pid"
    fake_ollama.enqueue(
        Reply.calls(call("echo__echo", {"text": "hi"})), Reply.say("The server said hi.")
    )
    option = servers(echo={"args": [SERVER, "--pid-file", str(pid_file)], "autoApprove": ["echo"]})
    proc = cli("run", "ask the echo server", "-w", str(tmp_path), "-o", option, url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert "[completed] The server said hi." in proc.stderr
    first, second = fake_ollama.chat_requests
    names = [t["function"]["name"] for t in first.body["tools"]]
    assert names[-4:] == ["echo__echo", "echo__fail", "echo__picture", "echo__die"]
    # The tool set is part of the cached prefix: the same bytes on every turn.
    assert json.dumps(second.body["tools"]) == json.dumps(first.body["tools"])
    tool_message = second.body["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == "echo: hi"
    # The server stopped with the command.
    assert _gone(int(pid_file.read_text()))


def test_a_call_asks_by_default_and_nobody_can_answer(fake_ollama: FakeOllama, tmp_path) -> None:
    calls = tmp_path / "calls.txt"
    fake_ollama.enqueue(Reply.calls(call("echo__echo", {"text": "hi"})), Reply.say("ok"))
    option = servers(echo={"args": [SERVER], "env": {"ECHO_CALLS": str(calls)}})
    proc = cli("run", "x", "-w", str(tmp_path), "--yes", "-o", option, url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert result.startswith("Error: The user denied calling echo__echo"), result
    assert not calls.exists()


def test_a_hung_server_is_a_warning_and_the_run_goes_on(fake_ollama: FakeOllama, tmp_path) -> None:
    fake_ollama.enqueue(Reply.say("Nothing to do."))
    option = servers(hung={"args": [SERVER, "--hang"], "timeout": 1})
    proc = cli("run", "x", "-w", str(tmp_path), "-o", option, url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert "MCP server 'hung' is not available, so this run goes on without its tools" in (
        proc.stderr
    )
    assert "[completed] Nothing to do." in proc.stderr
    names = [t["function"]["name"] for t in fake_ollama.chat_requests[0].body["tools"]]
    assert not any(n.startswith("hung__") for n in names)


def test_doctor_lists_the_servers_tools_and_warns(fake_ollama: FakeOllama, tmp_path) -> None:
    option = servers(
        echo={"args": [SERVER], "tools": ["echo"]},
        hung={"args": [SERVER, "--hang"], "timeout": 1},
    )
    proc = cli("doctor", "-w", str(tmp_path), "-o", option, url=fake_ollama.url)
    out = proc.stdout
    assert "✓ MCP server echo: 1 tools (echo__echo)" in out, out
    assert "✗ MCP server hung: it did not answer initialize" in out
    assert "9 tools offered, about" in out
    assert "warning: MCP servers run outside the sandbox and undo does not cover" in out
    # A server that fails is a warning: the run goes on without it, so doctor still passes.
    assert proc.returncode == 0, out


def test_a_server_that_dies_mid_run_is_a_warning_the_person_sees(
    fake_ollama: FakeOllama, tmp_path
) -> None:
    fake_ollama.enqueue(Reply.calls(call("echo__die", {})), Reply.say("The server is gone."))
    option = servers(echo={"args": [SERVER], "autoApprove": ["die"]})
    proc = cli("run", "x", "-w", str(tmp_path), "-o", option, url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    # The model hears it in the tool result; the person in the transcript, with what to check.
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "MCP server 'echo' is not available" in result
    assert "MCP server 'echo' stopped answering" in proc.stderr
    assert "ollama-agent-ls doctor" in proc.stderr
