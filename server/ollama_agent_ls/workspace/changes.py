"""Change records and the sink interface that the disk writer and the LSP sender both implement."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

ChangeKind = Literal["create", "modify", "delete"]


@dataclass(frozen=True)
class FileChange:
    """One file's change: text before and after (``None`` = the file does not exist)."""

    path: Path
    """Absolute, resolved path inside the workspace."""
    rel: str
    """Path relative to the workspace root, with forward slashes (what the model and user see)."""
    before: str | None
    after: str | None

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise ValueError("a change needs text before or after")

    @property
    def kind(self) -> ChangeKind:
        """create, modify or delete."""
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        return "modify"


class ChangeRejected(Exception):
    """A sink could not apply a change; the message goes back to the model as the tool's error."""


class ChangeSink(Protocol):
    """Applies file changes: to disk, to the editor, or to a staging area."""

    async def apply(self, change: FileChange) -> None:
        """Apply ``change`` or raise ChangeRejected saying why and what the model should do."""
        ...


def net_changes(changes: Iterable[FileChange]) -> list[FileChange]:
    """One change per file, from its first ``before`` to its last ``after``; no-ops dropped."""
    first: dict[Path, FileChange] = {}
    last: dict[Path, FileChange] = {}
    for change in changes:
        first.setdefault(change.path, change)
        last[change.path] = change
    return [
        FileChange(path, start.rel, start.before, last[path].after)
        for path, start in first.items()
        if start.before != last[path].after
    ]
