"""Before a command runs, what the session read or changed is on disk (issue 14 item 4).

A command reads the disk, so an earlier run's edits that are still only in the editor, and the
user's unsaved typing in files the model read, are saved first through the client; what cannot
be saved is named to the model. Unsaved documents the model never read are left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor
from tests.lsp.helpers import RUN_SELECTION, selection, tool_results

CALC = "def add(a, b):\n    return a - b\n"
MAIN = "from calc import add\n\nprint(add(2, 3))\n"
UTIL = "LIMIT = 10\n"
NOTES = "nothing yet\n"
FIX = call("edit_file", {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"})
SETTINGS = {"commandApproval": "always"}


def _workspace(root: Path) -> None:
    (root / "calc.py").write_text(CALC)
    (root / "main.py").write_text(MAIN)
    (root / "util.py").write_text(UTIL)
    (root / "notes.txt").write_text(NOTES)


async def _run(client: Editor, uri: str, instruction: str) -> dict[str, Any]:
    result = await client.command(RUN_SELECTION, selection(uri, 0, 0, instruction))
    assert result["status"] == "completed", result
    return result


def _command_output(fake: FakeOllama) -> str:
    """What the model was told about the last command (the last tool result it saw)."""
    return tool_results(fake)[-1]


async def test_a_command_sees_an_earlier_runs_unsaved_edit(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    _workspace(workspace)
    fake_ollama.enqueue(
        Reply.calls(FIX),
        "Fixed add.",
        Reply.calls(call("run_command", {"command": "cat calc.py"})),
        "add adds now.",
    )
    client = await start_editor(SETTINGS)
    calc = client.open("calc.py")
    main = client.open("main.py")
    await _run(client, calc, "fix add")
    # Live mode: the first run's edit is in the editor only.
    assert (workspace / "calc.py").read_text() == CALC

    await _run(client, main, "check calc.py")

    assert any(calc in uris for uris in client.save_requests)
    assert (workspace / "calc.py").read_text() == CALC.replace("a - b", "a + b")
    output = _command_output(fake_ollama)
    assert "return a + b" in output
    assert "unsaved" not in output


async def test_a_command_sees_the_users_unsaved_typing_in_files_the_model_read(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    _workspace(workspace)
    fake_ollama.enqueue(
        Reply.calls(call("read_file", {"path": "util.py"})),
        Reply.calls(call("run_command", {"command": "cat util.py notes.txt main.py"})),
        "Read them.",
    )
    client = await start_editor(SETTINGS)
    util = client.open("util.py")
    notes = client.open("notes.txt", language_id="plaintext")
    main = client.open("main.py")
    # The user types in three buffers and saves none of them.
    client.type(util, 0, len("LIMIT = 10"), "LIMIT = 99")
    client.type(notes, 0, len("nothing yet"), "private draft")
    client.type(main, len(MAIN), None, "print(add(1, 1))\n")

    await _run(client, main, "show the limit")

    # util.py (read by the model) and main.py (its selection) are saved; notes.txt, never read,
    # keeps the user's draft in the editor only.
    saved = {uri for uris in client.save_requests for uri in uris}
    assert saved == {util, main}
    assert (workspace / "util.py").read_text() == "LIMIT = 99\n"
    assert (workspace / "main.py").read_text() == MAIN + "print(add(1, 1))\n"
    assert (workspace / "notes.txt").read_text() == NOTES
    output = _command_output(fake_ollama)
    assert "LIMIT = 99" in output
    assert "print(add(1, 1))" in output
    assert "nothing yet" in output
    assert "unsaved" not in output


async def test_an_editor_that_cannot_save_lets_the_model_know(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    _workspace(workspace)
    fake_ollama.enqueue(
        Reply.calls(FIX),
        "Fixed add.",
        Reply.calls(call("read_file", {"path": "util.py"})),
        Reply.calls(call("run_command", {"command": "cat calc.py util.py"})),
        "Checked.",
    )
    client = await start_editor(SETTINGS, save_documents=False)
    calc = client.open("calc.py")
    util = client.open("util.py")
    notes = client.open("notes.txt", language_id="plaintext")
    main = client.open("main.py")
    await _run(client, calc, "fix add")
    client.type(util, 0, len("LIMIT = 10"), "LIMIT = 99")
    client.type(notes, 0, len("nothing yet"), "private draft")

    await _run(client, main, "check calc.py and util.py")

    assert client.save_requests == []
    output = _command_output(fake_ollama)
    # The model hears which files the command sees in their older state on disk: the earlier
    # run's edit and the file it read; the draft it never read is nobody's business.
    note = output.splitlines()[0]
    assert "unsaved changes in the editor" in note
    assert "calc.py" in note and "util.py" in note
    assert "notes.txt" not in note
    assert "return a - b" in output and "LIMIT = 10" in output
