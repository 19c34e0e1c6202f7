"""Every protocol name is declared once in Python (lsp/lsp_ext.py), mirrored once in each client,
and the three agree: commands, notifications, requests and capabilities."""

from __future__ import annotations

import re
from pathlib import Path

from ollama_agent_ls.lsp import lsp_ext
from ollama_agent_ls.lsp.server import create_server

CLIENTS = Path(__file__).resolve().parents[3] / "editor-clients"
VSCODE = CLIENTS / "vscode" / "src" / "lsp_ext.ts"
NEOVIM = CLIENTS / "neovim" / "lua" / "ollama_agent" / "protocol.lua"

PLUGIN_AHEAD: set[str] = set()
"""Commands a client already uses that the server is still to add (the test fails once the
server has them)."""


def _lua_table(text: str, name: str) -> dict[str, str]:
    block = text.split(f"M.{name} = {{", 1)[1].split("\n}", 1)[0]
    return dict(re.findall(r"^\s*(\w+) = '([^']+)'", block, re.M))


def test_create_server_registers_exactly_the_declared_commands() -> None:
    registered = set(create_server().protocol.fm.commands)
    assert registered == set(lsp_ext.ALL_COMMANDS)
    assert set(lsp_ext.RUN_COMMANDS) <= registered


def test_the_vscode_extension_mirrors_every_name() -> None:
    text = VSCODE.read_text(encoding="utf-8")
    block = text.split("export const serverCommands = {", 1)[1].split("} as const;", 1)[0]
    assert set(re.findall(r'"(ollamaAgent\.\w+)"', block)) == set(lsp_ext.ALL_COMMANDS)
    runs = text.split("const runCommandIds = [", 1)[1].split("]", 1)[0]
    mirrored_runs = set(re.findall(r"serverCommands\.(\w+)", runs))
    assert {f"ollamaAgent.{n}" for n in mirrored_runs} == set(lsp_ext.RUN_COMMANDS)
    methods = set(re.findall(r'Type<[^>]*>\(\s*"([^"]+)"', text))
    sent = {lsp_ext.TRANSCRIPT, lsp_ext.RUN_FINISHED, *lsp_ext.REQUESTS}
    assert sent <= methods, sent - methods
    declared = re.search(r"ollamaAgent: \{([^}]*)\}", text.split("experimentalCapabilities", 1)[1])
    assert declared is not None
    assert set(re.findall(r"(\w+): true", declared.group(1))) == set(lsp_ext.CAPABILITIES)


def test_the_neovim_plugin_mirrors_every_name() -> None:
    text = NEOVIM.read_text(encoding="utf-8")
    commands = set(_lua_table(text, "commands").values())
    assert commands - PLUGIN_AHEAD == set(lsp_ext.ALL_COMMANDS)
    assert not PLUGIN_AHEAD & set(lsp_ext.ALL_COMMANDS), "the server has them now: empty the set"
    assert set(_lua_table(text, "notifications").values()) == {
        lsp_ext.TRANSCRIPT,
        lsp_ext.RUN_FINISHED,
    }
    assert set(_lua_table(text, "requests").values()) == set(lsp_ext.REQUESTS)
    capabilities = text.split("M.capabilities = {", 1)[1].split("}", 1)[0]
    assert set(re.findall(r"(\w+) = true", capabilities)) == set(lsp_ext.CAPABILITIES)
    decisions = text.split("M.decisions = {", 1)[1].split("}", 1)[0]
    assert re.findall(r"'(\w+)'", decisions) == list(lsp_ext.APPROVE_DECISIONS)
