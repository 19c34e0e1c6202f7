"""The language server answers initialize without loading pydantic, PyYAML or the MCP SDK, and
loads them later (the SDK only for configured MCP servers, when something needs them).

An editor waits for the initialize answer before it sends anything, so whatever the server
imports before answering is start-up time the user sees (pydantic alone is ~65 ms of ~350).

How it is observed, without a debug hook in the product: the real server (``python -m
ollama_agent_ls``, via ``runpy``) runs under a few lines of wrapper that replace the stdout
buffer pygls writes to. Before passing on each outgoing message, the wrapper writes one line to
stderr, ``probe <n> <loaded>``: the message's ordinal and which of pydantic/yaml/mcp are in
``sys.modules`` at that moment. The line is taken in the same thread, just before the message's
bytes are written, so it describes exactly the state in which the message was sent; the test
counts the messages it reads and looks up the probe line with the same ordinal. Nothing depends
on timing: a probe line always exists before its message does.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

WRAPPER = r"""
import json, os, runpy, sys

HEAVY = {"pydantic", "yaml", "mcp"}


class Probe:
    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def write(self, data):
        self.count += 1
        loaded = sorted({name.partition(".")[0] for name in list(sys.modules)} & HEAVY)
        # One write(2) of a short line: never interleaved with log lines on the same pipe.
        os.write(2, f"probe {self.count} {json.dumps(loaded)}\n".encode())
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()

    def close(self):
        self.raw.close()


class Stdout:
    buffer = Probe(sys.stdout.buffer)

    def write(self, text):
        return self.buffer.write(text.encode())

    def flush(self):
        self.buffer.flush()


sys.stdout = Stdout()
sys.argv = ["ollama_agent_ls"]
runpy.run_module("ollama_agent_ls", run_name="__main__", alter_sys=True)
"""

WAIT = 60.0
"""Seconds before a missing message fails the test (a hang guard, not a measurement)."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Session:
    """The wrapped server over pipes: numbered messages from stdout, probe lines from stderr."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.probes: dict[int, list[str]] = {}
        self.stderr: list[str] = []
        self._probe_seen = threading.Condition()
        self.received = 0
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # Both pipes are drained all the time: a full stderr pipe would stall the server.
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()

    def _read_stdout(self, out: IO[bytes]) -> None:
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "a message without Content-Length"
            self.messages.put(json.loads(out.read(length)))

    def _read_stderr(self, err: IO[bytes]) -> None:
        for raw in err:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._probe_seen:
                self.stderr.append(line)
                if line.startswith("probe "):
                    _, n, loaded = line.split(" ", 2)
                    self.probes[int(n)] = json.loads(loaded)
                self._probe_seen.notify_all()
        with self._probe_seen:
            self.stderr.append("<stderr closed>")
            self._probe_seen.notify_all()

    def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message."""
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def until_response(self, msg_id: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """(the response to ``msg_id``, the messages before it, its ordinal among all received)."""
        before: list[dict[str, Any]] = []
        while True:
            try:
                message = self.messages.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no answer to request {msg_id}; stderr:\n" + self._stderr_text())
            if message is None:
                pytest.fail(f"the server exited before answering {msg_id}:\n" + self._stderr_text())
            self.received += 1
            if message.get("id") == msg_id and "method" not in message:
                return message, before, self.received
            before.append(message)

    def loaded_when_sent(self, ordinal: int) -> list[str]:
        """Which of pydantic/yaml/mcp were imported when the server wrote message ``ordinal``."""
        with self._probe_seen:
            # Written before the message itself, so it is there or on its way.
            found = self._probe_seen.wait_for(
                lambda: ordinal in self.probes or "<stderr closed>" in self.stderr, WAIT
            )
            assert found and ordinal in self.probes, self._stderr_text()
            return self.probes[ordinal]

    def _stderr_text(self) -> str:
        return "\n".join(self.stderr[-40:])

    def close(self) -> None:
        """Shut down and exit the server (killed if it does not)."""
        try:
            self.send({"id": 999, "method": "shutdown"})
            self.send({"method": "exit"})
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def session() -> Iterator[Session]:
    """The server with Ollama at a closed port and no OLLAMA_AGENT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_AGENT_")}
    env["OLLAMA_HOST"] = f"http://127.0.0.1:{_closed_port()}"
    s = Session(env)
    yield s
    s.close()


def _initialize(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": 1,
        "method": "initialize",
        "params": {
            "processId": os.getpid(),
            "rootUri": None,
            "capabilities": {"window": {"showMessage": {}}},
            "clientInfo": {"name": "startup-test"},
            "initializationOptions": options,
        },
    }


def test_initialize_is_answered_before_pydantic_and_yaml_load_and_they_work_after(
    session: Session,
) -> None:
    session.send(_initialize({"model": "tiny:1b", "maxTurns": "lots"}))
    answer, _, ordinal = session.until_response(1)

    assert answer["result"]["serverInfo"]["name"] == "ollama-agent-ls"
    capabilities = answer["result"]["capabilities"]
    assert "ollamaAgent.checkSetup" in capabilities["executeCommandProvider"]["commands"]
    assert capabilities["codeLensProvider"] is not None
    assert session.loaded_when_sent(ordinal) == []

    # Once initialized: the options are validated (the invalid one reported, the rest in
    # effect) and commands parse their arguments, so pydantic is loaded on demand.
    session.send({"method": "initialized", "params": {}})
    session.send(
        {
            "id": 2,
            "method": "workspace/executeCommand",
            "params": {"command": "ollamaAgent.checkSetup", "arguments": [{}]},
        }
    )
    report, before, ordinal = session.until_response(2)

    shown = [m["params"]["message"] for m in before if m.get("method") == "window/showMessage"]
    assert any("'maxTurns'" in m and "using the default" in m for m in shown), shown
    assert report["result"]["model"] == "tiny:1b"
    assert report["result"]["reachable"] is False
    assert "pydantic" in session.loaded_when_sent(ordinal)

    session.send(
        {
            "id": 3,
            "method": "workspace/executeCommand",
            "params": {"command": "ollamaAgent.listModels", "arguments": [{"bogus": 1}]},
        }
    )
    refused, _, _ = session.until_response(3)

    assert refused["error"]["code"] == -32602
    assert "'bogus' is not an argument of ollamaAgent.listModels" in refused["error"]["message"]


def test_configured_mcp_servers_load_the_sdk_only_when_used_never_before_initialize(
    session: Session, tmp_path: Any
) -> None:
    pid_file = tmp_path / "echo.pid"
    server = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")
    echo = {"command": sys.executable, "args": [server, "--pid-file", str(pid_file)]}
    session.send(_initialize({"mcpServers": {"echo": echo}}))
    _, _, ordinal = session.until_response(1)

    assert session.loaded_when_sent(ordinal) == []
    assert not pid_file.exists()  # no server started for the answer either

    # checkSetup starts the servers to list their tools: that is when the SDK is needed.
    session.send({"method": "initialized", "params": {}})
    session.send(
        {
            "id": 2,
            "method": "workspace/executeCommand",
            "params": {"command": "ollamaAgent.checkSetup", "arguments": [{}]},
        }
    )
    report, _, ordinal = session.until_response(2)

    [listed] = report["result"]["mcpServers"]
    assert listed["name"] == "echo" and listed["ok"] is True, listed
    assert "mcp" in session.loaded_when_sent(ordinal)


def test_a_spec_lens_after_initialize_loads_yaml_then(session: Session, tmp_path: Any) -> None:
    spec = tmp_path / ".chant" / "specs" / "one.md"
    spec.parent.mkdir(parents=True)
    text = "---\nstatus: pending\nverify: pytest\n---\n# One\n"
    spec.write_text(text)
    uri = spec.as_uri()
    session.send(_initialize({}))
    _, _, ordinal = session.until_response(1)
    assert session.loaded_when_sent(ordinal) == []

    session.send({"method": "initialized", "params": {}})
    session.send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}
            },
        }
    )
    session.send(
        {"id": 2, "method": "textDocument/codeLens", "params": {"textDocument": {"uri": uri}}}
    )
    lenses, _, ordinal = session.until_response(2)

    titles = [lens["command"]["title"] for lens in lenses["result"]]
    assert titles == ["Run spec with Ollama agent", "Verify spec"]
    assert "yaml" in session.loaded_when_sent(ordinal)


def test_settings_used_before_initialized_hold_the_environment_and_initialization_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In-process: a command may read the settings before initialized has applied them.
    from lsprotocol import types

    from ollama_agent_ls.lsp.lifecycle import initialize
    from ollama_agent_ls.lsp.server import AgentServer

    monkeypatch.setenv("OLLAMA_HOST", "http://ollama.example:1234")
    monkeypatch.delenv("OLLAMA_AGENT_MAX_TURNS", raising=False)
    ls = AgentServer()
    default_turns = ls.settings.max_turns
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"model": "tiny:1b", "maxTurns": "lots"},
    )
    initialize(ls, params)

    assert ls.settings.model == "tiny:1b"
    assert ls.settings.max_turns == default_turns
    assert ls.settings.ollama_url.startswith("http://ollama.example:1234")


def test_importing_the_server_module_registers_nothing() -> None:
    # esbonio's pattern: create_server() registers each feature module; importing one must not
    # register anything on a server singleton (there is none).
    import importlib

    import ollama_agent_ls.lsp.server as server_module

    for name in (
        "lifecycle",
        "text_sync",
        "code_actions",
        "run_commands",
        "session_commands",
        "setup_commands",
        "spec_runs",
    ):
        importlib.import_module(f"ollama_agent_ls.lsp.{name}")
    assert not any(
        isinstance(value, server_module.AgentServer) for value in vars(server_module).values()
    )
    bare = server_module.AgentServer()
    assert "ollamaAgent.runTask" not in bare.protocol.fm.commands
    server = server_module.create_server()
    commands = server.protocol.fm.commands
    assert {"ollamaAgent.runTask", "ollamaAgent.followUp", "ollamaAgent.verifySpec"} <= set(
        commands
    )
    assert "textDocument/codeLens" in server.protocol.fm.features
    # Two servers in one process do not share their registrations.
    assert server_module.create_server().protocol.fm.commands.keys() == commands.keys()
