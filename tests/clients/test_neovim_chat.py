"""The Neovim plugin's chat, sessions and hunk marks in real headless Neovim against the real
server and the fake Ollama (the scenario machinery is test_neovim's)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.clients.test_neovim import FIX_ADD, NVIM, PLUGIN, fake, run_scenario, workspace
from tests.fake_ollama import FakeOllama, Reply, call

__all__ = ["fake", "workspace"]  # test_neovim's fixtures, used here by name


def test_chat_opens_on_a_run_streams_and_cancels(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(Reply().content("Still thinking").hang())
    run_scenario("chat_stream_cancel_spec", workspace, fake.url)
    assert fake.wait_for_disconnects(1) >= 1


def _messages(body: dict[str, object]) -> list[object]:
    messages = body["messages"]
    assert isinstance(messages, list)
    return messages


@pytest.mark.parametrize("layout", ["split", "float"])
def test_follow_up_from_the_chat_continues_the_session(
    workspace: Path, fake: FakeOllama, layout: str
) -> None:
    fake.enqueue(Reply.calls(FIX_ADD), "Fixed.", "I changed - to +.", "You are welcome.")
    run_scenario("chat_follow_up_spec", workspace, fake.url, layout)
    bodies = [r.body for r in fake.chat_requests]
    assert len(bodies) == 4, [json.dumps(b)[:200] for b in bodies]
    # Each follow-up's request extends the previous one unchanged: the model kept the session.
    for before, after in itertools.pairwise(bodies[1:]):
        assert _messages(after)[: len(_messages(before))] == _messages(before)
    assert "now say what you changed" in json.dumps(_messages(bodies[2])[-1])
    assert "and thank you" in json.dumps(_messages(bodies[3])[-1])


def test_sessions_resume_after_a_restart(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(FIX_ADD), "Fixed.", "The subtraction in add.")
    first = run_scenario("session_first_spec", workspace, fake.url)
    match = re.search(r"^SESSION (\S+)$", first.stdout, re.M)
    assert match, first.stdout
    # Another Neovim and another server: the session comes from the server's store.
    run_scenario("session_resume_spec", workspace, fake.url, match.group(1))
    bodies = [r.body for r in fake.chat_requests]
    assert _messages(bodies[2])[: len(_messages(bodies[1]))] == _messages(bodies[1])
    assert "what did you fix?" in json.dumps(_messages(bodies[2])[-1])


# The plugin against the server's runChanges / keepHunk / revertHunk: marks on the changed lines
# that move with the user's edits, the hunk under the cursor sent, the server's revert edit
# applied (the user's line above it surviving), the marks refreshed, the review's states; then a
# second run's removed line (a virtual line) and added line (DiffAdd), undone with
# :OllamaAgentUndoHunk and kept with <Plug>(ollama-agent-keep).


def test_hunks_kept_and_undone_one_at_a_time(workspace: Path, fake: FakeOllama) -> None:
    (workspace / "calc.py").write_text(
        "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n", encoding="utf-8"
    )
    fake.enqueue(
        Reply.calls(FIX_ADD),
        Reply.calls(
            call(
                "edit_file",
                {
                    "path": "calc.py",
                    "old_string": "def mul(a, b):\n    return a + b",
                    "new_string": "def mul(a, b):\n    return a * b",
                },
            )
        ),
        "Fixed both.",
        Reply.calls(
            call(
                "edit_file",
                {"path": "calc.py", "old_string": "# a note of mine\n", "new_string": ""},
            ),
            call(
                "edit_file",
                {
                    "path": "calc.py",
                    "old_string": "def mul(a, b):\n",
                    "new_string": 'def mul(a, b):\n    """Multiply a and b."""\n',
                },
            ),
        ),
        "Dropped the note and documented mul.",
    )
    run_scenario("hunks_spec", workspace, fake.url)


def test_setup_only_configures(workspace: Path) -> None:
    run_scenario("one_way_spec", workspace, "http://127.0.0.1:9")


def test_readme_lazy_spec_starts_the_agent(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue("It subtracts.")
    run_scenario("lazy_spec", workspace, fake.url)


def _plugin_names() -> dict[str, list[str]]:
    """Commands, <Plug> mappings and option paths the plugin defines, asked of Neovim itself."""
    assert NVIM is not None
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", str(PLUGIN / "tests" / "names.lua")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"OLLAMA_AGENT_PLUGIN_DIR": str(PLUGIN), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    names: dict[str, list[str]] = json.loads(proc.stdout)
    return names


def test_help_documents_every_command_option_and_mapping() -> None:
    doc = (PLUGIN / "doc" / "ollama-agent.txt").read_text(encoding="utf-8")
    names = _plugin_names()
    assert len(names["commands"]) >= 13 and len(names["plugs"]) >= 6, names
    missing = [f"*:{c}*" for c in names["commands"] if f"*:{c}*" not in doc]
    missing += [f"*{p}*" for p in names["plugs"] if f"*{p}*" not in doc]
    # Each option by its full path, e.g. `chat.keymaps.send_insert`.
    missing += [o for o in sorted(set(names["options"])) if f"`{o}`" not in doc]
    assert not missing, f"doc/ollama-agent.txt does not document: {missing}"


PENDING_ON_THE_SERVER: set[str] = set()
"""Names the plugin uses that the server is still to add."""


def _protocol_table() -> dict[str, dict[str, str]]:
    assert NVIM is not None
    lua = (
        "vim.opt.runtimepath:prepend(vim.env.OLLAMA_AGENT_PLUGIN_DIR)\n"
        "local p = require('ollama_agent.protocol')\n"
        "io.stdout:write(vim.json.encode({commands = p.commands, "
        "notifications = p.notifications, requests = p.requests}))"
    )
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "-l", "-"],
        input=lua,
        capture_output=True,
        text=True,
        timeout=30,
        env={"OLLAMA_AGENT_PLUGIN_DIR": str(PLUGIN), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    table: dict[str, dict[str, str]] = json.loads(proc.stdout)
    return table


def test_protocol_table_matches_the_server() -> None:
    # The table as Neovim loads it (tests/unit/lsp/test_protocol_names.py reads the file's text).
    from ollama_agent_ls.lsp import lsp_ext

    table = _protocol_table()
    plugin_commands = set(table["commands"].values())
    server_commands = set(lsp_ext.ALL_COMMANDS)
    assert plugin_commands - PENDING_ON_THE_SERVER == server_commands
    # When the server adds a pending name, it leaves PENDING_ON_THE_SERVER.
    assert not PENDING_ON_THE_SERVER & server_commands, PENDING_ON_THE_SERVER & server_commands
    assert set(table["notifications"].values()) == {lsp_ext.TRANSCRIPT, lsp_ext.RUN_FINISHED}
    assert set(table["requests"].values()) == set(lsp_ext.REQUESTS)
