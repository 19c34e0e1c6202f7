"""Three ways to stop a run: ollamaAgent.cancel, the progress cancel button, $/cancelRequest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, server_process
from tests.lsp.helpers import CANCEL, RUN_SELECTION, selection
from tests.waiting import wait_until

APP = "def add(a, b):\n    return a - b\n"
EDIT = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


@dataclass
class HangingRun:
    """A run that edited app.py once and now waits on a model that never answers."""

    client: Editor
    uri: str
    run_id: str
    pending: asyncio.Future[Any]


def _run_selection(client: Editor, uri: str) -> Awaitable[Any]:
    return client.command(RUN_SELECTION, selection(uri, 0, 1, "fix"))


async def _start_hanging_run(
    start_editor: StartEditor,
    fake: FakeOllama,
    workspace: Path,
    send: Callable[[Editor, str], Awaitable[Any]] = _run_selection,
) -> HangingRun:
    """An editor with app.py open and a hanging run on it, started by ``send``."""
    (workspace / "app.py").write_text(APP)
    fake.enqueue(Reply.calls(EDIT), Reply().content("Let me think").hang())
    client = await start_editor()
    uri = client.open("app.py")
    pending = asyncio.ensure_future(send(client, uri))
    started = await client.wait_for_transcript(lambda t: t["kind"] == "started")
    await wait_until(lambda: len(fake.chat_requests) == 2, what="the hanging request")
    await client.wait_for_transcript(lambda t: t["kind"] == "content")
    return HangingRun(client, uri, str(started["runId"]), pending)


async def _assert_cancelled(client: Editor, fake: FakeOllama, run_id: str, uri: str) -> None:
    finished = await client.wait_for_transcript(
        lambda t: t["runId"] == run_id and t["kind"] == "finished"
    )
    assert finished["status"] == "cancelled"
    # The HTTP stream was closed, not left hanging.
    await wait_until(lambda: fake.disconnects >= 1, what="the fake to see the disconnect")
    # A live edit already applied stays (it can be undone).
    assert client.text(uri) == APP.replace("a - b", "a + b")
    # The progress ends after the transcript's last word (the $/cancelRequest path has no
    # result to wait for).
    await wait_until(
        lambda: isinstance(client.progress_of(run_id)[-1], types.WorkDoneProgressEnd),
        what="the progress to end",
    )
    end = client.progress_of(run_id)[-1]
    assert "cancelled" in (end.message or "")


async def test_cancel_command_stops_the_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    run = await _start_hanging_run(start_editor, fake_ollama, workspace)

    answer = await run.client.command(CANCEL, {"runId": run.run_id})

    assert answer == {"cancelled": [run.run_id]}
    result = await asyncio.wait_for(run.pending, 10)
    assert result["status"] == "cancelled"
    assert result["changedFiles"] == [run.uri]
    await _assert_cancelled(run.client, fake_ollama, run.run_id, run.uri)


async def test_cancel_without_run_id_stops_every_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    run = await _start_hanging_run(start_editor, fake_ollama, workspace)

    answer = await run.client.command(CANCEL, {})

    assert answer == {"cancelled": [run.run_id]}
    assert (await asyncio.wait_for(run.pending, 10))["status"] == "cancelled"
    # Nothing runs any more: cancelling again cancels nothing.
    assert await run.client.command(CANCEL) == {"cancelled": []}


async def test_progress_cancel_button_stops_the_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    run = await _start_hanging_run(start_editor, fake_ollama, workspace)
    begin = run.client.progress_of(run.run_id)[0]
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.cancellable is True

    run.client.window_work_done_progress_cancel(
        types.WorkDoneProgressCancelParams(token=f"ollama-agent-{run.run_id}")
    )

    result = await asyncio.wait_for(run.pending, 10)
    assert result["status"] == "cancelled"
    await _assert_cancelled(run.client, fake_ollama, run.run_id, run.uri)


async def test_cancel_request_on_the_command_stops_the_run(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    def send(client: Editor, uri: str) -> Awaitable[Any]:
        return client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(
                command=RUN_SELECTION, arguments=[selection(uri, 0, 1, "fix")]
            ),
            msg_id="run-request-1",
        )

    run = await _start_hanging_run(start_editor, fake_ollama, workspace, send)

    run.client.cancel_request(types.CancelParams(id="run-request-1"))

    with pytest.raises(JsonRpcRequestCancelled) as caught:
        await asyncio.wait_for(run.pending, 10)
    assert caught.value.code == -32800
    # pygls answers -32800 at once; the run itself must stop too, not go on in the background.
    await _assert_cancelled(run.client, fake_ollama, run.run_id, run.uri)


async def test_shutdown_during_a_run_ends_it_and_answers_cleanly(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    run = await _start_hanging_run(start_editor, fake_ollama, workspace)

    # An editor closing mid-run: shutdown must be answered, not fail with an internal error.
    await asyncio.wait_for(run.client.shutdown_async(None), 10)

    result = await asyncio.wait_for(run.pending, 10)
    assert result["status"] == "cancelled"
    assert result["runId"] == run.run_id
    run.client.exit(None)
    assert await asyncio.wait_for(server_process(run.client).wait(), 10) == 0
