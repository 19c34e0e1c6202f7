"""A run's changes hunk by hunk (issue 16): runChanges lists where each hunk is now, revertHunk
puts one back leaving the user's edits, keepHunk keeps one, and a later undoRun respects both,
also after the server restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcInvalidParams

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor
from tests.lsp.helpers import RUN_SELECTION, UNDO_RUN, selection

RUN_CHANGES = "ollamaAgent.runChanges"
REVERT_HUNK = "ollamaAgent.revertHunk"
KEEP_HUNK = "ollamaAgent.keepHunk"

OPS = (
    "def add(a, b):\n    return a - b\n\n\n"
    "def sub(a, b):\n    return a + b\n\n\n"
    "def mul(a, b):\n    return a / b\n"
)
FIXES = {"add": ("a - b", "a + b"), "sub": ("a + b", "a - b"), "mul": ("a / b", "a * b")}


def _fix(name: str) -> Any:
    old, new = FIXES[name]
    return call(
        "edit_file",
        {
            "path": "ops.py",
            "old_string": f"def {name}(a, b):\n    return {old}",
            "new_string": f"def {name}(a, b):\n    return {new}",
        },
    )


def _fixed(text: str, *names: str) -> str:
    """``text`` with the functions ``names`` fixed."""
    for name in names:
        old, new = FIXES[name]
        text = text.replace(
            f"def {name}(a, b):\n    return {old}", f"def {name}(a, b):\n    return {new}"
        )
    return text


def _lines(first: int, end: int) -> dict[str, Any]:
    return {"start": {"line": first, "character": 0}, "end": {"line": end, "character": 0}}


async def _run(client: Editor, fake: FakeOllama, *names: str) -> tuple[str, str]:
    """A live run fixing ``names`` in ops.py; (runId, uri)."""
    fake.enqueue(Reply.calls(*(_fix(n) for n in names)), Reply.say("Fixed the signs."))
    uri = client.open("ops.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 9, "fix the signs"))
    assert result["status"] == "completed", result
    assert client.text(uri) == _fixed(OPS, *names)
    return str(result["runId"]), uri


async def _hunks(client: Editor, run_id: str) -> dict[str, dict[str, Any]]:
    [file] = await client.command(RUN_CHANGES, {"runId": run_id})
    return {h["id"]: h for h in file["hunks"]}


async def test_hunks_are_listed_reverted_and_kept_and_undo_respects_them(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "ops.py").write_text(OPS)
    client = await start_editor()
    run_id, uri = await _run(client, fake_ollama, "add", "sub", "mul")

    [file] = await client.command(RUN_CHANGES, {"runId": run_id})
    assert file["uri"] == uri
    assert [(h["id"], h["range"], h["state"]) for h in file["hunks"]] == [
        ("h1", _lines(1, 2), "pending"),
        ("h2", _lines(5, 6), "pending"),
        ("h3", _lines(9, 10), "pending"),
    ]
    assert file["hunks"][0]["oldText"] == "    return a - b\n"
    assert file["hunks"][0]["newText"] == "    return a + b\n"

    # The user types elsewhere: a line at the top. The hunks move with the text.
    client.type(uri, 0, None, "# mine\n")
    hunks = await _hunks(client, run_id)
    assert [h["range"] for h in hunks.values()] == [_lines(2, 3), _lines(6, 7), _lines(10, 11)]

    answer = await client.command(REVERT_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h1"})
    assert answer["state"] == "reverted"
    assert client.text(uri) == "# mine\n" + _fixed(OPS, "sub", "mul")
    await client.command(KEEP_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h2"})

    hunks = await _hunks(client, run_id)
    assert (hunks["h1"]["state"], hunks["h1"]["range"]) == ("reverted", None)
    assert (hunks["h2"]["state"], hunks["h2"]["range"]) == ("kept", _lines(6, 7))
    assert (hunks["h3"]["state"], hunks["h3"]["range"]) == ("pending", _lines(10, 11))

    undo = await client.command(UNDO_RUN, {"runId": run_id})

    # Only the pending hunk went back: the kept one stays, the reverted one is not touched
    # again (and is not reported as changed by the user), the user's line survives.
    assert undo["applied"] is True and undo["reverted"] == [uri]
    assert undo["leftAlone"] == []
    assert client.text(uri) == "# mine\n" + _fixed(OPS, "sub")


async def test_a_hunk_the_user_edited_is_not_reverted(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "ops.py").write_text(OPS)
    client = await start_editor()
    run_id, uri = await _run(client, fake_ollama, "add", "sub")
    text = client.text(uri)
    at = text.index("a - b")  # the line the agent wrote in sub()
    client.type(uri, at, at + 5, "b - a")

    hunks = await _hunks(client, run_id)
    assert (hunks["h2"]["state"], hunks["h2"]["range"]) == ("edited", None)
    assert hunks["h1"]["state"] == "pending"
    with pytest.raises(JsonRpcInvalidParams, match=r"h2 in ops\.py were edited since the run"):
        await client.command(REVERT_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h2"})
    with pytest.raises(JsonRpcInvalidParams, match=r"no hunk 'h9' .*its hunks: h1, h2"):
        await client.command(KEEP_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h9"})
    with pytest.raises(JsonRpcInvalidParams, match=r"did not change .*other\.py"):
        await client.command(
            KEEP_HUNK, {"runId": run_id, "uri": client.uri("other.py"), "hunkId": "h1"}
        )
    assert client.text(uri) == text[:at] + "b - a" + text[at + 5 :]


async def test_hunk_states_hold_after_a_restart(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "ops.py").write_text(OPS)
    first = await start_editor()
    run_id, uri = await _run(first, fake_ollama, "add", "sub")
    await first.command(KEEP_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h1"})
    (workspace / "ops.py").write_text(first.text(uri))  # the user saves
    await first.teardown()

    second = await start_editor()
    hunks = await _hunks(second, run_id)
    assert (hunks["h1"]["state"], hunks["h1"]["range"]) == ("kept", _lines(1, 2))
    assert (hunks["h2"]["state"], hunks["h2"]["range"]) == ("pending", _lines(5, 6))
    uri = second.open("ops.py")
    await second.command(REVERT_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h2"})
    assert second.text(uri) == _fixed(OPS, "add")
    with pytest.raises(JsonRpcInvalidParams, match="h2 is reverted already"):
        await second.command(KEEP_HUNK, {"runId": run_id, "uri": uri, "hunkId": "h2"})

    undo = await second.command(UNDO_RUN, {"runId": run_id})

    # Kept and reverted: nothing of the run is left to undo.
    assert undo["applied"] is True and undo["leftAlone"] == []
    assert second.text(uri) == _fixed(OPS, "add")
    assert await second.command(RUN_CHANGES, {"runId": run_id}) == []


async def test_an_unknown_run_is_invalid_params_naming_it(start_editor: StartEditor) -> None:
    client = await start_editor()
    with pytest.raises(JsonRpcInvalidParams, match="There is no run run-77"):
        await client.command(RUN_CHANGES, {"runId": "run-77"})
    with pytest.raises(JsonRpcInvalidParams, match="'hunkId' is required"):
        await client.command(KEEP_HUNK, {"runId": "run-77", "uri": "file:///x.py"})


async def test_a_file_a_command_changed_is_listed_and_its_hunks_revert(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    # The agent fixes mul() with a command (sed), not an edit: its change is the run's too.
    (workspace / "ops.py").write_text(OPS)
    fake_ollama.enqueue(
        Reply.calls(call("run_command", {"command": "sed -i 's#a / b#a * b#' ops.py"})),
        Reply.say("Fixed mul."),
    )
    client = await start_editor({"commandApproval": "always"})
    result = await client.command("ollamaAgent.runTask", {"instruction": "fix mul"})
    assert result["status"] == "completed", result
    assert (workspace / "ops.py").read_text() == _fixed(OPS, "mul")

    [file] = await client.command(RUN_CHANGES, {"runId": result["runId"]})
    uri = client.uri("ops.py")
    assert file["uri"] == uri
    [hunk] = file["hunks"]
    assert (hunk["id"], hunk["range"], hunk["state"]) == ("h1", _lines(9, 10), "pending")
    assert (hunk["oldText"], hunk["newText"]) == ("    return a / b\n", "    return a * b\n")

    answer = await client.command(
        REVERT_HUNK, {"runId": result["runId"], "uri": uri, "hunkId": "h1"}
    )
    assert answer["state"] == "reverted"
    assert client.text(uri) == OPS
