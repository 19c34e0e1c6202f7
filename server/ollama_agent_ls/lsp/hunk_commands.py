"""Changes you can see and keep or undo one at a time (issue 16): ollamaAgent.runChanges lists a
run's hunks where they are now, revertHunk puts one back through the edit channel (the user's
edits elsewhere survive) and keepHunk keeps one, so that a later undoRun leaves it alone.

A hunk's id comes from the run's own record of the file (``workspace/hunks.py``), so it stays the
same however the user edits the file since; the kept and reverted ones are stored with the run's
record in the session store, so they hold after the server restarts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams

from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.edit_channel import APPLY_TIMEOUT, EditChannel, Outgoing
from ollama_agent_ls.lsp.editor import EditorDocuments, uri_to_path
from ollama_agent_ls.lsp.server import AgentServer
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import DocumentError, TextDocument
from ollama_agent_ls.workspace.hunks import (
    Hunk,
    HunkError,
    HunkStates,
    file_hunks,
    find_hunk,
    locate,
    revert_hunk,
)
from ollama_agent_ls.workspace.text_edits import LineIndex, split_lines

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.command_args import HunkArgs
    from ollama_agent_ls.lsp.runs import ChangedRun


def _current(ls: AgentServer, path: Path) -> TextDocument | None:
    """The file's text as the user sees it (None: it does not exist or cannot be read)."""
    docs = EditorDocuments(ls.editor)
    try:
        return docs.read(path) if docs.exists(path) else None
    except DocumentError:
        return None


def _lsp_range(index: LineIndex, lines: list[str], where: tuple[int, int]) -> dict[str, Any]:
    """The LSP range of lines ``[start, end)``, in the index's encoding."""
    start = sum(len(line) for line in lines[: where[0]])
    end = start + sum(len(line) for line in lines[where[0] : where[1]])
    (sl, sc), (el, ec) = index.position(start), index.position(end)
    return {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}


def _file_json(ls: AgentServer, change: FileChange, states: HunkStates) -> dict[str, Any]:
    current = _current(ls, change.path)
    text = current.text if current is not None else None
    index = LineIndex(text or "", ls.position_encoding)
    lines = split_lines(text or "")
    hunks = []
    for hunk in file_hunks(change):
        state = states.status(hunk.id)
        where = None
        if state != "reverted":
            where = locate(change, hunk, text, states.reverted)
        shown: str = state
        # A deleted file has no lines to point at: still deleted is still as the run left it.
        still_deleted = change.kind == "delete" and text is None
        if state == "pending" and where is None and not still_deleted:
            shown = "edited"
        hunks.append(
            {
                "id": hunk.id,
                "range": _lsp_range(index, lines, where) if where is not None else None,
                "oldText": hunk.old_text,
                "newText": hunk.new_text,
                "state": shown,
            }
        )
    return {"uri": ls.editor.uri_for(change.path), "hunks": hunks}


async def run_changes(ls: AgentServer, *args: Any) -> list[dict[str, Any]]:
    """The run's changed files, each with its hunks: where they are now and their state."""
    from ollama_agent_ls.lsp.command_args import RunChangesArgs, parse_args

    a = parse_args(ext.RUN_CHANGES, RunChangesArgs, args)
    run = ls.runs.changed_run(a.run_id)
    if run.undone:
        return []  # undoRun put back what was left of it
    return [_file_json(ls, c, run.hunks.get(c.path) or HunkStates()) for c in run.changes]


def _hunk_of(ls: AgentServer, a: HunkArgs, command: str) -> tuple[ChangedRun, FileChange, Hunk]:
    run = ls.runs.changed_run(a.run_id)
    if run.running:
        raise JsonRpcInvalidParams(
            f"Run {a.run_id} is still running and may change {a.uri} again; keep or undo its "
            f"changes once it ends ({command} then works)."
        )
    path = ls.editor.path_of(a.uri) if a.uri in ls.workspace.text_documents else None
    path = path or uri_to_path(a.uri, ls.root)
    if run.undone:
        raise JsonRpcInvalidParams(
            f"Run {a.run_id} was undone: what was left of its changes is back as it was before "
            "it, so there is no hunk to keep or revert."
        )
    change = next(
        (c for c in run.changes if c.path == path or ls.editor.uri_for(c.path) == a.uri), None
    )
    if change is None:
        changed = ", ".join(c.rel for c in run.changes) or "no file"
        raise JsonRpcInvalidParams(
            f"Run {a.run_id} did not change {a.uri} (it changed {changed}); take the uri from "
            "ollamaAgent.runChanges."
        )
    try:
        return run, change, find_hunk(change, a.hunk_id)
    except HunkError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None


def _hunk_json(a: HunkArgs, state: str) -> dict[str, Any]:
    return {"runId": a.run_id, "uri": a.uri, "hunkId": a.hunk_id, "state": state}


async def revert_hunk_command(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Put one hunk back as it was before the run, leaving the rest of the file as it is now."""
    from ollama_agent_ls.lsp.command_args import HunkArgs, parse_args

    a = parse_args(ext.REVERT_HUNK, HunkArgs, args)
    run, change, hunk = _hunk_of(ls, a, ext.REVERT_HUNK)
    states = run.hunks.setdefault(change.path, HunkStates())
    current = _current(ls, change.path)
    text = current.text if current is not None else None
    try:
        reverted = revert_hunk(change, hunk, text, states.reverted)
    except HunkError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    if reverted != text:
        undo = FileChange(change.path, change.rel, text, reverted)
        version = current.version if current is not None else None
        outcome = await EditChannel(ls.editor).send(
            [Outgoing(undo, ls.editor.uri_for(change.path), version)],
            f"Undo a change of Ollama agent: {run.label}",
        )
        problem = {
            "timeout": f"did not answer within {APPLY_TIMEOUT:g} s",
            "failed": f"failed to apply it ({outcome.reason})",
            "refused": f"refused it ({outcome.reason or 'the document changed'})",
        }.get(outcome.status)
        if problem is None and outcome.landing(undo) != "landed":
            problem = "skipped it (the document changed meanwhile)"
        if problem is not None:
            raise JsonRpcInternalError(
                f"The editor {problem}, so {hunk.id} of {change.rel} is not reverted; ask "
                "ollamaAgent.runChanges and try again."
            )
    states.revert(hunk.id)
    run.save()
    return _hunk_json(a, "reverted")


async def keep_hunk(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Keep one hunk: its text stays, and a later undoRun of the run leaves it alone."""
    from ollama_agent_ls.lsp.command_args import HunkArgs, parse_args

    a = parse_args(ext.KEEP_HUNK, HunkArgs, args)
    run, change, hunk = _hunk_of(ls, a, ext.KEEP_HUNK)
    states = run.hunks.setdefault(change.path, HunkStates())
    try:
        states.keep(hunk.id)
    except HunkError as exc:
        raise JsonRpcInvalidParams(f"{change.rel}: {exc}") from None
    run.save()
    return _hunk_json(a, "kept")


def register(server: AgentServer) -> None:
    """Register the hunk commands on ``server``."""
    server.command(ext.RUN_CHANGES)(run_changes)
    server.command(ext.REVERT_HUNK)(revert_hunk_command)
    server.command(ext.KEEP_HUNK)(keep_hunk)
