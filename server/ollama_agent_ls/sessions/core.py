"""The session core every face drives: a conversation's runs assembled, continued, kept, undone.

The command line, the language server and the ACP agent differ only in where a run's files
come from and its changes go, who answers its approvals and where its events go (``RunParts``).
What a session is does not differ, so it lives here once: the tool context, executor and agent
wired the same way; a follow-up that extends the stored conversation byte for byte (so the
server's prompt cache still matches); each run's conversation and changes kept in the session
store with an id no other session's run has; and the undo plan of a stored run, with the hunks
already kept or reverted one at a time taken into account.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ollama_agent_ls.agent.events import EventCallback
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunResult
from ollama_agent_ls.agent.text_formats import FormatMemory
from ollama_agent_ls.backend import ChatBackend
from ollama_agent_ls.sessions.store import (
    RunRecord,
    Session,
    SessionError,
    SessionStore,
    new_session_id,
)
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import Approver, DenyAll, ToolContext
from ollama_agent_ls.tools.executor import ExtraTool, ToolExecutor, ToolProvider
from ollama_agent_ls.workspace.changes import ChangeRejected, ChangeSink, FileChange, net_changes
from ollama_agent_ls.workspace.checkpoints import BinaryChange, CheckpointStore
from ollama_agent_ls.workspace.documents import DocumentSource
from ollama_agent_ls.workspace.hunks import HunkStates, effective_changes
from ollama_agent_ls.workspace.undo import RunUndoPlan, plan_run_undo

MakeExecutor = Callable[[ToolContext, Sequence[ExtraTool], Sequence[ToolProvider]], ToolExecutor]
"""Builds a run's executor from its context (the ACP agent's fetches files from the client)."""


@dataclass
class RunParts:
    """What a face supplies for one run: where files come from and changes go, and who listens."""

    documents: DocumentSource
    sink: ChangeSink
    approver: Approver = field(default_factory=DenyAll)
    on_event: EventCallback | None = None
    extra_tools: Iterable[ExtraTool] = ()
    providers: Sequence[ToolProvider] = ()
    """Tools beyond the built-in ones (the MCP servers')."""
    format_memory: FormatMemory | None = None
    """What editFormat auto learned per model, when the face keeps it between sessions."""
    make_executor: MakeExecutor | None = None


@dataclass
class SessionRun:
    """One run of a session: its id, what it was asked, and the agent with its tool context."""

    run_id: str
    instruction: str
    agent: Agent
    ctx: ToolContext


class SessionCore:
    """One conversation of a workspace: its runs, as stored in ``store``."""

    def __init__(
        self,
        store: SessionStore,
        stored: Session | None = None,
        *,
        allowed: set[str] | None = None,
    ) -> None:
        self.store = store
        self.stored = stored
        """The conversation and runs on disk (None until the first run is recorded)."""
        self.session_id: str = stored.session_id if stored is not None else new_session_id()
        self.allowed = allowed if allowed is not None else set()
        """Commands a person allowed for this session: shared by its runs, never stored."""

    @classmethod
    def load(
        cls, store: SessionStore, session_id: str, *, allowed: set[str] | None = None
    ) -> SessionCore:
        """The stored session ``session_id``; SessionError naming it when unknown or expired."""
        return cls(store, store.load(session_id), allowed=allowed)

    @property
    def root(self) -> Path:
        """The workspace the session belongs to."""
        return self.store.root

    def new_run_id(self) -> str:
        """An id for the session's next run that no other session's run has (undo finds runs
        by id across the workspace's sessions)."""
        count = len(self.stored.runs) if self.stored is not None else 0
        return f"run-{count + 1}-{uuid.uuid4().hex[:6]}"

    def assemble(
        self,
        backend: ChatBackend,
        settings: Settings,
        parts: RunParts,
        instruction: str,
        *,
        run_id: str | None = None,
    ) -> SessionRun:
        """Wire a run's tool context, executor and agent from ``parts``."""
        ctx = ToolContext(
            root=self.root,
            documents=parts.documents,
            sink=parts.sink,
            settings=settings,
            approver=parts.approver,
            allowed_for_session=self.allowed,
        )
        make = parts.make_executor or _executor
        executor = make(ctx, list(parts.extra_tools), list(parts.providers))
        agent = Agent(backend, settings, executor, parts.on_event, parts.format_memory)
        return SessionRun(run_id or self.new_run_id(), instruction, agent, ctx)

    async def continue_conversation(self, run: SessionRun) -> bool:
        """Give ``run``'s agent the stored conversation; True when there was one to follow up."""
        if self.stored is None or not self.stored.messages:
            return False
        await run.agent.resume(self.stored.messages, self.stored.edit_format)
        return True

    async def run(self, run: SessionRun, task: AgentTask) -> RunResult:
        """Run ``task`` as the session's next run: a follow-up when a conversation exists."""
        follow_up = await self.continue_conversation(run)
        return await run.agent.run(task, follow_up=follow_up)

    def record(
        self,
        run: SessionRun,
        result: RunResult,
        *,
        changes: list[FileChange] | None = None,
        binary_changes: list[BinaryChange] | None = None,
        hunks: dict[Path, HunkStates] | None = None,
    ) -> OSError | None:
        """Keep the run's conversation and changes (``changes``: those that landed, when not all
        of the context's did) in the store; the error when it could not be written."""
        agent = run.agent
        session = self.stored or Session(
            self.session_id, run.instruction[:80], agent.settings.model
        )
        session.messages = list(agent.messages)
        session.edit_format = agent.edit_format
        session.model = agent.settings.model
        session.runs.append(
            RunRecord(
                run.run_id,
                run.instruction,
                result.status.value,
                result.summary,
                net_changes(run.ctx.changes) if changes is None else list(changes),
                list(run.ctx.binary_changes if binary_changes is None else binary_changes),
                hunks=hunks if hunks is not None else {},
            )
        )
        if self.stored is not None:
            # An undo, keepHunk or revertHunk while this run worked changed an earlier run's
            # record on disk, not in memory: keep what the disk says of the earlier runs.
            with contextlib.suppress(SessionError):
                on_disk = {r.run_id: r for r in self.store.load(session.session_id).runs}
                for record in session.runs:
                    earlier = on_disk.get(record.run_id)
                    if earlier is not None and record.run_id != run.run_id:
                        record.undone = record.undone or earlier.undone
                        record.hunks = earlier.hunks
        self.stored = session
        result.session_id, result.run_id = session.session_id, run.run_id
        try:
            self.store.save(session)
        except OSError as exc:
            return exc
        return None


def undo_plan(
    changes: list[FileChange], hunks: dict[Path, HunkStates], documents: DocumentSource
) -> RunUndoPlan:
    """How to put back a run's ``changes`` against the files as ``documents`` hold them now:
    hunks kept or reverted one at a time since (``hunks``) are left as they are, and the user's
    later edits stay."""
    return plan_run_undo(effective_changes(net_changes(changes), hunks), documents)


async def restore_binaries(
    store: CheckpointStore | None, changes: list[BinaryChange]
) -> list[tuple[BinaryChange, str | None]]:
    """Put back a run's non-text files from the checkpoint store, newest first: each with why it
    was left alone (None: restored)."""
    done: list[tuple[BinaryChange, str | None]] = []
    for change in reversed(changes):
        refused = (
            await store.restore_binary(change)
            if store is not None
            else "no checkpoint store for this run"
        )
        done.append((change, refused))
    return done


@dataclass
class UndoReport:
    """What undoing a stored run did."""

    reverted: list[str]
    left_alone: list[tuple[str, str]]
    """(relative path, why): regions or files the user changed since, kept as they are."""


async def undo_run(
    root: Path, record: RunRecord, documents: DocumentSource, sink: ChangeSink
) -> UndoReport:
    """Revert the stored run ``record`` of the workspace ``root`` through ``sink`` (each change
    checked against the text it replaces, so a file changed in between is left alone), then
    its non-text files; the caller marks the record undone."""
    report = UndoReport([], [])
    plan = undo_plan(record.changes, record.hunks, documents)
    for kept in plan.left_alone:
        where = "" if kept.lines is None else f"lines {kept.lines[0]}-{kept.lines[1]} "
        report.left_alone.append((kept.change.rel, where + kept.reason))
    for revert in plan.reverts:
        try:
            await sink.apply(revert.change)
        except ChangeRejected as exc:
            report.left_alone.append((revert.change.rel, str(exc)))
        else:
            report.reverted.append(revert.change.rel)
    store = CheckpointStore(root) if record.binary_changes else None
    for binary, refused in await restore_binaries(store, record.binary_changes):
        if refused is None:
            report.reverted.append(binary.rel)
        else:
            report.left_alone.append((binary.rel, refused))
    return report


def _executor(
    ctx: ToolContext, extra_tools: Sequence[ExtraTool], providers: Sequence[ToolProvider]
) -> ToolExecutor:
    return ToolExecutor(ctx, extra_tools, providers)
