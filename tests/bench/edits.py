"""Item 3: edit tools on a 1 MB, 20,000-line file with multi-byte characters -> WorkspaceEdit.

The real tools (``edit_file``, ``write_file``) run against an in-memory open document; their
change goes through ``build_workspace_edit`` in UTF-16 positions, as the live editor sink sends
it. The parts (``replace_unique``, ``to_lsp_text_edits``) are timed too, to show where time goes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from ollama_agent_ls.lsp.editor import ClientEditSupport, build_workspace_edit
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.edit_matcher import replace_unique
from ollama_agent_ls.tools.file_tools import edit_file, write_file
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import FileMissing, TextDocument
from ollama_agent_ls.workspace.text_edits import to_lsp_text_edits

from .stats import alternate

LINES = 20_000
ROOT = Path("/bench-workspace")
PATH = ROOT / "big.py"
URI = "file:///bench-workspace/big.py"
_TEXTS = ("naïve café", "中文注释", "emoji 🙂 and 🚀", "Grüße, Ελληνικά", "plain ascii text")


def big_file() -> str:
    """About 1 MB in 20,000 lines; every line has multi-byte characters, some astral (UTF-16)."""
    lines = []
    for i in range(LINES):
        note = _TEXTS[i % len(_TEXTS)]
        lines.append(f"    r{i:05d} = f({i}, '{note}', w=4)  # é\n")
    return "".join(lines)


class _OneDocument:
    def __init__(self, text: str) -> None:
        self.doc = TextDocument(text, version=7)

    def read(self, path: Path) -> TextDocument:
        if path != PATH:
            raise FileMissing(f"{path} does not exist.")
        return self.doc

    def exists(self, path: Path) -> bool:
        return path == PATH


class _EditCapture:
    """The live sink's work without the editor round trip: the WorkspaceEdit it would send."""

    def __init__(self) -> None:
        caps = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(
                apply_edit=True,
                workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
            )
        )
        self.support = ClientEditSupport.of(caps)
        self.edit: types.WorkspaceEdit | None = None

    async def apply(self, change: FileChange) -> None:
        self.edit = build_workspace_edit([(change, URI, 7)], self.support, "utf-16")


def _context(text: str) -> tuple[ToolContext, _EditCapture]:
    sink = _EditCapture()
    ctx = ToolContext(root=ROOT, documents=_OneDocument(text), sink=sink, settings=Settings())
    return ctx, sink


def _text_edits(edit: types.WorkspaceEdit | None) -> list[Any]:
    assert edit is not None and edit.document_changes
    return list(edit.document_changes[0].edits)  # type: ignore[union-attr]


def _apply_utf16(text: str, edits: list[Any]) -> str:
    """Apply TextEdits with UTF-16 positions, written apart from the server's maths."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(pos: types.Position) -> int:
        line = lines[pos.line]
        units = 0
        for index, ch in enumerate(line):
            if units >= pos.character:
                return starts[pos.line] + index
            units += 2 if ord(ch) > 0xFFFF else 1
        return starts[pos.line] + len(line)

    spans = sorted((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits)
    for start, end, new in reversed(spans):
        text = text[:start] + new + text[end:]
    return text


async def run_edits(rounds: int) -> dict[str, Any]:
    """Medians (ms) of edit_file and write_file to a WorkspaceEdit, and of their parts."""
    text = big_file()
    lines = text.split("\n")
    # An edit near the end, on a line with astral characters: the longest position walk.
    target = LINES - 498
    assert "🙂" in lines[target]
    old = "\n".join(lines[target : target + 3])
    new = old.replace("= f(", "= g(")
    changed = list(lines)
    for i in range(10):
        n = 1000 + i * 1900
        changed[n] = changed[n].replace("w=4", "w=5") + " 🚀"
    rewritten = "\n".join(changed)

    async def edit_tool() -> float:
        ctx, sink = _context(text)
        start = time.perf_counter()
        await edit_file(ctx, "big.py", old, new)
        elapsed = time.perf_counter() - start
        if _apply_utf16(text, _text_edits(sink.edit)) != text.replace(old, new):
            raise RuntimeError("edit_file's WorkspaceEdit does not give the edited text")
        return elapsed

    async def write_tool() -> float:
        ctx, sink = _context(text)
        start = time.perf_counter()
        await write_file(ctx, "big.py", rewritten)
        elapsed = time.perf_counter() - start
        edits = _text_edits(sink.edit)
        if len(edits) != 10 or _apply_utf16(text, edits) != rewritten:
            raise RuntimeError(f"write_file sent {len(edits)} edits, not 10 minimal ones")
        return elapsed

    async def matcher() -> float:
        start = time.perf_counter()
        replace_unique(text, old, new)
        return time.perf_counter() - start

    async def lsp_edits_10_lines() -> float:
        start = time.perf_counter()
        to_lsp_text_edits(text, rewritten, "utf-16")
        return time.perf_counter() - start

    sides = {
        "edit_file_to_workspace_edit": edit_tool,
        "write_file_10_lines_to_workspace_edit": write_tool,
        "replace_unique_only": matcher,
        "to_lsp_text_edits_10_lines_only": lsp_edits_10_lines,
    }

    def in_ms(side: Callable[[], Awaitable[float]]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            return await side() * 1000

        return run

    samples = await alternate({name: in_ms(side) for name, side in sides.items()}, rounds)
    return {
        "file_bytes": len(text.encode("utf-8")),
        "file_lines": LINES,
        "ms": {name: s.to_json() for name, s in samples.items()},
        "edit_file_median_ms": samples["edit_file_to_workspace_edit"].median,
        "write_file_median_ms": samples["write_file_10_lines_to_workspace_edit"].median,
    }
