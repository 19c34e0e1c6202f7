"""Project rules reach the model in the system prompt, byte-stable across turns, and a nested
AGENTS.md arrives as a new message when its folder is first touched (recorded request bodies of
the fake Ollama over loopback HTTP)."""

from __future__ import annotations

import itertools

from ollama_agent_ls.agent.result import RunStatus
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
