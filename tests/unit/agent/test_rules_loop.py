"""Project rules reach the model in the system prompt, byte-stable across turns, and a nested
AGENTS.md arrives as a new message when its folder is first touched (recorded request bodies of
the fake Ollama over loopback HTTP)."""

from __future__ import annotations

import itertools

from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunStatus
from ollama_agent_ls.headless import build_disk_run
from ollama_agent_ls.sessions.core import SessionCore
from ollama_agent_ls.sessions.store import SessionStore
from ollama_agent_ls.settings import Settings
from tests.fake_ollama.replies import Reply, call
from tests.unit.agent.test_loop import FIX, Recorder, make_run, run


async def test_agents_md_is_in_the_system_prompt_and_never_changes(
    client, fake_ollama, workspace
) -> None:
    (workspace / "AGENTS.md").write_text("Always add a docstring.\n")
    (workspace / "style.md").write_text("Four spaces.\n")
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "app.py"})), Reply.calls(FIX), Reply.say("ok")
    )
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, rules=["style.md"]))
    assert result.status is RunStatus.COMPLETED
    systems = [r.body["messages"][0] for r in fake_ollama.chat_requests]
    assert systems[0]["role"] == "system"
    assert "Always add a docstring." in systems[0]["content"]
    assert "Four spaces." in systems[0]["content"]
    assert all(s == systems[0] for s in systems)  # the cached prefix survives every turn
    [started] = rec.kinds("started")
    assert started.data["rules"] == ["AGENTS.md", "style.md"]


async def test_a_nested_agents_md_is_appended_when_its_folder_is_first_touched(
    client, fake_ollama, workspace
) -> None:
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / "AGENTS.md").write_text("In pkg/, never use print.\n")
    (workspace / "pkg" / "mod.py").write_text("X = 1\n")
    (workspace / "pkg" / "other.py").write_text("Y = 2\n")
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "app.py"})),
        Reply.calls(call("read_file", {"path": "pkg/mod.py"})),
        Reply.calls(call("read_file", {"path": "pkg/other.py"})),
        Reply.say("done"),
    )
    rec = Recorder()
    await run(make_run(client, fake_ollama, workspace, rec))
    requests = [r.body["messages"] for r in fake_ollama.chat_requests]
    assert not any("never use print" in m["content"] for m in requests[1])
    third = requests[2]
    rules = [m for m in third if "never use print" in m["content"]]
    assert len(rules) == 1 and rules[0]["role"] == "user"
    assert third.index(rules[0]) == len(third) - 1  # right after the result that touched pkg/
    assert "pkg/AGENTS.md" in rules[0]["content"]
    # Shown once, and every request extends the one before it.
    assert sum("never use print" in m["content"] for m in requests[3]) == 1
    for earlier, later in itertools.pairwise(requests):
        assert later[: len(earlier)] == earlier
    assert any(e.data.get("rules") == ["pkg/AGENTS.md"] for e in rec.kinds("progress"))


async def test_a_rules_file_that_cannot_be_used_is_a_warning_and_the_run_goes_on(
    client, fake_ollama, workspace
) -> None:
    fake_ollama.enqueue(Reply.say("ok"))
    rec = Recorder()
    result = await run(make_run(client, fake_ollama, workspace, rec, rules=["nope.md"]))
    assert result.status is RunStatus.COMPLETED
    assert any("nope.md was not used" in e.text for e in rec.kinds("warning"))


async def test_the_warm_start_prefix_carries_the_rules_a_run_starts_with(
    client, fake_ollama, workspace
) -> None:
    from ollama_agent_ls.agent.warm import warm_start
    from ollama_agent_ls.settings import Settings

    (workspace / "AGENTS.md").write_text("Always add a docstring.\n")
    settings = Settings(ollama_url=fake_ollama.url)
    assert await warm_start(client, settings, workspace) is not None
    fake_ollama.enqueue(Reply.say("ok"))
    await run(make_run(client, fake_ollama, workspace, Recorder()))
    [warm] = fake_ollama.warm_requests
    first = fake_ollama.chat_requests[0].body
    assert warm.body["messages"][0] == first["messages"][0]
    assert "Always add a docstring." in warm.body["messages"][0]["content"]
    assert warm.body["tools"] == first["tools"]


async def test_the_rules_stay_byte_stable_in_a_follow_up_and_a_resumed_session(
    client, fake_ollama, workspace, tmp_path_factory
) -> None:
    (workspace / "AGENTS.md").write_text("Always add a docstring.\n")
    state = tmp_path_factory.mktemp("state")
    settings = Settings(ollama_url=fake_ollama.url)
    fake_ollama.enqueue(Reply.say("one"), Reply.say("two"), Reply.say("three"))
    rec = Recorder()

    async def one_run(core: SessionCore, instruction: str) -> None:
        disk = build_disk_run(client, settings, workspace, rec, rec, core=core)
        result = await core.run(disk.run, AgentTask(instruction))
        assert result.status is RunStatus.COMPLETED, result.summary
        assert core.record(disk.run, result) is None

    core = SessionCore(SessionStore(workspace, base=state))
    await one_run(core, "first")
    # Rules are read when a conversation starts: a later edit must not change its prefix.
    (workspace / "AGENTS.md").write_text("Never add a docstring.\n")
    await one_run(core, "a follow-up")
    # Another process, later: the session resumed from the store.
    resumed = SessionCore.load(SessionStore(workspace, base=state), core.session_id)
    await one_run(resumed, "after a restart")

    first, follow_up, after_restart = (r.body for r in fake_ollama.chat_requests)
    system = first["messages"][0]
    assert system["role"] == "system" and "Always add a docstring." in system["content"]
    assert follow_up["messages"][0] == system
    assert after_restart["messages"][0] == system
    assert follow_up["tools"] == first["tools"] == after_restart["tools"]
    assert follow_up["messages"][: len(first["messages"])] == first["messages"]
    assert after_restart["messages"][: len(follow_up["messages"])] == follow_up["messages"]
    assert [e.data["rules"] for e in rec.kinds("started")] == [["AGENTS.md"]] * 3
