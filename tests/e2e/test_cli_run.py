"""`ollama-agent-ls run/doctor/models` as a user runs them: a subprocess on the fake Ollama."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_ollama.replies import Reply, call
from tests.fake_ollama.server import FakeOllama

APP = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


def cli(*args: str, url: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": url, "NO_COLOR": "1"}
    env.pop("OLLAMA_AGENT_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def test_run_edits_the_file_and_streams_a_transcript(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(
        Reply().thinking("hmm").tool_calls(FIX).done(), Reply.say("Fixed the sign.")
    )
    proc = cli(
        "run",
        "fix add",
        "--file",
        "app.py",
        "--lines",
        "2-2",
        "-w",
        str(workspace),
        url=fake_ollama.url,
    )
    assert proc.returncode == 0, proc.stderr
    assert (workspace / "app.py").read_text() == FIXED
    assert "→ edit_file app.py" in proc.stderr
    assert "thinking: hmm" in proc.stderr
    assert "[completed] Fixed the sign." in proc.stderr
    assert proc.stdout == ""
    user = fake_ollama.chat_requests[0].body["messages"][1]["content"]
    assert "     2\t    return a - b" in user


def test_dry_run_prints_a_diff_and_writes_nothing(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("ok"))
    proc = cli("run", "fix add", "-w", str(workspace), "--dry-run", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert (workspace / "app.py").read_text() == APP
    assert "--- a/app.py" in proc.stdout
    assert "-    return a - b" in proc.stdout
    assert "+    return a + b" in proc.stdout
    assert "would change: app.py" in proc.stderr


def test_ollama_down_exits_3_naming_the_url(workspace) -> None:
    url = "http://127.0.0.1:9"
    proc = cli("run", "fix add", "-w", str(workspace), url=url)
    assert proc.returncode == 3
    assert url in proc.stderr
    assert "ollama serve" in proc.stderr
    assert (workspace / "app.py").read_text() == APP


def test_missing_model_exits_3_with_pull_hint(fake_ollama: FakeOllama, workspace) -> None:
    proc = cli("run", "x", "-w", str(workspace), "--model", "nope:7b", url=fake_ollama.url)
    assert proc.returncode == 3
    assert "ollama pull nope:7b" in proc.stderr


def test_failed_run_exits_1(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(Reply().content("so").error_line("runner crashed"))
    proc = cli("run", "x", "-w", str(workspace), url=fake_ollama.url)
    assert proc.returncode == 1
    assert "runner crashed" in proc.stderr


def test_max_turns_exits_1_and_says_how_to_go_on(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(Reply.calls(call("read_file", {"path": "app.py"})))
    proc = cli("run", "x", "-w", str(workspace), "-o", "maxTurns=1", url=fake_ollama.url)
    assert proc.returncode == 1, proc.stderr
    assert "[max_turns]" in proc.stderr
    assert "Raise maxTurns" in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "x", "--lines", "1-2"], "--lines needs --file"),
        (["run", "x", "-o", "maxTurns=0"], "maxTurns"),
        (["run", "x", "-o", "applyMode=later"], "applyMode"),
        (["run", "x", "--file", "nope.py"], "nope.py"),
        (["run", "x", "--file", "app.py", "--lines", "9-3"], "A must be <= B"),
        (["run", "x", "--file", "app.py", "--lines", "9-12"], "past the end of app.py"),
        (["run", "x", "--file", "../outside.py"], "outside.py"),
    ],
)
def test_usage_errors_exit_2(fake_ollama: FakeOllama, workspace, args, needle) -> None:
    proc = cli(*args, "-w", str(workspace), url=fake_ollama.url)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_a_command_without_a_terminal_is_denied(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "touch ran"})), Reply.say("could not")
    )
    proc = cli("run", "x", "-w", str(workspace), url=fake_ollama.url)
    assert proc.returncode == 0
    assert not (workspace / "ran").exists()
    tool = fake_ollama.chat_requests[1].body["messages"][-1]
    assert tool["role"] == "tool" and "denied" in tool["content"].lower()


def test_yes_allows_commands_but_not_destructive_ones(fake_ollama: FakeOllama, workspace) -> None:
    (workspace / "keep").mkdir()
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "touch ran"})),
        Reply.calls(call("run_command", {"command": "echo hi && rm -rf keep"})),
        Reply.say("done"),
    )
    proc = cli("run", "x", "-w", str(workspace), "--yes", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    assert (workspace / "ran").exists()
    assert (workspace / "keep").is_dir()


def test_doctor_reports_ok_and_problems(fake_ollama: FakeOllama) -> None:
    ok = cli("doctor", url=fake_ollama.url)
    assert ok.returncode == 0, ok.stdout
    assert "✓ model qwen3:8b installed" in ok.stdout
    bad = cli("doctor", "--model", "gemma3:4b", url=fake_ollama.url)
    assert bad.returncode == 3
    assert "does not support tools" in bad.stdout
    down = cli("doctor", url="http://127.0.0.1:9")
    assert down.returncode == 3
    assert "ollama serve" in down.stdout


def test_models_lists_context_and_capabilities(fake_ollama: FakeOllama) -> None:
    proc = cli("models", "--json", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["qwen3:8b"]["contextLength"] == 40960
    assert "tools" in rows["qwen3:8b"]["capabilities"]
    assert "tools" not in rows["gemma3:4b"]["capabilities"]


def test_ctrl_c_cancels_cleanly_with_exit_130(fake_ollama: FakeOllama, workspace) -> None:
    # First an edit lands, then the model hangs mid-reply; Ctrl-C must stop it and keep the edit
    # whole (no temp files, no half-written file).
    fake_ollama.enqueue(Reply.calls(FIX), Reply().content("Now let me").hang())
    env = {**os.environ, "OLLAMA_HOST": fake_ollama.url, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ollama_agent_ls", "run", "fix add", "-w", str(workspace)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        fake_ollama.wait_for_requests(2, timeout=30, path="/api/chat")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "[cancelled]" in err
    assert (workspace / "app.py").read_text() == FIXED
    assert sorted(p.name for p in workspace.iterdir()) == ["app.py"]
    assert fake_ollama.wait_for_disconnects(1, timeout=10) >= 1


def test_read_max_bytes_reaches_the_files_the_run_reads(fake_ollama: FakeOllama, workspace) -> None:
    (workspace / "big.txt").write_text("x" * 5000 + "\n")
    fake_ollama.enqueue(Reply.calls(call("read_file", {"path": "big.txt"})), Reply.say("ok"))
    proc = cli(
        "run", "read it", "-w", str(workspace), "-o", "readMaxBytes=1000", url=fake_ollama.url
    )
    assert proc.returncode == 0, proc.stderr
    result = fake_ollama.chat_requests[1].body["messages"][-1]["content"]
    assert "readMaxBytes (1,000 bytes)" in result


def test_warm_start_is_off_in_the_cli_unless_asked(fake_ollama: FakeOllama, workspace) -> None:
    fake_ollama.enqueue(Reply.say("ok"), Reply.say("ok"))
    assert cli("run", "hi", "-w", str(workspace), url=fake_ollama.url).returncode == 0
    assert fake_ollama.warm_requests == []
    proc = cli("run", "hi", "-w", str(workspace), "-o", "warmStart=true", url=fake_ollama.url)
    assert proc.returncode == 0, proc.stderr
    [warm] = fake_ollama.warm_requests
    assert warm.body["messages"] == fake_ollama.chat_requests[-1].body["messages"][:1]


def test_doctor_says_whether_commands_are_sandboxed(fake_ollama: FakeOllama, tmp_path) -> None:
    ok = cli("doctor", url=fake_ollama.url)
    assert "✓ commands run in a sandbox (workspace-write, bubblewrap" in ok.stdout
    off = cli("doctor", "--sandbox", "off", url=fake_ollama.url)
    assert off.returncode == 0, off.stdout
    assert "commands run without a sandbox (sandbox=off)" in off.stdout


def test_without_bubblewrap_doctor_names_the_fix_and_yes_no_longer_runs_commands(
    fake_ollama: FakeOllama, workspace
) -> None:
    # A PATH without bwrap: the machine as a user without bubblewrap has it.
    env_path = str(Path(sys.executable).parent)
    doctor = subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", "doctor"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
        env={**os.environ, "OLLAMA_HOST": fake_ollama.url, "PATH": env_path},
    )  # fmt: skip
    assert doctor.returncode == 3
    assert "✗ commands cannot run in a sandbox" in doctor.stdout
    assert "apt-get install bubblewrap" in doctor.stdout
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "touch ran.txt"})), Reply.say("ok")
    )
    run = subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", "run", "touch", "-w", str(workspace), "--yes"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
        env={**os.environ, "OLLAMA_HOST": fake_ollama.url, "PATH": env_path},
        start_new_session=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not (workspace / "ran.txt").exists()
    result = fake_ollama.chat_requests[-1].body["messages"][-1]["content"]
    assert "denied" in result
