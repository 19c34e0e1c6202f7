"""Writing changes through the ACP client (``fs/write_text_file``), with the same checks as disk.

A change lands only over the text the model last read (the client's buffer when the client
reads files for us, else the disk), only inside the workspace, and never through a symbolic
link. ACP has no request to delete a file, so deletes go to the disk sink. What was written
through the client is remembered per session: the editor may keep it unsaved, and a command
reads the disk, so ``stale_note`` tells the model which files a command would see old.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from ollama_agent_ls.acp_agent.documents import ClientDocuments, rel_path
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.disk_sink import DiskSink, write_atomic
from ollama_agent_ls.workspace.documents import DocumentError

log = logging.getLogger(__name__)

WriteText = Callable[[Path, str], Awaitable[None]]
"""Asks the client to write a file's whole text (creating it when missing)."""


class ClientSink:
    """A ChangeSink that writes through the client and deletes on disk."""

    def __init__(
        self,
        root: Path,
        documents: ClientDocuments,
        write_text: WriteText,
        written: dict[Path, str],
    ) -> None:
        self.root = root.resolve()
        self.documents = documents
        self._write_text = write_text
        self.written = written
        """Texts written through the client, by path: the session's, shared by its runs."""
        self._disk = DiskSink(self.root)

    async def apply(self, change: FileChange) -> None:
        """Write ``change.after`` through the client if the file still holds ``change.before``."""
        if change.after is None:
            await self._disk.apply(change)
            self.written.pop(change.path, None)
            return
        self._check_place(change)
        current = await self._current(change)
        if current == change.after:
            return
        if current != change.before:
            raise ChangeRejected(_conflict_message(change, current))
        try:
            await self._write_text(change.path, change.after)
        except Exception as exc:  # the client's refusal, whatever its error
            raise ChangeRejected(
                f"The editor refused to write {change.rel} ({exc}), so it was not changed. "
                "Read it again with read_file and retry, or choose another file."
            ) from exc
        self.written[change.path] = change.after

    def _check_place(self, change: FileChange) -> None:
        # The disk sink's own confinement check (its directory resolved inside the workspace),
        # so both sinks refuse the same paths with the same words.
        self._disk._locate(change)
        if change.path.is_symlink():
            raise ChangeRejected(
                f"Refused to write {change.rel}: it is a symbolic link, and the tools never "
                "write through a link. Nothing was changed; read it again with read_file."
            )

    async def _current(self, change: FileChange) -> str | None:
        """The file's text now: the client's buffer when it reads for us, else the disk."""
        text = await self.documents.client_text(change.path)
        if text is not None:
            return text
        disk = self.documents.disk
        if not disk.exists(change.path):
            return None
        try:
            return disk.read(change.path).text
        except DocumentError as exc:
            raise ChangeRejected(f"{exc} Nothing was changed.") from exc

    def stale_paths(self) -> list[Path]:
        """Files written through the client whose text on disk is not what was written."""
        stale = []
        for path, text in self.written.items():
            try:
                on_disk: str | None = self.documents.disk.read(path).text
            except DocumentError:
                on_disk = None
            if on_disk != text:
                stale.append(path)
        return stale

    async def save_unchanged(self) -> list[Path]:
        """Write to disk each text written through the client that the editor still holds as
        written but has not saved (what saving the buffer would write; a buffer the user has
        changed since is left to the user); the paths written."""
        saved = []
        for path in self.stale_paths():
            text = self.written[path]
            if await self.documents.client_text(path) != text:
                continue
            write_atomic(path, text.encode("utf-8"))
            saved.append(path)
        return saved

    def stale_note(self) -> str | None:
        """A note for the model before a command: the files it would see old, if any."""
        stale = self.stale_paths()
        if not stale:
            return None
        names = ", ".join(rel_path(self.root, p) for p in stale)
        return (
            "Note: these files were changed in the editor and are not saved yet, so the command "
            f"sees the older text on disk: {names}. If the command needs the new text, ask the "
            "user to save them."
        )


def _conflict_message(change: FileChange, current: str | None) -> str:
    if current is None:
        return (
            f"{change.rel} no longer exists (it was deleted or moved after it was read). "
            "Check with list_files, then create it again with write_file if needed."
        )
    if change.before is None:
        return (
            f"{change.rel} already exists (it was created after it was checked). Read it with "
            "read_file, then change it with edit_file."
        )
    return (
        f"{change.rel} changed in the editor after it was read (the user edited it), so the "
        "change was not applied. Read it again with read_file and redo the edit against its "
        "current text."
    )
