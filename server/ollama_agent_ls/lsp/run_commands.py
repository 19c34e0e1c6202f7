"""The commands that start, cancel and undo runs: runTask, followUp, runSelection, implementTodo,
runSpec, cancel, undoRun."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams

from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.lsp import lsp_ext as ext
from ollama_agent_ls.lsp.editor import EditorDocuments
from ollama_agent_ls.lsp.server import (
    AgentServer,
    show_uri,
)
from ollama_agent_ls.lsp.todo_comments import enclosing_block, find_todo, todo_still_present
from ollama_agent_ls.workspace.documents import DocumentError

if TYPE_CHECKING:
    from ollama_agent_ls.agent.result import RunResult
    from ollama_agent_ls.lsp.command_args import Range
    from ollama_agent_ls.lsp.runs import Run

log = logging.getLogger(__name__)


MAX_SELECTION_LINES = 3000


MAX_SELECTION_CHARS = 200_000


def _read_for_command(ls: AgentServer, uri: str, command: str) -> tuple[Path, str, str]:
    """(path, relative name, LF text) of a document, or InvalidParams saying what is wrong."""
    # Checked before anything is read: a file outside the workspace is not even looked at.
    path = ls.command_path(uri, command)
    root = ls.root_for(path, uri, command)
    try:
        text = EditorDocuments(ls.editor).read(path).text
    except DocumentError as exc:
        raise JsonRpcInvalidParams(f"Cannot run on {show_uri(uri)}: {exc}") from None
    rel = path.relative_to(root).as_posix()
    return path, rel, text.replace("\r\n", "\n").replace("\r", "\n")


def _lines_of(ls: AgentServer, uri: str, rng: Range, text: str) -> tuple[int, int]:
    start, end = rng.start.line, rng.end.line
    if end < start:
        start, end = end, start
    if end > start and rng.end.character == 0:
        end -= 1  # a selection ending at column 0 does not include that line
    count = text.count("\n") + 1
    if start >= count:
        raise JsonRpcInvalidParams(
            f"The range starts at line {start + 1}, past the end of {uri} ({count} lines)."
        )
    return start + 1, min(end, count - 1) + 1


async def start_run(
    ls: AgentServer, run: Run, wait: bool, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """The result of ``work`` when the command waits; else ``{runId, status: "running"}`` at
    once, and the result later as the ollamaAgent/runFinished notification."""
    if wait:
        return await work()
    return ls.runs.start_detached(run, work)


def _run_json(
    ls: AgentServer, run_id: str, result: Any, session_id: str | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "runId": run_id,
        "sessionId": session_id,
        "status": result.status.value,
        "summary": result.summary,
        "changedFiles": [ls.editor.uri_for(c.path) for c in result.changes],
        "notApplied": [
            {"uri": ls.editor.uri_for(Path(n["file"])), "reason": n["reason"]}
            for n in result.not_applied
        ],
        "turns": result.turns,
        "metrics": result.metrics.to_json(),
    }
    review = ls.runs.review_of(run_id)
    if review is not None:
        answer["review"] = review  # review mode: how the person's review ended
    return answer


def _task_for(
    ls: AgentServer, command: str, instruction: str, uri: str | None, rng: Any
) -> tuple[Path, AgentTask, str]:
    """(workspace root, task, label) for runTask/followUp: a file and a selection if given."""
    if uri is None:
        root = ls.root_for(ls.root, None, command)
        return root, AgentTask(instruction, label=instruction[:60]), instruction[:60]
    path, rel, text = _read_for_command(ls, uri, command)
    root = ls.root_for(path)
    if rng is None:
        label = f"{rel}: {instruction[:50]}"
        return root, AgentTask(instruction, label=label, file=rel), label
    start, end = _lines_of(ls, uri, rng, text)
    label = f"{rel}:{start}-{end}: {instruction[:40]}"
    selection = SelectionContext(rel, text, start, end)
    return root, AgentTask(instruction, label=label, selection=selection), label


async def run_task(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Start a new session on an instruction, with or without a file or a selection."""
    from ollama_agent_ls.lsp.command_args import RunTaskArgs, parse_args

    a = parse_args(ext.RUN_TASK, RunTaskArgs, args)
    await ls.wait_configured()
    root, task, label = _task_for(ls, ext.RUN_TASK, a.instruction, a.uri, a.range)
    run = ls.runs.build(ls.settings_for(a.model), root, label)
    run.instruction = a.instruction

    async def work() -> dict[str, Any]:
        return _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)

    return await start_run(ls, run, a.wait, work)


async def follow_up(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Continue a session: the model keeps what it read and did, the request extends it."""
    from ollama_agent_ls.lsp.command_args import FollowUpArgs, parse_args

    a = parse_args(ext.FOLLOW_UP, FollowUpArgs, args)
    await ls.wait_configured()
    root, task, label = _task_for(ls, ext.FOLLOW_UP, a.instruction, a.uri, a.range)
    settings = ls.settings_for(a.model)
    session = ls.runs.load_session(root, settings, a.session_id)
    if task.selection is not None:
        sel = task.selection
        picked = "\n".join(sel.text.split("\n")[sel.start_line - 1 : sel.end_line])
        text = (
            f"{a.instruction}\n\nSelected lines {sel.start_line}-{sel.end_line} of {sel.rel}:"
            f"\n```\n{picked}\n```"
        )
    elif task.file is not None:
        text = f"{a.instruction}\n\n(about {task.file})"
    else:
        text = a.instruction
    run = ls.runs.build(settings, root, label, session=session)
    run.instruction = a.instruction

    async def body(run: Run) -> RunResult:
        return await run.core.run(run.session_run, AgentTask(text, label=label))

    async def work() -> dict[str, Any]:
        result = await ls.runs.execute(run, body=body)
        return _run_json(ls, run.id, result, run.session_id)

    return await start_run(ls, run, a.wait, work)


async def run_selection(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Run the agent on a selection with an instruction."""
    from ollama_agent_ls.lsp.command_args import RunSelectionArgs, parse_args

    a = parse_args(ext.RUN_SELECTION, RunSelectionArgs, args)
    await ls.wait_configured()
    path, rel, text = _read_for_command(ls, a.uri, ext.RUN_SELECTION)
    start, end = _lines_of(ls, a.uri, a.range, text)
    lines = text.split("\n")[start - 1 : end]
    if (
        end - start + 1 > MAX_SELECTION_LINES
        or sum(len(x) + 1 for x in lines) > MAX_SELECTION_CHARS
    ):
        raise JsonRpcInvalidParams(
            f"The selection is too large ({end - start + 1} lines); select at most "
            f"{MAX_SELECTION_LINES} lines, or describe the change and let the agent read the file."
        )
    settings = ls.settings_for(a.model)
    label = f"{rel}:{start}-{end}: {a.instruction[:40]}"
    task = AgentTask(a.instruction, label=label, selection=SelectionContext(rel, text, start, end))
    run = ls.runs.build(settings, ls.root_for(path), label)
    run.read[path] = None  # its text is in the prompt
    run.instruction = a.instruction

    async def work() -> dict[str, Any]:
        return _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)

    return await start_run(ls, run, a.wait, work)


async def implement_todo(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Implement the TODO/FIXME/XXX comment on a line."""
    from ollama_agent_ls.lsp.command_args import ImplementTodoArgs, parse_args

    a = parse_args(ext.IMPLEMENT_TODO, ImplementTodoArgs, args)
    await ls.wait_configured()
    path, rel, text = _read_for_command(ls, a.uri, ext.IMPLEMENT_TODO)
    language = None
    if a.uri in ls.workspace.text_documents:
        language = ls.workspace.get_text_document(a.uri).language_id
    todo = find_todo(text, a.line, language, a.uri)
    if todo is None:
        raise JsonRpcInvalidParams(
            f"Line {a.line + 1} of {rel} has no TODO, FIXME or XXX comment; put the cursor on one."
        )
    block_start, block_end = enclosing_block(text, a.line)
    instruction = (
        f"Implement the {todo.marker} comment on line {a.line + 1} of {rel}: "
        f'"{todo.text}". Write the code it asks for where it belongs, then remove that '
        f"{todo.marker} comment."
    )
    selection = SelectionContext(rel, text, block_start + 1, block_end + 1)
    settings = ls.settings_for(a.model)
    label = f"{rel}:{a.line + 1}: {todo.marker} {todo.text[:40]}"
    run = ls.runs.build(settings, ls.root_for(path), label)
    run.read[path] = None  # its text is in the prompt
    run.instruction = instruction
    task = AgentTask(instruction, label=label, selection=selection)

    async def work() -> dict[str, Any]:
        response = _run_json(ls, run.id, await ls.runs.execute(run, task), run.session_id)
        try:
            after = EditorDocuments(ls.editor).read(path).text.replace("\r\n", "\n")
            response["todoRemoved"] = not todo_still_present(after, todo)
        except DocumentError:
            response["todoRemoved"] = False
        return response

    return await start_run(ls, run, a.wait, work)


async def run_spec(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Run the agent on a spec file."""
    from ollama_agent_ls.lsp.command_args import RunSpecArgs, parse_args

    a = parse_args(ext.RUN_SPEC, RunSpecArgs, args)
    ls.command_path(a.uri, ext.RUN_SPEC)
    await ls.wait_configured()
    from ollama_agent_ls.lsp.spec_runs import run_spec_in_editor

    result: dict[str, Any] = await run_spec_in_editor(ls, a)
    return result


def cancel(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Cancel one run (runId) or all running runs."""
    from ollama_agent_ls.lsp.command_args import RunIdArgs, parse_args

    a = parse_args(ext.CANCEL, RunIdArgs, args)
    return {"cancelled": ls.runs.cancel(a.run_id)}


async def undo_run(ls: AgentServer, *args: Any) -> dict[str, Any]:
    """Revert a finished run's changes where they are still as the agent left them."""
    from ollama_agent_ls.lsp.command_args import RunIdArgs, parse_args

    a = parse_args(ext.UNDO_RUN, RunIdArgs, args)
    # Also a run of an earlier server: the workspace's session store keeps its changes.
    return await ls.runs.undo_run(a.run_id)


def register(server: AgentServer) -> None:
    """Register the run commands on ``server``."""
    server.command(ext.RUN_TASK)(run_task)
    server.command(ext.FOLLOW_UP)(follow_up)
    server.command(ext.RUN_SELECTION)(run_selection)
    server.command(ext.IMPLEMENT_TODO)(implement_todo)
    server.command(ext.RUN_SPEC)(run_spec)
    server.command(ext.CANCEL)(cancel)
    server.command(ext.UNDO_RUN)(undo_run)
