"""Fixtures: the language server under test, driven by a VS Code-like or Neovim-like editor."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from tests.fake_ollama.server import FakeOllama
from tests.lsp.editor import EDITORS, SERVER_CMD, Editor, capabilities, client_info

# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder (resolved, as the server resolves paths)."""
    root = tmp_path / "ws"
    root.mkdir()
    return root.resolve()


@pytest.fixture(params=EDITORS, ids=["vscode", "neovim"])
def editor_name(request: pytest.FixtureRequest) -> str:
    """Which editor the test client imitates."""
    return str(request.param)


StartEditor = Callable[..., Awaitable[Editor]]


@pytest.fixture
async def start_editor(
    editor_name: str, workspace: Path, fake_ollama: FakeOllama
) -> AsyncIterator[StartEditor]:
    """Start the server (OLLAMA_HOST at the fake) and initialize a session as ``editor_name``."""
    started: list[Editor] = []

    async def start(
        options: dict[str, Any] | None = None,
        *,
        ollama_url: str | None = None,
        save_documents: bool = True,
        caps: types.ClientCapabilities | None = None,
        configuration: dict[str, Any] | None = None,
        send_client_info: bool = True,
    ) -> Editor:
        env = dict(os.environ)
        env["OLLAMA_HOST"] = ollama_url or fake_ollama.url
        config = ClientServerConfig(
            server_command=SERVER_CMD,
            client_factory=lambda: Editor(editor_name),
            server_env=env,
        )
        client = await config.start()
        assert isinstance(client, Editor)
        started.append(client)
        client.root = workspace
        if configuration is not None:
            client.set_configuration(configuration)
        caps = caps or capabilities(editor_name, save_documents=save_documents)
        if save_documents:
            client.enable_save_documents()
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                client_info=client_info(editor_name) if send_client_info else None,
                root_uri=client.uri(""),
                workspace_folders=[types.WorkspaceFolder(uri=client.uri(""), name="ws")],
                initialization_options={"approvalTimeout": 5, **(options or {})},
            )
        )
        encoding = result.capabilities.position_encoding
        client.encoding = str(getattr(encoding, "value", encoding) or "utf-16")
        return client

    yield start
    for client in started:
        await client.teardown()
    problems = [c.shutdown_problem for c in started if c.shutdown_problem]
    assert not problems, problems
