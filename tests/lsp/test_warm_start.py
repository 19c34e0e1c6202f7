"""Warm start: the language server sends the static prompt prefix once it starts and when the
model changes, so the first run's prefill of it is already cached (issue 13)."""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.fake_openai.server import FakeOpenAI
from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import RUN_SELECTION, selection
from tests.waiting import wait_until

APP = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
ECHO_SERVER = str(Path(__file__).resolve().parents[1] / "mcp_servers" / "echo_server.py")


async def test_the_prefix_a_run_starts_with_is_warmed_at_start(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    client = await start_editor({"model": "qwen3:8b", "editFormat": "tools"})
    await wait_until(lambda: fake_ollama.warm_requests, what="the warm-up request")
    [warm] = fake_ollama.warm_requests
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
    assert result["status"] == "completed"
    first = fake_ollama.chat_requests[0].body
    # The run's first request starts with exactly what was warmed: same system message, tools,
    # model and context size, so the server's cached prefix matches.
    assert warm.body["messages"] == first["messages"][:1]
    assert warm.body["tools"] == first["tools"]
    assert warm.body["model"] == first["model"] == "qwen3:8b"
    assert warm.body["options"]["num_ctx"] == first["options"]["num_ctx"]
    assert warm.body["options"]["num_predict"] == 1
    assert "num_predict" not in first["options"]
    # The scripted replies all went to the run.
    assert len(fake_ollama.chat_requests) == 2


async def test_a_model_change_warms_the_new_model(
    start_editor: StartEditor, fake_ollama: FakeOllama
) -> None:
    client = await start_editor({"model": "qwen3:8b"})
    await wait_until(lambda: fake_ollama.warm_requests, what="the first warm-up")
    client.set_configuration({"model": "llama3.1:8b"}, section="ollamaAgent")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await wait_until(lambda: len(fake_ollama.warm_requests) == 2, what="the second warm-up")
    assert [r.body["model"] for r in fake_ollama.warm_requests] == ["qwen3:8b", "llama3.1:8b"]
    # The same settings again warm nothing.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await client.command("ollamaAgent.checkSetup", {})
    assert len(fake_ollama.warm_requests) == 2


async def test_on_an_openai_compatible_server_the_warm_up_asks_for_one_token(
    start_editor: StartEditor, fake_openai: FakeOpenAI
) -> None:
    await start_editor(
        {"backend": "openai", "baseUrl": fake_openai.url, "model": "qwen2.5-coder-1.5b"}
    )
    await wait_until(lambda: fake_openai.warm_requests, what="the warm-up request")
    [warm] = fake_openai.warm_requests
    assert warm.body["max_tokens"] == 1
    assert [m["role"] for m in warm.body["messages"]] == ["system"]


async def test_the_warmed_prefix_carries_the_mcp_servers_tools_as_the_run_does(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    servers = {"echo": {"command": sys.executable, "args": [ECHO_SERVER], "autoApprove": ["echo"]}}
    client = await start_editor({"mcpServers": servers, "editFormat": "tools"})
    await wait_until(lambda: fake_ollama.warm_requests, what="the warm-up request")
    [warm] = fake_ollama.warm_requests
    fake_ollama.enqueue(Reply.say("Nothing to do."))
    result = await client.command("ollamaAgent.runTask", {"instruction": "look around"})
    assert result["status"] == "completed"
    first = fake_ollama.chat_requests[0].body
    # Without the servers' tools the warmed prefix would part from the run's at the tools.
    assert "echo__echo" in [t["function"]["name"] for t in warm.body["tools"]]
    assert warm.body["tools"] == first["tools"]
    assert warm.body["messages"] == first["messages"][:1]
