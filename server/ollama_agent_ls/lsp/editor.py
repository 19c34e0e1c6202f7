"""Reading through the editor's buffers and writing through workspace/applyEdit.

The editor owns open documents: we read the user's unsaved text and send edits the editor applies
(versioned, undoable), then confirm they landed, because some clients (Neovim) answer
``applied: true`` for an edit they skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from ollama_agent_ls.lsp.lsp_ext import SAVE_DOCUMENTS
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.documents import (
    DiskDocuments,
    DocumentError,
    FileMissing,
    TextDocument,
)
from ollama_agent_ls.workspace.text_edits import to_lsp_text_edits

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)

APPLY_TIMEOUT = 30.0
"""Seconds to wait for the client to answer workspace/applyEdit."""
CONFIRM_TIMEOUT = 2.0
"""Seconds to wait for the didChange that shows an applied edit (Neovim debounces it)."""
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

    async def wait_for_text(self, uri: str, expected: str, timeout: float) -> TextDocument | None:
        """Wait until the open document's text is ``expected``; the last seen state otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.changed:
            while True:
                doc = self.document(uri)
                if doc is not None and doc.text == expected:
                    return doc
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return doc
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return self.document(uri)

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


@dataclass
class ClientEditSupport:
    """Which workspace-edit features the client declared."""

    document_changes: bool
    resource_operations: frozenset[str]
    change_annotations: bool

    @classmethod
    def of(
        cls, caps: types.ClientCapabilities, client_name: str | None = None
    ) -> ClientEditSupport:
        """Read the flags from the client's capabilities (and its name, for known quirks)."""
        ws = caps.workspace
        edit = ws.workspace_edit if ws else None
        ops = edit.resource_operations if edit and edit.resource_operations else []
        # Neovim applies versioned documentChanges but never declares them; without versions an
        # edit computed before the user typed lands at a shifted position in their buffer.
        quirk = client_name == "Neovim"
        return cls(
            document_changes=bool(edit and edit.document_changes) or quirk,
            resource_operations=frozenset(str(op.value) for op in ops),
            change_annotations=bool(edit and edit.change_annotation_support),
        )


def build_workspace_edit(
    changes: Iterable[tuple[FileChange, str, int | None]],
    support: ClientEditSupport,
    encoding: str,
    annotation: types.ChangeAnnotation | None = None,
) -> types.WorkspaceEdit:
    """One WorkspaceEdit for (change, uri, version) triples, minimal text edits for each file."""
    annotation_id = "ollama-agent" if annotation is not None else None
    doc_changes: list[Any] = []
    plain: dict[str, list[types.TextEdit]] = {}
    for change, uri, version in changes:
        if change.kind == "delete":
            doc_changes.append(
                types.DeleteFile(
                    uri=uri,
                    options=types.DeleteFileOptions(ignore_if_not_exists=True),
                    annotation_id=annotation_id,
                )
            )
            continue
        before = change.before or ""
        edits: list[Any] = list(to_lsp_text_edits(before, change.after or "", encoding))
        if annotation_id is not None:
            edits = [
                types.AnnotatedTextEdit(
                    range=e.range, new_text=e.new_text, annotation_id=annotation_id
                )
                for e in edits
            ]
        if change.kind == "create":
            doc_changes.append(
                types.CreateFile(
                    uri=uri,
                    options=types.CreateFileOptions(ignore_if_exists=True),
                    annotation_id=annotation_id,
                )
            )
            version = None
        doc_changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                edits=edits,
            )
        )
        plain.setdefault(uri, []).extend(edits)
    if support.document_changes:
        return types.WorkspaceEdit(
            document_changes=doc_changes,
            change_annotations={annotation_id: annotation}
            if annotation and annotation_id
            else None,
        )
    return types.WorkspaceEdit(changes=plain)


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
        edit = build_workspace_edit([(change, uri, version)], support, server.position_encoding)
        try:
            response = await asyncio.wait_for(
                server.workspace_apply_edit_async(
                    types.ApplyWorkspaceEditParams(edit=edit, label=f"Ollama agent: {self.label}")
                ),
                APPLY_TIMEOUT,
            )
        except asyncio.TimeoutError:
            raise ChangeRejected(
                f"The editor did not answer the edit of {change.rel} within {APPLY_TIMEOUT:g} s; "
                "read the file again before retrying."
            ) from None
        if not response.applied:
            reason = response.failure_reason or "no reason given"
            raise ChangeRejected(
                f"The editor refused the edit of {change.rel} ({reason}); the document probably "
                "changed. Read it again and redo the edit."
            )
        await self._confirm(change, uri, current)

    async def _confirm(self, change: FileChange, uri: str, before: TextDocument | None) -> None:
        if before is None:
            # Not open before the edit: the store cannot show the result until the editor opens
            # the document, so later reads use the text we sent.
            self.state.pending[change.path] = change.after
            return
        if change.kind == "delete":
            self.state.pending[change.path] = None
            return
        seen = await self.state.wait_for_text(uri, change.after or "", CONFIRM_TIMEOUT)
        if seen is not None and seen.text == change.after:
            return
        if seen is not None and seen.text == before.text:
            raise ChangeRejected(
                f"The editor skipped the edit of {change.rel} (its version moved on: the user is "
                "typing). Read the file again and redo the edit."
            )
        raise ChangeRejected(
            f"{change.rel} changed while the edit was applied (the user is typing); the edit may "
            "or may not be in. Read the file again and check before editing further."
        )

    async def _apply_on_disk(self, change: FileChange) -> None:
        # The client cannot create or delete files through workspace edits; a file nobody has
        # open can be created or removed on disk without clobbering anyone's buffer.
        from ollama_agent_ls.workspace.disk_sink import DiskSink

        await DiskSink(self.state.root).apply(change)
        self.state.pending.pop(change.path, None)
