"""The session core every face drives: runs assembled, continued, kept on disk and undone
(against the fake Ollama over loopback HTTP and a session store in a temporary directory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ollama_agent_ls.agent.prompts import AgentTask
from ollama_agent_ls.agent.result import RunStatus
from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.sessions.core import RunParts, SessionCore, undo_plan
from ollama_agent_ls.sessions.store import SessionStore
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.documents import DiskDocuments
from ollama_agent_ls.workspace.hunks import HunkStates, file_hunks
from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a + b\n"
SWAPPED = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
FIX_BOTH = call("write_file", {"path": "app.py", "content": SWAPPED})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


@pytest.fixture
def store(tmp_path: Path, workspace: Path) -> SessionStore:
    return SessionStore(workspace, base=tmp_path / "state")


@pytest.fixture
async def backend(fake_ollama: FakeOllama) -> AsyncIterator[OllamaClient]:
    async with OllamaClient(Settings(ollama_url=fake_ollama.url)) as client:
        yield client


def _parts(root: Path) -> RunParts:
    return RunParts(DiskDocuments(root), DiskSink(root))


async def _one_run(
    core: SessionCore, backend: OllamaClient, instruction: str, settings: Settings
) -> None:
    run = core.assemble(backend, settings, _parts(core.root), instruction)
    result = await core.run(run, AgentTask(instruction))
    assert core.record(run, result) is None


async def test_a_loaded_session_continues_the_conversation_byte_for_byte(
    fake_ollama: FakeOllama, backend: OllamaClient, store: SessionStore
) -> None:
    settings = Settings(ollama_url=fake_ollama.url)
    fake_ollama.enqueue(Reply.say("add subtracts."), Reply.say("sub adds."))
    first = SessionCore(store)
    await _one_run(first, backend, "what does add do?", settings)
    sent_first = fake_ollama.chat_requests[-1].body["messages"]

    # Another process, later: only the store is shared.
    again = SessionCore.load(SessionStore(store.root, base=store.dir.parent), first.session_id)
    await _one_run(again, backend, "and sub?", settings)

    sent = fake_ollama.chat_requests[-1].body["messages"]
    assert sent[: len(sent_first)] == sent_first
    assert sent[len(sent_first)] == {"role": "assistant", "content": "add subtracts."}
    assert sent[-1] == {"role": "user", "content": "and sub?"}
    stored = store.load(first.session_id)
    assert [r.instruction for r in stored.runs] == ["what does add do?", "and sub?"]


async def test_run_ids_name_one_run_across_the_workspaces_sessions(
    fake_ollama: FakeOllama, backend: OllamaClient, store: SessionStore
) -> None:
    settings = Settings(ollama_url=fake_ollama.url)
    fake_ollama.enqueue(Reply.say("one"), Reply.say("two"))
    a, b = SessionCore(store), SessionCore(store)
    await _one_run(a, backend, "first", settings)
    await _one_run(b, backend, "second", settings)
    [run_a] = store.load(a.session_id).runs
    [run_b] = store.load(b.session_id).runs
    assert run_a.run_id != run_b.run_id
    # undo finds a run by its id among all the sessions: each id finds its own.
    assert store.find_run(run_a.run_id, with_changes=False)[0].session_id == a.session_id
    assert store.find_run(run_b.run_id, with_changes=False)[0].session_id == b.session_id


async def test_an_undo_made_elsewhere_while_a_follow_up_ran_is_kept(
    fake_ollama: FakeOllama, backend: OllamaClient, store: SessionStore, workspace: Path
) -> None:
    settings = Settings(ollama_url=fake_ollama.url)
    fake_ollama.enqueue(Reply.calls(FIX_BOTH), Reply.say("Swapped."), Reply.say("Done."))
    core = SessionCore(store)
    await _one_run(core, backend, "swap the signs", settings)
    [first] = store.load(core.session_id).runs
    assert first.has_changes

    follow_up = core.assemble(backend, settings, _parts(workspace), "explain")
    store.mark_undone(core.session_id, first.run_id)  # another face undid it meanwhile
    result = await core.run(follow_up, AgentTask("explain"))
    assert result.status is RunStatus.COMPLETED
    assert core.record(follow_up, result) is None

    runs = store.load(core.session_id).runs
    assert [r.undone for r in runs] == [True, False]


async def test_the_undo_plan_leaves_a_hunk_already_reverted_alone(
    fake_ollama: FakeOllama, backend: OllamaClient, store: SessionStore, workspace: Path
) -> None:
    settings = Settings(ollama_url=fake_ollama.url)
    fake_ollama.enqueue(Reply.calls(FIX_BOTH), Reply.say("Swapped."))
    core = SessionCore(store)
    await _one_run(core, backend, "swap the signs", settings)
    [record] = store.load(core.session_id).runs
    [change] = record.changes
    first_hunk, _ = file_hunks(change)
    # The person reverted the first hunk in the editor: add subtracts again, sub still fixed.
    text = change.after.replace("return a + b\n\n\ndef sub", "return a - b\n\n\ndef sub")
    (workspace / "app.py").write_text(text)
    states = HunkStates()
    states.revert(first_hunk.id)
    record.hunks = {change.path: states}

    plan = undo_plan(record.changes, record.hunks, DiskDocuments(workspace))

    [revert] = plan.reverts
    assert revert.change.after == APP
    assert plan.left_alone == []
