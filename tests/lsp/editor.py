"""The test editor: a pytest-lsp client imitating VS Code or Neovim closely enough to matter.

The ``Editor`` client keeps a model of its open documents (text + version), applies
``workspace/applyEdit`` the way the imitated editor does and reports its own changes back with
incremental ``didChange`` notifications, in the negotiated position encoding:

- VS Code rejects a TextDocumentEdit whose version is not the open document's (applied=false),
  and shows an edit with a change annotation that needs confirmation in its Refactor Preview,
  where exactly those edits start unticked; ``review_accepts`` is the person's Apply or Discard
  there, ``review_untick`` the files they untick first (nothing ticked: applied=false).
- Neovim silently skips a TextDocumentEdit older than its buffer and still answers applied=true,
  ignores change annotations, and debounces didChange (sent shortly after the answer).

It answers ``window/showMessageRequest`` from ``answers`` (``NEVER`` leaves one unanswered),
records ``ollamaAgent/transcript`` notifications and ``$/progress``, and implements
``ollamaAgent/saveDocuments`` only when its capabilities declare it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path, to_fs_path
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

SERVER_CMD = [sys.executable, "-m", "ollama_agent_ls"]
EDITORS = ("visual-studio-code", "neovim@0.11.0")
BeforeApply = Callable[[types.ApplyWorkspaceEditParams], Awaitable[None]]
NEVER = object()
"""An answer to showMessageRequest that never comes (the user walked away)."""
NEOVIM_DEBOUNCE = 0.05
"""Seconds Neovim waits before sending didChange for buffer changes (its debounce)."""


# -- position maths, written independently of the server's -------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            i += 1
            starts.append(i + 1)
        elif ch in "\r\n":
            starts.append(i + 1)
        i += 1
    return starts


def _units(ch: str, encoding: str) -> int:
    if encoding == "utf-32":
        return 1
    if encoding == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return len(ch.encode("utf-8"))


def offset_at(text: str, pos: types.Position, encoding: str) -> int:
    """The str offset of an LSP position in ``encoding`` code units."""
    starts = _line_starts(text)
    if pos.line >= len(starts):
        return len(text)
    offset = starts[pos.line]
    end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
    while end > offset and text[end - 1] in "\r\n":
        end -= 1
    units = 0
    while offset < end and units < pos.character:
        units += _units(text[offset], encoding)
        offset += 1
    return offset


def position_at(text: str, offset: int, encoding: str) -> types.Position:
    """The LSP position of a str offset, in ``encoding`` code units."""
    starts = _line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset)
    character = sum(_units(ch, encoding) for ch in text[starts[line] : offset])
    return types.Position(line=line, character=character)


def apply_text_edits(text: str, edits: list[Any], encoding: str) -> str:
    """``text`` with LSP TextEdits applied (all ranges refer to ``text``)."""
    spans = [
        (offset_at(text, e.range.start, encoding), offset_at(text, e.range.end, encoding), e)
        for e in edits
    ]
    for start, end, edit in sorted(spans, key=lambda s: (s[0], s[1]), reverse=True):
        text = text[:start] + edit.new_text + text[end:]
    return text


# -- the client ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Namedtuples (how pygls hands over unknown methods' params) to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fixed_converter() -> Any:
    """lsprotocol's converter, choosing Command only when ``command`` is a string.

    lsprotocol 2025.0.0 structures any object with a ``command`` key as a Command, so a
    CodeAction carrying a Command would arrive broken.
    """
    converter = default_converter()

    def command_or_action(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)  # type: ignore[no-any-return]
        return converter.structure(obj, types.CodeAction)  # type: ignore[no-any-return]

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


@dataclass
class OpenDocument:
    """One document open in the editor."""

    uri: str
    text: str
    version: int
    language_id: str


@dataclass
class EditRecord:
    """One workspace/applyEdit the server sent and what the editor answered."""

    params: types.ApplyWorkspaceEditParams
    applied: bool
    skipped: list[str] = field(default_factory=list)


class Editor(LanguageClient):
    """The test client: an editor model on top of pytest-lsp's client."""

    def __init__(self, flavor: str) -> None:
        super().__init__(converter_factory=fixed_converter)
        register_lsp_features(self)
        self.flavor = flavor
        self.encoding = "utf-16"
        self.root = Path()
        self.documents: dict[str, OpenDocument] = {}
        self.transcript: list[dict[str, Any]] = []
        self.edits: list[EditRecord] = []
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.answers: deque[Any] = deque()
        """Titles to answer showMessageRequest with, in order; None dismisses, NEVER ignores."""
        self.default_answer: Any = NEVER
        self.review_accepts = True
        """VS Code's Refactor Preview: does the person press Apply (or Discard)?"""
        self.review_untick: set[str] = set()
        """VS Code's Refactor Preview: URIs whose changes the person unticks before Apply."""
        self.before_apply: BeforeApply | None = None
        """Runs before an edit is applied (a user typing at that very moment)."""
        self.save_requests: list[list[str]] = []
        self.shutdown_problem: str | None = None
        self._never = asyncio.Event()
        self._changes: asyncio.Condition = asyncio.Condition()
        self._pending_did_change: list[types.DidChangeTextDocumentParams] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._register()

    @property
    def is_vscode(self) -> bool:
        """True when imitating VS Code (else Neovim)."""
        return self.flavor.startswith("visual-studio-code")

    # -- handlers ---------------------------------------------------------------------------

    def _register(self) -> None:
        @self.feature("ollamaAgent/transcript")
        async def on_transcript(params: Any) -> None:
            self.transcript.append(_plain(params))
            async with self._changes:
                self._changes.notify_all()

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        async def on_apply_edit(
            params: types.ApplyWorkspaceEditParams,
        ) -> types.ApplyWorkspaceEditResult:
            if self.before_apply is not None:
                hook, self.before_apply = self.before_apply, None
                await hook(params)
            return await self._apply_workspace_edit(params)

        @self.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        async def on_message_request(
            params: types.ShowMessageRequestParams,
        ) -> types.MessageActionItem | None:
            self.message_requests.append(params)
            answer = self.answers.popleft() if self.answers else self.default_answer
            if answer is NEVER:
                await self._never.wait()
                return None
            if answer is None:
                return None
            return types.MessageActionItem(title=answer)

    def enable_save_documents(self) -> None:
        """Serve ollamaAgent/saveDocuments: write each open document's text to disk."""

        @self.feature("ollamaAgent/saveDocuments")
        def on_save(params: Any) -> dict[str, Any]:
            uris = list(_plain(params)["uris"])
            self.save_requests.append(uris)
            saved = []
            for uri in uris:
                doc = self.documents.get(uri)
                if doc is not None:
                    self.path_of(uri).write_bytes(doc.text.encode("utf-8"))
                    saved.append(uri)
            return {"saved": saved}

    # -- documents --------------------------------------------------------------------------

    def uri(self, rel: str) -> str:
        """The file URI of a workspace-relative path."""
        return str(from_fs_path(str(self.root / rel)))

    def path_of(self, uri: str) -> Path:
        """The path of a file URI."""
        return Path(str(to_fs_path(uri)))

    def open(self, rel: str, text: str | None = None, language_id: str = "python") -> str:
        """Open a workspace file (its disk text unless ``text`` is given); its URI."""
        uri = self.uri(rel)
        if text is None:
            text = (self.root / rel).read_bytes().decode("utf-8")
        self._open_uri(uri, text, language_id)
        return uri

    def _open_uri(self, uri: str, text: str, language_id: str) -> None:
        self.documents[uri] = OpenDocument(uri, text, 1, language_id)
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    def close(self, uri: str) -> None:
        """Close a document."""
        self._flush_did_change()
        self.documents.pop(uri, None)
        self.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def text(self, uri: str) -> str:
        """The editor's current text of an open document."""
        return self.documents[uri].text

    def type(self, uri: str, offset: int, end: int | None, new_text: str) -> None:
        """The user replaces text[offset:end] with ``new_text`` (a keystroke or a paste)."""
        self._flush_did_change()
        doc = self.documents[uri]
        end = offset if end is None else end
        rng = types.Range(
            start=position_at(doc.text, offset, self.encoding),
            end=position_at(doc.text, end, self.encoding),
        )
        doc.text = doc.text[:offset] + new_text + doc.text[end:]
        doc.version += 1
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
            )
        )

    # -- workspace/applyEdit ----------------------------------------------------------------

    async def _apply_workspace_edit(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        edit = params.edit
        record = EditRecord(params, applied=True)
        self.edits.append(record)
        operations: list[Any] = list(edit.document_changes or [])
        if self.is_vscode and _needs_confirmation(edit):
            operations = self._refactor_preview(edit, operations)
            if not operations:
                record.applied = False
                return types.ApplyWorkspaceEditResult(applied=False)
        if self.is_vscode:
            for op in operations:
                if isinstance(op, types.TextDocumentEdit):
                    doc = self.documents.get(op.text_document.uri)
                    version = op.text_document.version
                    if doc is not None and version is not None and version != doc.version:
                        record.applied = False
                        return types.ApplyWorkspaceEditResult(
                            applied=False,
                            failure_reason=f"version {version} != document {doc.version}",
                        )
        for op in operations:
            if isinstance(op, types.CreateFile):
                path = self.path_of(op.uri)
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"")
                if op.uri not in self.documents:
                    self._open_uri(op.uri, path.read_text(encoding="utf-8"), "python")
            elif isinstance(op, types.DeleteFile):
                if op.uri in self.documents:
                    self.close(op.uri)
                self.path_of(op.uri).unlink(missing_ok=True)
            elif isinstance(op, types.TextDocumentEdit):
                uri = op.text_document.uri
                doc = self._document_for_edit(uri)
                version = op.text_document.version
                if version is not None and version < doc.version:
                    record.skipped.append(uri)  # Neovim: "Buffer newer than edits."
                    continue
                self._change(doc, list(op.edits))
        for uri, text_edits in (edit.changes or {}).items():
            self._change(self._document_for_edit(uri), list(text_edits))
        return types.ApplyWorkspaceEditResult(applied=True)

    def _refactor_preview(self, edit: types.WorkspaceEdit, operations: list[Any]) -> list[Any]:
        """What VS Code's Refactor Preview applies: nothing on Discard, else the ticked edits
        (those needing confirmation start unticked, and the person unticks ``review_untick``)."""
        if not self.review_accepts:
            return []
        annotations = edit.change_annotations or {}

        def ticked(uri: str, annotation_id: str | None) -> bool:
            annotation = annotations.get(annotation_id) if annotation_id else None
            needs = annotation is not None and bool(annotation.needs_confirmation)
            return not needs and uri not in self.review_untick

        kept: list[Any] = []
        for op in operations:
            if isinstance(op, types.TextDocumentEdit):
                uri = op.text_document.uri
                edits = [e for e in op.edits if ticked(uri, getattr(e, "annotation_id", None))]
                if edits:
                    kept.append(types.TextDocumentEdit(text_document=op.text_document, edits=edits))
            elif ticked(op.uri, op.annotation_id):
                kept.append(op)
        return kept

    def _document_for_edit(self, uri: str) -> OpenDocument:
        # Both editors load an unopened file into a buffer to edit it, which opens it for LSP.
        if uri not in self.documents:
            self._open_uri(uri, self.path_of(uri).read_bytes().decode("utf-8"), "python")
        return self.documents[uri]

    def _change(self, doc: OpenDocument, edits: list[Any]) -> None:
        before = doc.text
        spans = sorted(
            ((offset_at(before, e.range.start, self.encoding), e) for e in edits),
            key=lambda s: s[0],
            reverse=True,
        )
        doc.text = apply_text_edits(before, edits, self.encoding)
        doc.version += 1
        # Last edit first: each range stays valid against the text the server has so far.
        changes: list[types.TextDocumentContentChangeEvent] = [
            types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for _, e in spans
        ]
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
            content_changes=changes,
        )
        if self.is_vscode:
            self.text_document_did_change(params)
            return
        self._pending_did_change.append(params)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(NEOVIM_DEBOUNCE, self._flush_did_change)

    def _flush_did_change(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending_did_change = self._pending_did_change, []
        for params in pending:
            self.text_document_did_change(params)

    # -- commands and transcript ------------------------------------------------------------

    async def command(self, name: str, *arguments: Any) -> Any:
        """workspace/executeCommand; the result as plain data."""
        result = await self.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments))
        )
        return _plain(result)

    def transcript_of(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Transcript notifications of one run (of one kind)."""
        return [
            t
            for t in self.transcript
            if t["runId"] == run_id and (kind is None or t["kind"] == kind)
        ]

    async def wait_for_transcript(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first transcript notification matching ``predicate`` (waits for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changes:
            while True:
                for item in self.transcript:
                    if predicate(item):
                        return item
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no matching transcript notification in {timeout}s")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changes.wait(), remaining)

    def progress_of(self, run_id: str) -> list[Any]:
        """$/progress values of a run's server-created token."""
        return list(self.progress_reports.get(f"ollama-agent-{run_id}", []))

    async def teardown(self) -> None:
        """Release unanswered requests, shut the server down and stop."""
        self._never.set()
        self._flush_did_change()
        server = self._server
        try:
            if server is not None and server.returncode is None:
                await asyncio.wait_for(self.shutdown_session(), 10)
        except Exception as exc:
            # A server that does not shut down fails the test rather than hanging the suite.
            self.shutdown_problem = f"shutdown failed: {exc!r}"
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()
        await asyncio.wait_for(self.stop(), 10)


def _needs_confirmation(edit: types.WorkspaceEdit) -> bool:
    return any(a.needs_confirmation for a in (edit.change_annotations or {}).values())


def client_info(editor: str) -> types.ClientInfo | None:
    """The clientInfo the real ``editor`` sends (servers work around quirks by name)."""
    name, _, version = editor.partition("@")
    folder = resources.files("pytest_lsp.clients")
    for resource in folder.iterdir():
        stem = resource.name.removesuffix(".json")
        if stem.startswith(name.replace("-", "_") + "_v") and stem.endswith(version):
            info = json.loads(resource.read_text()).get("clientInfo")
            return types.ClientInfo(**info) if info else None
    return None


def capabilities(editor: str, *, save_documents: bool = True) -> types.ClientCapabilities:
    """The real capability set of ``editor``, plus what its ollama-agent client declares."""
    caps = pytest_lsp.client_capabilities(editor)
    if save_documents:
        # Both the VS Code extension and the Neovim plugin declare this.
        caps.experimental = {"ollamaAgent": {"saveDocuments": True}}
    return caps


def server_process(client: Editor) -> asyncio.subprocess.Process:
    """The server's process."""
    assert client._server is not None
    return client._server


def rss_kb(pid: int) -> int:
    """Resident memory of a process in kB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")
