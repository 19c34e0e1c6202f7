"""The agent loop against the fake Ollama over real loopback HTTP, one test per stream variant."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from ollama_agent_ls.agent.context_budget import ContextBudget
from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.agent.prefix import prefix_share
from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.headless import DiskRun, build_disk_run, run_task
from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.ollama.models import (
    ChatDone,
    ChatMetrics,
    ContentDelta,
    Message,
    ModelInfo,
    ThinkingDelta,
)
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.context import Approval, ApprovalRequest
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.unit.agent.conftest import APP
from tests.waiting import wait_until

FIXED = "def add(a, b):\n    return a + b\n"


class Recorder:
    """Collects events and answers approvals with a fixed decision."""

    def __init__(self, decision: Approval = Approval.DENY) -> None:
        self.events: list[AgentEvent] = []
        self.decision = decision
        self.asked: list[ApprovalRequest] = []

    def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)

    async def ask(self, request: ApprovalRequest) -> Approval:
        self.asked.append(request)
        return self.decision

    def kinds(self, kind: str) -> list[AgentEvent]:
        return [e for e in self.events if e.kind == kind]


def make_run(
    client: OllamaClient,
    fake: FakeOllama,
    root: Path,
    recorder: Recorder,
    dry_run: bool = False,
    **settings: Any,
) -> DiskRun:
    s = Settings(ollama_url=fake.url, **settings)
    return build_disk_run(client, s, root, recorder, recorder, dry_run=dry_run)


async def run(run: DiskRun, instruction: str = "fix add") -> RunResult:
    return await run_task(run, AgentTask(instruction))


FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


def _reads_of_a_big_file(workspace: Path, count: int) -> list[dict[str, Any]]:
    """``count`` reads of ever longer ranges of a 400-line big.txt: enough to fill a budget."""
    (workspace / "big.txt").write_text("".join(f"line {n}: some words here\n" for n in range(400)))
    return [
        call("read_file", {"path": "big.txt", "start_line": 1, "end_line": n})
        for n in range(100, 100 + count)
    ]


async def test_edit_then_answer_changes_the_file(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed ", "the sign."))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec))
    assert result.status is RunStatus.COMPLETED
    assert result.summary == "Fixed the sign."
    assert (workspace / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert result.changed_files == ["app.py"]
    assert result.turns == 2
    assert [e.text for e in rec.kinds("edit")] == ["modify app.py"]


async def test_request_carries_num_ctx_tool_name_and_object_arguments(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("ok"))
    await run(make_run(client, fake_ollama, workspace, Recorder(), maxNumCtx=16384))
    second = fake_ollama.chat_requests[1].body
    assert second["options"]["num_ctx"] == 16384  # min(trained 40960, maxNumCtx)
    assistant = second["messages"][2]
    assert isinstance(assistant["tool_calls"][0]["function"]["arguments"], dict)
    tool = second["messages"][3]
    assert tool["role"] == "tool"
    assert tool["tool_name"] == "edit_file"
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "Edited" in tool["content"] or "app.py" in tool["content"]


async def test_follow_up_continues_the_conversation_until_messages_are_cleared(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("ok"), Reply.say("tests pass"), "fresh")
    disk = make_run(client, fake_ollama, workspace, Recorder(), maxNumCtx=16384)
    await run(disk)
    await disk.agent.run(AgentTask("the tests fail; fix them"), follow_up=True)
    follow = fake_ollama.chat_requests[2].body
    assert [m["role"] for m in follow["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert follow["messages"][-1]["content"] == "the tests fail; fix them"
    assert follow["options"]["num_ctx"] == 16384
    assert follow["tools"] == fake_ollama.chat_requests[0].body["tools"]
    # The language server clears messages after a run: a follow-up then starts afresh.
    disk.agent.messages = []
    await disk.agent.run(AgentTask("start over"), follow_up=True)
    fresh = fake_ollama.chat_requests[3].body["messages"]
    assert [m["role"] for m in fresh] == ["system", "user"]
    assert "start over" in fresh[1]["content"]


async def test_a_compaction_keeps_the_follow_up_being_worked_on(
    client, fake_ollama, workspace
) -> None:
    reads = _reads_of_a_big_file(workspace, 16)
    fake_ollama.enqueue(Reply.say("Nothing to do yet."), *(Reply.calls(r) for r in reads), "done")
    disk = make_run(client, fake_ollama, workspace, Recorder(), numCtx=6000)
    await run(disk, "look around")
    follow_up = "now count the lines of big.txt that mention words " + "(exactly) " * 30
    result = await disk.agent.run(AgentTask(follow_up), follow_up=True)
    assert result.status is RunStatus.COMPLETED
    last = fake_ollama.chat_requests[-1].body["messages"]
    notes = [m for m in last if m["content"].startswith("[Earlier steps of this run")]
    assert len(notes) == 1
    # The follow-up stays whole, right after the note of the steps folded around it.
    assert last[last.index(notes[0]) + 1] == {"role": "user", "content": follow_up}


async def test_calls_in_the_done_line_are_run(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(FIX, in_done=True), Reply.say("done"))
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert "a + b" in (workspace / "app.py").read_text()
    assert result.status is RunStatus.COMPLETED


async def test_two_calls_in_one_chunk_without_ids_both_run(client, fake_ollama, workspace) -> None:
    (workspace / "b.py").write_text("x = 1\n")
    args = {"path": "b.py", "old_string": "x = 1", "new_string": "x = 2"}
    second = call("edit_file", args, id=None, index=0)
    first = call("edit_file", dict(FIX["arguments"]), id=None, index=0)
    fake_ollama.enqueue(Reply.calls(first, second), Reply.say("both"))
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert "a + b" in (workspace / "app.py").read_text()
    assert (workspace / "b.py").read_text() == "x = 2\n"
    assert result.changed_files == ["app.py", "b.py"]


async def test_thinking_is_reported_but_never_written(client, fake_ollama, workspace) -> None:
    reply = Reply().thinking("The sign ", "is wrong.").tool_calls(FIX).done()
    fake_ollama.enqueue(reply, Reply.say("ok"))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    assert "".join(e.text for e in rec.kinds("thinking")) == "The sign is wrong."
    assert "sign" not in (workspace / "app.py").read_text()
    assistant = fake_ollama.chat_requests[1].body["messages"][2]
    assert assistant["thinking"] == "The sign is wrong."


@pytest.mark.parametrize("style", ["tag", "fence", "bare"])
async def test_text_tool_calls_are_run(client, fake_ollama, workspace, style) -> None:
    fake_ollama.enqueue(
        Reply.text_tool_call("edit_file", FIX["arguments"], style=style), Reply.say("ok")
    )
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec))
    assert "a + b" in (workspace / "app.py").read_text()
    assert result.status is RunStatus.COMPLETED
    assert any("fallback" in e.text for e in rec.kinds("warning"))


async def test_unknown_tool_in_a_text_call_is_told_to_the_model_and_never_run(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.text_tool_call("format_disk", {"path": "/"}), Reply.say("sorry"))
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert result.status is RunStatus.COMPLETED
    assert result.turns == 2
    assert (workspace / "app.py").read_text() == APP
    told = fake_ollama.chat_requests[1].body["messages"]
    assert any("format_disk" in m["content"] and m["role"] == "user" for m in told[2:])


async def test_bad_arguments_go_back_to_the_model_and_the_loop_goes_on(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("edit_file", {"path": "app.py"})),
        Reply.calls(call("no_such_tool", {})),
        Reply.calls(call("edit_file", {"path": "app.py", "old_string": "zzz", "new_string": "y"})),
        Reply.say("gave up"),
    )
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert result.status is RunStatus.COMPLETED
    results = [m for m in fake_ollama.chat_requests[3].body["messages"] if m["role"] == "tool"]
    assert "missing argument 'old_string'" in results[0]["content"]
    assert "Unknown tool 'no_such_tool'" in results[1]["content"]
    assert "read_file" in results[2]["content"]  # a miss tells the model to re-read


async def test_same_call_three_times_stops(client, fake_ollama, workspace) -> None:
    read = call("read_file", {"path": "app.py"})
    fake_ollama.enqueue(Reply.calls(read), Reply.calls(read), Reply.calls(read), Reply.say("x"))
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert result.status is RunStatus.FAILED
    assert "same call 3 times" in result.summary
    assert len(fake_ollama.chat_requests) == 3


async def test_max_turns(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply.calls(call("list_files", {})),
    )
    result = await run(make_run(client, fake_ollama, workspace, Recorder(), maxTurns=2))
    assert result.status is RunStatus.MAX_TURNS
    assert result.turns == 2


async def test_error_line_mid_stream_fails_the_run(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply().content("Let me").error_line("failed to parse tool call XML"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec))
    assert result.status is RunStatus.FAILED
    assert "failed to parse tool call XML" in result.summary
    assert rec.kinds("error")


async def test_dropped_connection_fails_the_run(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply().content("Let me").drop())
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert result.status is RunStatus.FAILED
    assert "closed in the middle of a reply" in result.summary


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (Reply.http_error(500, "model runner has unexpectedly stopped"), "unexpectedly stopped"),
        (Reply.plain_error(404), "404 page not found"),
        (Reply.http_error(503, "server busy"), "busy"),
    ],
)
async def test_http_errors_fail_with_the_message(client, fake_ollama, workspace, reply, needle):
    fake_ollama.enqueue(reply)
    result = await run(make_run(client, fake_ollama, workspace, Recorder()))
    assert result.status is RunStatus.FAILED
    assert needle in result.summary


async def test_unknown_model_is_a_setup_problem(client, fake_ollama, workspace) -> None:
    result = await run(make_run(client, fake_ollama, workspace, Recorder(), model="nope:1b"))
    assert result.status is RunStatus.FAILED
    assert result.setup_problem
    assert "ollama pull nope:1b" in result.summary


async def test_ollama_down_names_the_url(workspace) -> None:
    settings = Settings(ollama_url="http://127.0.0.1:9")
    async with OllamaClient(settings) as c:
        rec = Recorder()
        result = await run_task(build_disk_run(c, settings, workspace, rec, rec), AgentTask("x"))
    assert result.setup_problem
    assert "http://127.0.0.1:9" in result.summary
    assert "ollama serve" in result.summary


async def test_model_without_tools_gets_text_tools(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.text_tool_call("edit_file", FIX["arguments"]), Reply.say("ok"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, model="gemma3:4b"))
    assert result.status is RunStatus.COMPLETED
    assert "a + b" in (workspace / "app.py").read_text()
    first = fake_ollama.chat_requests[0].body
    assert "tools" not in first  # real Ollama answers 400 to tools for this model
    assert "<tool_call>" in first["messages"][0]["content"]
    assert any("no tools capability" in e.text for e in rec.kinds("warning"))


async def test_low_prompt_eval_count_warns_of_truncation(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.say("ok", prompt_eval_count=12))
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    assert any("prompt was probably cut" in e.text for e in rec.kinds("warning"))


async def test_large_results_are_capped_on_arrival_and_never_changed_later(
    client, fake_ollama, workspace
) -> None:
    (workspace / "big.txt").write_text("".join(f"line {n}: some words here\n" for n in range(400)))
    reads = [
        call("read_file", {"path": "big.txt", "start_line": 1, "end_line": n})
        for n in (300, 301, 302)
    ]
    fake_ollama.enqueue(*(Reply.calls(r) for r in reads), Reply.say("done"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, numCtx=6000))
    assert result.status is RunStatus.COMPLETED
    requests = [r.body["messages"] for r in fake_ollama.chat_requests]
    last = requests[-1]
    tool_contents = [m["content"] for m in last if m["role"] == "tool"]
    assert all("left out here" in c for c in tool_contents)  # each cut once, as it came
    assert sum(len(m["content"]) for m in last) < 6000 * 3
    # Every request extends the one before it: the server's cached prefix stays valid.
    for earlier, later in itertools.pairwise(requests):
        assert later[: len(earlier)] == earlier


async def test_at_4k_a_result_keeps_an_eighth_of_the_room_the_prefix_leaves(
    client, fake_ollama, workspace
) -> None:
    # At 4k the system prompt, tools and task take a third of the budget: a cap of a share of
    # the whole budget let a compaction come every five turns of large reads.
    (workspace / "big.txt").write_text("".join(f"line {n}: some words here\n" for n in range(900)))
    read = call("read_file", {"path": "big.txt"})
    # No prompt count: the budget keeps its 3 characters a token, as the cap below assumes.
    fake_ollama.enqueue(Reply().tool_calls(read).done(prompt_eval_count=0), Reply.say("done"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, numCtx=4096))
    assert result.status is RunStatus.COMPLETED
    first, last = (r.body for r in fake_ollama.chat_requests)
    budget = ContextBudget(4096)
    budget.set_tools(first["tools"])
    cap = budget.result_cap([Message(m["role"], m["content"]) for m in first["messages"]])
    assert 700 < cap < 1000  # a tenth of the budget would have been 921, under a floor of 1000
    [shown] = [m["content"] for m in last["messages"] if m["role"] == "tool"]
    assert "left out here" in shown
    # The cap holds the note too, and what the note does not take goes to the file's text.
    assert cap - 100 < len(shown) <= cap


async def test_old_results_are_elided_in_one_step_when_the_budget_is_full(
    client, fake_ollama, workspace
) -> None:
    reads = _reads_of_a_big_file(workspace, 12)
    fake_ollama.enqueue(*(Reply.calls(r) for r in reads), Reply.say("done"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, numCtx=6000))
    assert result.status is RunStatus.COMPLETED
    last = fake_ollama.chat_requests[-1].body["messages"]
    # Old results became notes, or were folded into one note of what the earlier steps did.
    assert any(
        ("elided" in m["content"] and m["role"] == "tool")
        or m["content"].startswith("[Earlier steps of this run")
        for m in last
    )
    assert sum(len(m["content"]) for m in last) < 6000 * 3
    elisions = [e for e in rec.kinds("warning") if "Elided" in e.text]
    assert 1 <= len(elisions) <= len(reads) // 3  # rare, large steps: not one every turn


async def test_dry_run_stages_and_reads_its_own_writes(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(FIX),
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply.say("ok"),
    )
    result = await run(make_run(client, fake_ollama, workspace, Recorder(), dry_run=True))
    assert (workspace / "app.py").read_text() == APP
    assert result.changed_files == ["app.py"]
    assert result.changes[0].after == "def add(a, b):\n    return a + b\n"
    read_back = [m for m in fake_ollama.chat_requests[2].body["messages"] if m["role"] == "tool"]
    assert "a + b" in read_back[-1]["content"]


async def test_cancel_closes_the_stream_promptly(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply().content("Thinking about it").hang())
    rec = Recorder()
    disk_run = make_run(client, fake_ollama, workspace, rec)
    task = asyncio.ensure_future(run(disk_run))
    await wait_until(lambda: rec.kinds("content"), what="the first content")
    disk_run.agent.cancel()
    result = await asyncio.wait_for(task, 5)
    assert result.status is RunStatus.CANCELLED
    assert await asyncio.to_thread(fake_ollama.wait_for_disconnects, 1, 5.0) >= 1


async def test_cancel_kills_a_running_command(client, fake_ollama, workspace) -> None:
    marker = workspace / "started"
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": f"touch {marker} && sleep 30 && touch done"}))
    )
    rec = Recorder()
    disk_run = make_run(client, fake_ollama, workspace, rec, commandApproval="always")
    task = asyncio.ensure_future(run(disk_run))
    await wait_until(marker.exists, what="the command to start")
    disk_run.agent.cancel()
    result = await asyncio.wait_for(task, 5)
    assert result.status is RunStatus.CANCELLED
    assert not (workspace / "done").exists()


async def test_selection_prompt_has_numbered_lines_and_context(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.say("ok"))
    disk_run = make_run(client, fake_ollama, workspace, Recorder())
    sel = SelectionContext("app.py", APP, 2, 2)
    await run_task(disk_run, AgentTask("fix the sign", selection=sel))
    user = fake_ollama.chat_requests[0].body["messages"][1]["content"]
    assert "fix the sign" in user
    assert "     2\t    return a - b" in user
    assert "app.py" in user


class _ReadByRead:
    """Stands in for the HTTP client: yields the events of one network read, then waits."""

    kind = "ollama"

    def __init__(self, reads: list[list[Any]]) -> None:
        self.reads = reads
        self.next_read = asyncio.Event()

    async def show(self, model: str) -> ModelInfo:
        return ModelInfo(model, 8192, ("completion", "tools"))

    async def chat_stream(self, **_: Any) -> AsyncIterator[Any]:
        for i, events in enumerate(self.reads):
            if i:
                await self.next_read.wait()
                self.next_read.clear()
            for event in events:
                yield event


async def test_text_of_one_network_read_is_reported_as_one_event_before_the_next_read(
    workspace: Path,
) -> None:
    fake = _ReadByRead(
        [
            [ContentDelta("Fix"), ContentDelta("ing "), ContentDelta("it")],
            [
                ThinkingDelta("sure?"),
                ContentDelta(" now"),
                ContentDelta("."),
                ChatDone(ChatMetrics()),
            ],
        ]
    )
    rec = Recorder()
    settings = Settings(ollama_url="http://127.0.0.1:9")
    disk = build_disk_run(cast(OllamaClient, fake), settings, workspace, rec, rec)
    task = asyncio.ensure_future(run(disk))

    # The first read's tokens reach the editor while the stream waits for the next read.
    await wait_until(lambda: rec.kinds("content"), what="the first read's text")
    assert [e.text for e in rec.kinds("content")] == ["Fixing it"]
    fake.next_read.set()
    result = await task

    assert result.status is RunStatus.COMPLETED
    deltas = [(e.kind, e.text) for e in rec.events if e.kind in ("content", "thinking")]
    assert deltas == [("content", "Fixing it"), ("thinking", "sure?"), ("content", " now.")]
    # The turn's closing progress event (with the token rate) comes after all of its text.
    events = rec.events
    rate_at = max(i for i, e in enumerate(events) if "tokensPerSecond" in e.data)
    assert rate_at > max(i for i, e in enumerate(events) if e.kind == "content")


async def test_each_request_records_what_it_shares_with_the_previous_one(
    client, fake_ollama, workspace
) -> None:
    reads = _reads_of_a_big_file(workspace, 12)
    fake_ollama.enqueue(*(Reply.calls(r) for r in reads), Reply.say("done"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, numCtx=6000))
    per_request = result.metrics.per_request
    assert len(per_request) == len(fake_ollama.chat_requests) == len(reads) + 1
    bodies = [r.body["messages"] for r in fake_ollama.chat_requests]
    for i in range(1, len(bodies)):
        # What the metrics say is what went over the wire: an append keeps every earlier message.
        appended = bodies[i][: len(bodies[i - 1])] == bodies[i - 1]
        assert per_request[i]["pureAppend"] == appended, i
        assert per_request[i]["prefixShare"] == pytest.approx(
            prefix_share(bodies[i - 1], bodies[i]), abs=1e-3
        )
    compactions = [r for r in per_request[1:] if not r["pureAppend"]]
    assert 1 <= len(compactions) <= 4
    assert result.metrics.pure_appends == len(reads) - len(compactions)
    assert all("promptTokens" in r for r in per_request)
    [finished] = rec.kinds("finished")
    assert finished.data["pureAppends"] == result.metrics.pure_appends
    assert finished.data["requests"] == len(reads) + 1


class RefusingSink:
    """Refuses the first ``n`` changes (as an editor that skipped or refused an edit), then
    passes the rest to the real sink."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.left = inner, n

    async def apply(self, change: FileChange) -> None:
        if self.left > 0:
            self.left -= 1
            raise ChangeRejected("the editor refused the edit (the document changed)")
        await self.inner.apply(change)


async def test_an_edit_that_did_not_land_makes_the_run_not_completed(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."))
    disk_run = make_run(client, fake_ollama, workspace, Recorder())
    disk_run.ctx.sink = RefusingSink(disk_run.ctx.sink, 1)
    result = await run(disk_run)
    assert result.status is RunStatus.FAILED
    assert result.not_applied == [
        {
            "path": "app.py",
            "reason": "the editor refused the edit (the document changed)",
            "file": str(workspace.resolve() / "app.py"),
        }
    ]
    assert "These edits did not land: app.py" in result.summary
    assert (workspace / "app.py").read_text() == APP
    # The model heard of it as a failed call.
    assert "refused" in fake_ollama.chat_requests[1].body["messages"][-1]["content"]


async def test_a_retry_that_lands_leaves_nothing_unapplied(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.calls(FIX), Reply.say("Fixed the sign."))
    disk_run = make_run(client, fake_ollama, workspace, Recorder())
    disk_run.ctx.sink = RefusingSink(disk_run.ctx.sink, 1)
    result = await run(disk_run)
    assert result.status is RunStatus.COMPLETED
    assert result.not_applied == []
    assert (workspace / "app.py").read_text() == FIXED


async def test_a_run_whose_commands_were_all_denied_says_so(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "pytest -q"})), Reply.say("Tests pass.")
    )
    result = await run(make_run(client, fake_ollama, workspace, Recorder(Approval.DENY)))
    assert "Every command it asked to run was not run (denied or refused): `pytest -q`" in (
        result.summary
    )
