"""The loop's edit formats and stop rules, against the fake Ollama over loopback HTTP.

Each test scripts what small models were seen to do with a real 1.5B model (blocks in one reply,
calls written as text, code with no edit, re-reading after the fix) and asserts what the user
notices: the file on disk, the run's status and what the model was told.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ollama_agent_ls.agent.prompts import AgentTask, SelectionContext
from ollama_agent_ls.agent.result import RunResult, RunStatus
from ollama_agent_ls.agent.text_formats import FormatMemory
from ollama_agent_ls.headless import DiskRun, build_disk_run, run_task
from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools.executor import ExtraTool
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeModel, FakeOllama
from tests.unit.agent.test_loop import Recorder

APP = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"

SMALL = FakeModel("qwen2.5-coder:1.5b", parameter_size="1.5B")
BIG = FakeModel("qwen3:8b", parameter_size="8.2B")

SEARCH_REPLACE_FIX = (
    "Here is the fix.\n\napp.py\n```python\n<<<<<<< SEARCH\ndef add(a, b):\n    return a - b\n"
    "=======\ndef add(a, b):\n    return a + b\n>>>>>>> REPLACE\n```\n"
)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


@pytest.fixture
async def client(fake_ollama: FakeOllama) -> AsyncIterator[OllamaClient]:
    fake_ollama.set_models([SMALL, BIG])
    async with OllamaClient(Settings(ollama_url=fake_ollama.url)) as c:
        yield c


def make_run(
    client: OllamaClient, fake: FakeOllama, root: Path, rec: Recorder, **settings: Any
) -> DiskRun:
    s = Settings(ollama_url=fake.url, **settings)
    run = build_disk_run(client, s, root, rec, rec)
    run.agent.format_memory = FormatMemory()  # each test starts with nothing learned
    return run


async def go(run: DiskRun, task: AgentTask | str = "fix add") -> RunResult:
    return await run_task(run, AgentTask(task) if isinstance(task, str) else task)


def messages(fake: FakeOllama, n: int) -> list[dict[str, Any]]:
    return list(fake.chat_requests[n].body["messages"])


async def test_small_model_with_small_files_rewrites_them_whole_in_one_reply(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.say(f"app.py\n```python\n{FIXED}```\n"))
    rec = Recorder()
    result = await go(make_run(client, fake_ollama, workspace, rec, model=SMALL.name), "fix add")
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    assert result.turns == 1
    assert result.metrics.edit_format == "whole"
    body = fake_ollama.chat_requests[0].body
    assert "tools" not in body  # no schemas: they cost prefill and the model cannot use them
    assert APP in body["messages"][1]["content"]  # a tiny project is shown in full
    assert [e.text for e in rec.kinds("edit")] == ["modify app.py"]


async def test_small_model_with_a_large_file_gets_search_replace_blocks(
    client, fake_ollama, workspace
) -> None:
    big = APP + "".join(f"\n\ndef f{i}(x):\n    return x * {i}\n" for i in range(200))
    (workspace / "app.py").write_text(big)
    fake_ollama.enqueue(Reply.say(SEARCH_REPLACE_FIX))
    result = await go(make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name))
    assert result.metrics.edit_format == "search-replace"
    assert (workspace / "app.py").read_text() == big.replace(APP, FIXED)
    assert "<<<<<<< SEARCH" in fake_ollama.chat_requests[0].body["messages"][0]["content"]


async def test_a_whole_listing_of_a_file_the_model_never_saw_is_refused(
    client, fake_ollama, workspace
) -> None:
    for i in range(8):
        (workspace / f"m{i}.py").write_text(f"X = {i}\n")
    fake_ollama.enqueue(Reply.say("m3.py\n```python\nX = 99\n```\n"), Reply.say("ok"))
    run = make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="whole")
    result = await go(run, "change X")
    assert (workspace / "m3.py").read_text() == "X = 3\n"
    assert "have not seen m3.py" in messages(fake_ollama, 1)[-1]["content"]
    assert result.changed_files == []


async def test_the_prompts_placeholder_path_is_mapped_to_the_real_file(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.say(f"path/to/app.py\n```python\n{FIXED}```\n"))
    result = await go(make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name))
    assert result.changed_files == ["app.py"]
    assert (workspace / "app.py").read_text() == FIXED
    assert not (workspace / "path").exists()


async def test_a_block_that_does_not_match_goes_back_to_the_model(
    client, fake_ollama, workspace
) -> None:
    wrong = SEARCH_REPLACE_FIX.replace("return a - b\n=", "return a * b\n=")
    fake_ollama.enqueue(Reply.say(wrong), Reply.say(SEARCH_REPLACE_FIX))
    result = await go(make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name))
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    told = messages(fake_ollama, 1)[-1]
    assert told["role"] == "user"
    assert "Error" in told["content"] and "Fix what failed" in told["content"]


async def test_whole_format_writes_the_file_from_one_reply(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.say(f"app.py\n```python\n{FIXED}```\n"))
    run = make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="whole")
    result = await go(run, AgentTask("fix add", file="app.py"))
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    first_task = messages(fake_ollama, 0)[1]["content"]
    assert APP in first_task  # the file in full, without line numbers to copy by mistake


async def test_selection_run_in_a_text_format_is_one_rewrite_of_the_lines(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.say("```python\ndef add(a, b):\n    return a + b\n```"))
    sel = SelectionContext("app.py", APP, 1, 2)
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name),
        AgentTask("fix the sign", selection=sel),
    )
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    assert result.turns == 1


async def test_text_calls_switch_auto_to_search_replace_once(
    client, fake_ollama, workspace
) -> None:
    read = Reply.text_tool_call("read_file", {"path": "app.py"}, style="fence")
    fake_ollama.enqueue(read, Reply.say(SEARCH_REPLACE_FIX))
    rec = Recorder()
    result = await go(make_run(client, fake_ollama, workspace, rec, model=BIG.name))
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    second = messages(fake_ollama, 1)
    first = messages(fake_ollama, 0)
    assert second[: len(first)] == first  # the switch is appended, nothing earlier changes
    assert "SEARCH" in second[-1]["content"] and second[-1]["role"] == "user"
    assert fake_ollama.chat_requests[1].body["tools"] == fake_ollama.chat_requests[0].body["tools"]
    assert any("SEARCH/REPLACE" in e.text for e in rec.kinds("warning"))


async def test_a_malformed_text_call_is_told_to_the_model_not_taken_as_the_answer(
    client, fake_ollama, workspace
) -> None:
    broken = '```json\n{"name": "edit_file", "arguments": {"path": "app.py", "old_string": \n```'
    fake_ollama.enqueue(Reply.say(broken), Reply.calls(_FIX_CALL), Reply.say("Fixed."))
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    assert result.status is RunStatus.COMPLETED
    assert (workspace / "app.py").read_text() == FIXED
    assert result.metrics.format_errors == 1
    assert result.metrics.call_replies == 2  # the broken call and the good one: 50% well formed
    told = messages(fake_ollama, 1)[-1]  # repaired into a call the executor refuses, or not
    assert told["role"] in ("user", "tool")
    assert "edit_file" in told["content"] and "rror" in told["content"]


_FIX_CALL = call(
    "edit_file",
    {
        "path": "app.py",
        "old_string": "def add(a, b):\n    return a - b",
        "new_string": "def add(a, b):\n    return a + b",
    },
)


async def test_code_without_an_edit_is_nudged_once_then_reported_as_no_change(
    client, fake_ollama, workspace
) -> None:
    code = "Use this:\n```python\ndef add(a, b):\n    return a + b\n```"
    fake_ollama.enqueue(Reply.say(code), Reply.say(code))
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    assert result.status is RunStatus.FAILED
    assert result.summary.startswith("No change made")
    assert (workspace / "app.py").read_text() == APP
    assert "No file was changed" in messages(fake_ollama, 1)[-1]["content"]


async def test_the_nudge_can_lead_to_the_edit(client, fake_ollama, workspace) -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    fake_ollama.enqueue(Reply.say(code), Reply.calls(_FIX_CALL), Reply.say("Done."))
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    assert result.status is RunStatus.COMPLETED
    assert (workspace / "app.py").read_text() == FIXED


async def test_prose_without_code_still_completes(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.say("add already does what you asked."))
    result = await go(make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name))
    assert result.status is RunStatus.COMPLETED
    assert result.turns == 1


async def test_after_the_fix_rereading_ends_the_run_as_done_not_at_max_turns(
    client, fake_ollama, workspace
) -> None:
    read = call("read_file", {"path": "app.py"})
    fake_ollama.enqueue(
        Reply.calls(read),
        Reply.calls(_FIX_CALL),
        *[Reply.calls(call("read_file", {"path": "app.py"})) for _ in range(8)],
    )
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    assert result.status is RunStatus.COMPLETED
    assert (workspace / "app.py").read_text() == FIXED
    assert result.turns <= 5  # was: maxTurns (25) of reads, exit 1
    assert "app.py" in result.summary


async def test_a_repeated_read_is_answered_from_the_earlier_result(
    client, fake_ollama, workspace
) -> None:
    read = call("read_file", {"path": "app.py"})
    fake_ollama.enqueue(
        Reply.calls(read), Reply.calls(call("read_file", {"path": "app.py"})), Reply.say("ok")
    )
    await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    third = messages(fake_ollama, 2)
    results = [m["content"] for m in third if m["role"] == "tool"]
    assert "return a - b" in results[0]
    assert "already read this" in results[1] and "return a - b" not in results[1]


async def test_a_read_after_an_edit_is_read_again(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply.calls(_FIX_CALL),
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply.say("ok"),
    )
    await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, editFormat="tools")
    )
    last = [m["content"] for m in messages(fake_ollama, 3) if m["role"] == "tool"][-1]
    assert "return a + b" in last


async def test_a_reply_cut_at_the_output_limit_is_said_so(client, fake_ollama, workspace) -> None:
    cut = Reply().content("app.py\n```python\n<<<<<<< SEARCH\ndef add").done(done_reason="length")
    fake_ollama.enqueue(cut, Reply.say(SEARCH_REPLACE_FIX))
    rec = Recorder()
    result = await go(make_run(client, fake_ollama, workspace, rec, model=SMALL.name))
    assert result.status is RunStatus.COMPLETED
    assert (workspace / "app.py").read_text() == FIXED
    assert any("cut at the output limit" in e.text for e in rec.kinds("warning"))
    assert "cut off" in messages(fake_ollama, 1)[-1]["content"]


async def test_edit_format_setting_overrides_auto(client, fake_ollama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(_FIX_CALL), Reply.say("Fixed."))
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name, editFormat="tools")
    )
    assert result.status is RunStatus.COMPLETED
    assert "tools" in fake_ollama.chat_requests[0].body


async def test_code_instead_of_a_call_switches_auto_to_text_blocks(
    client, fake_ollama, workspace
) -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    fake_ollama.enqueue(Reply.say(code), Reply.say(SEARCH_REPLACE_FIX))
    result = await go(make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name))
    assert result.status is RunStatus.COMPLETED
    assert (workspace / "app.py").read_text() == FIXED
    assert result.metrics.edit_format == "search-replace"
    note = messages(fake_ollama, 1)[-1]
    assert note["role"] == "user" and "called no tool" in note["content"]
    assert "<<<<<<< SEARCH" in note["content"]


async def test_a_run_with_its_own_tools_is_not_done_at_the_edit(
    client, fake_ollama, workspace
) -> None:
    ticked: list[int] = []

    async def check(ctx: object, args: Any) -> str:
        ticked.append(args.index)
        return f"Ticked criterion {args.index}."

    tick = '<tool_call>{"name": "check_criterion", "arguments": {"index": 1, "evidence": "ok"}}'
    fake_ollama.enqueue(
        Reply.say(f"app.py\n```python\n{FIXED}```\n"), Reply.say(tick + "</tool_call>"), "Done."
    )
    s = Settings(ollama_url=fake_ollama.url, model=SMALL.name)
    run = build_disk_run(
        client,
        s,
        workspace,
        Recorder(),
        Recorder(),
        extra_tools=[ExtraTool("check_criterion", check)],
    )
    result = await go(run, "fix add, then tick criterion 1")
    assert (workspace / "app.py").read_text() == FIXED
    assert ticked == [1]
    assert result.status is RunStatus.COMPLETED
    assert "check_criterion" in messages(fake_ollama, 1)[-1]["content"]


async def test_a_rewrite_that_drops_a_function_is_refused_and_asked_again(
    client, fake_ollama, workspace
) -> None:
    only_add = "```python\ndef add(a, b):\n    return a + b\n```"
    fake_ollama.enqueue(Reply.say(only_add), Reply.say(f"```python\n{FIXED}```"))
    sel = SelectionContext("app.py", APP, 1, 6)
    result = await go(
        make_run(client, fake_ollama, workspace, Recorder(), model=SMALL.name),
        AgentTask("fix add", selection=sel),
    )
    assert (workspace / "app.py").read_text() == FIXED  # sub() survived
    assert result.status is RunStatus.COMPLETED
    assert "leaves out sub" in messages(fake_ollama, 1)[-1]["content"]


async def test_a_compaction_keeps_the_switch_notes_rules(client, fake_ollama, workspace) -> None:
    # The text format's rules live in the switch note alone; folded away, the model would no
    # longer know how to write an edit.
    (workspace / "big.txt").write_text("".join(f"line {n}: some words here\n" for n in range(400)))
    reads = [
        Reply.text_tool_call(
            "read_file", {"path": "big.txt", "start_line": 1, "end_line": n}, style="fence"
        )
        for n in range(100, 116)
    ]
    fake_ollama.enqueue(*reads, Reply.say(SEARCH_REPLACE_FIX))
    rec = Recorder()
    result = await go(make_run(client, fake_ollama, workspace, rec, model=BIG.name, numCtx=6000))
    assert (workspace / "app.py").read_text() == FIXED
    assert result.status is RunStatus.COMPLETED
    switch = messages(fake_ollama, 1)[-1]
    assert "SEARCH" in switch["content"]
    last = messages(fake_ollama, len(fake_ollama.chat_requests) - 1)
    assert any(m["content"].startswith("[Earlier steps of this run") for m in last)
    assert switch in last


async def test_a_resumed_session_keeps_its_switch_note_through_a_compaction(
    client, fake_ollama, workspace
) -> None:
    read = Reply.text_tool_call("read_file", {"path": "app.py"}, style="fence")
    fake_ollama.enqueue(read, Reply.say(SEARCH_REPLACE_FIX))
    first = make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, numCtx=6000)
    await go(first)
    stored = list(first.agent.messages)
    switch = next(m for m in stored if m.role == "user" and "SEARCH" in m.content)
    # A new process: the stored conversation, resumed, then a long follow-up.
    (workspace / "big.txt").write_text("".join(f"line {n}: some words here\n" for n in range(400)))
    reads = [
        Reply.text_tool_call(
            "read_file", {"path": "big.txt", "start_line": 1, "end_line": n}, style="fence"
        )
        for n in range(100, 116)
    ]
    fake_ollama.enqueue(*reads, Reply.say("Counted."))
    later = make_run(client, fake_ollama, workspace, Recorder(), model=BIG.name, numCtx=6000)
    await later.agent.resume(stored, "search-replace")
    await later.agent.run(AgentTask("count the lines of big.txt"), follow_up=True)
    last = messages(fake_ollama, len(fake_ollama.chat_requests) - 1)
    assert any(m["content"].startswith("[Earlier steps of this run") for m in last)
    assert switch.to_wire() in last
