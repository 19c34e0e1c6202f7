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
from ollama_agent_ls.sessions.core import RunParts, SessionCore, SessionRun, UndoReport, undo_run
from ollama_agent_ls.sessions.store import RunRecord, SessionStore
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import Approver, ToolContext
from ollama_agent_ls.tools.executor import ExtraTool
from ollama_agent_ls.workspace.changes import ChangeSink, FileChange
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.documents import DiskDocuments, DocumentError, DocumentSource
from ollama_agent_ls.workspace.paths import PathRefused, resolve_path
from ollama_agent_ls.workspace.staging import StagingArea


@dataclass
class DiskRun:
    """The objects of one headless run of a session; ``staging`` is set for dry runs."""

    core: SessionCore
    run: SessionRun
    staging: StagingArea | None

    @property
    def agent(self) -> Agent:
        """The run's agent."""
        return self.run.agent

    @property
    def ctx(self) -> ToolContext:
        """The run's tool context."""
        return self.run.ctx

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
    core: SessionCore | None = None,
    instruction: str = "",
) -> DiskRun:
    """Wire a run of ``core``'s session (a new one by default) to the disk, or for a dry run to
    a staging area over the disk."""
    if core is None:
        core = SessionCore(SessionStore.for_settings(root, settings))
    disk = DiskDocuments(root, max_bytes=settings.read_max_bytes)
    staging = StagingArea(disk) if dry_run else None
    documents: DocumentSource = staging if staging is not None else disk
    sink: ChangeSink = staging if staging is not None else DiskSink(root)
    parts = RunParts(
        documents,
        sink,
        approver,
        on_event,
        extra_tools,
        mcp_providers(command_owner(), settings),
    )
    return DiskRun(core, core.assemble(client, settings, parts, instruction), staging)


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
    """Run ``task`` (with ``follow_up``, continuing the session's stored conversation); the
    result's changes are the net changes (staged ones for a dry run)."""
    if follow_up and not run.agent.messages:
        await run.core.continue_conversation(run.run)
    result = await run.agent.run(task, follow_up=follow_up)
    result.changes = run.net_changes()
    return result


async def undo_on_disk(root: Path, record: RunRecord) -> UndoReport:
    """Revert the stored run ``record`` on disk, region by region where the agent's text is still
    there; the user's later edits (and hunks kept or reverted one at a time) stay."""
    return await undo_run(root, record, DiskDocuments(root), DiskSink(root))
