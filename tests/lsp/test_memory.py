"""Many runs in one session: the server's memory and its pygls bookkeeping stay flat."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, rss_kb, server_process
from tests.lsp.helpers import RUN_SELECTION, selection

RUNS = 100
WARM_UP = 10
MAX_GROWTH_KB = 30 * 1024
HELD = re.compile(r"(run-\S+) ended; held: (\d+) request futures, (\d+) progress tokens")


def _held(client: Editor, run_id: str) -> tuple[int, int]:
    for message in reversed(client.log_messages):
        match = HELD.search(message.message)
        if match and match.group(1) == run_id:
            return int(match.group(2)), int(match.group(3))
    raise AssertionError(f"no bookkeeping log line for {run_id}")


async def test_a_hundred_runs_keep_memory_and_bookkeeping_steady(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text("def add(a, b):\n    return a - b\n")
    client = await start_editor({"logLevel": "debug"})
    uri = client.open("app.py")
    pid = server_process(client).pid
    signs = ["-", "+"]
    baseline_rss = 0
    baseline_held = (0, 0)

    for n in range(1, RUNS + 1):
        old, new = signs[n % 2 - 1], signs[n % 2]
        fake_ollama.enqueue(
            Reply.calls(
                call("edit_file", {"path": "app.py", "old_string": old, "new_string": new})
            ).done(eval_count=20),
            Reply.say(f"run {n} done"),
        )
        result = await client.command(RUN_SELECTION, selection(uri, 0, 1, f"flip {n}"))
        assert result["status"] == "completed", result["summary"]
        if n == WARM_UP:
            baseline_rss = rss_kb(pid)
            baseline_held = _held(client, result["runId"])
        # The transcript and log records must not pile up on the client's side either.
        client.transcript.clear()

    futures, tokens = _held(client, result["runId"])
    assert tokens == 0
    assert futures <= max(baseline_held[0], 5), (baseline_held, futures)
    growth = rss_kb(pid) - baseline_rss
    assert growth < MAX_GROWTH_KB, f"RSS grew {growth} kB over {RUNS - WARM_UP} runs"
    assert client.text(uri) == "def add(a, b):\n    return a - b\n"
