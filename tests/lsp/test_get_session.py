"""getSession marks the user messages that open each run with its instruction and runId, so a
chat panel shows what the person wrote, not the rendered task."""

from __future__ import annotations

from pathlib import Path

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import RUN_SELECTION, selection

FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


async def test_each_runs_opening_message_carries_its_instruction(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    (workspace / "app.py").write_text("def add(a, b):\n    return a - b\n")
    fake_ollama.enqueue(
        Reply.calls(FIX), Reply.say("Fixed the sign."), Reply.say("It adds."), Reply.say("Yes.")
    )
    client = await start_editor({"editFormat": "tools"})
    uri = client.open("app.py")
    first = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
    second = await client.command(
        "ollamaAgent.followUp", {"sessionId": first["sessionId"], "instruction": "what now?"}
    )
    third = await client.command(
        "ollamaAgent.followUp", {"sessionId": first["sessionId"], "instruction": "sure?"}
    )

    shown = await client.command("ollamaAgent.getSession", {"sessionId": first["sessionId"]})

    marked = [(m["runId"], m["instruction"]) for m in shown["messages"] if "instruction" in m]
    assert marked == [
        (first["runId"], "fix add"),
        (second["runId"], "what now?"),
        (third["runId"], "sure?"),
    ]
    opening = next(m for m in shown["messages"] if m.get("runId") == first["runId"])
    assert opening["role"] == "user" and opening["text"].startswith("Task: fix add")
    # Tool results are not taken for instructions.
    assert all(m["role"] == "user" for m in shown["messages"] if "instruction" in m)
