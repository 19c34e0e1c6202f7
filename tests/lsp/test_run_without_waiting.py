"""Runs that never block a client: ``wait: false`` answers at once, the result comes as
``ollamaAgent/runFinished``, and the code actions and lenses the server offers use it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, _plain
from tests.lsp.helpers import CANCEL, IMPLEMENT_TODO, RUN_SELECTION, selection
from tests.lsp_specs.helpers import (
    FIX_GREETING,
    RUN_SPEC,
    RUN_TITLE,
    SPEC_REL,
    TICK_BOTH,
    VERIFY_SPEC,
    VERIFY_TITLE,
    start_for_specs,
    write_spec,
)
from tests.waiting import wait_until

RUN_FINISHED = "ollamaAgent/runFinished"
APP = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
TODO_FILE = "def area(r):\n    # TODO: return the area of a circle of radius r\n    pass\n"
IMPLEMENT = call(
    "edit_file",
    {
        "path": "area.py",
        "old_string": "    # TODO: return the area of a circle of radius r\n    pass",
        "new_string": "    return 3.14159 * r * r",
    },
)
GATED_CHECK = """\
import pathlib, runpy, time
while not pathlib.Path("go").exists():
    time.sleep(0.02)
runpy.run_path("check.py")
"""
"""A verify command that runs check.py once the test has written the file ``go``."""
GATED_VERIFY = f"{shlex.quote(sys.executable)} gated_check.py"
RESULT_KEYS = {
    "runId", "sessionId", "status", "summary", "changedFiles", "notApplied", "turns", "metrics"
}  # fmt: skip


class Finished:
    """Every ollamaAgent/runFinished notification the client received, as plain data."""

    def __init__(self, client: Editor) -> None:
        self.results: list[dict[str, Any]] = []

        @client.feature(RUN_FINISHED)
        def on_finished(params: Any) -> None:
            self.results.append(_plain(params))

    async def of(self, run_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The runFinished of ``run_id`` (waits for it)."""
        await wait_until(
            lambda: any(r["runId"] == run_id for r in self.results),
            timeout,
            what=f"runFinished of {run_id}",
        )
        [result] = [r for r in self.results if r["runId"] == run_id]
        return result


def _action_params(uri: str, line: int) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(types.Position(line, 6), types.Position(line, 6)),
        context=types.CodeActionContext(diagnostics=[]),
    )


async def test_run_answers_at_once_and_the_result_follows(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    # The model holds its first answer until the test lets it go: the run cannot be over.
    fake_ollama.enqueue(Reply().gate("model").tool_calls(FIX).done(), Reply.say("Fixed add."))
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")

    # The model is held until the test lets it go, so had the server waited for the run, this
    # answer would never come (the test would time out): no clock is needed to show it.
    answer = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add", wait=False))

    assert answer == {
        "runId": answer["runId"], "sessionId": answer["sessionId"], "status": "running"
    }  # fmt: skip
    assert answer["sessionId"].startswith("s-")
    assert client.text(uri) == APP
    await wait_until(lambda: len(fake_ollama.chat_requests) == 1, what="the model request")
    fake_ollama.open_gate("model")
    result = await finished.of(answer["runId"])
    # The same result a waiting command answers with.
    assert set(result) == RESULT_KEYS
    assert result["status"] == "completed"
    assert result["summary"] == "Fixed add."
    assert result["changedFiles"] == [uri]
    assert result["turns"] == 2
    assert client.text(uri) == APP.replace("a - b", "a + b")
    # The run's progress ended too, after its transcript.
    await wait_until(
        lambda: isinstance((client.progress_of(answer["runId"]) or [None])[-1],
                           types.WorkDoneProgressEnd),
        what="the progress end",
    )  # fmt: skip


async def test_waiting_is_still_the_default(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply.calls(FIX), Reply.say("Fixed add."))
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")

    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))

    assert set(result) == RESULT_KEYS
    assert result["status"] == "completed"
    assert client.text(uri) == APP.replace("a - b", "a + b")
    # A waiting command's result is its answer; no notification repeats it.
    assert finished.results == []


async def test_the_todo_code_action_does_not_wait(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "area.py").write_text(TODO_FILE)
    fake_ollama.enqueue(Reply().gate("model").tool_calls(IMPLEMENT).done(), "Implemented area.")
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("area.py")
    [action] = await client.text_document_code_action_async(_action_params(uri, 1)) or []
    assert isinstance(action, types.CodeAction) and action.command is not None

    # Answered while the model is held: the server did not wait for the run.
    answer = await client.command(
        action.command.command, *[dict(a) for a in action.command.arguments or []]
    )

    assert action.command.command == IMPLEMENT_TODO
    assert answer["status"] == "running"
    fake_ollama.open_gate("model")
    result = await finished.of(answer["runId"])
    assert result["status"] == "completed"
    assert result["todoRemoved"] is True
    assert client.text(uri) == "def area(r):\n    return 3.14159 * r * r\n"


async def test_the_spec_lens_does_not_wait(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    fake_ollama.enqueue(
        Reply().gate("model").tool_calls(FIX_GREETING).done(),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )
    client = await start_for_specs(start_editor)
    finished = Finished(client)
    uri = client.open(SPEC_REL, language_id="markdown")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    [run_lens] = [lens for lens in lenses or [] if lens.command and lens.command.title == RUN_TITLE]
    assert run_lens.command is not None and run_lens.command.command == RUN_SPEC

    # Answered while the model is held: the server did not wait for the run.
    answer = await client.command(RUN_SPEC, *[dict(a) for a in run_lens.command.arguments or []])

    assert answer["status"] == "running"
    fake_ollama.open_gate("model")
    result = await finished.of(answer["runId"], timeout=30)
    assert result["status"] == "completed"
    assert result["specStatus"] == "completed"
    assert result["ticked"] == [1, 2]
    assert client.text(client.uri("greet.py")) == 'GREETING = "hello"\n'
    assert "status: completed" in client.text(uri)


async def test_refusals_still_come_as_errors_before_anything_runs(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")

    try:
        await client.command(IMPLEMENT_TODO, {"uri": uri, "line": 0, "wait": False})
    except JsonRpcInvalidParams as exc:
        assert "has no TODO, FIXME or XXX comment" in str(exc)
    else:
        raise AssertionError("a line without a TODO was accepted")
    assert finished.results == []
    assert fake_ollama.chat_requests == []


async def _hanging_run(
    start_editor: StartEditor, fake: FakeOllama, workspace: Path
) -> tuple[Editor, Finished, str, str]:
    """A wait:false run that edited app.py and now waits on a model that never answers."""
    (workspace / "app.py").write_text(APP)
    fake.enqueue(Reply.calls(FIX), Reply().content("Let me think").hang())
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")
    answer = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix", wait=False))
    await wait_until(lambda: len(fake.chat_requests) == 2, what="the hanging request")
    await client.wait_for_transcript(lambda t: t["kind"] == "content")
    return client, finished, uri, str(answer["runId"])


async def test_cancel_command_stops_a_run_that_did_not_wait(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    client, finished, uri, run_id = await _hanging_run(start_editor, fake_ollama, workspace)

    assert await client.command(CANCEL, {"runId": run_id}) == {"cancelled": [run_id]}

    result = await finished.of(run_id)
    assert result["status"] == "cancelled"
    assert result["changedFiles"] == [uri]
    assert fake_ollama.wait_for_disconnects(1) >= 1
    # The edit made before the cancel stays, undoable.
    assert client.text(uri) == APP.replace("a - b", "a + b")


async def test_progress_cancel_stops_a_run_that_did_not_wait(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    client, finished, _, run_id = await _hanging_run(start_editor, fake_ollama, workspace)

    client.protocol.notify(
        types.WINDOW_WORK_DONE_PROGRESS_CANCEL,
        types.WorkDoneProgressCancelParams(token=f"ollama-agent-{run_id}"),
    )

    assert (await finished.of(run_id))["status"] == "cancelled"


async def test_cancelling_the_answered_request_does_not_stop_the_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply().gate("model").tool_calls(FIX).done(), Reply.say("Fixed add."))
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")
    request_id = "run-request-1"
    answer = _plain(
        await client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(
                command=RUN_SELECTION, arguments=[selection(uri, 0, 1, "fix", wait=False)]
            ),
            msg_id=request_id,
        )
    )

    # An editor that cancels its requests when the user moves on (the request is answered).
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
    await wait_until(lambda: len(fake_ollama.chat_requests) == 1, what="the model request")
    fake_ollama.open_gate("model")

    result = await finished.of(answer["runId"])
    assert result["status"] == "completed"
    assert client.text(uri) == APP.replace("a - b", "a + b")


async def test_cancel_right_after_the_answer_stops_the_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_ollama.enqueue(Reply().content("Let me think").hang())
    client = await start_editor()
    finished = Finished(client)
    uri = client.open("app.py")

    answer = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix", wait=False))
    cancelled = await client.command(CANCEL, {"runId": answer["runId"]})

    assert cancelled == {"cancelled": [answer["runId"]]}
    result = await finished.of(answer["runId"])
    assert result["status"] == "cancelled"
    assert client.text(uri) == APP


async def test_the_verify_lens_does_not_wait(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    # The verify command waits until the test lets it go (a file appears): had the server
    # waited for it, the answer would never come.
    write_spec(workspace, verify=GATED_VERIFY)
    (workspace / "gated_check.py").write_text(GATED_CHECK)
    (workspace / "greet.py").write_text('GREETING = "hello"\n')
    client = await start_for_specs(start_editor)
    finished = Finished(client)
    uri = client.open(SPEC_REL, language_id="markdown")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    commands = [lens.command for lens in lenses or [] if lens.command is not None]
    [verify] = [c for c in commands if c.title == VERIFY_TITLE]
    assert verify is not None and verify.command == VERIFY_SPEC

    answer = await client.command(VERIFY_SPEC, *[dict(a) for a in verify.arguments or []])

    assert answer["status"] == "running"
    (workspace / "go").write_text("")
    result = await finished.of(answer["runId"], timeout=30)
    assert result["status"] == "completed"
    assert result["passed"] is True
    assert "check ok" in result["verify"][0]["output"]
    assert fake_ollama.chat_requests == []


async def test_cancel_stops_a_verify_that_did_not_wait(
    start_editor: StartEditor, workspace: Path
) -> None:
    write_spec(workspace)
    # A verify command that would outlast the test unless the cancel reaches it.
    (workspace / "check.py").write_text(
        'import time\nopen("verify-started", "w").close()\ntime.sleep(120)\n', encoding="utf-8"
    )
    client = await start_for_specs(start_editor)
    finished = Finished(client)
    uri = client.open(SPEC_REL, language_id="markdown")
    answer = await client.command(VERIFY_SPEC, {"uri": uri, "wait": False})
    await wait_until(lambda: (workspace / "verify-started").exists(), what="verify to start")

    cancelled = await client.command(CANCEL, {"runId": answer["runId"]})

    assert cancelled == {"cancelled": [answer["runId"]]}
    assert (await finished.of(answer["runId"]))["status"] == "cancelled"
