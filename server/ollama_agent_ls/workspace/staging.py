"""Holds a run's changes in memory (dry runs, review mode) while the agent reads its own writes."""

from __future__ import annotations

import difflib
from pathlib import Path

from ollama_agent_ls.workspace.changes import FileChange, net_changes
from ollama_agent_ls.workspace.documents import DocumentSource, FileMissing, TextDocument


class StagingArea:
    """A ChangeSink and DocumentSource in one: writes land in an overlay over ``base``."""

    def __init__(self, base: DocumentSource) -> None:
        self.base = base
        self._overlay: dict[Path, str | None] = {}
        self._first: dict[Path, FileChange] = {}
        self._changes: list[FileChange] = []

    async def apply(self, change: FileChange) -> None:
        """Stage ``change``; the real files stay untouched."""
        self._overlay[change.path] = change.after
        self._first.setdefault(change.path, change)
        self._changes.append(change)

    def read(self, path: Path) -> TextDocument:
        """The staged text when the run wrote ``path``, else the base source's."""
        if path in self._overlay:
            text = self._overlay[path]
            if text is None:
                raise FileMissing(f"{self._first[path].rel} was deleted in this run.")
            return TextDocument(text)
        return self.base.read(path)

    def exists(self, path: Path) -> bool:
        """True when the file exists after the staged changes."""
        if path in self._overlay:
            return self._overlay[path] is not None
        return self.base.exists(path)

    def net_changes(self) -> list[FileChange]:
        """One change per file from its original text to its final text; no-ops left out."""
        return net_changes(self._changes)

    def discard(self) -> None:
        """Forget everything staged."""
        self._overlay.clear()
        self._first.clear()
        self._changes.clear()


def unified_diff(changes: list[FileChange]) -> str:
    """A unified diff of ``changes`` as git would print it, for review and --dry-run."""
    out: list[str] = []
    for change in changes:
        a = "/dev/null" if change.before is None else f"a/{change.rel}"
        b = "/dev/null" if change.after is None else f"b/{change.rel}"
        before = (change.before or "").splitlines(keepends=True)
        after = (change.after or "").splitlines(keepends=True)
        lines = list(difflib.unified_diff(before, after, a, b))
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
