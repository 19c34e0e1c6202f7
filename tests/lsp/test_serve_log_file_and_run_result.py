"""README claims about `serve --log-file/--log-level` and the shape of a run result.

`serve --log-file F --log-level L` is how users of editors without an output channel get the
server's log; the run result's `metrics` keys are what clients (the status bar, scripts) read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import EDITORS, SERVER_CMD, Editor, capabilities, client_info
from tests.lsp.helpers import RUN_SELECTION, selection

APP = "def add(a, b):\n    return a - b\n"
EDITOR = EDITORS[0]
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


async def _run_once_with_serve_flags(
    fake_ollama: FakeOllama, workspace: Path, flags: list[str], options: dict[str, Any]
) -> str:
    """Start ``ollama-agent-ls serve FLAGS``, do one run, shut down; return the run's id."""
    (workspace / "app.py").write_text(APP)
    config = ClientServerConfig(
        server_command=[*SERVER_CMD, "serve", *flags],
        client_factory=lambda: Editor(EDITOR),
        server_env={**os.environ, "OLLAMA_HOST": fake_ollama.url},
    )
    client = await config.start()
    assert isinstance(client, Editor)
    try:
        client.root = workspace
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(EDITOR, save_documents=False),
                client_info=client_info(EDITOR),
                root_uri=client.uri(""),
                workspace_folders=[types.WorkspaceFolder(uri=client.uri(""), name="ws")],
                initialization_options=options,
            )
        )
        uri = client.open("app.py")
        fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
        result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
        assert result["status"] == "completed", result["summary"]
    finally:
        await client.teardown()
    assert client.shutdown_problem is None, client.shutdown_problem
    return str(result["runId"])


@pytest.mark.parametrize(
    ("level_flag", "options", "debug_logged"),
    [
        ([], {"logLevel": "debug"}, True),  # the setting alone
        (["--log-level", "debug"], {}, True),  # the flag holds without a logLevel setting
        (["--log-level", "debug"], {"logLevel": "warning"}, False),  # a given setting wins
    ],
)
async def test_serve_log_file_gets_the_log_at_the_level_in_effect(
    fake_ollama: FakeOllama,
    workspace: Path,
    tmp_path: Path,
    level_flag: list[str],
    options: dict[str, Any],
    debug_logged: bool,
) -> None:
    log_file = tmp_path / "server.log"
    run_id = await _run_once_with_serve_flags(
        fake_ollama, workspace, ["--log-file", str(log_file), *level_flag], options
    )
    # The end-of-run bookkeeping line is logged at debug; it is in the file, not on stderr.
    logged = log_file.read_text(encoding="utf-8")
    assert (f"DEBUG ollama_agent_ls.lsp.runs: {run_id} ended" in logged) is debug_logged, logged


async def test_run_result_has_the_documented_fields_and_metrics(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    client = await start_editor()
    uri = client.open("app.py")
    fake_ollama.enqueue(
        Reply.calls(FIX).done(prompt_eval_count=300, eval_count=20), Reply.say("Fixed.")
    )
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
    assert {"runId", "status", "summary", "changedFiles", "turns", "metrics"} <= set(result)
    assert result["status"] == "completed"
    metrics = result["metrics"]
    documented = {"promptTokens", "evalTokens", "tokensPerSecond", "numCtx", "requests"}
    documented |= {"cachedPromptTokens", "prefillTokens", "callReplies", "formatErrors"}
    assert documented | {"editFormat"} <= set(metrics)
    assert metrics["requests"] == 2
    assert metrics["promptTokens"] >= 300
    assert metrics["evalTokens"] >= 20
    # The num_ctx the server sent to Ollama is the one it reports.
    sent = fake_ollama.chat_requests[0].body["options"]["num_ctx"]
    assert metrics["numCtx"] == sent
