"""The one way edits reach the editor: every workspace/applyEdit (live edits, the review at the
end of a review-mode run, undo, hunk reverts) is built, sent, timed and checked here.

Timeout policy: an edit nobody has to look at first (live edits, undo, a hunk revert, a review
the person already answered in a message) gets ``APPLY_TIMEOUT`` seconds, because the editor
applies it at once and a longer silence means the client is stuck. An edit the person reviews
in the editor's own preview (change annotations that need confirmation) waits for the answer
however long it takes: a timeout would call the review failed while the preview is still open,
and pressing Apply afterwards would land edits the run had already reported as not applied.

After an answer of ``applied: true`` each file is checked, because some clients (Neovim) answer
so for an edit they skipped and a preview applies only what stayed ticked: an open document
must show the new text (Neovim debounces its didChange, hence ``CONFIRM_TIMEOUT``). Texts sent to
files the editor has not opened are remembered in ``EditorState.pending`` so later reads see them.
The Neovim end-of-file insert quirk is handled where the edits are made, in
``workspace.text_edits.to_lsp_text_edits``, for every client.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types

from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.text_edits import to_lsp_text_edits

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.editor import EditorState

log = logging.getLogger(__name__)

APPLY_TIMEOUT = 30.0
"""Seconds to wait for the client to answer workspace/applyEdit (not for a preview: see above)."""
CONFIRM_TIMEOUT = 2.0
"""Seconds to wait for the didChange that shows an applied edit (Neovim debounces it)."""

ANNOTATION = "ollama-agent"
"""The change annotation every edit of a review carries: its label groups them in the preview."""
ASK = "ollama-agent-review"
"""The annotation of the one empty edit that makes the editor show its preview (see _ask)."""

Status = Literal["applied", "refused", "timeout", "failed"]
Landing = Literal["landed", "skipped", "changed"]
"""Per file after an applied answer: the editor holds the new text, still the old one, or
something else (the user typed, or only part of the file's edits was applied)."""


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
    annotation_id = ANNOTATION if annotation is not None else None
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


@dataclass(frozen=True)
class Outgoing:
    """One file's change as sent: to the document ``uri`` at ``version`` (None: unversioned)."""

    change: FileChange
    uri: str
    version: int | None


@dataclass
class EditOutcome:
    """How one workspace/applyEdit went; the callers turn it into their own errors."""

    status: Status
    reason: str = ""
    """The client's failure reason, the error, or how long the channel waited."""
    files: dict[Path, Landing] = field(default_factory=dict)
    """Per file, when applied: whether the editor now holds the change's text."""

    @property
    def applied(self) -> bool:
        """The client answered ``applied: true``."""
        return self.status == "applied"

    def landing(self, change: FileChange) -> Landing | None:
        """What became of ``change`` (None: the edit was not applied at all)."""
        return self.files.get(change.path)


class EditChannel:
    """Sends edits to the editor of one server and checks what landed."""

    def __init__(self, state: EditorState) -> None:
        self.state = state

    async def send(
        self, outgoing: Sequence[Outgoing], label: str, *, preview: str | None = None
    ) -> EditOutcome:
        """Send ``outgoing`` as one workspace/applyEdit labelled ``label``; ``preview``: show it
        in the editor's preview with this description, for the person to apply or discard
        (only for clients that support change annotations)."""
        server = self.state.server
        support = server.edit_support()
        was_open = {o.change.path: self.state.open_uri(o.change.path) is not None for o in outgoing}
        annotation = None
        if preview is not None:
            annotation = types.ChangeAnnotation(
                label=label, needs_confirmation=False, description=preview
            )
        edit = build_workspace_edit(
            [(o.change, o.uri, o.version) for o in outgoing],
            support,
            server.position_encoding,
            annotation,
        )
        if preview is not None:
            _ask(edit)
        params = types.ApplyWorkspaceEditParams(edit=edit, label=label)
        try:
            response = await asyncio.wait_for(
                server.workspace_apply_edit_async(params),
                None if preview is not None else APPLY_TIMEOUT,
            )
        except asyncio.TimeoutError:
            return EditOutcome("timeout", f"no answer within {APPLY_TIMEOUT:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an error answer or a lost client: the caller says so
            log.info("workspace/applyEdit failed: %r", exc)
            return EditOutcome("failed", str(exc) or type(exc).__name__)
        if not response.applied:
            return EditOutcome("refused", response.failure_reason or "")
        checks = (self._landing(o.change, was_open[o.change.path], preview) for o in outgoing)
        landings = await asyncio.gather(*checks)
        outcome = EditOutcome(
            "applied", files={o.change.path: x for o, x in zip(outgoing, landings, strict=True)}
        )
        for o in outgoing:
            if outcome.files[o.change.path] != "landed":
                continue
            if o.change.kind == "delete" or not was_open[o.change.path]:
                # The store cannot show a document the editor has not opened (or has deleted):
                # later reads use the text sent.
                self.state.pending[o.change.path] = o.change.after
        return outcome

    async def _landing(self, change: FileChange, was_open: bool, preview: str | None) -> Landing:
        """Whether the editor holds ``change.after`` now; an unopened file outside a preview is
        trusted (the editor loads it into a buffer the server may never hear of)."""
        path = change.path
        if change.kind == "delete":
            if preview is None:
                return "landed"
            return "skipped" if _exists(path) else "landed"
        if not was_open and preview is None:
            return "landed"
        doc = await self.state.wait_for_path(
            path, lambda d: d is not None and d.text == change.after, CONFIRM_TIMEOUT
        )
        text = doc.text if doc is not None else _disk_text(path)
        if text == change.after:
            return "landed"
        if text == change.before or (change.kind == "create" and not text):
            return "skipped"
        return "changed"


def _ask(edit: types.WorkspaceEdit) -> None:
    """Add one empty edit that needs confirmation, so the editor opens its preview.

    VS Code shows its Refactor Preview when any edit needs confirmation, and starts exactly those
    edits unticked; pressing Apply straight away then applied nothing. With the real edits not
    needing confirmation (ticked) and this empty one needing it, the preview opens with every
    change ticked: Apply applies them all, unticking leaves some out, Discard rejects them, and
    whether the empty edit is applied changes nothing.
    """
    annotations = dict(edit.change_annotations or {})
    first = next(iter(annotations.values()), None)
    annotations[ASK] = types.ChangeAnnotation(
        label=first.label if first is not None else "Ollama agent",
        needs_confirmation=True,
        description="Opens this preview; applying it or not changes nothing.",
    )
    for op in edit.document_changes or []:
        if isinstance(op, types.TextDocumentEdit) and op.edits:
            at = op.edits[0].range.start
            op.edits = [_empty_edit(at), *op.edits]
            edit.change_annotations = annotations
            return
    ops = list(edit.document_changes or [])
    for index, op in enumerate(ops):
        if isinstance(op, types.DeleteFile):
            # Only deletions: the empty edit goes to the first file before it is deleted.
            empty = types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=op.uri, version=None
                ),
                edits=[_empty_edit(types.Position(line=0, character=0))],
            )
            edit.document_changes = [*ops[:index], empty, *ops[index:]]
            edit.change_annotations = annotations
            return


def _empty_edit(at: types.Position) -> types.AnnotatedTextEdit:
    return types.AnnotatedTextEdit(
        range=types.Range(start=at, end=at), new_text="", annotation_id=ASK
    )


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _disk_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8") if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None
