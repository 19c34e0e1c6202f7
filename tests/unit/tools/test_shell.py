"""run_command runs real processes: output and exit code come back, timeouts and cancelled runs
leave nothing running, output is capped, and nothing runs without the approval it needs."""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_agent_ls.cli.approver import TerminalApprover
from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.tools.context import Approval, ApprovalRequest, ToolContext, ToolError
from ollama_agent_ls.tools.shell import (
    OUTPUT_LIMIT,
    _CappedOutput,
    effective_timeout,
    run_command,
    run_command_result,
)
from ollama_agent_ls.workspace.changes import FileChange
from ollama_agent_ls.workspace.documents import DiskDocuments

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="run_command uses /bin/sh")


class NullSink:
    async def apply(self, change: FileChange) -> None:
        raise AssertionError("run_command must not apply changes")


class ScriptedApprover:
    """Answers from a script and records what it was asked."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> Approval:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"asked unexpectedly about {request.command!r}")
        return self.answers.pop(0)


def make_ctx(
    root: Path,
    policy: CommandApproval = CommandApproval.ALWAYS,
    approver: ScriptedApprover | None = None,
    before: Callable[[], Awaitable[str | None]] | None = None,
    **settings: object,
) -> ToolContext:
    ctx = ToolContext(
        root=root.resolve(),
        documents=DiskDocuments(root.resolve()),
        sink=NullSink(),
        settings=Settings.model_validate({"command_approval": policy, **settings}),
        before_command=before,
    )
    if approver is not None:
        ctx.approver = approver
    return ctx


def running(pid: int) -> bool:
    """Whether ``pid`` still runs; an unreaped zombie has already exited."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    # Orphans go to PID 1, which in containers often never reaps them.
    return state not in ("Z", "X")


async def gone(pid: int, within: float = 10.0) -> bool:
    """Poll until ``pid`` stopped running, at most ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if not running(pid):
            return True
        await asyncio.sleep(0.02)
    return not running(pid)


def read_pid(path: Path) -> int | None:
    text = path.read_text() if path.exists() else ""
    return int(text) if text.endswith("\n") else None


async def pid_from(path: Path, within: float = 10.0) -> int:
    """The pid a command wrote to ``path``, polling until it is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        pid = read_pid(path)
        if pid is not None:
            return pid
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was not written")


# A shell that starts a grandchild sleep and waits for it. The sleep is found by its unusual
# argument in the host's /proc: inside the sandbox's pid namespace `$!` is another number.
SLEEP_TOKEN = "60.0713"
SPAWN_GRANDCHILD = f"sh -c 'sleep {SLEEP_TOKEN} & wait'"
MODES = pytest.mark.parametrize("sandbox", ["off", "workspace-write"])


def sleeping_pids() -> list[int]:
    """Host pids of running ``sleep SLEEP_TOKEN`` processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", SLEEP_TOKEN.encode()] and running(int(entry.name)):
            found.append(int(entry.name))
    return found


async def grandchild(within: float = 10.0) -> int:
    """The host pid of the grandchild sleep, polling until it runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        pids = sleeping_pids()
        if pids:
            return pids[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no `sleep {SLEEP_TOKEN}` process started")


async def test_output_and_exit_code_are_reported(tmp_path: Path) -> None:
    result = await run_command(make_ctx(tmp_path), "echo hello; exit 3")
    assert result == "$ echo hello; exit 3\nhello\n[exit code 3]"


async def test_result_carries_the_exit_code_even_when_the_output_mimics_one(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path)
    result = await run_command_result(ctx, "echo '[exit code 0]'; exit 4")
    assert result.exit_code == 4
    assert result.text == await run_command(ctx, "echo '[exit code 0]'; exit 4")
    assert (await run_command_result(ctx, "true")).exit_code == 0


async def test_result_of_a_timed_out_command_has_no_exit_code(tmp_path: Path) -> None:
    result = await run_command_result(make_ctx(tmp_path), "echo '[exit code 0]'; sleep 30", 0.5)
    assert result.exit_code is None
    assert "[timed out after 0.5 s" in result.text


async def test_stderr_is_merged_in_order(tmp_path: Path) -> None:
    result = await run_command(make_ctx(tmp_path), "echo one; echo two >&2; echo three")
    assert "one\ntwo\nthree" in result


async def test_runs_in_the_workspace_root(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here")
    ctx = make_ctx(tmp_path)
    result = await run_command(ctx, "pwd; cat marker.txt")
    assert f"{ctx.root}\nhere" in result


async def test_stdin_is_empty_so_reading_it_returns_at_once(tmp_path: Path) -> None:
    result = await run_command(make_ctx(tmp_path), "cat; echo after-cat", timeout=30)
    assert "after-cat" in result
    assert "[exit code 0]" in result


async def test_no_terminal_and_no_pager(tmp_path: Path) -> None:
    command = '(: < /dev/tty) 2>/dev/null && echo has-tty || echo no-tty; echo "pager=$GIT_PAGER"'
    result = await run_command(make_ctx(tmp_path), command)
    assert "no-tty" in result
    assert "pager=cat" in result


@MODES
async def test_signal_exit_is_named(tmp_path: Path, sandbox: str) -> None:
    result = await run_command(make_ctx(tmp_path, sandbox=sandbox), "kill -9 $$")
    assert result.endswith("[exit code -9 (killed by SIGKILL)]")


@MODES
async def test_timeout_kills_the_whole_process_group(tmp_path: Path, sandbox: str) -> None:
    task = asyncio.create_task(
        run_command(make_ctx(tmp_path, sandbox=sandbox), SPAWN_GRANDCHILD, timeout=3)
    )
    pid = await grandchild()
    result = await task
    assert "[timed out after 3 s" in result
    assert "[exit code" not in result
    assert await gone(pid)


async def test_timeout_is_capped_by_the_setting(tmp_path: Path) -> None:
    settings = Settings(command_timeout=30)
    assert effective_timeout(None, settings) == 30
    assert effective_timeout(5, settings) == 5
    assert effective_timeout(600, settings) == 30
    ctx = make_ctx(tmp_path, command_timeout=0.5)
    result = await run_command(ctx, "sleep 30", timeout=600)
    assert "[timed out after 0.5 s" in result
    assert "commandTimeout=0.5 s is the limit" in result


@MODES
async def test_cancelling_the_run_kills_the_whole_process_group(
    tmp_path: Path, sandbox: str
) -> None:
    task = asyncio.create_task(run_command(make_ctx(tmp_path, sandbox=sandbox), SPAWN_GRANDCHILD))
    pid = await grandchild()
    assert running(pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(pid)


async def test_background_process_holding_the_output_is_stopped(tmp_path: Path) -> None:
    result = await run_command(
        make_ctx(tmp_path, sandbox="off"), "sleep 60 & echo $! > grandchild.pid; echo started"
    )
    assert "started" in result
    assert "[exit code 0]" in result
    assert "background processes" in result
    assert await gone(await pid_from(tmp_path / "grandchild.pid"))


async def test_a_sandboxed_command_leaves_no_background_process(tmp_path: Path) -> None:
    # The sandbox's pid namespace ends with its shell: nothing it started outlives it.
    result = await run_command(
        make_ctx(tmp_path), f"(sleep {SLEEP_TOKEN} > /dev/null 2>&1 &); echo started"
    )
    assert "started" in result
    assert "[exit code 0]" in result
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        if not sleeping_pids():
            break
        await asyncio.sleep(0.02)
    assert sleeping_pids() == []


async def test_long_output_keeps_head_and_tail(tmp_path: Path) -> None:
    result = await run_command(make_ctx(tmp_path), "seq 1 50000")
    assert len(result.encode()) < OUTPUT_LIMIT + 200
    body = result.split("\n", 1)[1].rsplit("\n", 1)[0]
    head, note, tail = re.split(r"\n(\[\.\.\. [\d,]+ bytes cut \.\.\.\])\n", body)
    head_lines, tail_lines = head.split("\n"), tail.split("\n")
    assert head_lines == [str(i) for i in range(1, len(head_lines) + 1)]
    assert tail_lines == [str(i) for i in range(50001 - len(tail_lines), 50001)]
    total = sum(len(f"{i}\n") for i in range(1, 50001))
    cut = int(re.sub(r"\D", "", note))
    assert len(head) + 1 + cut + len(tail) + 1 == total
    assert result.endswith("[exit code 0]")


async def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    result = await run_command(make_ctx(tmp_path), r"printf 'ok \377\376 done\n'")
    assert "ok \ufffd\ufffd done" in result


CHUNKS = st.lists(st.binary(max_size=50), max_size=30)


@given(CHUNKS, st.integers(min_value=0, max_value=400), st.integers(min_value=4, max_value=120))
def test_capped_output_does_not_depend_on_how_output_arrives(
    chunks: list[bytes], split: int, limit: int
) -> None:
    data = b"".join(chunks)
    whole, pieces = _CappedOutput(limit), _CappedOutput(limit)
    whole.feed(data)
    for start in range(0, len(data), max(1, split)):
        pieces.feed(data[start : start + max(1, split)])
    assert whole.text() == pieces.text()
    if len(data) <= limit:
        assert whole.text() == data.decode("utf-8", errors="replace")
    else:
        assert "bytes cut" in whole.text()


# --- approval ----------------------------------------------------------------------------------


async def test_denied_command_does_not_run(tmp_path: Path) -> None:
    approver = ScriptedApprover(Approval.DENY)
    ctx = make_ctx(tmp_path, CommandApproval.ASK, approver)
    with pytest.raises(ToolError, match=r"denied.*Do not retry the same command"):
        await run_command(ctx, "touch marker")
    assert not (tmp_path / "marker").exists()
    assert approver.requests == [
        ApprovalRequest("touch marker", ctx.root, approver.requests[0].reason, destructive=False)
    ]


async def test_allowed_command_runs(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, CommandApproval.ASK, ScriptedApprover(Approval.ALLOW))
    await run_command(ctx, "touch marker")
    assert (tmp_path / "marker").exists()
    assert ctx.allowed_for_session == set()


async def test_allow_for_the_session_is_remembered(tmp_path: Path) -> None:
    approver = ScriptedApprover(Approval.ALLOW_FOR_SESSION)
    ctx = make_ctx(tmp_path, CommandApproval.ASK, approver)
    assert "one" in await run_command(ctx, "echo one >> log.txt; cat log.txt")
    assert "one\none" in await run_command(ctx, "echo  one >> log.txt;  cat log.txt")
    assert len(approver.requests) == 1


async def test_destructive_command_asks_even_under_always(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    approver = ScriptedApprover(Approval.DENY)
    ctx = make_ctx(tmp_path, CommandApproval.ALWAYS, approver)
    with pytest.raises(ToolError, match="denied"):
        await run_command(ctx, "ls && rm -rf build")
    assert (tmp_path / "build").is_dir()
    [request] = approver.requests
    assert request.destructive
    assert "recursive rm (rm -rf build)" in request.reason


async def test_never_refuses_without_asking(tmp_path: Path) -> None:
    approver = ScriptedApprover()
    ctx = make_ctx(tmp_path, CommandApproval.NEVER, approver)
    with pytest.raises(ToolError, match="commandApproval=never; ask the user to run it"):
        await run_command(ctx, "touch marker")
    assert not (tmp_path / "marker").exists()
    assert approver.requests == []


async def test_allowlist_runs_listed_commands_without_asking(tmp_path: Path) -> None:
    approver = ScriptedApprover(Approval.DENY)
    ctx = make_ctx(tmp_path, CommandApproval.ALLOWLIST, approver, allowed_commands=["touch marker"])
    await run_command(ctx, "touch marker")
    assert (tmp_path / "marker").exists()
    with pytest.raises(ToolError, match="denied"):
        await run_command(ctx, "touch marker && touch other")
    assert not (tmp_path / "other").exists()
    assert "not in allowedCommands: touch other" in approver.requests[0].reason


async def test_unanswered_approval_denies(tmp_path: Path) -> None:
    class Silent:
        async def ask(self, request: ApprovalRequest) -> Approval:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    ctx = make_ctx(tmp_path, CommandApproval.ASK, approval_timeout=0.05)
    ctx.approver = Silent()
    with pytest.raises(ToolError, match="Nobody answered"):
        await run_command(ctx, "touch marker")
    assert not (tmp_path / "marker").exists()


async def test_before_command_runs_first_and_its_note_is_shown(tmp_path: Path) -> None:
    async def save_buffers() -> str:
        (tmp_path / "saved.txt").write_text("saved")
        return "saved 1 unsaved file"

    ctx = make_ctx(tmp_path, before=save_buffers)
    result = await run_command(ctx, "cat saved.txt")
    assert result.startswith("[saved 1 unsaved file]\n$ cat saved.txt\nsaved")


async def test_empty_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="needs a command"):
        await run_command(make_ctx(tmp_path), "   ")


# --- the terminal approver ----------------------------------------------------------------------

REQUEST = ApprovalRequest("make test", Path("/work/proj"), "commandApproval=ask", False)


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("y\n", Approval.ALLOW),
        ("YES\n", Approval.ALLOW),
        ("a\n", Approval.ALLOW_FOR_SESSION),
        ("allow\n", Approval.ALLOW_FOR_SESSION),
        ("n\n", Approval.DENY),
        ("\n", Approval.DENY),
        ("maybe\n", Approval.DENY),
        ("", Approval.DENY),
    ],
)
async def test_terminal_approver_reads_the_answer(typed: str, answer: Approval) -> None:
    out = io.StringIO()
    approver = TerminalApprover(input=io.StringIO(typed), output=out)
    assert await approver.ask(REQUEST) == answer
    prompt = out.getvalue()
    assert "Run this command in /work/proj?" in prompt
    assert "make test" in prompt
    assert "[commandApproval=ask]" in prompt
    assert "[y]es / [a]llow for this session / [N]o" in prompt


async def test_the_terminal_remembers_a_session_allowance_across_runs(tmp_path: Path) -> None:
    out = io.StringIO()
    approver = TerminalApprover(input=io.StringIO("a\n"), output=out)
    # Two runs of one session (a spec's rounds): each has its own ToolContext.
    first, second = (make_ctx(tmp_path, CommandApproval.ASK) for _ in range(2))
    first.approver = second.approver = approver
    await run_command(first, "touch one")
    await run_command(second, "touch  one")
    assert out.getvalue().count("Run this command in") == 1
    assert "`touch  one` runs: you allowed it for this session" in out.getvalue()
    # A destructive command asks again whatever was allowed (here: nobody answers, so no).
    (tmp_path / "d").mkdir()
    with pytest.raises(ToolError, match="denied"):
        await run_command(second, "rm -rf d")
    assert out.getvalue().count("Run this command in") == 2
    assert (tmp_path / "d").is_dir()


async def test_terminal_approver_marks_destructive_commands() -> None:
    out = io.StringIO()
    request = ApprovalRequest("rm -rf build", Path("/p"), "recursive rm (rm -rf build)", True)
    await TerminalApprover(input=io.StringIO("n\n"), output=out).ask(request)
    assert "DESTRUCTIVE - recursive rm (rm -rf build)" in out.getvalue()


async def test_terminal_approver_without_a_terminal_denies(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "plain-file"
    not_a_tty.write_text("y\n")
    for path in (tmp_path / "missing-tty", not_a_tty):
        out = io.StringIO()
        approver = TerminalApprover(output=out, tty_path=str(path))
        assert await approver.ask(REQUEST) == Approval.DENY
        assert "No terminal" in out.getvalue()
        assert "commandApproval" in out.getvalue()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
async def test_terminal_approver_reads_a_real_terminal_and_a_cancelled_question_ends() -> None:
    master, slave = os.openpty()
    try:
        approver = TerminalApprover(output=io.StringIO(), tty_path=os.ttyname(slave))
        os.write(master, b"y\n")
        assert await approver.ask(REQUEST) == Approval.ALLOW

        out = io.StringIO()
        approver = TerminalApprover(output=out, tty_path=os.ttyname(slave))
        pending = asyncio.create_task(approver.ask(REQUEST))
        for _ in range(10_000):  # until it waits for the answer (the prompt comes just before)
            if "[N]o" in out.getvalue():
                break
            await asyncio.sleep(0)
        assert "[N]o" in out.getvalue()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        # The cancelled question must not swallow the answer to the next one.
        os.write(master, b"a\n")
        assert await approver.ask(REQUEST) == Approval.ALLOW_FOR_SESSION
    finally:
        os.close(master)
        os.close(slave)


async def test_an_mcp_tool_call_is_asked_as_a_tool_not_a_command() -> None:
    out = io.StringIO()
    request = ApprovalRequest(
        'echo__echo {"text": "hi"}', Path("/work/proj"), "MCP tool 'echo'", kind="tool"
    )
    answer = await TerminalApprover(input=io.StringIO("y\n"), output=out).ask(request)
    assert answer is Approval.ALLOW
    prompt = out.getvalue()
    assert "Call this MCP tool?" in prompt and "Run this command" not in prompt
