"""Commands at the protocol's edges: bad arguments and configuration, Ollama down, model lists,
concurrent runs."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import capabilities
from tests.lsp.helpers import (
    CHECK_SETUP,
    IMPLEMENT_TODO,
    LIST_MODELS,
    RUN_SELECTION,
    selection,
    tool_results,
)
from tests.waiting import wait_until

APP = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


@pytest.mark.parametrize(
    ("command", "arguments", "expected"),
    [
        (RUN_SELECTION, [{}], "'uri' is required"),
        (RUN_SELECTION, ["fix it"], "takes one object argument, got str"),
        (RUN_SELECTION, [{"uri": "file:///x.py", "instruction": "x"}], "'range' is required"),
        (IMPLEMENT_TODO, [{"uri": "file:///x.py", "line": -1}], "'line'"),
        (IMPLEMENT_TODO, [{"uri": "file:///x.py", "line": 0, "colour": 1}], "'colour' is not"),
        (LIST_MODELS, [{}, {}], "takes one object argument, got 2 arguments"),
    ],
    ids=["missing", "not-object", "no-range", "negative-line", "unknown-key", "two-args"],
)
async def test_invalid_arguments_are_invalid_params_and_the_server_stays_up(
    start_editor: StartEditor, command: str, arguments: list[object], expected: str
) -> None:
    client = await start_editor()

    with pytest.raises(JsonRpcInvalidParams) as caught:
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=arguments)
        )

    assert expected in str(caught.value)
    models = await client.command(LIST_MODELS, {})
    assert "qwen3:8b" in [m["name"] for m in models]


async def test_documents_the_server_cannot_run_on_get_clear_errors(
    start_editor: StartEditor, workspace: Path
) -> None:
    (workspace / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    client = await start_editor()
    cases = {
        "untitled:Untitled-1": "neither a file: URI nor a document open",
        client.uri("missing.py"): "does not exist",
        client.uri("blob.bin"): "binary file",
    }
    for uri, expected in cases.items():
        with pytest.raises(JsonRpcInvalidParams, match=expected):
            await client.command(RUN_SELECTION, selection(uri, 0, 0, "x"))
    (workspace / "app.py").write_text(APP)
    with pytest.raises(JsonRpcInvalidParams, match="past the end"):
        await client.command(RUN_SELECTION, selection(client.uri("app.py"), 9, 9, "x"))
    with pytest.raises(JsonRpcInvalidParams, match="no TODO, FIXME or XXX"):
        await client.command(IMPLEMENT_TODO, {"uri": client.uri("app.py"), "line": 0})


async def test_an_unsaved_untitled_buffer_can_be_edited(
    start_editor: StartEditor, fake_ollama: FakeOllama
) -> None:
    client = await start_editor()
    uri = "untitled:Untitled-1"
    client._open_uri(uri, APP, "python")
    fake_ollama.enqueue(
        Reply.calls(
            call("edit_file", {"path": "untitled:Untitled-1", "old_string": "-", "new_string": "+"})
        ),
        Reply.say("done"),
    )

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))

    assert result["status"] == "completed", result["summary"]
    assert client.text(uri) == APP.replace("-", "+")


async def test_invalid_configuration_is_shown_by_key_and_the_default_used(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    client = await start_editor({"maxTurns": "lots", "applyMode": "sometimes"})
    await wait_until(lambda: len(client.messages) >= 2, what="two configuration messages")
    shown = [m.message for m in client.messages]
    assert any("'maxTurns'" in m and "using the default" in m for m in shown), shown
    assert any("'applyMode'" in m and "using the default" in m for m in shown), shown

    # applyMode fell back to live: the edit reaches the buffer during the run, unasked.
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("done"))
    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))
    assert result["status"] == "completed"
    assert client.text(uri) == APP.replace("-", "+")
    assert client.message_requests == []

    # A later workspace/configuration is validated the same way.
    client.set_configuration({"commandTimeout": -5}, section="ollamaAgent")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await wait_until(
        lambda: any("'commandTimeout'" in m.message for m in client.messages),
        what="the commandTimeout message",
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_ollama_down_shows_in_check_setup_and_fails_a_run_clearly(
    start_editor: StartEditor, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    url = f"http://127.0.0.1:{_closed_port()}"
    client = await start_editor(ollama_url=url)

    report = await client.command(CHECK_SETUP, {})

    assert report["ollamaUrl"] == url
    assert report["reachable"] is False
    assert report["problems"]
    assert "not reachable" in report["problems"][0]
    assert "ollama serve" in report["problems"][0]

    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))
    assert result["status"] == "failed"
    assert f"Ollama is not reachable at {url}" in result["summary"]
    errors = client.transcript_of(result["runId"], "error")
    assert errors and "not reachable" in errors[0]["text"]
    assert client.text(uri) == APP


async def test_list_models_and_check_setup_report_the_installed_models(
    start_editor: StartEditor,
) -> None:
    client = await start_editor()

    models = {m["name"]: m for m in await client.command(LIST_MODELS, {})}
    report = await client.command(CHECK_SETUP)

    assert models["qwen3:8b"]["contextLength"] == 40960
    assert "tools" in models["qwen3:8b"]["capabilities"]
    assert "tools" not in models["gemma3:4b"]["capabilities"]
    assert report["reachable"] is True
    assert report["model"] == "qwen3:8b"
    assert report["modelPresent"] is True
    assert report["supportsTools"] is True
    assert report["problems"] == []
    assert report["rules"] == []


async def test_check_setup_names_the_rule_files_the_prompt_carries(
    start_editor: StartEditor, workspace: Path
) -> None:
    (workspace / "AGENTS.md").write_text("Use pytest.\n")
    client = await start_editor()

    report = await client.command(CHECK_SETUP)

    assert report["rules"] == ["AGENTS.md"]
    assert 0 < report["rulesTokens"] < 100


async def test_two_runs_at_once_and_a_clear_error_for_a_file_another_run_edits(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    (workspace / "lib.py").write_text("X = 1\n")
    client = await start_editor()
    app = client.open("app.py")
    lib = client.open("lib.py")
    # Run A edits app.py, then waits for the model at a gate.
    fake_ollama.enqueue(Reply.calls(FIX), Reply().gate("a").done("A done"))
    run_a = asyncio.ensure_future(client.command(RUN_SELECTION, selection(app, 0, 1, "fix")))
    await wait_until(lambda: len(fake_ollama.chat_requests) == 2, what="run A to wait")
    assert client.text(app) == APP.replace("-", "+")

    # Run B edits lib.py, then tries app.py, which run A is editing.
    fake_ollama.enqueue(
        Reply.calls(call("edit_file", {"path": "lib.py", "old_string": "1", "new_string": "2"})),
        Reply.calls(call("edit_file", {"path": "app.py", "old_string": "+", "new_string": "*"})),
        Reply.say("B done"),
    )
    result_b = await client.command(RUN_SELECTION, selection(lib, 0, 0, "bump"))

    # B's edit of app.py never landed, so B is not completed, and says which edit and why.
    assert result_b["status"] == "failed"
    [not_applied] = result_b["notApplied"]
    assert not_applied["uri"] == app
    assert "being edited by another agent run" in not_applied["reason"]
    assert "These edits did not land: app.py" in result_b["summary"]
    assert result_b["changedFiles"] == [lib]
    assert client.text(lib) == "X = 2\n"
    assert client.text(app) == APP.replace("-", "+")
    refused = tool_results(fake_ollama, 4)[-1]
    assert "app.py is being edited by another agent run" in refused
    fake_ollama.open_gate("a")
    result_a = await asyncio.wait_for(run_a, 10)
    assert result_a["status"] == "completed"
    assert result_a["changedFiles"] == [app]


async def test_clients_without_document_changes_get_plain_changes_and_files_on_disk(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, editor_name: str
) -> None:
    """Helix- or eglot-like: no documentChanges, no resource operations, no name to go by."""
    (workspace / "app.py").write_text(APP)
    caps = capabilities(editor_name)
    assert caps.workspace is not None and caps.workspace.workspace_edit is not None
    caps.workspace.workspace_edit.document_changes = False
    caps.workspace.workspace_edit.resource_operations = None
    fake_ollama.enqueue(
        Reply.calls(
            FIX, call("write_file", {"path": "test_app.py", "content": "from app import add\n"})
        ),
        Reply.say("done"),
    )
    client = await start_editor(caps=caps, send_client_info=False)
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix and test"))

    assert result["status"] == "completed", result["summary"]
    assert client.text(uri) == APP.replace("-", "+")
    [record] = client.edits
    assert record.params.edit.document_changes is None
    assert list(record.params.edit.changes or {}) == [uri]
    # The new file cannot go through the editor, so it was written to disk.
    assert (workspace / "test_app.py").read_text() == "from app import add\n"
    assert sorted(result["changedFiles"]) == sorted([uri, client.uri("test_app.py")])
