"""Runs happen inside the workspace folders only, and a URI no file can have is a clear refusal.

A run's root is where its tools read, write, delete and run commands. A document outside every
workspace folder (directly, or through a symlink) is refused before anything is read, with the
folders named and how to add one; without any folder, every command that would run the agent
says to open one. URIs that name no possible file get InvalidParams, never an internal error.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import SERVER_CMD, Editor, capabilities, client_info
from tests.lsp.helpers import IMPLEMENT_TODO, LIST_MODELS, RUN_SELECTION, selection
from tests.lsp_specs.helpers import SPEC_REL, write_spec

RUN_SPEC = "ollamaAgent.runSpec"
VERIFY_SPEC = "ollamaAgent.verifySpec"
CHECK_SETUP = "ollamaAgent.checkSetup"
APP = "def add(a, b):\n    # TODO: return the sum\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
HOW_TO_ADD = "Open the folder that holds it as a workspace folder"
HOW_TO_OPEN = "Open the folder that holds"


def uri_of(path: Path) -> str:
    """The file URI an editor sends for ``path``."""
    return str(from_fs_path(str(path)))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (what a run could have changed)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def agent_commands(uri: str, spec_uri: str) -> list[tuple[str, dict[str, Any]]]:
    """Every command that runs the agent (or commands), with arguments for ``uri``."""
    return [
        (RUN_SELECTION, selection(uri, 0, 2, "fix add")),
        (IMPLEMENT_TODO, {"uri": uri, "line": 1}),
        (RUN_SPEC, {"uri": spec_uri}),
        (VERIFY_SPEC, {"uri": spec_uri}),
    ]


@pytest.fixture
def outside(workspace: Path) -> Path:
    """A project next to the workspace, not in it: app.py with a TODO, and a spec."""
    folder = workspace.parent / "outside"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "keep.py").write_text("precious = True\n")
    write_spec(folder)
    return folder


async def test_every_agent_command_refuses_a_file_outside_the_workspace_and_leaves_it_alone(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, outside: Path
) -> None:
    # Were the run rooted at the file's folder, these replies would rewrite and delete there.
    fake_ollama.enqueue(
        Reply.calls(FIX, call("delete_file", {"path": "keep.py"})), Reply.say("done")
    )
    before = snapshot(outside)
    client = await start_editor()
    uri = uri_of(outside / "app.py")
    spec_uri = uri_of(outside / SPEC_REL)
    opened = [False, True]

    for is_open in opened:
        if is_open:
            client._open_uri(uri, APP, "python")
            client._open_uri(spec_uri, (outside / SPEC_REL).read_text(), "markdown")
        for command, arguments in agent_commands(uri, spec_uri):
            with pytest.raises(JsonRpcInvalidParams) as refused:
                await client.command(command, arguments)
            message = str(refused.value)
            named = uri if command in (RUN_SELECTION, IMPLEMENT_TODO) else spec_uri
            assert f"{named} is outside the workspace folders ({workspace})" in message
            assert HOW_TO_ADD in message

    assert fake_ollama.chat_requests == []
    assert snapshot(outside) == before
    models = await client.command(LIST_MODELS, {})
    assert "qwen3:8b" in [m["name"] for m in models]


async def test_a_symlink_from_the_workspace_to_outside_is_refused(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, outside: Path
) -> None:
    (workspace / "app.py").symlink_to(outside / "app.py")
    (workspace / "vendored").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    client = await start_editor()

    for rel in ("app.py", "vendored/app.py"):
        with pytest.raises(JsonRpcInvalidParams, match="is outside the workspace folders"):
            await client.command(RUN_SELECTION, selection(client.uri(rel), 0, 2, "fix"))
    with pytest.raises(JsonRpcInvalidParams, match="is outside the workspace folders"):
        await client.command(VERIFY_SPEC, {"uri": client.uri(f"vendored/{SPEC_REL}")})

    assert fake_ollama.chat_requests == []
    assert snapshot(outside) == before


def _folders_changed(
    client: Editor,
    added: list[Path] = (),
    removed: list[Path] = (),  # type: ignore[assignment]
) -> None:
    def folders(paths: list[Path]) -> list[types.WorkspaceFolder]:
        return [types.WorkspaceFolder(uri=uri_of(p), name=p.name) for p in paths]

    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(added=folders(added), removed=folders(removed))
        )
    )


async def test_a_folder_added_to_the_workspace_is_where_its_files_run_until_removed(
    start_editor: StartEditor, fake_ollama: FakeOllama, outside: Path
) -> None:
    client = await start_editor()
    uri = uri_of(outside / "app.py")
    client._open_uri(uri, APP, "python")
    _folders_changed(client, added=[outside])
    # The model names the file relative to the added folder: that folder is the run's root.
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("done"))

    result = await client.command(RUN_SELECTION, selection(uri, 0, 2, "fix add"))

    assert result["status"] == "completed", result["summary"]
    assert client.text(uri) == APP.replace("a - b", "a + b")

    _folders_changed(client, removed=[outside])
    with pytest.raises(JsonRpcInvalidParams, match="is outside the workspace folders"):
        await client.command(RUN_SELECTION, selection(uri, 0, 2, "fix add"))


# -- no workspace at all --------------------------------------------------------------------------

StartBare = Callable[[], Awaitable[Editor]]


@pytest.fixture
async def start_bare(
    editor_name: str, tmp_path: Path, fake_ollama: FakeOllama
) -> AsyncIterator[StartBare]:
    """Start a session whose client sends no workspaceFolders and no rootUri (a lone file)."""
    started: list[Editor] = []

    async def start() -> Editor:
        env = dict(os.environ)
        env["OLLAMA_HOST"] = fake_ollama.url
        config = ClientServerConfig(
            server_command=SERVER_CMD,
            client_factory=lambda: Editor(editor_name),
            server_env=env,
        )
        client = await config.start()
        assert isinstance(client, Editor)
        started.append(client)
        client.root = tmp_path.resolve()  # noqa: ASYNC240 (instant, before the session)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(editor_name),
                client_info=client_info(editor_name),
                root_uri=None,
                workspace_folders=None,
                initialization_options={"approvalTimeout": 5},
            )
        )
        return client

    yield start
    for client in started:
        await client.teardown()
    problems = [c.shutdown_problem for c in started if c.shutdown_problem]
    assert not problems, problems


async def test_without_a_workspace_folder_agent_commands_say_to_open_one(
    start_bare: StartBare, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    write_spec(tmp_path)
    before = snapshot(tmp_path)
    client = await start_bare()
    uri = client.open("app.py")

    for command, arguments in agent_commands(uri, client.uri(SPEC_REL)):
        with pytest.raises(JsonRpcInvalidParams) as refused:
            await client.command(command, arguments)
        message = str(refused.value)
        assert f"{command} needs a workspace folder, and the editor opened none" in message
        assert HOW_TO_OPEN in message and "File > Open Folder" in message

    assert fake_ollama.chat_requests == []
    assert snapshot(tmp_path) == before
    # What needs no project still works.
    report = await client.command(CHECK_SETUP, {})
    assert report["reachable"] is True


async def test_without_a_workspace_folder_the_todo_action_tells_why_it_cannot_run(
    start_bare: StartBare, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    client = await start_bare()
    uri = client.open("app.py")

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(1, 0), types.Position(1, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )

    assert actions is not None
    (action,) = actions
    assert isinstance(action, types.CodeAction)
    if client.is_vscode:
        # VS Code greys out a disabled action and shows its reason.
        assert action.disabled is not None
        assert "needs a workspace folder" in action.disabled.reason
    else:
        # Neovim has no disabled actions: choosing it gives the same explanation.
        assert action.disabled is None
        assert action.command is not None
        with pytest.raises(JsonRpcInvalidParams, match="needs a workspace folder"):
            await client.command(action.command.command, *(action.command.arguments or []))


# -- URIs no file can have ------------------------------------------------------------------------


def impossible_uris(client: Editor, workspace: Path) -> list[tuple[str, str]]:
    """(URI, what the refusal says) for URIs that can name no file."""
    return [
        ("file:///%00", "names a path with a NUL character (%00)"),
        (uri_of(workspace) + "/a\x00b.py", "holds a NUL character"),
        (client.uri("a" * 300 + ".py"), "has a file or folder name of 303 bytes"),
        ("file:///" + "x/" * 50_000, "the URI is 100008 characters long"),
        (uri_of(workspace) + "/abcd" * 1100, "over the 4096 the system allows"),
        ("https://example.com/app.py", "is neither a file: URI nor a document open"),
        ("file:relative/app.py", "names no absolute path"),
        ("file:", "names no absolute path"),
    ]


async def test_uris_no_file_can_have_get_invalid_params_and_the_server_keeps_answering(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    client = await start_editor()

    for uri, expected in impossible_uris(client, workspace):
        for command, arguments in agent_commands(uri, uri):
            with pytest.raises(JsonRpcInvalidParams) as refused:
                await client.command(command, arguments)
            message = str(refused.value)
            assert expected in message, (command, message)
            # A 100 KB URI is shown cut short, not echoed whole.
            assert len(message) < 1500, (command, len(message))
        models = await client.command(LIST_MODELS, {})
        assert "qwen3:8b" in [m["name"] for m in models]

    assert fake_ollama.chat_requests == []


async def test_a_document_with_an_impossible_uri_can_be_opened_asked_and_closed(
    start_editor: StartEditor,
) -> None:
    client = await start_editor()
    uri = "file:///%00"
    client._open_uri(uri, APP, "python")

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(1, 0), types.Position(1, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    client.close(uri)
    models = await client.command(LIST_MODELS, {})

    assert "qwen3:8b" in [m["name"] for m in models]
    for action in actions or []:
        assert isinstance(action, types.CodeAction)
        assert action.disabled is None or "NUL character" in action.disabled.reason
    errors = [m.message for m in client.messages if m.type == types.MessageType.Error]
    assert errors == []


def test_a_uri_with_a_nul_byte_maps_to_no_file_instead_of_raising(tmp_path: Path) -> None:
    # verifySpec maps every open document's URI; one such document made it an internal error.
    from ollama_agent_ls.lsp.editor import uri_to_path

    path = uri_to_path("file:///tmp/a%00b.py", tmp_path)
    assert path.parent == tmp_path
