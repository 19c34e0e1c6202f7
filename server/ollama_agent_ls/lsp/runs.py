"""Agent runs inside the language server: start, progress, cancel, review, undo, bookkeeping."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from ollama_agent_ls.agent.events import TRANSCRIPT_KINDS, AgentEvent
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.agent.text_formats import FormatMemory
from ollama_agent_ls.lsp.approvals import EditorApprover
from ollama_agent_ls.lsp.edit_channel import APPLY_TIMEOUT, EditChannel, Outgoing
from ollama_agent_ls.lsp.editor import EditorDocuments, EditorSink, rel_name
from ollama_agent_ls.lsp.lsp_ext import RUN_FINISHED, TRANSCRIPT
from ollama_agent_ls.lsp.transcript import TranscriptStream
from ollama_agent_ls.mcp_tools.wiring import mcp_providers
from ollama_agent_ls.sessions.core import (
    RunParts,
    SessionCore,
    SessionRun,
    restore_binaries,
    undo_plan,
)
from ollama_agent_ls.sessions.store import RunRecord, Session, SessionError, SessionStore
from ollama_agent_ls.settings import ApplyMode, Settings
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ExtraTool
from ollama_agent_ls.workspace.changes import ChangeSink, FileChange, net_changes
from ollama_agent_ls.workspace.checkpoints import BinaryChange, CheckpointStore, CommandChanges
from ollama_agent_ls.workspace.documents import DocumentError, DocumentSource, TextDocument
from ollama_agent_ls.workspace.hunks import HunkStates
from ollama_agent_ls.workspace.staging import StagingArea, unified_diff

if TYPE_CHECKING:
    from ollama_agent_ls.lsp.server import AgentServer

log = logging.getLogger(__name__)

HISTORY = 20
"""Finished runs kept for undoRun."""
SESSION_ALLOWANCES = 200
"""Sessions whose "allow for this session" answers are remembered (the most recently used)."""
PROGRESS_INTERVAL = 0.25
ANSWER_WAIT = 5.0
"""Seconds a run started with wait:false waits for its command's answer to be written."""

Review = Literal["applied", "partial", "discarded"]
"""How a review-mode run's review ended: everything proposed reached the editor, some of it,
or none (the person discarded or unticked everything)."""

RunWork = Callable[[], Awaitable[dict[str, Any]]]
"""A run's whole work, from start to the result JSON its command answers with."""


class ReadRecorder:
    """DocumentSource that notes every path read: what a command must find saved on disk."""

    def __init__(self, inner: DocumentSource, read: dict[Path, None]) -> None:
        self.inner = inner
        self.read_paths = read

    def read(self, path: Path) -> TextDocument:
        """``inner``'s text of ``path``, noted as read."""
        self.read_paths[path] = None
        return self.inner.read(path)

    def exists(self, path: Path) -> bool:
        """``inner``'s answer (asking is not reading)."""
        return self.inner.exists(path)


@dataclass
class Run:
    """One agent run and everything needed to report, cancel and undo it."""

    id: str
    label: str
    settings: Settings
    core: SessionCore
    """The session the run belongs to: a new one, or the stored one a follow-up continues."""
    session_run: SessionRun
    """The run's agent and tool context, as the session core wired them."""
    transcript: TranscriptStream
    staging: StagingArea | None
    request_id: Any = None
    progress_token: str | None = None
    started: float = field(default_factory=time.monotonic)
    result: RunResult | None = None
    changes: list[FileChange] = field(default_factory=list)
    """Net changes that reached the editor or the disk (for undo)."""
    binary_changes: list[BinaryChange] = field(default_factory=list)
    """Non-text files commands changed, restored from the checkpoint store on undo."""
    stop: Callable[[], None] | None = None
    """Cancels the run instead of the agent alone, when the run owns more (a spec's verify)."""
    read: dict[Path, None] = field(default_factory=dict)
    """Files the run read (in order, no repeats): saved before its commands when unsaved."""
    instruction: str = ""
    """The conversation the run belongs to, once sessions exist (issue 14 item 1); every answer
    and result then carries it as ``sessionId``."""
    cancel_requested: bool = False
    undone: bool = False
    hunks: dict[Path, HunkStates] = field(default_factory=dict)
    """Per changed file, the hunks kept or reverted one at a time (keepHunk, revertHunk)."""
    review: Review | None = None
    """How the review ended (review mode, when something was shown for review)."""
    held_finished: AgentEvent | None = None
    """The agent's finished event, held in review mode until the review's answer is known."""
    _last_progress: float = 0.0

    @property
    def ctx(self) -> ToolContext:
        """The run's tool context."""
        return self.session_run.ctx

    @property
    def agent(self) -> Agent:
        """The run's agent."""
        return self.session_run.agent

    @property
    def session_id(self) -> str:
        """The id of the run's session (every answer and result carries it)."""
        return self.core.session_id

    def cancel(self) -> None:
        """Stop the run (HTTP stream closed, commands killed)."""
        # Also before the agent started (a wait:false run cancelled at once): execute checks it.
        self.cancel_requested = True
        if self.stop is not None:
            self.stop()
        else:
            self.agent.cancel()


@dataclass
class ChangedRun:
    """A run's text changes, one per file, with their hunk states, wherever the run is kept
    (running, finished in this server, or stored by an earlier one)."""

    run_id: str
    label: str
    changes: list[FileChange]
    hunks: dict[Path, HunkStates]
    running: bool
    undone: bool
    save: Callable[[], None]
    """Keep the hunk states with the run's stored record."""


class RunManager:
    """Tracks running and finished runs for one server."""

    def __init__(self, server: AgentServer) -> None:
        self.server = server
        self.active: dict[str, Run] = {}
        self.history: deque[Run] = deque(maxlen=HISTORY)
        self._ids = itertools.count(1)
        self._instance = uuid.uuid4().hex[:6]
        """Tells this server's run ids from an earlier one's: the session store keeps both."""
        self._idle = asyncio.Event()
        self._idle.set()
        self.formats = FormatMemory()
        """What editFormat auto learned per model, kept for the server's later runs."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        """Runs started with wait:false, by run id, until their runFinished is sent."""
        self._answers: dict[str, asyncio.Future[None]] = {}
        """Requests of wait:false runs whose answer is not written yet, by str(request id)."""
        self._allowances: OrderedDict[str, set[str]] = OrderedDict()
        """Commands allowed "for this session", by session id: in memory only, never stored."""

    # -- starting ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"run-{next(self._ids)}-{self._instance}"

    def build(
        self,
        settings: Settings,
        root: Path,
        label: str,
        extra_tools: Iterable[ExtraTool] = (),
        session: Session | None = None,
    ) -> Run:
        """Wire a run: documents from the editor, changes to the editor (or staged for review)."""
        server = self.server
        run_id = self._new_id()
        core = SessionCore(self.session_store(root, settings), session)
        core.allowed = self.session_allowances(core.session_id)
        editor_docs = EditorDocuments(server.editor, settings.read_max_bytes)
        staging = StagingArea(editor_docs) if settings.apply_mode is ApplyMode.REVIEW else None
        read: dict[Path, None] = {}
        documents: DocumentSource = ReadRecorder(
            staging if staging is not None else editor_docs, read
        )
        sink: ChangeSink = (
            staging if staging is not None else EditorSink(server.editor, run_id, label)
        )
        parts = RunParts(
            documents,
            sink,
            EditorApprover(server, settings.approval_timeout, run_id, core.session_id),
            extra_tools=extra_tools,
            # MCP servers start at the warm-up or the first run that needs them; lifecycle.shutdown
            # stops them.
            providers=mcp_providers(server, settings),
            format_memory=self.formats,
        )
        session_run = core.assemble(
            server.ollama_client(settings), settings, parts, label, run_id=run_id
        )
        ctx, agent = session_run.ctx, session_run.agent
        transcript = TranscriptStream(
            run_id, self._send_transcript, 1 / settings.transcript_updates_per_second
        )
        run = Run(run_id, label, settings, core, session_run, transcript, staging, read=read)
        agent.on_event = functools.partial(self._on_event, run)
        ctx.before_command = lambda: self._save_before_command(run)
        ctx.after_command = self._forget_stale_texts
        run.request_id = server.protocol.msg_id
        return run

    def session_allowances(self, session_id: str) -> set[str]:
        """The commands allowed for the session ``session_id``: one set its runs share."""
        allowed = self._allowances.pop(session_id, None)
        if allowed is None:
            allowed = set()
        self._allowances[session_id] = allowed  # the newest last: the oldest go first
        while len(self._allowances) > SESSION_ALLOWANCES:
            self._allowances.popitem(last=False)
        return allowed

    def _send_transcript(self, params: dict[str, Any]) -> None:
        self.server.protocol.notify(TRANSCRIPT, params)

    async def execute(
        self,
        run: Run,
        task: AgentTask | None = None,
        body: Callable[[Run], Awaitable[RunResult]] | None = None,
    ) -> RunResult:
        """Run to the end with progress and transcript; ``body`` replaces the plain agent run."""
        self.active[run.id] = run
        self._idle.clear()
        await self._begin_progress(run)
        try:
            if run.cancel_requested:
                result = RunResult(RunStatus.CANCELLED, "Cancelled before it started.")
            elif body is not None:
                result = await body(run)
            else:
                assert task is not None
                result = await run.agent.run(task)
            result = await self._deliver(run, result)
            run.result = result
            return result
        finally:
            self._send_held_finished(run)
            for path, owner in list(self.server.editor.locks.items()):
                if owner == run.id:
                    del self.server.editor.locks[path]
            run.transcript.close()
            self._end_progress(run)
            self.active.pop(run.id, None)
            if not self.active:
                self._idle.set()
            self.history.append(run)
            self._save_session(run)
            # Undo needs only the changes; the conversation holds every file the model read.
            run.agent.forget_conversation()
            self.server.forget_finished_requests()
            log.debug(
                "%s ended; held: %d request futures, %d progress tokens, %d active runs",
                run.id,
                len(self.server.protocol._request_futures),
                len(self.server.work_done_progress.tokens),
                len(self.active),
            )

    # -- runs that answer at once (wait: false) ---------------------------------------------

    def start_detached(self, run: Run, work: RunWork) -> dict[str, Any]:
        """Start ``work`` in the background; the command's answer now, the result later as the
        ollamaAgent/runFinished notification."""
        answer_id = run.request_id
        # The request is answered at once: a late $/cancelRequest for it must not stop the run
        # (ollamaAgent.cancel and the progress token do).
        run.request_id = None
        # Registered before the answer goes out, so a cancel sent right after it finds the run.
        self.active[run.id] = run
        self._idle.clear()
        answered: asyncio.Future[None] | None = None
        if answer_id is not None:
            answered = asyncio.get_running_loop().create_future()
            self._answers[str(answer_id)] = answered
        task = asyncio.ensure_future(self._run_detached(run, work, answered, answer_id))
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))
        return running_json(run)

    def detached_task(self, run_id: str) -> asyncio.Task[None] | None:
        """The task of a run started with wait:false, while it runs."""
        return self._tasks.get(run_id)

    def answered(self, request_id: Any) -> None:
        """The answer to request ``request_id`` was written to the client."""
        future = self._answers.pop(str(request_id), None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _run_detached(
        self,
        run: Run,
        work: RunWork,
        answered: asyncio.Future[None] | None,
        answer_id: Any,
    ) -> None:
        try:
            if answered is not None:
                # Nothing of the run may reach the client before the answer that names it: the
                # client learns the runId there, and a message read in the same chunk as the
                # answer of a blocking request is left unprocessed by Emacs 28's jsonrpc.
                try:
                    await asyncio.wait_for(asyncio.shield(answered), ANSWER_WAIT)
                except asyncio.TimeoutError:
                    log.info("%s: the answer to request %s was not written", run.id, answer_id)
            result = await work()
        except asyncio.CancelledError:
            self._send_finished(self._ended_json(run, RunStatus.CANCELLED, "Cancelled."))
            raise
        except JsonRpcException as exc:
            result = self._ended_json(run, RunStatus.FAILED, exc.message)
        except Exception as exc:  # the client still hears how the run ended
            log.exception("%s crashed", run.id)
            result = self._ended_json(run, RunStatus.FAILED, f"Internal error: {exc!r}")
        finally:
            self._answers.pop(str(answer_id), None)
            # ``work`` may have failed before execute() took the run over.
            self.active.pop(run.id, None)
            if not self.active:
                self._idle.set()
        self._send_finished(result)

    def _send_finished(self, result: dict[str, Any]) -> None:
        self.server.protocol.notify(RUN_FINISHED, result)

    def _ended_json(self, run: Run, status: RunStatus, summary: str) -> dict[str, Any]:
        """A result for a run that ended without one of its own (an error, a cancel)."""
        changes = run.changes or net_changes(run.ctx.changes)
        result: dict[str, Any] = {
            "runId": run.id,
            "status": status.value,
            "summary": summary,
            "changedFiles": [self.server.editor.uri_for(c.path) for c in changes],
            "turns": run.agent.turns,
            "metrics": {},
            "sessionId": run.session_id,
        }
        return result

    # -- events, progress -------------------------------------------------------------------

    def _on_event(self, run: Run, event: AgentEvent) -> None:
        kind = event.kind
        if kind == "finished" and run.staging is not None:
            # The review comes after the agent's end: the finished event says how it went.
            run.held_finished = event
            return
        if kind in TRANSCRIPT_KINDS:
            run.transcript.add(event)
        if kind in ("progress", "toolCall") and run.progress_token is not None:
            now = time.monotonic()
            if now - run._last_progress >= PROGRESS_INTERVAL or "tool" in event.data:
                run._last_progress = now
                parts = [f"turn {event.data.get('turn', run.agent.turns)}"]
                if event.data.get("tool") or event.data.get("name"):
                    parts.append(str(event.data.get("tool") or event.data.get("name")))
                tps = run.agent.metrics.tokens_per_second
                if tps:
                    parts.append(f"{tps:.1f} tok/s")
                self.server.work_done_progress.report(
                    run.progress_token,
                    types.WorkDoneProgressReport(message=" · ".join(parts), cancellable=True),
                )

    def _send_held_finished(self, run: Run) -> None:
        """The finished event of a review-mode run, with the review's outcome and what landed."""
        event, run.held_finished = run.held_finished, None
        if event is None:
            return
        result = run.result
        data = dict(event.data)
        text = event.text
        if result is not None:
            text = result.summary
            data["changedFiles"] = result.changed_files
        if run.review is not None:
            data["review"] = run.review
        run.transcript.add(AgentEvent("finished", text, data))

    def review_of(self, run_id: str) -> Review | None:
        """How the review of run ``run_id`` ended (None: not a review, or nothing was shown)."""
        for run in (*self.active.values(), *reversed(self.history)):
            if run.id == run_id:
                return run.review
        return None

    async def _begin_progress(self, run: Run) -> None:
        caps = self.server.client_capabilities
        if not (caps.window and caps.window.work_done_progress):
            return
        token = f"ollama-agent-{run.id}"
        try:
            await asyncio.wait_for(self.server.work_done_progress.create_async(token), 10)
        except Exception as exc:  # a client that refuses progress still gets the run
            log.info("work done progress refused: %s", exc)
            return
        run.progress_token = token
        self.server.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(title="Ollama agent", message=run.label, cancellable=True),
        )
        future = self.server.work_done_progress.tokens.get(token)
        if future is not None:
            loop = asyncio.get_running_loop()
            future.add_done_callback(
                lambda f: loop.call_soon_threadsafe(run.cancel) if f.cancelled() else None
            )

    def _end_progress(self, run: Run) -> None:
        token = run.progress_token
        if token is None:
            return
        summary = run.result.summary if run.result else "stopped"
        status = run.result.status.value if run.result else "failed"
        self.server.work_done_progress.end(
            token, types.WorkDoneProgressEnd(message=f"{status}: {summary[:200]}")
        )
        # pygls never frees progress tokens (#607).
        self.server.work_done_progress.tokens.pop(token, None)

    # -- finishing: review mode and undo history --------------------------------------------

    async def _deliver(self, run: Run, result: RunResult) -> RunResult:
        run.binary_changes = list(run.ctx.binary_changes)
        if run.staging is None:
            run.changes = net_changes(run.ctx.changes)
            result.changes = run.changes
            return result
        # Commands changed the disk whatever the review says: they stay undoable.
        by_commands = net_changes(run.ctx.command_changes)
        staged = run.staging.net_changes()
        run.staging.discard()
        if result.status is RunStatus.CANCELLED or not staged:
            run.changes = by_commands
            result.changes = by_commands
            return result
        applied, note, run.review = await self._apply_review(run, staged)
        run.changes = by_commands + applied
        result.changes = run.changes
        if note:
            result.summary = f"{result.summary}\n\n{note}"
        return result

    async def _apply_review(
        self, run: Run, staged: list[FileChange]
    ) -> tuple[list[FileChange], str, Review | None]:
        """Show the staged changes for review and apply what the person accepts: (the changes
        that reached the editor, a note for the summary, how the review ended; None when
        nothing could be shown)."""
        editor = self.server.editor
        docs = EditorDocuments(editor)
        ready: list[Outgoing] = []
        conflicts: list[FileChange] = []
        for change in staged:
            try:
                current = docs.read(change.path) if docs.exists(change.path) else None
            except DocumentError:
                current = None
            current_text = current.text if current is not None else None
            if current_text != change.before:
                conflicts.append(change)
                continue
            uri = editor.uri_for(change.path)
            ready.append(Outgoing(change, uri, current.version if current is not None else None))
        note = ""
        if conflicts:
            names = ", ".join(c.rel for c in conflicts)
            note = f"Not applied because they changed during the run: {names}."
            run.transcript.add(
                AgentEvent("warning", f"{note} The proposed diff:\n{unified_diff(conflicts)}")
            )
        if not ready:
            return [], note, None
        preview = None
        if self.server.edit_support().change_annotations:
            preview = "Changes proposed by the agent; untick what you do not want."
        elif not await self._confirm_review(run, [o.change for o in ready]):
            return (
                [],
                f"{note} Review: discarded; the changes were declined, nothing changed.".strip(),
                "discarded",
            )
        outcome = await EditChannel(editor).send(
            ready, f"Ollama agent: {run.label}", preview=preview
        )
        if outcome.status in ("failed", "timeout"):
            failed = f"The editor failed to apply the changes ({outcome.reason}): nothing changed."
            return [], f"{note} {failed}".strip(), None
        if not outcome.applied:
            why = f" ({outcome.reason})" if outcome.reason else ""
            discarded = f"Review: discarded{why}; the changes were rejected, nothing changed."
            return [], f"{note} {discarded}".strip(), "discarded"
        # What reached the editor, file by file: all of a file, none of it, or part of it.
        reached: list[FileChange] = []
        left_out: list[str] = []
        for o in ready:
            landing = outcome.landing(o.change)
            if landing == "landed":
                reached.append(o.change)
                continue
            left_out.append(o.change.rel)
            if landing == "changed":
                now = _current_text(docs, o.change.path)
                if now != o.change.before:
                    reached.append(FileChange(o.change.path, o.change.rel, o.change.before, now))
        if not left_out:
            return reached, f"{note} Review: applied all the proposed changes.".strip(), "applied"
        if not reached:
            nothing = "Review: discarded; none of the proposed changes was applied."
            return [], f"{note} {nothing}".strip(), "discarded"
        partial = (
            f"Review: partial; applied {', '.join(c.rel for c in reached)}, left out (all or "
            f"part of) {', '.join(left_out)}."
        )
        return reached, f"{note} {partial}".strip(), "partial"

    async def _confirm_review(self, run: Run, changes: list[FileChange]) -> bool:
        caps = self.server.client_capabilities
        if not (caps.window and caps.window.show_message is not None):
            return False
        run.transcript.add(AgentEvent("content", "\n" + unified_diff(changes)))
        run.transcript.flush()
        names = ", ".join(c.rel for c in changes)
        try:
            answer = await asyncio.wait_for(
                self.server.window_show_message_request_async(
                    types.ShowMessageRequestParams(
                        type=types.MessageType.Info,
                        message=(
                            f"Ollama agent: apply the changes to {names}? "
                            "(the diff is in the transcript)"
                        ),
                        actions=[
                            types.MessageActionItem("Apply"),
                            types.MessageActionItem("Discard"),
                        ],
                    )
                ),
                run.settings.approval_timeout,
            )
        except asyncio.TimeoutError:
            return False
        return answer is not None and answer.title == "Apply"

    # -- commands -----------------------------------------------------------------------------

    def cancel(self, run_id: str | None) -> list[str]:
        """Cancel one run, or every running run; the ids cancelled."""
        targets = [self.active[run_id]] if run_id in self.active else []
        if run_id is None:
            targets = list(self.active.values())
        for run in targets:
            run.cancel()
        return [run.id for run in targets]

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is active and every runFinished is sent; False when some still run
        after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        if not self._tasks:
            return True
        tasks = set(self._tasks.values())
        _, still = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        return not still

    def cancel_request(self, request_id: Any) -> None:
        """$/cancelRequest for a run's executeCommand request."""
        for run in list(self.active.values()):
            if run.request_id is not None and str(run.request_id) == str(request_id):
                run.cancel()

    def find_finished(self, run_id: str | None) -> Run | None:
        """A finished run by id, or (None) the latest one not undone yet, changes or not."""
        for run in reversed(self.history):
            if run.id == run_id or (run_id is None and not run.undone):
                return run
        return None

    async def undo_run(self, run_id: str | None) -> dict[str, Any]:
        """undoRun: a finished run this server holds, else one the workspace's session store
        keeps (an earlier server's); ``None``: the latest run not undone yet, which must have
        changed something (an earlier run is undone only by its runId)."""
        run = self.find_finished(run_id)
        if run is not None:
            if run_id is None and not (run.changes or run.binary_changes):
                raise _changed_nothing(run.id, run.label)
            return await self.undo(run)
        stored = self._find_stored(run_id, with_changes=run_id is not None)
        if stored is not None:
            record = stored[2]
            if run_id is None and not record.has_changes:
                raise _changed_nothing(record.run_id, record.instruction[:60])
            return await self._undo_stored(*stored)
        if run_id:
            raise JsonRpcInvalidParams(
                f"There is no finished run {run_id} to undo: this server keeps only the last "
                f"{self.history.maxlen} runs and no stored session of the workspace has it (it "
                "may have expired); leave runId out to undo the latest run with changes."
            )
        raise JsonRpcInvalidParams(
            "There is no finished run with changes to undo (it may already be undone)."
        )

    async def undo(self, run: Run) -> dict[str, Any]:
        """Revert a run's changes region by region where the agent's text is still there."""
        if run.undone:
            raise _undone_already(run.id)
        answer = await self._revert(
            run.id,
            run.label,
            run.changes,
            run.hunks,
            run.binary_changes,
            run.ctx.checkpoints,
        )
        run.binary_changes = []
        if answer["applied"]:
            run.changes = []
            run.undone = True
            self._mark_undone(run.core.store, run.session_id, run.id)
        return answer

    def changed_run(self, run_id: str) -> ChangedRun:
        """The run ``run_id`` for runChanges, keepHunk and revertHunk; InvalidParams when no
        run of this server or of the workspace's session store has that id."""
        active = self.active.get(run_id)
        if active is not None:
            # A review-mode run's own edits are only staged: its commands' are in the files.
            so_far = (
                active.ctx.command_changes if active.staging is not None else active.ctx.changes
            )
            return ChangedRun(
                run_id, active.label, net_changes(so_far), active.hunks, True, False, _nothing
            )
        for run in reversed(self.history):
            if run.id == run_id:
                return ChangedRun(
                    run_id,
                    run.label,
                    net_changes(run.changes),
                    run.hunks,
                    False,
                    run.undone,
                    functools.partial(self._save_hunks, run),
                )
        stored = self._find_stored(run_id)
        if stored is None:
            raise JsonRpcInvalidParams(
                f"There is no run {run_id}: this server keeps the last {self.history.maxlen} "
                "runs and no stored session of the workspace has it (it may have expired); "
                "take a runId from a run result or ollamaAgent.getSession."
            )
        store, session, record = stored

        def save() -> None:
            self._update_record(
                store, session.session_id, run_id, lambda r: setattr(r, "hunks", record.hunks)
            )

        return ChangedRun(
            run_id,
            record.instruction[:60],
            net_changes(record.changes),
            record.hunks,
            False,
            record.undone,
            save,
        )

    def _save_hunks(self, run: Run) -> None:
        self._update_record(
            run.core.store, run.session_id, run.id, lambda r: setattr(r, "hunks", run.hunks)
        )

    @staticmethod
    def _update_record(
        store: SessionStore, session_id: str, run_id: str, update: Callable[[RunRecord], None]
    ) -> None:
        try:
            store.update_run(session_id, run_id, update)
        except (SessionError, OSError) as exc:
            log.warning("%s changed, but its session could not record it: %s", run_id, exc)

    def _find_stored(
        self, run_id: str | None, *, with_changes: bool = True
    ) -> tuple[SessionStore, Session, RunRecord] | None:
        """The run in the session stores of the workspace folders (the most recent one)."""
        best: tuple[SessionStore, Session, RunRecord] | None = None
        for root in self.server.workspace_roots() or [self.server.root]:
            store = self.session_store(root, self.server.settings)
            found = store.find_run(run_id, with_changes=with_changes)
            if found is not None and (best is None or found[1].finished_at > best[2].finished_at):
                best = (store, *found)
        return best

    async def _undo_stored(
        self, store: SessionStore, session: Session, record: RunRecord
    ) -> dict[str, Any]:
        """Revert a stored run through the editor, as undo does for a run in memory."""
        if record.undone:
            raise _undone_already(record.run_id)
        checkpoints = CheckpointStore(store.root) if record.binary_changes else None
        answer = await self._revert(
            record.run_id,
            record.instruction[:60],
            record.changes,
            record.hunks,
            record.binary_changes,
            checkpoints,
        )
        if answer["applied"]:
            self._mark_undone(store, session.session_id, record.run_id)
        return answer

    @classmethod
    def _mark_undone(cls, store: SessionStore, session_id: str, run_id: str) -> None:
        cls._update_record(store, session_id, run_id, lambda r: setattr(r, "undone", True))

    async def _revert(
        self,
        run_id: str,
        label: str,
        changes: list[FileChange],
        hunks: dict[Path, HunkStates],
        binary_changes: list[BinaryChange],
        checkpoints: CheckpointStore | None,
    ) -> dict[str, Any]:
        """Put ``changes`` back (``hunks`` kept or reverted since left as they are) through one
        versioned workspace/applyEdit (open documents from the editor, closed ones from disk)
        and ``binary_changes`` from ``checkpoints``."""
        editor = self.server.editor
        plan = undo_plan(changes, hunks, EditorDocuments(editor))
        left_alone: list[dict[str, Any]] = []
        for kept in plan.left_alone:
            item: dict[str, Any] = {"uri": editor.uri_for(kept.change.path)}
            if kept.lines is not None:
                item["startLine"], item["endLine"] = kept.lines
            item["reason"] = kept.reason
            left_alone.append(item)
        reverts = [
            Outgoing(r.change, editor.uri_for(r.change.path), r.version) for r in plan.reverts
        ]
        reverted_uris = [o.uri for o in reverts]
        for binary, reason in await restore_binaries(checkpoints, binary_changes):
            uri = editor.uri_for(binary.path)
            if reason is None:
                reverted_uris.append(uri)
            else:
                left_alone.append({"uri": uri, "reason": reason})
        applied = True
        if reverts:
            outcome = await EditChannel(editor).send(reverts, f"Undo Ollama agent: {label}")
            if outcome.status == "timeout":
                raise JsonRpcInternalError(
                    f"The editor did not answer the undo edit within {APPLY_TIMEOUT:g} s; "
                    "check the files and run undoRun again."
                )
            if outcome.status == "failed":
                raise JsonRpcInternalError(
                    f"The editor failed to apply the undo edit ({outcome.reason}); check the "
                    "files and run undoRun again."
                )
            applied = outcome.applied
        return {
            "runId": run_id,
            "applied": applied,
            "reverted": reverted_uris if applied else [],
            "leftAlone": left_alone,
        }

    # -- sessions -----------------------------------------------------------------------------

    def session_store(self, root: Path, settings: Settings) -> SessionStore:
        """The stored sessions of the workspace ``root``."""
        return SessionStore.for_settings(root, settings)

    def load_session(self, root: Path, settings: Settings, session_id: str) -> Session:
        """A stored session; InvalidParams naming it when it is unknown or expired."""
        try:
            return self.session_store(root, settings).load(session_id)
        except SessionError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None

    def _save_session(self, run: Run) -> None:
        """Keep the run's conversation and changes on disk, for followUp and getSession."""
        if not run.agent.messages:
            return
        result = run.result or RunResult(RunStatus.FAILED, "stopped")
        run.session_run.instruction = run.instruction or run.label
        error = run.core.record(
            run.session_run,
            result,
            changes=list(run.changes),
            binary_changes=list(run.binary_changes),
            hunks=run.hunks,
        )
        if error is not None:
            log.warning("session %s could not be saved: %s", run.session_id, error)

    def _forget_stale_texts(self, changes: CommandChanges) -> None:
        # What a command wrote is on disk now: texts held for unopened files are stale.
        for change in changes.text:
            self.server.editor.pending.pop(change.path, None)
        for binary in changes.binary:
            self.server.editor.pending.pop(binary.path, None)

    def session_paths(self, run: Run) -> list[Path]:
        """Files ``run`` and the server's other runs read or changed: its own first.

        Not only its own session's: an earlier run's edit still unsaved in the editor is what the
        user sees, so a command must see it too (the bug that issue 14 reported).
        """
        paths: dict[Path, None] = {}
        for other in (run, *self.active.values(), *reversed(self.history)):
            paths.update(other.read)
            paths.update(dict.fromkeys(c.path for c in other.ctx.changes if c.after is not None))
        return list(paths)

    async def save_session_documents(self, run: Run, skip: Path | None = None) -> list[Path]:
        """Save (through the client) the documents of ``run``'s session whose editor text
        differs from disk; those still unsaved."""
        editor = self.server.editor
        # Only an open document or a text sent to an unopened file can differ from the disk.
        held = {editor.path_of(uri) for uri in self.server.workspace.text_documents}
        held.update(p for p, text in editor.pending.items() if text is not None)
        wanted = [p for p in self.session_paths(run) if p in held and p != skip]
        return await editor.save(wanted)

    async def _save_before_command(self, run: Run) -> str | None:
        # A command reads the disk: an earlier run's edits and the user's unsaved typing in files
        # the model read must be there, or it tests and runs text nobody sees any more.
        unsaved = await self.save_session_documents(run)
        if not unsaved:
            return None
        names = ", ".join(rel_name(p, run.ctx.root) for p in unsaved)
        return (
            "Note: these files have unsaved changes in the editor, so the command sees the older "
            f"text on disk: {names}."
        )


def _current_text(docs: DocumentSource, path: Path) -> str | None:
    """The file's text as the editor holds it now (None: it does not exist)."""
    try:
        return docs.read(path).text if docs.exists(path) else None
    except DocumentError:
        return None


def _nothing() -> None:
    """Nothing to store: a running run's record is written when it ends."""


def _changed_nothing(run_id: str, label: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(
        f'The latest run, {run_id} ("{label}"), changed nothing, so there is nothing to undo; '
        "to undo an earlier run, pass its runId (run results and ollamaAgent.getSession list "
        "them)."
    )


def _undone_already(run_id: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(
        f"Run {run_id} was undone already; its changes are back as they were before it."
    )


def running_json(run: Run) -> dict[str, Any]:
    """The answer of a run command called with ``wait: false``."""
    return {"runId": run.id, "status": "running", "sessionId": run.session_id}
