"""Every custom command is declared once in Python and mirrored once in the VS Code extension."""

from __future__ import annotations

import re
from pathlib import Path

from ollama_agent_ls.lsp import commands
from ollama_agent_ls.lsp.spec_runs import VERIFY_SPEC

LSP_EXT = Path(__file__).resolve().parents[2] / "editor-clients" / "vscode" / "src" / "lsp_ext.ts"


def test_the_vscode_extension_declares_exactly_the_servers_commands() -> None:
    text = LSP_EXT.read_text(encoding="utf-8")
    block = text.split("export const serverCommands = {", 1)[1].split("} as const;", 1)[0]
    declared = set(re.findall(r'"(ollamaAgent\.\w+)"', block))
    assert declared == {*commands.ALL_COMMANDS, VERIFY_SPEC}
    assert commands.RUN_FINISHED in text
