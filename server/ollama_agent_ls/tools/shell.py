"""run_command: runs a shell command in the workspace once the approval policy (or a person)
allows it, in its own process group so a timeout or a cancelled run stops all of it."""

from __future__ import annotations

import asyncio
import codecs
import functools
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ollama_agent_ls.settings import CommandApproval, SandboxMode, Settings
from ollama_agent_ls.tools.command_policy import Decision, decide, normalise_command
from ollama_agent_ls.tools.context import (
    Approval,
    ApprovalRequest,
    ToolContext,
    ToolError,
    ask_approval,
)
from ollama_agent_ls.tools.sandbox import (
    SandboxedCommand,
    SandboxUnavailable,
    blocked_by_sandbox,
    sandbox_problem,
    sandboxed,
)
from ollama_agent_ls.workspace.checkpoints import CheckpointError

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 16_000
"""Bytes of output the model sees: the first and the last half of it."""
_TERM_GRACE = 2.0
"""Seconds a process group gets to exit after SIGTERM before SIGKILL."""
_EOF_GRACE = 1.0
"""Seconds to wait for the output pipe to close once the shell has exited."""
_POLL = 0.05
RUNNING_INTERVAL = 1.0
"""Seconds between "still running" reports while a command runs (transcript commandRunning)."""
TAIL_LINES = 20
"""Most lines of a command's output kept as its tail for the transcript (not for the model)."""
TAIL_LINE_CHARS = 300
"""Longest tail line kept: one minified line must not fill the transcript."""
# No pager, no prompt for credentials, no editor: there is nobody to answer them, and they
# would hang until the timeout. Unbuffered Python keeps merged stdout/stderr in order.
_EXTRA_ENV = {
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",
    "PYTHONUNBUFFERED": "1",
}


class _CappedOutput:
    """Keeps the head and a rolling tail of a stream, so a chatty command cannot fill memory."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        if cut == 0:
            return bytes(self.head + self.tail).decode("utf-8", errors="replace")
        head_bytes, tail_bytes = bytes(self.head), bytes(self.tail)
        # Cut at line ends when one is near, so the model sees whole lines.
        newline = head_bytes.rfind(b"\n")
        if newline >= len(head_bytes) // 2:
            head_bytes = head_bytes[: newline + 1]
        newline = tail_bytes.find(b"\n")
        if 0 <= newline < len(tail_bytes) // 2:
            tail_bytes = tail_bytes[newline + 1 :]
        # Otherwise cut on character boundaries: no replacement characters from a split sequence.
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        head = decoder.decode(head_bytes)
        head_len = len(head_bytes) - len(decoder.getstate()[0])
        skip = 0
        while skip < min(3, len(tail_bytes)) and tail_bytes[skip] & 0xC0 == 0x80:
            skip += 1
        tail = tail_bytes[skip:].decode("utf-8", errors="replace")
        cut = self.total - head_len - (len(tail_bytes) - skip)
        return f"{head.rstrip(chr(10))}\n[... {cut:,} bytes cut ...]\n{tail}"


class _Protocol(asyncio.SubprocessProtocol):
    """Collects output as it arrives and tells apart "the shell exited" from "the pipe closed"."""

    def __init__(self, output: _CappedOutput) -> None:
        self.output = output
        self.exited = asyncio.Event()
        self.eof = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.output.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.eof.set()

    def process_exited(self) -> None:
        self.exited.set()


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # Orphans are reparented to PID 1, which in containers often never reaps them: their zombies
    # keep the group "existing" although nothing runs any more.
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat"), encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        log.warning("cannot send %s to process group %d: %s", sig.name, pgid, exc)


async def _stop_group(pgid: int) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after a short grace."""
    loop = asyncio.get_running_loop()
    try:
        _signal_group(pgid, signal.SIGTERM)
        deadline = loop.time() + _TERM_GRACE
        # Polling: nothing signals that a process group has emptied (grandchildren are not ours
        # to wait for).
        while loop.time() < deadline:
            if not _group_alive(pgid):
                break
            await asyncio.sleep(_POLL)
    finally:
        # Also reached when cancelled while waiting: nothing of the command may survive.
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


async def _execute(
    plan: SandboxedCommand, cwd: str, timeout: float, output: _CappedOutput
) -> tuple[str, int | None, bool, list[str]]:
    """Run the planned /bin/sh command, its output into ``output``; (output, exit code, whether
    it timed out, other notes)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _Protocol(output),
        *plan.argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env={**plan.env, **_EXTRA_ENV},
        # Own session: its own process group to kill as a whole, and no controlling terminal.
        start_new_session=True,
    )
    pgid = transport.get_pid()
    notes: list[str] = []
    timed_out = False
    try:
        if not await _wait(protocol.exited, timeout):
            timed_out = True
            await _stop_group(pgid)
            await _wait(protocol.exited, _EOF_GRACE)
        if not await _wait(protocol.eof, _EOF_GRACE):
            if not timed_out:
                notes.append(
                    "the command left background processes writing to its output; they were "
                    "stopped. To keep one running, redirect its output: `cmd > log 2>&1 &`"
                )
            await _stop_group(pgid)
            # Something outside the group may still hold the pipe; stop reading then.
            await _wait(protocol.eof, _EOF_GRACE)
    except BaseException:
        await _stop_group(pgid)
        raise
    finally:
        transport.close()
    return output.text(), transport.get_returncode(), timed_out, notes


def effective_timeout(requested: float | None, settings: Settings) -> float:
    """Seconds a command may run: the model's request, at most settings.command_timeout."""
    if requested is None or requested <= 0:
        return settings.command_timeout
    return min(requested, settings.command_timeout)


def _timeout_note(seconds: float, limit: float) -> str:
    stopped = f"timed out after {seconds:g} s: the command and its child processes were stopped"
    if seconds < limit:
        return f"{stopped}; pass a larger timeout (up to {limit:g} s) if needed"
    return (
        f"{stopped}; commandTimeout={limit:g} s is the limit, so run something quicker (a subset "
        "of tests, a single target)"
    )


def signal_name(code: int) -> str:
    """The signal a negative exit code (a process killed by it) names: SIGKILL, or signal N."""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _exit_line(code: int | None) -> str:
    if code is None:
        return "[exit code unknown]"
    if code < 0:
        return f"[exit code {code} (killed by {signal_name(code)})]"
    return f"[exit code {code}]"


async def _approve(ctx: ToolContext, command: str, reason: str, destructive: bool) -> None:
    """Ask the approver; raise ToolError unless the person allows the command."""
    await ask_approval(
        ctx,
        ApprovalRequest(command, ctx.root, reason, destructive),
        normalise_command(command),
        unanswered=f"Nobody answered the approval request for `{command}` within {{wait}} s, so "
        "it did not run. Do not retry it; continue without it or ask the user to run it.",
        denied=f"The user denied running `{command}`. Do not retry the same command; continue "
        "without it, use another approach, or ask the user what to do instead.",
    )


@dataclass(frozen=True)
class CommandResult:
    """What run_command reports: the text the model sees, and for people, how the command went."""

    text: str
    exit_code: int | None
    """None when the command timed out or its exit code is unknown."""
    duration_ms: int = 0
    """How long the command ran (the run whose output is reported), approval not included."""
    output_tail: str = ""
    """The last lines of its output (at most TAIL_LINES, each cut at TAIL_LINE_CHARS)."""
    timed_out: bool = False


@dataclass
class CommandWatch:
    """Who hears about commands run in the current context: the agent loop, for its transcript.

    A context variable rather than a ToolContext field: the tool executor passes only text back,
    and the loop needs a command's timing and tail tied to the call that ran it.
    """

    on_running: Callable[[str, int, str], None] | None = None
    """Called with (command, elapsed ms, the last lines of its output so far) about every
    RUNNING_INTERVAL seconds while it runs."""
    results: list[CommandResult] = field(default_factory=list)
    """Every command that ran in the context, in order."""


_WATCH: ContextVar[CommandWatch | None] = ContextVar("command_watch", default=None)


@contextmanager
def watching(watch: CommandWatch) -> Iterator[CommandWatch]:
    """Report commands run inside the ``with`` block (in this task) to ``watch``."""
    token = _WATCH.set(watch)
    try:
        yield watch
    finally:
        _WATCH.reset(token)


def output_tail(text: str, lines: int = TAIL_LINES, width: int = TAIL_LINE_CHARS) -> str:
    """The last ``lines`` non-trailing lines of ``text``, each cut to ``width`` characters."""
    kept = text.rstrip("\n").split("\n")[-lines:] if text.strip() else []
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in kept)


async def _report_running(
    command: str, on_running: Callable[[str, int, str], None], output: _CappedOutput
) -> None:
    """Call ``on_running`` once per RUNNING_INTERVAL until cancelled (the command ended)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticks = 1
    while True:
        # Scheduled against the start, so the reports do not drift later and later.
        await asyncio.sleep(max(0.0, started + ticks * RUNNING_INTERVAL - loop.time()))
        ticks += 1
        try:
            on_running(command, int((loop.time() - started) * 1000), output_tail(output.text()))
        except Exception:  # a broken listener must not stop the command
            log.exception("commandRunning listener failed")


@dataclass
class _Ran:
    """One execution of a command: what _execute saw, and how long it took."""

    text: str
    code: int | None
    timed_out: bool
    notes: list[str]
    duration_ms: int


async def _decide(ctx: ToolContext, command: str) -> Decision:
    """The policy's decision, worked out off the event loop (the server keeps answering)."""
    allowed = ctx.allowed_for_session
    decision = await asyncio.to_thread(decide, command, ctx.settings, ctx.root, allowed)
    problem = sandbox_problem(ctx.settings)
    if (
        problem is not None
        and decision.action == "allow"
        and CommandApproval(ctx.settings.command_approval) is CommandApproval.ALWAYS
        and normalise_command(command) not in {normalise_command(c) for c in allowed}
    ):
        # Unattended running rests on the sandbox; without one a person decides.
        return Decision(
            "ask",
            f"no sandbox could be set up, so commandApproval=always asks ({problem}; or set "
            "sandbox=off to accept running commands unconfined)",
        )
    return decision


async def _run_checkpointed(
    ctx: ToolContext, command: str, seconds: float, outside_sandbox: bool
) -> _Ran:
    """Run ``command`` (sandboxed unless the person said otherwise) between two snapshots."""
    settings = ctx.settings
    if outside_sandbox:
        settings = settings.model_copy(update={"sandbox": SandboxMode.OFF})
    async with ctx.command_lock:
        return await _run_between_snapshots(ctx, command, seconds, settings)


async def _run_between_snapshots(
    ctx: ToolContext, command: str, seconds: float, settings: Settings
) -> _Ran:
    notes: list[str] = []
    store = ctx.checkpoint_store()
    before: str | None = None
    try:
        before = await store.snapshot()
    except CheckpointError as exc:
        log.warning("no checkpoint before the command: %s", exc)
        notes.append(f"no checkpoint was taken ({exc}), so undo cannot restore what it changes")
    try:
        plan = sandboxed(command, ctx.root, settings)
    except SandboxUnavailable as exc:
        # The approval step already made a person (or the allowlist) decide for this case.
        _warn_unsandboxed(str(exc))
        notes.append(f"ran without a sandbox ({exc}); `ollama-agent-ls doctor` tells more")
        plan = sandboxed(
            command, ctx.root, settings.model_copy(update={"sandbox": SandboxMode.OFF})
        )
    watch = _WATCH.get()
    ticker = None
    output = _CappedOutput(OUTPUT_LIMIT)
    if watch is not None and watch.on_running is not None:
        ticker = asyncio.ensure_future(_report_running(command, watch.on_running, output))
    started = asyncio.get_running_loop().time()
    try:
        text, code, timed_out, run_notes = await _execute(plan, str(ctx.root), seconds, output)
    finally:
        duration_ms = int((asyncio.get_running_loop().time() - started) * 1000)
        if ticker is not None:
            ticker.cancel()
        plan.cleanup()
    if plan.sandboxed and code is not None and 128 < code < 128 + 65:
        # bubblewrap reports a child killed by signal N as exit code 128 + N.
        code = -(code - 128)
    notes = plan.notes + notes + run_notes
    if before is not None:
        try:
            changes = await store.changes(before, await store.snapshot(), settings.read_max_bytes)
        except CheckpointError as exc:
            log.warning("no checkpoint after the command: %s", exc)
            notes.append(f"what it changed was not recorded ({exc}); undo cannot restore it")
        else:
            ctx.record_command_changes(changes)
            if changes.skipped:
                notes.append(
                    "changed, and not restorable by undo (symlinks or submodules): "
                    + ", ".join(changes.skipped[:10])
                )
    return _Ran(text, code, timed_out, notes, duration_ms)


@functools.lru_cache(maxsize=4)
def _warn_unsandboxed(problem: str) -> None:
    log.warning("commands run without a sandbox: %s", problem)


async def _offer_outside_sandbox(ctx: ToolContext, command: str, blocked: str) -> bool:
    """Ask the person (never the policy) whether to run the command once outside the sandbox."""
    request = ApprovalRequest(
        command,
        ctx.root,
        f"the sandbox blocked {blocked}; run it again from the start, outside the sandbox, once?",
        destructive=True,
        outside_sandbox=True,
    )
    try:
        answer = await asyncio.wait_for(ctx.approver.ask(request), ctx.settings.approval_timeout)
    except asyncio.TimeoutError:
        return False
    return answer in (Approval.ALLOW, Approval.ALLOW_FOR_SESSION)


def _result_lines(
    command: str,
    text: str,
    code: int | None,
    timed_out: bool,
    notes: list[str],
    seconds: float,
    limit: float,
) -> tuple[list[str], int | None]:
    lines = [f"$ {command}"]
    text = text.rstrip("\n")
    if text:
        lines.append(text)
    if timed_out:
        code = None
        lines.append(f"[{_timeout_note(seconds, limit)}]")
    else:
        lines.append(_exit_line(code))
    lines.extend(f"[{note}]" for note in notes)
    return lines, code


async def run_command_result(
    ctx: ToolContext, command: str, timeout: float | None = None
) -> CommandResult:
    """Run a shell command in the workspace root if allowed; raises ToolError when it may not."""
    if not command.strip():
        raise ToolError(
            "run_command needs a command: pass the shell command line, "
            'e.g. {"command": "pytest -q"}.'
        )
    decision = await _decide(ctx, command)
    try:
        if decision.action == "deny":
            raise ToolError(f"{decision.reason}.")
        if decision.action == "ask":
            await _approve(ctx, command, decision.reason, decision.destructive)
    except ToolError:
        ctx.commands_not_run.append(command)
        raise
    lines: list[str] = []
    if ctx.before_command is not None:
        note = await ctx.before_command()
        if note:
            lines.append(f"[{note}]")
    seconds = effective_timeout(timeout, ctx.settings)
    log.info(
        "run_command in %s (timeout %g s, sandbox %s): %s",
        ctx.root,
        seconds,
        ctx.settings.sandbox.value,
        command,
    )
    limit = ctx.settings.command_timeout
    try:
        ran = await _run_checkpointed(ctx, command, seconds, False)
    except OSError as exc:
        raise ToolError(
            f"Could not start /bin/sh in {ctx.root}: {exc}. Check that the workspace folder "
            "exists and /bin/sh is installed."
        ) from exc
    log.info("run_command finished: exit code %s", ran.code)
    blocked = None if ran.timed_out else blocked_by_sandbox(ran.text, ran.code, ctx.settings)
    if blocked is not None:
        ran.notes.append(
            f"the sandbox blocked {blocked}. Commands may write only inside the workspace "
            "(not .git/) and $TMPDIR. Only the user can let this command run outside the "
            "sandbox; do not try to get around it"
        )
        if await _offer_outside_sandbox(ctx, command, blocked):
            first, _ = _result_lines(
                command, ran.text, ran.code, ran.timed_out, ran.notes, seconds, limit
            )
            lines += first
            lines.append("[the user let it run again outside the sandbox, once]")
            log.info("run_command outside the sandbox (the user allowed it): %s", command)
            ran = await _run_checkpointed(ctx, command, seconds, True)
    more, code = _result_lines(
        command, ran.text, ran.code, ran.timed_out, ran.notes, seconds, limit
    )
    lines += more
    result = CommandResult(
        "\n".join(lines), code, ran.duration_ms, output_tail(ran.text), ran.timed_out
    )
    watch = _WATCH.get()
    if watch is not None:
        watch.results.append(result)
    return result


async def run_command(ctx: ToolContext, command: str, timeout: float | None = None) -> str:
    """Run a shell command in the workspace root if allowed; output, exit code and notes."""
    return (await run_command_result(ctx, command, timeout)).text


# --- asking on the terminal ---------------------------------------------------------------------
