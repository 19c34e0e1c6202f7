"""The language server on a real model: a selection run edits the editor's buffer correctly.

Both editor models (VS Code-like and Neovim-like) drive the server, which reaches Qwen2.5-Coder
on llama.cpp's server through the OpenAI-compatible backend. The check is the task's own: the
buffer's code, run, adds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import RUN_SELECTION, selection
from tests.realmodel.fixtures import RealModel

CHECK = "from calc import add, mul\nassert add(2, 3) == 5 and mul(2, 3) == 6"
CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


@pytest.mark.realmodel
async def test_a_selection_run_fixes_the_buffer(
    start_editor: StartEditor, real_model: RealModel, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "calc.py").write_text(CALC)
    client = await start_editor(
        {
            "backend": "openai",
            "baseUrl": real_model.base_url,
            "model": real_model.model,
            "options": {"temperature": 0, "seed": 42},
            "maxTurns": 8,
        }
    )
    uri = client.open("calc.py")
    result = await client.command(
        RUN_SELECTION, selection(uri, 0, 1, "fix the bug: add must return the sum of a and b")
    )
    buffer = client.text(uri)
    check = _run_check(tmp_path, buffer)
    assert check.returncode == 0, f"{check.stderr}\nbuffer:\n{buffer}\nresult: {result}"
    assert result["status"] == "completed"
    assert result["changedFiles"] == [uri]
    assert (workspace / "calc.py").read_text() == CALC  # the buffer changed, not the disk


def _run_check(folder: Path, buffer: str) -> subprocess.CompletedProcess[str]:
    """The task's check on the buffer's text, in a folder of its own."""
    (folder / "calc.py").write_text(buffer)
    return subprocess.run(
        [sys.executable, "-c", CHECK], cwd=folder, capture_output=True, text=True, timeout=60
    )
