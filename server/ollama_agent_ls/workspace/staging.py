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
        self._changes: list[FileChange] = []
        # Each staged path's last change: its ``after`` is what reads see.
        self._latest: dict[Path, FileChange] = {}

    async def apply(self, change: FileChange) -> None:
        """Stage ``change``; the real files stay untouched."""
        self._changes.append(change)
        self._latest[change.path] = change

    def read(self, path: Path) -> TextDocument:
        """The staged text when the run wrote ``path``, else the base source's."""
        latest = self._latest.get(path)
        if latest is None:
            return self.base.read(path)
        if latest.after is None:
            raise FileMissing(f"{latest.rel} was deleted in this run.")
        return TextDocument(latest.after)

    def exists(self, path: Path) -> bool:
        """True when the file exists after the staged changes."""
        latest = self._latest.get(path)
        if latest is None:
            return self.base.exists(path)
        return latest.after is not None

    def net_changes(self) -> list[FileChange]:
        """One change per file from its original text to its final text; no-ops left out."""
        return net_changes(self._changes)

    def discard(self) -> None:
        """Forget everything staged."""
        self._changes.clear()
        self._latest.clear()


def _git_lines(text: str) -> list[str]:
    # Split as git does, at "\n" only: str.splitlines also breaks at form feeds, U+2028 and a
    # lone "\r", which would put "No newline at end of file" markers mid-file and shift hunks.
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def unified_diff(changes: list[FileChange]) -> str:
    """A unified diff of ``changes`` as git would print it, for review and --dry-run."""
    out: list[str] = []
    for change in changes:
        a = "/dev/null" if change.before is None else f"a/{change.rel}"
        b = "/dev/null" if change.after is None else f"b/{change.rel}"
        before = _git_lines(change.before or "")
        after = _git_lines(change.after or "")
        lines = list(difflib.unified_diff(before, after, a, b))
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
