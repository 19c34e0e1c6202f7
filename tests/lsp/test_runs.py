"""Runs through the editor: a selection, a TODO code action, emoji and CRLF, a racing user."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, offset_at, position_at
from tests.lsp.helpers import IMPLEMENT_TODO, RUN_SELECTION, selection, tool_results, user_prompt

APP = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"


def _single_edits(client: Editor) -> list[types.TextEdit]:
    edits: list[types.TextEdit] = []
    for record in client.edits:
        edit = record.params.edit
        for op in edit.document_changes or []:
            if isinstance(op, types.TextDocumentEdit):
                edits.extend(op.edits)
        for text_edits in (edit.changes or {}).values():
            edits.extend(text_edits)
    return edits


async def test_run_on_a_selection_edits_the_buffer_with_transcript_and_progress(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(
        Reply()
        .thinking("The sign ", "is wrong.")
        .content("Fixing it.")
        .tool_calls(
            call(
                "edit_file",
                {"path": "app.py", "old_string": "a - b\n\n", "new_string": "a + b\n\n"},
            )
        )
        .done(),
        Reply.say("Fixed ", "the sign."),
    )
    client = await start_editor()
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix the sign of add"))

    assert result["status"] == "completed"
    assert result["summary"] == "Fixed the sign."
    assert result["changedFiles"] == [uri]
    assert result["turns"] == 2
    assert result["metrics"]["requests"] == 2
    # The edit reached the editor's buffer, not the disk; sub() kept its own bug.
    assert client.text(uri) == APP.replace("a - b\n\n", "a + b\n\n", 1)
    assert (workspace / "app.py").read_text() == APP
    # A minimal edit: one character replaced, not the whole document.
    [edit] = _single_edits(client)
    assert edit.new_text == "+"
    assert edit.range.start == types.Position(line=1, character=13)
    assert client.edits[0].params.label.startswith("Ollama agent: ")
    # The model saw the selected lines and the instruction.
    prompt = user_prompt(fake_ollama)
    assert "fix the sign of add" in prompt
    assert "def add(a, b):" in prompt

    run_id = result["runId"]
    finished = await client.wait_for_transcript(
        lambda t: t["runId"] == run_id and t["kind"] == "finished"
    )
    assert finished["status"] == "completed"
    kinds = [t["kind"] for t in client.transcript_of(run_id)]
    for kind in ("started", "thinking", "content", "toolCall", "toolResult", "edit", "finished"):
        assert kind in kinds, f"no {kind} in {kinds}"
    thinking = "".join(t["text"] for t in client.transcript_of(run_id, "thinking"))
    content = "".join(t["text"] for t in client.transcript_of(run_id, "content"))
    assert thinking == "The sign is wrong."
    assert content == "Fixing it.Fixed the sign."

    progress = client.progress_of(run_id)
    assert isinstance(progress[0], types.WorkDoneProgressBegin)
    assert progress[0].title == "Ollama agent"
    assert progress[0].cancellable is True
    assert any(isinstance(p, types.WorkDoneProgressReport) for p in progress)
    assert any(
        isinstance(p, types.WorkDoneProgressReport) and "edit_file" in (p.message or "")
        for p in progress
    )
    assert isinstance(progress[-1], types.WorkDoneProgressEnd)
    assert "completed" in (progress[-1].message or "")


TODO_FILE = (
    "import math\n\n\ndef area(r):\n    # TODO: return the area of a circle of radius r\n    pass\n"
)


async def test_todo_code_action_is_offered_and_implements_the_todo(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "geometry.py").write_text(TODO_FILE)
    client = await start_editor()
    uri = client.open("geometry.py")

    def actions_at(line: int) -> types.CodeActionParams:
        return types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(
                start=types.Position(line=line, character=6),
                end=types.Position(line=line, character=6),
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )

    assert not await client.text_document_code_action_async(actions_at(0))
    actions = await client.text_document_code_action_async(actions_at(4))
    assert actions is not None
    [action] = actions
    assert isinstance(action, types.CodeAction)
    assert action.title == "Implement TODO with Ollama agent"
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.command is not None
    assert action.command.command == IMPLEMENT_TODO
    arguments = [dict(a) for a in action.command.arguments or []]
    assert arguments == [{"uri": uri, "line": 4, "wait": False}]

    fake_ollama.enqueue(
        Reply.calls(
            call(
                "edit_file",
                {
                    "path": "geometry.py",
                    "old_string": "    # TODO: return the area of a circle of radius r\n    pass",
                    "new_string": "    return math.pi * r * r",
                },
            )
        ),
        Reply.say("Implemented area()."),
    )
    result = await client.command(action.command.command, {**arguments[0], "wait": True})

    assert result["status"] == "completed"
    assert result["todoRemoved"] is True
    assert client.text(uri).endswith("def area(r):\n    return math.pi * r * r\n")
    prompt = user_prompt(fake_ollama)
    assert "return the area of a circle of radius r" in prompt


async def test_todo_still_there_is_reported(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "geometry.py").write_text(TODO_FILE)
    fake_ollama.enqueue(Reply.say("I could not work out what to do."))
    client = await start_editor()
    uri = client.open("geometry.py")

    result = await client.command(IMPLEMENT_TODO, {"uri": uri, "line": 4})

    assert result["status"] == "completed"
    assert result["todoRemoved"] is False


EMOJI = "x = '😀'\r\ny = 'é😀'\r\nz = 1\r\n"


async def test_emoji_and_crlf_ranges_are_right_in_the_negotiated_encoding(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path, editor_name: str
) -> None:
    (workspace / "emoji.py").write_bytes(EMOJI.encode())
    fake_ollama.enqueue(
        Reply.calls(
            call("edit_file", {"path": "emoji.py", "old_string": "'é😀'", "new_string": "'é😀😀!'"})
        ),
        Reply.calls(
            call("edit_file", {"path": "emoji.py", "old_string": "z = 1", "new_string": "z = '🎉'"})
        ),
        Reply.say("done"),
    )
    client = await start_editor()
    # VS Code offers no encodings (UTF-16); Neovim 0.11 offers utf-8 first.
    assert client.encoding == ("utf-16" if "visual" in editor_name else "utf-8")
    uri = client.open("emoji.py")
    text = client.text(uri)
    last = text.index("z = 1") + len("z = 1")
    # The selection ends at the end of "z = 1", in the client's units.
    end = position_at(text, last, client.encoding)
    args = {
        "uri": uri,
        "range": {
            "start": {"line": 1, "character": 0},
            "end": {"line": end.line, "character": end.character},
        },
        "instruction": "more emoji",
    }
    result = await client.command(RUN_SELECTION, args)

    assert result["status"] == "completed", result["summary"]
    assert client.text(uri) == "x = '😀'\r\ny = 'é😀😀!'\r\nz = '🎉'\r\n"
    [first, second] = _single_edits(client)
    assert first.range.start.line == 1
    # After "y = 'é😀": 4 + 1 + 2 UTF-16 units, or 4 + 2 + 4 UTF-8 bytes.
    assert first.range.start.character == (8 if client.encoding == "utf-16" else 11)
    assert offset_at(EMOJI, first.range.start, client.encoding) == EMOJI.index("😀'\r\nz") + 1
    assert second.range.start.line == 2
    prompt = user_prompt(fake_ollama)
    assert "Selected lines 2-3" in prompt


async def test_a_user_keystroke_racing_an_edit_survives_and_the_model_rereads(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fix = call(
        "edit_file",
        {
            "path": "app.py",
            "old_string": "def sub(a, b):\n    return a - b",
            "new_string": "def sub(a, b):\n    return a - b  # checked",
        },
    )
    fake_ollama.enqueue(Reply.calls(fix), Reply.calls(fix), Reply.say("done"))
    client = await start_editor()
    uri = client.open("app.py")

    async def user_types(_: types.ApplyWorkspaceEditParams) -> None:
        # The edit was computed against version 1; the user types before the editor applies it.
        client.type(uri, 0, None, "# note\n")

    client.before_apply = user_types
    result = await client.command(RUN_SELECTION, selection(uri, 4, 5, "mark sub as checked"))

    assert result["status"] == "completed", result["summary"]
    expected = "# note\n" + APP.removesuffix("    return a - b\n") + "    return a - b  # checked\n"
    assert client.text(uri) == expected
    # The first edit was refused (VS Code) or skipped (Neovim); the model was told to re-read.
    first_result = tool_results(fake_ollama, 1)[0]
    assert "Read the file again" in first_result or "Read it again" in first_result
    assert client.edits[0].applied is False or client.edits[0].skipped == [uri]


async def test_streamed_deltas_are_coalesced_and_no_text_is_dropped(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    pieces = [f"w{i} " for i in range(400)]
    fake_ollama.enqueue(Reply().thinking(*pieces).content(*pieces).done())
    client = await start_editor()
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "explain"))

    assert result["status"] == "completed"
    for kind in ("thinking", "content"):
        sent = client.transcript_of(result["runId"], kind)
        assert "".join(t["text"] for t in sent) == "".join(pieces)
        assert len(sent) < len(pieces) / 4, f"{len(sent)} {kind} notifications for 400 deltas"


async def test_transcript_updates_per_second_sets_how_often_text_is_sent(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    # Two bursts with the model pausing 0.3 s between them: at the default 20 updates a second
    # each burst gets its own notifications; at 1 a second, once the first sends are spent, the
    # run ends before the next one is due, so the rest of its text goes out together.
    pieces = [f"w{i} " for i in range(40)]
    reply = Reply().content(*pieces[:20]).sleep(0.3).content(*pieces[20:]).done()
    fake_ollama.enqueue(reply, reply)
    texts: dict[str, list[str]] = {}
    for rate in (20, 1):
        client = await start_editor({"transcriptUpdatesPerSecond": rate})
        uri = client.open("app.py")
        result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "explain"))
        assert result["status"] == "completed"
        texts[str(rate)] = [t["text"] for t in client.transcript_of(result["runId"], "content")]
    for sent in texts.values():
        assert "".join(sent) == "".join(pieces)
    assert len(texts["1"]) <= 2, texts["1"]
    assert len(texts["20"]) > len(texts["1"]), texts
