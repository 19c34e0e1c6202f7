"""Sessions through the CLI: `run --continue` extends the conversation as it was sent, `sessions`
lists them, `undo` reverts the latest run on disk leaving the user's later edits (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n\n\nVERSION = 1\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


def cli(*args: str, url: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": url, "NO_COLOR": "1", "XDG_STATE_HOME": str(state)}
    env.pop("OLLAMA_AGENT_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


def test_continue_extends_the_conversation_as_it_was_sent(
    fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed the sign."), Reply.say("It adds."))
    state = tmp_path / "state"
    first = cli("run", "fix add", "-w", str(workspace), "--json", url=fake_ollama.url, state=state)
    assert first.returncode == 0, first.stderr
    first_result = json.loads(first.stdout)
    assert first_result["sessionId"].startswith("s-") and first_result["runId"].startswith("run-1-")
    last_of_first = fake_ollama.chat_requests[-1].body["messages"]
    second = cli(
        "run", "--continue", "what does add do now?", "-w", str(workspace), "--json",
        url=fake_ollama.url, state=state,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    second_result = json.loads(second.stdout)
    assert second_result["sessionId"] == first_result["sessionId"]
    assert second_result["runId"].startswith("run-2-")
    messages = fake_ollama.chat_requests[-1].body["messages"]
    # Byte for byte what was sent before, then the reply, then the follow-up.
    assert messages[: len(last_of_first)] == last_of_first
    assert messages[len(last_of_first)] == {"role": "assistant", "content": "Fixed the sign."}
    assert messages[-1] == {"role": "user", "content": "what does add do now?"}
    assert len(messages) == len(last_of_first) + 2

    listed = cli("sessions", "-w", str(workspace), "--json", url=fake_ollama.url, state=state)
    [session] = json.loads(listed.stdout)
    assert session["sessionId"] == first_result["sessionId"]
    assert session["runs"] == 2 and session["title"] == "fix add"


def test_undo_reverts_the_latest_run_and_keeps_the_users_later_edit(
    fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    assert cli("run", "fix", "-w", str(workspace), url=fake_ollama.url, state=state).returncode == 0
    # The user edits another line after the run.
    edited = (workspace / "app.py").read_text().replace("VERSION = 1", "VERSION = 2")
    (workspace / "app.py").write_text(edited)

    undo = cli("undo", "-w", str(workspace), "--json", url=fake_ollama.url, state=state)

    assert undo.returncode == 0, undo.stderr
    assert json.loads(undo.stdout)["reverted"] == ["app.py"]
    assert (workspace / "app.py").read_text() == APP.replace("VERSION = 1", "VERSION = 2")
    again = cli("undo", "-w", str(workspace), url=fake_ollama.url, state=state)
    assert again.returncode == 1
    assert "Nothing to undo" in again.stderr


def test_undo_restores_what_a_command_deleted(
    fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (workspace / "notes.txt").write_text("keep\n")
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "rm notes.txt"})), Reply.say("Removed.")
    )
    run = cli("run", "tidy", "-w", str(workspace), "--yes", url=fake_ollama.url, state=state)
    assert run.returncode == 0, run.stderr
    assert not (workspace / "notes.txt").exists()
    assert cli("undo", "-w", str(workspace), url=fake_ollama.url, state=state).returncode == 0
    assert (workspace / "notes.txt").read_text() == "keep\n"


def test_continue_without_a_session_says_how_to_start_one(
    fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    proc = cli(
        "run", "--continue", "more", "-w", str(workspace), url=fake_ollama.url,
        state=tmp_path / "empty",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no session to continue" in proc.stderr and "without --continue" in proc.stderr
    assert fake_ollama.chat_requests == []
