"""The transcript shows what happened: each edit's diff, each command's exit code, duration and
output tail, and a long command's "still running" reports, tied to its call by ``callId``; the
language server forwards all of it to the editors as it is."""

from __future__ import annotations

import asyncio
import difflib
import io
import re
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent import events
from ollama_agent_ls.agent.events import (
    DIFF_MAX_LINES,
    TRANSCRIPT_KINDS,
    AgentEvent,
    compact_diff,
)
from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.cli.terminal import TranscriptPrinter
from ollama_agent_ls.headless import DiskRun, build_disk_run, run_task
from ollama_agent_ls.lsp.transcript import TranscriptStream
from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools import shell
from ollama_agent_ls.tools.context import Approval, ApprovalRequest
from ollama_agent_ls.workspace.changes import FileChange
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="run_command uses /bin/sh")

APP = "".join(f"line {n}\n" for n in range(1, 11)).replace("line 5\n", "    return a - b\n")
FIXED = APP.replace("a - b", "a + b")
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
FIX_DIFF = (
    "--- a/app.py\n+++ b/app.py\n@@ -3,5 +3,5 @@\n line 3\n line 4\n"
    "-    return a - b\n+    return a + b\n line 6\n line 7\n"
)


class Recorder:
    """Collects events, and allows every command it is asked about."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)

    async def ask(self, request: ApprovalRequest) -> Approval:
        return Approval.ALLOW

    def kinds(self, kind: str) -> list[AgentEvent]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def make_run(client: OllamaClient, fake: FakeOllama, root: Path, rec: Recorder) -> DiskRun:
    # "ask" with an approver that allows: the path a person answering "yes" takes.
    s = Settings(ollama_url=fake.url, commandApproval="ask")
    return build_disk_run(client, s, root, rec, rec)


async def run(disk_run: DiskRun) -> RunResult:
    return await run_task(disk_run, AgentTask("fix add"))


def command_run(command: str) -> list[Reply]:
    return [Reply.calls(call("run_command", {"command": command})), Reply.say("Done.")]


# --- edits ---------------------------------------------------------------------------------------


async def test_an_edit_and_its_tool_result_carry_the_diff(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec))
    assert result.status is RunStatus.COMPLETED
    [edit] = rec.kinds("edit")
    assert edit.text == "modify app.py"
    assert edit.data["diff"] == FIX_DIFF
    assert edit.data["omittedLines"] == 0
    [tool_result] = rec.kinds("toolResult")
    assert tool_result.data["diff"] == FIX_DIFF
    assert tool_result.data["omittedLines"] == 0
    # What the model is told is not changed by what people are shown.
    tool_message = next(
        m for m in fake_ollama.chat_requests[1].body["messages"] if m["role"] == "tool"
    )
    assert "@@" not in tool_message["content"]


async def test_a_large_new_file_shows_its_start_and_counts_the_rest(
    client, fake_ollama, workspace
) -> None:
    content = "".join(f"row {n}\n" for n in range(100))
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "big.txt", "content": content})), Reply.say("ok")
    )
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    [edit] = rec.kinds("edit")
    lines = edit.data["diff"].splitlines()
    assert lines[:4] == ["--- /dev/null", "+++ b/big.txt", "@@ -0,0 +1,100 @@", "+row 0"]
    assert len(lines) == 2 + DIFF_MAX_LINES
    # The hunk header and 39 rows are shown; the other 61 rows are counted, not lost silently.
    assert edit.data["omittedLines"] == 101 - DIFF_MAX_LINES


async def test_a_failed_edit_has_no_diff(client, fake_ollama, workspace) -> None:
    wrong = call("edit_file", {"path": "app.py", "old_string": "a * b", "new_string": "a + b"})
    fake_ollama.enqueue(Reply.calls(wrong), Reply.say("gave up"))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    [tool_result] = rec.kinds("toolResult")
    assert tool_result.data["ok"] is False
    assert "diff" not in tool_result.data
    assert rec.kinds("edit") == []


# --- commands ------------------------------------------------------------------------------------


async def test_a_command_result_carries_exit_code_duration_and_tail(
    client, fake_ollama, workspace
) -> None:
    lines = "; ".join(f"echo out {n}" for n in range(30))
    fake_ollama.enqueue(*command_run(f"{lines}; exit 3"))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    [tool_call] = rec.kinds("toolCall")
    [tool_result] = rec.kinds("toolResult")
    data = tool_result.data
    assert data["callId"] == tool_call.data["callId"]
    assert data["exitCode"] == 3
    assert data["timedOut"] is False
    assert isinstance(data["durationMs"], int) and data["durationMs"] >= 0
    # The last lines only, capped: the end of a test run is where its verdict is.
    assert data["outputTail"] == "\n".join(f"out {n}" for n in range(10, 30))
    # The model still gets the whole output and the exit line, as before.
    tool_message = next(
        m for m in fake_ollama.chat_requests[1].body["messages"] if m["role"] == "tool"
    )
    assert tool_message["content"].startswith(f"$ {lines}; exit 3\nout 0\nout 1\n")
    assert tool_message["content"].endswith("out 29\n[exit code 3]")


async def test_a_command_that_changes_a_file_shows_the_diff(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(*command_run("sed -i 's/a - b/a + b/' app.py"))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    assert (workspace / "app.py").read_text() == FIXED
    [edit] = rec.kinds("edit")
    assert edit.data["diff"] == FIX_DIFF
    [tool_result] = rec.kinds("toolResult")
    assert tool_result.data["diff"] == FIX_DIFF
    assert tool_result.data["exitCode"] == 0


async def test_a_denied_command_reports_no_exit_code(client, fake_ollama, workspace) -> None:
    class Denier(Recorder):
        async def ask(self, request: ApprovalRequest) -> Approval:
            return Approval.DENY

    fake_ollama.enqueue(*command_run("touch ran"))
    rec = Denier()
    await run(make_run(client, fake_ollama, workspace, rec))
    [tool_result] = rec.kinds("toolResult")
    assert tool_result.data["ok"] is False
    assert "exitCode" not in tool_result.data
    assert rec.kinds("commandRunning") == []
    assert not (workspace / "ran").exists()


async def test_a_long_command_reports_it_is_running_until_it_ends(
    client, fake_ollama, workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reports come every 50 ms here instead of every second; the command itself runs until the
    # test creates the file it waits for, so no report can be missed or raced.
    monkeypatch.setattr(shell, "RUNNING_INTERVAL", 0.05)
    go = workspace / "go"
    command = "while [ ! -e go ]; do sleep 0.01; done; echo finished"
    fake_ollama.enqueue(*command_run(command))
    rec = Recorder()
    task = asyncio.ensure_future(run(make_run(client, fake_ollama, workspace, rec)))
    await wait_until(lambda: len(rec.kinds("commandRunning")) >= 3, what="running reports")
    assert rec.kinds("toolResult") == []  # still running
    go.touch()
    result = await asyncio.wait_for(task, 10)
    assert result.status is RunStatus.COMPLETED

    [tool_call] = rec.kinds("toolCall")
    [tool_result] = rec.kinds("toolResult")
    reports = rec.kinds("commandRunning")
    call_id = tool_call.data["callId"]
    assert {r.data["callId"] for r in reports} == {call_id}
    assert tool_result.data["callId"] == call_id
    assert all(r.data["command"] == command for r in reports)
    elapsed = [r.data["elapsedMs"] for r in reports]
    assert elapsed == sorted(elapsed) and len(set(elapsed)) == len(elapsed)
    # Every report came between the call and its result, and none after it.
    kinds = [e.kind for e in rec.events]
    first, last = kinds.index("toolCall"), kinds.index("toolResult")
    assert all(first < i < last for i, k in enumerate(kinds) if k == "commandRunning")
    assert tool_result.data["durationMs"] >= elapsed[-1]
    assert tool_result.data["outputTail"] == "finished"


async def test_a_quick_command_sends_no_running_report(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(*command_run("echo quick"))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    assert rec.kinds("commandRunning") == []
    assert rec.kinds("toolResult")[0].data["outputTail"] == "quick"


async def test_the_terminal_transcript_of_a_run(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(FIX),
        Reply.calls(call("run_command", {"command": "echo 1 passed; exit 0"})),
        Reply.say("Fixed."),
    )
    out = io.StringIO()
    printer = TranscriptPrinter(out, color=False)
    rec = Recorder()

    def both(event: AgentEvent) -> None:
        rec(event)
        printer(event)

    s = Settings(ollama_url=fake_ollama.url, commandApproval="ask")
    await run_task(build_disk_run(client, s, workspace, rec, both), AgentTask("fix add"))
    printer.close()
    text = out.getvalue()
    assert (
        "  ✎ modify app.py\n"
        "    @@ -3,5 +3,5 @@\n"
        "     line 3\n"
        "     line 4\n"
        "    -    return a - b\n"
        "    +    return a + b\n"
        "     line 6\n"
        "     line 7\n"
    ) in text
    assert "→ run_command echo 1 passed; exit 0\n  ✓ exit 0 · " in text
    assert " s\n    1 passed\n" in text


async def test_spec_verify_gets_the_timing_and_tail_too(workspace: Path) -> None:
    from ollama_agent_ls.tools.context import ToolContext
    from ollama_agent_ls.workspace.documents import DiskDocuments

    # tmp_path is already absolute and resolved (pytest resolves it).
    ctx = ToolContext(
        root=workspace,
        documents=DiskDocuments(workspace),
        sink=_NoSink(),
        settings=Settings.model_validate({"command_approval": "always"}),
    )
    result = await shell.run_command_result(ctx, "echo a; echo b; exit 1")
    assert (result.exit_code, result.output_tail, result.timed_out) == (1, "a\nb", False)
    assert result.duration_ms >= 0
    assert result.text == "$ echo a; echo b; exit 1\na\nb\n[exit code 1]"


class _NoSink:
    async def apply(self, change: FileChange) -> None:
        raise AssertionError("no change expected")


# --- the language server's transcript ----------------------------------------------------------


def test_the_new_kind_is_a_transcript_kind() -> None:
    assert "commandRunning" in TRANSCRIPT_KINDS
    assert "progress" not in TRANSCRIPT_KINDS


async def test_notifications_carry_the_new_fields_as_they_are() -> None:
    sent: list[dict[str, Any]] = []
    stream = TranscriptStream("run-1", sent.append)
    events = [
        AgentEvent("toolCall", "run_command pytest", {"callId": "c1", "name": "run_command"}),
        AgentEvent(
            "commandRunning", "pytest", {"callId": "c1", "command": "pytest", "elapsedMs": 1000}
        ),
        AgentEvent(
            "commandRunning", "pytest", {"callId": "c1", "command": "pytest", "elapsedMs": 2000}
        ),
        AgentEvent(
            "toolResult",
            "$ pytest",
            {
                "callId": "c1",
                "ok": True,
                "exitCode": 1,
                "durationMs": 2345,
                "outputTail": "1 failed",
                "timedOut": False,
            },
        ),
        AgentEvent(
            "edit", "modify app.py", {"path": "app.py", "diff": FIX_DIFF, "omittedLines": 0}
        ),
        AgentEvent("finished", "done"),
    ]
    for event in events:
        stream.add(event)
    stream.close()
    assert sent == [{"runId": "run-1", "kind": e.kind, "text": e.text, **e.data} for e in events]


# --- the diff itself -----------------------------------------------------------------------------

TEXT = st.lists(st.sampled_from(["a", "b", "c", "", "d d"]), max_size=30).map("\n".join)
ENDING = st.sampled_from(["", "\n"])


HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$")


def diff_lines(text: str) -> list[str]:
    """Lines as in a diff: a missing final newline is git's marker line."""
    if not text:
        return []
    split = text.split("\n")
    return split[:-1] if split[-1] == "" else [*split, "\\ No newline at end of file"]


def apply_hunks(old: list[str], body: list[str]) -> list[str]:
    """``old`` patched with the hunks in ``body``; fails when a hunk does not fit ``old``."""
    new: list[str] = []
    at = 0
    i = 0
    while i < len(body):
        m = HUNK.match(body[i])
        assert m, body[i]
        start, length = int(m[1]), int(m[2] if m[2] is not None else 1)
        begin = start if length == 0 else start - 1
        assert begin >= at
        new += old[at:begin]
        at = begin
        i += 1
        seen_old = seen_new = 0
        while i < len(body) and not body[i].startswith("@@"):
            sign, line = body[i][0], body[i][1:]
            if sign in " -":
                assert old[at] == line
                at += 1
                seen_old += 1
            if sign in " +":
                new.append(line)
                seen_new += 1
            i += 1
        assert seen_old == length
        assert seen_new == int(m[4] if m[4] is not None else 1)
    return new + old[at:]


@settings(deadline=None)
@given(TEXT, ENDING, TEXT, ENDING)
def test_the_compact_diff_turns_the_old_text_into_the_new(
    before: str, end_before: str, after: str, end_after: str
) -> None:
    old, new = before + end_before, after + end_after
    # Both ways of working it out: difflib's matching, and the linear one for huge changes.
    for match_limit in (events.DIFF_MATCH_MAX_LINES, 0):
        with mock.patch.object(events, "DIFF_MATCH_MAX_LINES", match_limit):
            got = compact_diff([FileChange(Path("/w/f"), "f", old, new)], max_lines=10_000)
        if old == new:
            assert got.text == ""
            continue
        lines = got.text.splitlines()
        assert lines[:2] == ["--- a/f", "+++ b/f"]
        assert apply_hunks(diff_lines(old), lines[2:]) == diff_lines(new)
        assert got.omitted_lines == 0
        # A few lines of context, not the file: no run of unchanged lines longer than 2 + 2.
        unchanged = "".join("c" if line.startswith(" ") else "x" for line in lines[2:])
        assert "c" * 5 not in unchanged


def test_the_compact_diff_numbers_hunks_as_in_the_whole_file() -> None:
    old = "".join(f"{n}\n" for n in range(1, 21))
    new = old.replace("15\n", "fifteen\n")
    got = compact_diff([FileChange(Path("/w/f"), "f", old, new)])
    assert got.text == "--- a/f\n+++ b/f\n@@ -13,5 +13,5 @@\n 13\n 14\n-15\n+fifteen\n 16\n 17\n"
    reference = difflib.unified_diff(diff_lines(old), diff_lines(new), "a/f", "b/f", n=2)
    assert got.text == "\n".join(line.rstrip("\n") for line in reference) + "\n"


@settings(deadline=None)
@given(TEXT, TEXT, st.integers(0, 12))
def test_a_capped_diff_keeps_its_start_and_counts_the_rest(
    before: str, after: str, cap: int
) -> None:
    change = FileChange(Path("/w/f"), "f", before + "\n", after + "\n")
    whole = compact_diff([change], max_lines=10_000).text.splitlines()
    capped = compact_diff([change], max_lines=cap)
    if not whole:
        assert capped.text == "" and capped.omitted_lines == 0
        return
    kept = capped.text.splitlines()
    assert kept == whole[: 2 + cap]
    assert len(kept) - 2 + capped.omitted_lines == len(whole) - 2


def test_a_diff_of_several_files_names_each() -> None:
    changes = [
        FileChange(Path("/w/a"), "a", "x\n", "y\n"),
        FileChange(Path("/w/b"), "b", None, "new\n"),
        FileChange(Path("/w/c"), "c", "gone\n", None),
    ]
    assert compact_diff(changes).text == (
        "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-x\n+y\n"
        "--- /dev/null\n+++ b/b\n@@ -0,0 +1 @@\n+new\n"
        "--- a/c\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n"
    )


def test_a_very_long_line_is_cut_in_the_diff() -> None:
    change = FileChange(Path("/w/m.js"), "m.js", "x\n", "y" * 5000 + "\n")
    line = compact_diff([change]).text.splitlines()[-1]
    assert line.startswith("+yyy") and line.endswith("…") and len(line) <= 200
