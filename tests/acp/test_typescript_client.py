"""The official TypeScript SDK's client side (npm @agentclientprotocol/sdk) against the agent.

The SDK checks every message it receives against the protocol's schema, so a malformed answer
or update from the agent fails this test. The package is installed once into a cache outside
the repository (as editor-clients/vscode/scripts/ci.sh installs its npm packages).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

HERE = Path(__file__).parent
SDK = "@agentclientprotocol/sdk@2.4.0"
ZOD = "zod@3.25.76"
"""The SDK's peer dependency (it validates with zod)."""


def sdk_dir() -> Path:
    """The cache holding the SDK, installed on first use."""
    cache = Path(
        os.environ.get("OLLAMA_AGENT_ACP_TS_CACHE", Path.home() / ".cache/ollama-agent-acp-ts")
    )
    stamp = cache / f".ready-{SDK.replace('/', '_')}-{ZOD}"
    if stamp.exists():
        return cache
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed for this test: sudo apt-get install nodejs npm")
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "init", "-y"], cwd=cache, check=True, capture_output=True)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", SDK, ZOD],
        cwd=cache,
        check=True,
        capture_output=True,
        timeout=300,
    )
    stamp.touch()
    return cache


def test_the_typescript_sdk_client_runs_a_prompt_that_edits(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    (workspace / "app.py").write_text("def add(a, b):\n    return a - b\n")
    fake_ollama.enqueue(
        Reply().thinking("a sign").tool_calls(call("read_file", {"path": "app.py"})).done(),
        Reply.calls(
            call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
        ),
        Reply.calls(call("run_command", {"command": "echo checked"})),
        Reply.say("Fixed."),
    )
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("OLLAMA_AGENT_MODEL", None)
    agent = [sys.executable, "-m", "ollama_agent_ls.acp_agent", "--ollama-url", fake_ollama.url]
    proc = subprocess.run(
        ["node", str(HERE / "ts_client.mjs"), str(sdk_dir()), str(workspace), "--", *agent],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    caps = seen["initialize"]["agentCapabilities"]
    assert seen["initialize"]["protocolVersion"] == 1
    assert caps["loadSession"] is True and caps["promptCapabilities"]["embeddedContext"] is True
    assert seen["session"]["modes"]["currentModeId"] == "ask"
    assert seen["stopReason"] == "end_turn"
    app = str(workspace / "app.py")
    assert seen["writes"] == [{"path": app, "content": "def add(a, b):\n    return a + b\n"}]
    assert seen["permissions"] == [["allow_once", "allow_always", "reject_once"]]
    kinds = {u["sessionUpdate"] for u in seen["updates"]}
    assert {"agent_thought_chunk", "tool_call", "tool_call_update", "agent_message_chunk"} <= kinds
    diffs = [
        c
        for u in seen["updates"]
        if u["sessionUpdate"] == "tool_call_update"
        for c in u.get("content") or []
        if c["type"] == "diff"
    ]
    assert diffs == [
        {
            "type": "diff",
            "path": app,
            "oldText": "def add(a, b):\n    return a - b\n",
            "newText": "def add(a, b):\n    return a + b\n",
        }
    ]
    # The resource link became part of the task the model got.
    assert (
        "Files the user pointed at: app.py"
        in fake_ollama.chat_requests[0].body["messages"][1]["content"]
    )
