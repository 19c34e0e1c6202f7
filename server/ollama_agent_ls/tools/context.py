"""What a tool needs: the workspace, where changes go, and who approves commands."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal, Protocol

from ollama_agent_ls.settings import Settings
from ollama_agent_ls.workspace.changes import ChangeRejected, ChangeSink, FileChange
from ollama_agent_ls.workspace.checkpoints import BinaryChange, CheckpointStore, CommandChanges
from ollama_agent_ls.workspace.documents import DocumentSource


class ToolError(Exception):
    """A tool call failed; the message goes back to the model and says how to fix the call."""


class Approval(str, Enum):
    """An answer to "may this command run?"."""

    ALLOW = "allow"
    ALLOW_FOR_SESSION = "allow_for_session"
    """Allowed, and the same command runs without asking for the rest of the session."""
    DENY = "deny"


@dataclass(frozen=True)
class ApprovalRequest:
    """A command waiting for a person's decision."""

    command: str
    cwd: Path
    reason: str
    """Why a person is asked (the policy, or the destructive pattern found)."""
    destructive: bool = False
    outside_sandbox: bool = False
    """The sandbox blocked the command: the person may let this one run outside it, once."""
    kind: Literal["command", "tool"] = "command"
    """A shell command, or an MCP tool call (``command`` then shows the tool and its arguments):
    the prompts name which."""


class Approver(Protocol):
    """Asks a person; answers DENY when nobody can be asked."""

    async def ask(self, request: ApprovalRequest) -> Approval:
        """The person's decision on ``request``."""
        ...


class DenyAll:
    """The approver for places where nobody can be asked."""

    async def ask(self, request: ApprovalRequest) -> Approval:
        """Always DENY."""
        return Approval.DENY


@dataclass
class ToolContext:
    """Per-run state shared by all tools."""

    root: Path
    """Workspace root, absolute and resolved."""
    documents: DocumentSource
    sink: ChangeSink
    settings: Settings
    approver: Approver = field(default_factory=DenyAll)
    before_command: Callable[[], Awaitable[str | None]] | None = None
    """Called before run_command (the LSP saves buffers); may return a note for the model."""
    on_change: Callable[[FileChange], None] | None = None
    """Told of every change the sink accepted (transcript ``edit`` events)."""
    allowed_for_session: set[str] = field(default_factory=set)
    """Commands (normalised) a person allowed "for this session": the caller may hand every run
    of a session the same set. Kept in memory only, never on disk."""
    changes: list[FileChange] = field(default_factory=list)
    """Every change applied in this run, in order."""
    not_applied: dict[Path, tuple[str, str]] = field(default_factory=dict)
    """Files whose last change the sink refused (relative path, why); a retry that lands
    removes the entry. A run that ends with any is not completed."""
    commands_not_run: list[str] = field(default_factory=list)
    """Commands the policy or a person did not let run (denied, unanswered, disabled)."""
    checkpoints: CheckpointStore | None = None
    """Where commands' effects on the workspace are recorded (made on the first command)."""
    command_changes: list[FileChange] = field(default_factory=list)
    """The text changes commands made (also in ``changes``), already on disk in review mode."""
    binary_changes: list[BinaryChange] = field(default_factory=list)
    """Files a command changed that are not text, restorable from the checkpoint store."""
    command_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One command at a time per run: each one's checkpoint pair must see only its own effects."""
    after_command: Callable[[CommandChanges], None] | None = None
    """Told what a command changed in the workspace (the LSP forgets stale texts it holds)."""
    on_warning: Callable[[str], None] | None = None
    """Shows a warning to the person (the transcript's ``warning`` event), not to the model."""

    def checkpoint_store(self) -> CheckpointStore:
        """The run's checkpoint store for commands (one per workspace, outside it)."""
        if self.checkpoints is None:
            self.checkpoints = CheckpointStore(self.root)
        return self.checkpoints

    def record_command_changes(self, changes: CommandChanges) -> None:
        """Record what a command did to the workspace, so the run's changes and undo include it."""
        for change in changes.text:
            self.changes.append(change)
            self.command_changes.append(change)
            if self.on_change is not None:
                self.on_change(change)
        self.binary_changes.extend(changes.binary)
        if self.after_command is not None:
            self.after_command(changes)

    async def apply_change(self, change: FileChange) -> None:
        """Send ``change`` to the sink and record it; ChangeRejected propagates to the executor."""
        try:
            await self.sink.apply(change)
        except ChangeRejected as exc:
            # Until a later change of the same file lands, the run has an edit that did not.
            self.not_applied[change.path] = (change.rel, str(exc))
            raise
        self.not_applied.pop(change.path, None)
        self.changes.append(change)
        if self.on_change is not None:
            self.on_change(change)

    @property
    def changed_paths(self) -> list[str]:
        """Relative paths changed in this run, first change first, without repeats."""
        return list(dict.fromkeys(change.rel for change in self.changes))


async def ask_approval(
    ctx: ToolContext, request: ApprovalRequest, allowed_key: str, unanswered: str, denied: str
) -> None:
    """Ask ``ctx.approver`` about ``request``; unless the person allows it, ToolError with
    ``unanswered`` (``{wait}`` is the timeout in seconds) or ``denied``, told to the model.
    "Allow for this session" keeps ``allowed_key`` in the session's set."""
    wait = ctx.settings.approval_timeout
    try:
        answer = await asyncio.wait_for(ctx.approver.ask(request), wait)
    except asyncio.TimeoutError:
        raise ToolError(unanswered.format(wait=f"{wait:g}")) from None
    if answer == Approval.DENY:
        raise ToolError(denied)
    if answer == Approval.ALLOW_FOR_SESSION:
        ctx.allowed_for_session.add(allowed_key)
