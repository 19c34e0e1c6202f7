"""Reading through the editor's buffers and writing through workspace/applyEdit.

The editor owns open documents: we read the user's unsaved text and send edits the editor applies
(versioned, undoable), then confirm they landed, because some clients (Neovim) answer
``applied: true`` for an edit they skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pygls.uris import from_fs_path, to_fs_path

from ollama_agent_ls.lsp.edit_channel import (
    APPLY_TIMEOUT,
    CONFIRM_TIMEOUT,
    ClientEditSupport,
    EditChannel,
    Outgoing,
    build_workspace_edit,
)
from ollama_agent_ls.lsp.lsp_ext import SAVE_DOCUMENTS
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import (
    DiskDocuments,
    DocumentError,
    FileMissing,
    TextDocument,
)

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)

__all__ = [
    "APPLY_TIMEOUT",
    "CONFIRM_TIMEOUT",
    "ClientEditSupport",
    "EditorDocuments",
    "EditorSink",
    "EditorState",
    "build_workspace_edit",
    "rel_name",
    "uri_to_path",
]

SAVE_TIMEOUT = 10.0
"""Seconds to wait for the client to answer ollamaAgent/saveDocuments."""


def uri_to_path(uri: str, root: Path) -> Path:
    """The path the tools use for ``uri``; non-file URIs map to a name under the root."""
    if uri.startswith("file:"):
        fs = to_fs_path(uri)
        if fs:
            try:
                return Path(os.path.realpath(fs))
            except (ValueError, OSError):
                # A NUL byte or an impossible path: no file can be there; name it like a
                # non-file URI so a document the editor opened stays addressable.
                pass
    # untitled: and other schemes have no disk path; they live under the root by their URI so
    # the model can name them, and only the editor can read or change them.
    return root / uri.replace("/", "_")


@dataclass
class EditorState:
    """What the editor side knows across runs: paths of open documents, pending texts, locks."""

    server: AgentServer
    pending: dict[Path, str | None] = field(default_factory=dict)
    """Texts of files we edited that the editor has not opened (the store can't show them)."""
    locks: dict[Path, str] = field(default_factory=dict)
    """Which run is editing each file."""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _paths: dict[str, Path] = field(default_factory=dict)
    """Real path of each document URI seen open; every tool call looks paths up by it, and a
    realpath per open document per lookup is a few syscalls each."""

    @property
    def root(self) -> Path:
        """The workspace root."""
        return self.server.root

    def path_of(self, uri: str) -> Path:
        """``uri_to_path`` of an open document's URI, worked out once while it stays open."""
        path = self._paths.get(uri)
        if path is None:
            path = self._paths[uri] = uri_to_path(uri, self.root)
        return path

    def forget(self, uri: str) -> Path:
        """Drop ``uri``'s cached path (didOpen/didClose: a symlink may since point elsewhere)."""
        return self._paths.pop(uri, None) or uri_to_path(uri, self.root)

    def open_uri(self, path: Path) -> str | None:
        """The client's URI string for ``path`` when it is open in the editor."""
        # The workspace's own list stays the truth: pygls adds a document before our didOpen
        # handler runs, and a run's task may read it in between.
        for uri in self.server.workspace.text_documents:
            if self.path_of(uri) == path:
                return str(uri)
        return None

    def uri_for(self, path: Path) -> str:
        """The URI to send for ``path``: the client's own when open, else a file URI."""
        uri = self.open_uri(path)
        if uri is not None:
            return uri
        made = from_fs_path(str(path))
        return made or path.as_uri()

    def document(self, uri: str) -> TextDocument | None:
        """Text and version of an open document; None when the editor does not have it open."""
        docs = self.server.workspace.text_documents
        if uri not in docs:
            return None
        doc = self.server.workspace.get_text_document(uri)
        return TextDocument(doc.source, doc.version)

    async def notify_changed(self) -> None:
        """Wake edits waiting for confirmation (called on didOpen/didChange/didClose)."""
        async with self.changed:
            self.changed.notify_all()

    def document_at(self, path: Path) -> TextDocument | None:
        """The open document of ``path`` (whatever URI the client opened it by), if any."""
        uri = self.open_uri(path)
        return self.document(uri) if uri is not None else None

    async def wait_for_path(
        self, path: Path, done: Callable[[TextDocument | None], bool], timeout: float
    ) -> TextDocument | None:
        """Wait until ``done`` holds for the open document of ``path`` (None: not open); the
        last seen state when ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.changed:
            while True:
                doc = self.document_at(path)
                if done(doc):
                    return doc
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return doc
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return self.document_at(path)

    def unsaved(self, paths: Iterable[Path]) -> list[Path]:
        """Those of ``paths`` whose text in the editor differs from the file on disk."""
        docs = EditorDocuments(self)
        found: list[Path] = []
        for path in dict.fromkeys(paths):
            try:
                text = docs.read(path).text
            except DocumentError:
                continue
            try:
                on_disk = path.read_bytes().decode("utf-8") if path.is_file() else None
            except (OSError, UnicodeDecodeError):
                on_disk = None
            if on_disk != text:
                found.append(path)
        return found

    async def save(self, paths: Iterable[Path]) -> list[Path]:
        """Ask the client to save ``paths`` where the editor differs from disk; those still unsaved.

        Only a client declaring ollamaAgent/saveDocuments is asked; commands read the disk, so
        they must see what the user sees.
        """
        unsaved = self.unsaved(paths)
        if not unsaved or not self.server.client_can_save_documents:
            return unsaved
        uris = [self.uri_for(p) for p in unsaved]
        try:
            await asyncio.wait_for(
                self.server.protocol.send_request_async(SAVE_DOCUMENTS, {"uris": uris}),
                SAVE_TIMEOUT,
            )
        except Exception as exc:  # the caller reports the files as unsaved
            log.info("saveDocuments failed: %s", exc)
        # Trust the disk, not the answer: a save can be cancelled or fail silently.
        still = self.unsaved(unsaved)
        for path in unsaved:
            if path not in still:
                self.pending.pop(path, None)
        return still


class EditorDocuments:
    """DocumentSource: open buffers first, then texts we sent to unopened files, then disk."""

    def __init__(self, state: EditorState, max_bytes: int | None = None) -> None:
        self.state = state
        self.disk = (
            DiskDocuments(state.root)
            if max_bytes is None
            else DiskDocuments(state.root, max_bytes=max_bytes)
        )

    def read(self, path: Path) -> TextDocument:
        """The user's current text for ``path``."""
        uri = self.state.open_uri(path)
        if uri is not None:
            doc = self.state.document(uri)
            if doc is not None:
                return doc
        if path in self.state.pending:
            text = self.state.pending[path]
            if text is None:
                raise FileMissing(f"{rel_name(path, self.state.root)} was deleted in this session.")
            return TextDocument(text)
        return self.disk.read(path)

    def exists(self, path: Path) -> bool:
        """True when the editor or the disk has the file."""
        if self.state.open_uri(path) is not None:
            return True
        if path in self.state.pending:
            return self.state.pending[path] is not None
        return self.disk.exists(path)


def rel_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form, or the full path when outside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class EditorSink:
    """ChangeSink for live mode: each change goes to the editor at once and is confirmed."""

    def __init__(self, state: EditorState, run_id: str, label: str) -> None:
        self.state = state
        self.run_id = run_id
        self.label = label

    def _lock(self, change: FileChange) -> None:
        owner = self.state.locks.get(change.path)
        if owner is not None and owner != self.run_id:
            raise ChangeRejected(
                f"{change.rel} is being edited by another agent run ({owner}); leave it alone "
                "or wait for that run to finish."
            )
        self.state.locks[change.path] = self.run_id

    async def apply(self, change: FileChange) -> None:
        """Send ``change`` as workspace/applyEdit and confirm the editor holds the new text."""
        self._lock(change)
        server = self.state.server
        support = server.edit_support()
        uri = self.state.uri_for(change.path)
        current = self.state.document(uri)
        if current is not None and current.text != (change.before or ""):
            raise ChangeRejected(
                f"{change.rel} changed in the editor since it was read (the user may be typing). "
                "Read it again and redo the edit on the current text."
            )
        needs_resource_op = change.kind in ("create", "delete") and current is None
        if needs_resource_op and not (
            support.document_changes and change.kind in support.resource_operations
        ):
            await self._apply_on_disk(change)
            return
        version = current.version if current is not None else None
        outcome = await EditChannel(self.state).send(
            [Outgoing(change, uri, version)], f"Ollama agent: {self.label}"
        )
        if outcome.status == "timeout":
            raise ChangeRejected(
                f"The editor did not answer the edit of {change.rel} within {APPLY_TIMEOUT:g} s; "
                "read the file again before retrying."
            )
        if outcome.status == "failed":
            raise ChangeRejected(
                f"The editor failed to apply the edit of {change.rel} ({outcome.reason}); read "
                "the file again before retrying."
            )
        if outcome.status == "refused":
            reason = outcome.reason or "no reason given"
            raise ChangeRejected(
                f"The editor refused the edit of {change.rel} ({reason}); the document probably "
                "changed. Read it again and redo the edit."
            )
        landing = outcome.landing(change)
        if landing == "skipped":
            raise ChangeRejected(
                f"The editor skipped the edit of {change.rel} (its version moved on: the user is "
                "typing). Read the file again and redo the edit."
            )
        if landing == "changed":
            raise ChangeRejected(
                f"{change.rel} changed while the edit was applied (the user is typing); the edit "
                "may or may not be in. Read the file again and check before editing further."
            )

    async def _apply_on_disk(self, change: FileChange) -> None:
        # The client cannot create or delete files through workspace edits; a file nobody has
        # open can be created or removed on disk without clobbering anyone's buffer.
        from ollama_agent_ls.workspace.disk_sink import DiskSink

        await DiskSink(self.state.root).apply(change)
        self.state.pending.pop(change.path, None)
