"""What a sandboxed command does to the workspace is undoable like the file tools' edits (the
user's later edits survive), and what the sandbox blocks is offered to the person, once."""

from __future__ import annotations

from pathlib import Path

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import RUN_SELECTION, UNDO_RUN, selection, tool_results

APP = "def add(a, b):\n    return a - b\n"


def _command(command: str) -> Reply:
    return Reply.calls(call("run_command", {"command": command}))


async def test_undo_restores_what_a_command_changed_and_keeps_the_users_edit(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    (workspace / "notes.txt").write_text("keep me\n")
    (workspace / "conf.py").write_text("LEVEL = 1\nNAME = 'x'\n")
    (workspace / "logo.bin").write_bytes(b"\x00\x01logo")
    fake_ollama.enqueue(
        _command(
            "rm notes.txt && echo made > made.txt && sed -i 's/1/2/' conf.py && "
            "printf '\\000\\002' > logo.bin"
        ),
        Reply.say("Done."),
    )
    client = await start_editor({"commandApproval": "always"})
    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "tidy up"))
    assert result["status"] == "completed"
    assert "[exit code 0]" in tool_results(fake_ollama, 1)[0]
    assert not (workspace / "notes.txt").exists()
    changed = sorted(result["changedFiles"])
    assert changed == sorted(client.uri(p) for p in ("conf.py", "made.txt", "notes.txt"))
    # The user edits the file the command changed, on a line of their own.
    conf = client.open("conf.py")
    client.type(conf, len(client.text(conf)), None, "DEBUG = True\n")

    undo = await client.command(UNDO_RUN, {"runId": result["runId"]})

    assert undo["applied"] is True
    assert client.text(conf) == "LEVEL = 1\nNAME = 'x'\nDEBUG = True\n"
    assert client.text(client.uri("notes.txt")) == "keep me\n"
    assert not (workspace / "made.txt").exists()
    assert (workspace / "logo.bin").read_bytes() == b"\x00\x01logo"
    assert undo["leftAlone"] == []


async def test_a_blocked_command_is_offered_to_the_user_and_kept_blocked(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "app.py").write_text(APP)
    # A script the destructive floor cannot see into: the sandbox alone stops it.
    (workspace / "w.py").write_text(f"open({str(outside / 'x.txt')!r}, 'w').write('x')\n")
    fake_ollama.enqueue(_command("python3 w.py"), Reply.say("Could not."))
    client = await start_editor({"commandApproval": "always"})
    client.answers.append("Keep it blocked")
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "write it"))

    assert result["status"] == "completed"
    [question] = client.message_requests
    assert "The sandbox blocked" in question.message
    assert "python3 w.py" in question.message
    assert [a.title for a in question.actions or []] == [
        "Run outside the sandbox (once)",
        "Keep it blocked",
    ]
    assert not (outside / "x.txt").exists()
    assert "the sandbox blocked a write outside the workspace" in tool_results(fake_ollama, 1)[0]


async def test_the_user_may_run_a_blocked_command_outside_once(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "app.py").write_text(APP)
    (workspace / "w.py").write_text(f"open({str(outside / 'x.txt')!r}, 'w').write('x')\n")
    fake_ollama.enqueue(_command("python3 w.py"), Reply.say("Wrote it."))
    client = await start_editor({"commandApproval": "always"})
    client.answers.append("Run outside the sandbox (once)")
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "write it"))

    assert result["status"] == "completed"
    assert (outside / "x.txt").read_text() == "x"
    assert "outside the sandbox, once" in tool_results(fake_ollama, 1)[0]


async def test_a_commands_changes_are_undone_by_a_later_server(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    (workspace / "notes.txt").write_text("keep me\n")
    (workspace / "logo.bin").write_bytes(b"\x00\x01logo")
    fake_ollama.enqueue(
        _command("rm notes.txt && printf '\\000\\002' > logo.bin"), Reply.say("Ok.")
    )
    first_server = await start_editor({"commandApproval": "always"})
    uri = first_server.open("app.py")
    result = await first_server.command(RUN_SELECTION, selection(uri, 0, 1, "tidy up"))
    assert result["status"] == "completed"
    assert not (workspace / "notes.txt").exists()
    await first_server.teardown()

    # The new server knows the run only from the session store, the old bytes from checkpoints;
    # without a runId, undo takes the workspace's latest run with changes.
    second_server = await start_editor()
    undo = await second_server.command(UNDO_RUN, {})

    assert undo["runId"] == result["runId"]
    assert undo["applied"] is True and undo["leftAlone"] == []
    assert second_server.text(second_server.uri("notes.txt")) == "keep me\n"
    assert (workspace / "logo.bin").read_bytes() == b"\x00\x01logo"
