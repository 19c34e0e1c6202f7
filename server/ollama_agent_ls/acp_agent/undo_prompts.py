"""Undo over ACP: the ``/undo`` command puts back what the session's latest run changed.

ACP has no undo request, so, as ``/spec``, it is a slash command the client lists for the user.
It does what the language server's undoRun and the CLI's ``undo`` do, through the session core's
undo plan: region by region where the agent's text is still there, the user's later edits (and
hunks kept or reverted one at a time) left alone; through the client's buffers when it offers
``fs/read_text_file`` and ``fs/write_text_file``, else on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acp.schema import AvailableCommand, TextContentBlock

from ollama_agent_ls.acp_agent.documents import ClientDocuments
from ollama_agent_ls.sessions.core import SessionCore, undo_run
from ollama_agent_ls.sessions.store import RunRecord
from ollama_agent_ls.workspace.changes import ChangeSink

COMMAND = "undo"

UNDO_COMMAND = AvailableCommand(
    name=COMMAND,
    description=("Undo the session's latest run that changed files; your own edits since are kept"),
)


def is_undo(blocks: Iterable[Any]) -> bool:
    """True for a prompt that is the ``/undo`` command."""
    texts = [b.text.strip() for b in blocks if isinstance(b, TextContentBlock) and b.text.strip()]
    return texts == [f"/{COMMAND}"]


def latest_undoable(core: SessionCore) -> RunRecord | None:
    """The session's most recent run that changed files and is not undone yet."""
    stored = core.stored
    runs = stored.runs if stored is not None else []
    return next((r for r in reversed(runs) if r.has_changes and not r.undone), None)


async def undo_latest(core: SessionCore, documents: ClientDocuments, sink: ChangeSink) -> str:
    """Undo the session's latest run with changes; what was reverted and left alone, in words."""
    record = latest_undoable(core)
    if record is None:
        return "Nothing to undo: no run of this session changed files (or they are undone)."
    # The plan reads the texts the client holds now (its buffers, unsaved ones too).
    await documents.prefetch(c.path for c in record.changes)
    try:
        report = await undo_run(core.root, record, documents, sink)
    finally:
        documents.forget()
    if report.reverted:
        record.undone = True  # the in-memory record too: the next /undo takes an earlier run
        core.store.mark_undone(core.session_id, record.run_id)
    lines = [f'Undid {record.run_id} ("{record.instruction[:60]}"): '
             f"reverted {', '.join(report.reverted) or 'nothing'}."]  # fmt: skip
    lines.extend(f"Left alone: {path}: {why}" for path, why in report.left_alone)
    return "\n".join(lines)
