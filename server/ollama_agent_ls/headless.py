"""Runs the agent against files on disk: the CLI's ``run`` and ``spec`` share this."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ollama_agent_ls.agent.events import EventCallback
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.agent.result import RunResult
from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.errors import UsageError
from ollama_agent_ls.mcp_tools.wiring import mcp_providers
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import Approver, ToolContext
from ollama_agent_ls.tools.executor import ExtraTool, ToolExecutor
from ollama_agent_ls.workspace.changes import ChangeSink, FileChange
from ollama_agent_ls.workspace.checkpoints import BinaryChange, CheckpointStore
from ollama_agent_ls.workspace.disk_sink import DiskSink, write_atomic
from ollama_agent_ls.workspace.documents import DiskDocuments, DocumentError, DocumentSource
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path
from ollama_agent_ls.workspace.staging import StagingArea
from ollama_agent_ls.workspace.undo import plan_undo


@dataclass
class DiskRun:
    """The objects of one headless run; ``staging`` is set for dry runs."""

    agent: Agent
    ctx: ToolContext
    staging: StagingArea | None

    def net_changes(self) -> list[FileChange]:
        """What the run changed (for a dry run: what it would have changed)."""
        if self.staging is not None:
            return self.staging.net_changes()
        return list(self.ctx.changes)


def command_owner() -> object:
    """What a CLI command's MCP servers belong to: its event loop, so they live as long as
    the command: asyncio.run's end stops them."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return _NO_LOOP


_NO_LOOP = object()


def build_disk_run(
    client: ChatBackend,
    settings: Settings,
    root: Path,
    approver: Approver,
    on_event: EventCallback | None = None,
    *,
    dry_run: bool = False,
    extra_tools: Iterable[ExtraTool] = (),
) -> DiskRun:
    """Wire an agent to the disk (or, for a dry run, to a staging area over the disk)."""
    disk = DiskDocuments(root, max_bytes=settings.read_max_bytes)
    staging = StagingArea(disk) if dry_run else None
    documents: DocumentSource = staging if staging is not None else disk
    sink: ChangeSink = staging if staging is not None else DiskSink(root)
    ctx = ToolContext(
        root=root, documents=documents, sink=sink, settings=settings, approver=approver
    )
    executor = ToolExecutor(ctx, extra_tools, mcp_providers(command_owner(), settings))
    return DiskRun(Agent(client, settings, executor, on_event), ctx, staging)


def selection_task(
    root: Path,
    instruction: str,
    file: str | None,
    lines: tuple[int, int] | None,
    documents: DocumentSource,
) -> AgentTask:
    """An AgentTask for --file/--lines; UsageError when the file or range cannot be used."""
    if file is None:
        return AgentTask(instruction, label=instruction[:60])
    try:
        path, rel = resolve_path(root, file)
        text = documents.read(path).text.replace("\r\n", "\n")
    except (PathRefused, DocumentError) as exc:
        raise UsageError(str(exc)) from exc
    if lines is None:
        return AgentTask(instruction, label=f"{rel}: {instruction[:50]}", file=rel)
    start, end = lines
    count = len(text.split("\n"))
    if start > count:
        raise UsageError(f"--lines {start}-{end} is past the end of {rel} ({count} lines).")
    selection = SelectionContext(rel, text, start, min(end, count))
    return AgentTask(
        instruction, label=f"{rel}:{start}-{end}: {instruction[:40]}", selection=selection
    )


async def run_task(run: DiskRun, task: AgentTask, *, follow_up: bool = False) -> RunResult:
    """Run ``task`` (continuing the conversation with ``follow_up``); the result's changes are
    the net changes (staged ones for a dry run)."""
    result = await run.agent.run(task, follow_up=follow_up)
    result.changes = run.net_changes()
    return result


@dataclass
class UndoReport:
    """What undoing a run on disk did."""

    reverted: list[str]
    left_alone: list[tuple[str, str]]
    """(relative path, why): regions or files the user changed since, kept as they are."""


async def undo_on_disk(
    root: Path, changes: list[FileChange], binary: list[BinaryChange]
) -> UndoReport:
    """Revert a run's changes on disk, newest first, region by region where the agent's text is
    still there; the user's later edits stay."""
    report = UndoReport([], [])
    disk = DiskDocuments(root)
    for change in reversed(changes):
        try:
            current = disk.read(change.path).text if disk.exists(change.path) else None
        except DocumentError as exc:
            report.left_alone.append((change.rel, str(exc)))
            continue
        plan = plan_undo(change, current)
        for start, end in plan.kept:
            report.left_alone.append((change.rel, f"lines {start}-{end} changed since the run"))
        if plan.reason and not plan.reverted:
            report.left_alone.append((change.rel, plan.reason))
        if not plan.reverted:
            continue
        if plan.text is None:
            change.path.unlink(missing_ok=True)
        else:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(change.path, plan.text.encode("utf-8"))
        report.reverted.append(change.rel)
    store = CheckpointStore(root) if binary else None
    for item in reversed(binary):
        assert store is not None
        why = await store.restore_binary(item)
        if why is None:
            report.reverted.append(item.rel)
        else:
            report.left_alone.append((item.rel, why))
    return report
