"""Reading files through the ACP client (the editor's unsaved buffers), else from disk.

The tools read synchronously (DocumentSource.read), while ``fs/read_text_file`` is a request
to the client. So the files a tool call names are fetched from the client just before the
call runs (``prefetch``) and the tool reads those texts; every other read (search, list_files,
a file no call named) goes to disk, as in the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from ollama_agent_ls.workspace.documents import (
    DiskDocuments,
    FileTooLarge,
    TextDocument,
)

log = logging.getLogger(__name__)

ReadText = Callable[[Path], Awaitable[str | None]]
"""Asks the client for a file's text; None when the client has no such file."""


class ClientDocuments:
    """A DocumentSource over the client's buffers (for the files prefetched) and the disk."""

    def __init__(
        self,
        root: Path,
        read_text: ReadText | None,
        max_bytes: int | None,
        written: dict[Path, str] | None = None,
    ) -> None:
        self.root = root
        self.disk = DiskDocuments(root, max_bytes=max_bytes)
        self._read_text = read_text
        self._max_bytes = max_bytes
        self._fetched: dict[Path, str] = {}
        self._written = written if written is not None else {}
        """Texts the session wrote through the client: newer than the disk until it saves."""

    async def prefetch(self, paths: Iterable[Path]) -> None:
        """Fetch ``paths`` from the client, replacing what an earlier call fetched."""
        self._fetched = {}
        if self._read_text is None:
            return
        for path in dict.fromkeys(paths):
            text = await self.client_text(path)
            if text is not None:
                self._fetched[path] = text

    async def client_text(self, path: Path) -> str | None:
        """The client's text of ``path``; None when it has none or the client is not asked."""
        if self._read_text is None:
            return None
        try:
            return await self._read_text(path)
        except Exception as exc:  # the client's error for a missing file is not specified
            log.debug("client has no text for %s (%s); reading the disk", path, exc)
            return None

    def forget(self) -> None:
        """Drop the fetched texts (the call they were fetched for is over)."""
        self._fetched = {}

    def read(self, path: Path) -> TextDocument:
        """The client's text of ``path`` when it was fetched for this call, else what the
        session last wrote through the client (the editor may not have saved it), else the
        disk's. A change made from a text the user has edited since is refused by ClientSink,
        which checks the client's own text before it writes."""
        text = self._fetched.get(path, self._written.get(path))
        if text is None:
            return self.disk.read(path)
        size = len(text.encode("utf-8"))
        if self._max_bytes is not None and size > self._max_bytes:
            raise FileTooLarge(rel_path(self.root, path), size, self._max_bytes)
        return TextDocument(text)

    def exists(self, path: Path) -> bool:
        """True when the client gave a text for ``path`` or it is a file on disk."""
        return path in self._fetched or path in self._written or self.disk.exists(path)


def rel_path(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (as is when outside it)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
