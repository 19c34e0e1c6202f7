"""The language server on an OpenAI-compatible server (the fake llama.cpp), both editor models."""

from __future__ import annotations

from pathlib import Path

from tests.fake_openai.replies import Reply, call
from tests.fake_openai.server import FakeOpenAI
from tests.lsp.conftest import StartEditor
from tests.lsp.helpers import CHECK_SETUP, LIST_MODELS, RUN_SELECTION, selection

APP = "def add(a, b):\n    return a - b\n"
FIX = call("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})


def _options(fake: FakeOpenAI) -> dict[str, object]:
    return {"backend": "openai", "baseUrl": fake.url, "model": "qwen2.5-coder-7b"}


async def test_a_run_edits_the_buffer_and_reports_the_cache(
    start_editor: StartEditor, fake_openai: FakeOpenAI, workspace: Path
) -> None:
    (workspace / "app.py").write_text(APP)
    fake_openai.enqueue(Reply.calls(FIX), Reply.say("Fixed."))
    client = await start_editor({**_options(fake_openai), "editFormat": "tools"})
    uri = client.open("app.py")
    result = await client.command(RUN_SELECTION, selection(uri, 0, 1, "fix add"))
    assert result["status"] == "completed"
    assert client.text(uri) == APP.replace("a - b", "a + b")
    assert result["metrics"]["numCtx"] == 8192  # the server's context, not numCtx
    assert result["metrics"]["cachedPromptTokens"] > 0
    assert len(fake_openai.chat_requests) == 2


async def test_check_setup_and_list_models_speak_of_the_backend_in_use(
    start_editor: StartEditor, fake_openai: FakeOpenAI
) -> None:
    client = await start_editor(_options(fake_openai))
    report = await client.command(CHECK_SETUP, {})
    assert (report["backend"], report["url"], report["reachable"]) == (
        "openai",
        fake_openai.url,
        True,
    )
    assert report["numCtx"] == 8192 and report["prefixCache"] is True
    assert report["problems"] == []
    models = await client.command(LIST_MODELS, {})
    assert [m["name"] for m in models] == ["qwen2.5-coder-1.5b"]
