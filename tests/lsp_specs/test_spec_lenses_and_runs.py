"""Spec runs through the language server: lenses, runSpec to the end, verify, refusals."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_ollama import Reply, call
from tests.fake_ollama.server import FakeOllama
from tests.lsp.conftest import StartEditor
from tests.lsp.editor import Editor, capabilities
from tests.lsp.helpers import CANCEL
from tests.lsp_specs.helpers import (
    FIX_GREETING,
    MODEL,
    RUN_SPEC,
    RUN_TITLE,
    SPEC_REL,
    TICK_BOTH,
    VERIFY,
    VERIFY_SPEC,
    VERIFY_TITLE,
    frontmatter_lines,
    start_for_specs,
    without_code_lens,
    write_spec,
)
from tests.waiting import wait_until


async def _lenses(client: Editor, uri: str) -> list[types.CodeLens]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return list(lenses or [])


async def _actions(client: Editor, uri: str) -> list[types.CodeAction]:
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    found = [a for a in actions or [] if isinstance(a, types.CodeAction)]
    assert len(found) == len(actions or []), f"bare Commands among {actions}"
    return found


def _commands(lenses: list[types.CodeLens]) -> list[tuple[str, str, list[object]]]:
    out = []
    for lens in lenses:
        assert lens.command is not None
        arguments = [dict(a) for a in lens.command.arguments or []]
        out.append((lens.command.title, lens.command.command, arguments))
    return out


async def test_code_lenses_on_spec_files_only(start_editor: StartEditor, workspace: Path) -> None:
    write_spec(workspace)
    write_spec(workspace, rel="notes/plan.md", verify=None)
    (workspace / "docs").mkdir()
    (workspace / "docs/guide.md").write_text("# Guide\n\n- [ ] read it\n")
    (workspace / "docs/post.md").write_text("---\ntitle: A post\n---\n# Post\n")
    client = await start_for_specs(start_editor)
    spec_uri = client.open(SPEC_REL, language_id="markdown")
    plan_uri = client.open("notes/plan.md", language_id="markdown")
    guide_uri = client.open("docs/guide.md", language_id="markdown")
    post_uri = client.open("docs/post.md", language_id="markdown")

    # Under .chant/specs/ with verify: both lenses, at the top of the file.
    lenses = await _lenses(client, spec_uri)
    assert _commands(lenses) == [
        (RUN_TITLE, RUN_SPEC, [{"uri": spec_uri, "wait": False}]),
        (VERIFY_TITLE, VERIFY_SPEC, [{"uri": spec_uri, "wait": False}]),
    ]
    assert all(lens.range.start == types.Position(0, 0) for lens in lenses)
    # Elsewhere, a status: line makes a spec; without verify: no "Verify spec".
    assert _commands(await _lenses(client, plan_uri)) == [
        (RUN_TITLE, RUN_SPEC, [{"uri": plan_uri, "wait": False}])
    ]
    # Ordinary markdown, with or without frontmatter, gets none.
    assert await _lenses(client, guide_uri) == []
    assert await _lenses(client, post_uri) == []
    # VS Code shows lenses, so the same commands are not repeated as code actions; Neovim
    # declares codeLens too but shows none unless the user's config refreshes them.
    titles = [a.title for a in await _actions(client, spec_uri)]
    assert titles == ([] if client.is_vscode else [RUN_TITLE, VERIFY_TITLE])
    assert await _actions(client, guide_uri) == []


async def test_running_the_lens_command_completes_the_spec_in_the_editor(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    original = client.text(uri)
    [run_lens, _] = await _lenses(client, uri)
    assert run_lens.command is not None
    fake_ollama.enqueue(
        Reply.calls(FIX_GREETING),
        Reply.calls(*TICK_BOTH),
        "Set GREETING to hello.",
    )

    # The lens does not wait (generic clients must not block); this test waits for the result.
    [lens_args] = [dict(a) for a in run_lens.command.arguments or []]
    result = await client.command(run_lens.command.command, {**lens_args, "wait": True})

    assert result["specStatus"] == "completed", result
    assert result["status"] == "completed"
    assert result["summary"] == "Set GREETING to hello."
    assert result["ticked"] == [1, 2]
    assert result["verify"] == [{"command": VERIFY, "passed": True, "exitCode": 0}]
    greet_uri = client.uri("greet.py")
    assert greet_uri in result["changedFiles"]
    # The agent's edit is in the editor, and was saved before verify read it from disk.
    assert client.text(greet_uri) == 'GREETING = "hello"\n'
    assert (workspace / "greet.py").read_text() == 'GREETING = "hello"\n'
    assert any(greet_uri in uris for uris in client.save_requests)

    text = client.text(uri)
    old_front, new_front = frontmatter_lines(original), frontmatter_lines(text)
    # status: replaced in place, completed_at and model appended; every other line as it was.
    assert new_front[: len(old_front)] == [
        "status: completed" if line == "status: pending" else line for line in old_front
    ]
    assert len(new_front) == len(old_front) + 2
    assert re.fullmatch(r"completed_at: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'", new_front[-2])
    assert new_front[-1] == f"model: {MODEL}"
    assert "- [x] `greet.py` defines" in text and "- [x] the check script passes" in text
    assert "- [ ]" not in text
    output = text.split("## Agent Output", 1)[1]
    assert "Set GREETING to hello." in output
    assert "check ok" in output
    # The body above the output section is the original with the boxes ticked.
    assert (
        text.split("\n## Agent Output", 1)[0].rstrip("\n").endswith("- [x] the check script passes")
    )
    # The model saw the spec: title, the criteria and the target file's contents.
    prompt = next(
        m["content"]
        for m in fake_ollama.chat_requests[0].body["messages"]
        if m.get("role") == "user"
    )
    assert "Add a greeting" in prompt
    assert "the check script passes" in prompt
    assert "GREETING = None" in prompt


async def test_failing_verify_goes_back_to_the_model_and_ends_needs_attention(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    # The model ticks the first box but never fixes greet.py: one round plus one fix round.
    fake_ollama.enqueue(
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "I think so"})),
        "Done.",
        "Still done.",
    )

    result = await client.command(RUN_SPEC, {"uri": uri})

    assert result["specStatus"] == "needs_attention", result
    assert result["verify"] == [{"command": VERIFY, "passed": False, "exitCode": 1}]
    chats = fake_ollama.chat_requests
    assert len(chats) == 3
    followup = [m["content"] for m in chats[2].body["messages"] if m["role"] == "user"][-1]
    assert "CHECK-FAILED: greet.py has no GREETING" in followup
    text = client.text(uri)
    assert "status: needs_attention" in frontmatter_lines(text)
    assert "- [x] `greet.py` defines" in text
    assert "- [ ] the check script passes" in text
    output = text.split("## Agent Output", 1)[1]
    assert "criteria not ticked: #2" in output
    assert "CHECK-FAILED" in output


async def test_cancel_during_verify_stops_the_command(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    write_spec(workspace)
    # A verify command that would outlast the test unless the cancel reaches it.
    (workspace / "check.py").write_text(
        'import time\nopen("verify-started", "w").close()\ntime.sleep(120)\n', encoding="utf-8"
    )
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    fake_ollama.enqueue(Reply.calls(FIX_GREETING), "Set GREETING to hello.")
    pending = asyncio.ensure_future(client.command(RUN_SPEC, {"uri": uri}))
    await wait_until(lambda: (workspace / "verify-started").exists(), what="verify to start")

    answer = await client.command(CANCEL, {})

    assert len(answer["cancelled"]) == 1
    result = await asyncio.wait_for(pending, 10)
    assert result["specStatus"] == "failed", result
    assert "cancelled during verification" in result["reason"]
    assert result["verify"] == [{"command": VERIFY, "passed": False, "exitCode": None}]
    assert "status: failed" in frontmatter_lines(client.text(uri))


DEPENDENCY = "2026-02-01-001-aaa"


@pytest.mark.parametrize(
    ("extra", "edit", "expected"),
    [
        ("depends_on:\n- aaa\n", None, f"{DEPENDENCY} (status in_progress)"),
        ("approval:\n  required: true\n  status: pending\n", None, "requires approval"),
        ("", ("status: pending", "status: completed"), "already completed"),
        ("", ("labels: [small, lsp]", "labels: [small, lsp"), "invalid YAML"),
    ],
    ids=["dependency-not-completed", "unapproved", "already-completed", "invalid-yaml"],
)
async def test_refusals_are_errors_and_leave_the_spec_alone(
    start_editor: StartEditor,
    fake_ollama: FakeOllama,
    workspace: Path,
    extra: str,
    edit: tuple[str, str] | None,
    expected: str,
) -> None:
    path = write_spec(workspace, extra=extra)
    (path.parent / f"{DEPENDENCY}.md").write_text("---\nstatus: in_progress\n---\n# Dep\n")
    if edit is not None:
        path.write_text(path.read_text().replace(*edit))
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    before = client.text(uri)

    with pytest.raises(JsonRpcException) as caught:
        await client.command(RUN_SPEC, {"uri": uri})

    assert caught.value.code == types.ErrorCodes.InvalidParams
    assert expected in str(caught.value), caught.value
    if expected == "invalid YAML":
        assert "line 7" in str(caught.value)  # the unclosed flow list
    assert client.text(uri) == before
    assert client.edits == []
    assert fake_ollama.chat_requests == []


async def test_verify_spec_runs_the_command_and_reports(
    start_editor: StartEditor, fake_ollama: FakeOllama, workspace: Path
) -> None:
    path = write_spec(workspace)
    (workspace / "greet.py").write_text('GREETING = "hello"\n')
    client = await start_for_specs(start_editor)
    uri = client.open(SPEC_REL, language_id="markdown")
    before = path.read_bytes()

    result = await client.command(VERIFY_SPEC, {"uri": uri})

    assert result["passed"] is True, result
    [report] = result["verify"]
    assert report["command"] == VERIFY
    assert report["exitCode"] == 0
    assert "check ok" in report["output"]
    # commandApproval "always": nobody was asked; the spec itself is not changed.
    assert client.message_requests == []
    assert client.edits == []
    assert client.text(uri) == before.decode()
    assert fake_ollama.chat_requests == []


async def test_clients_without_code_lenses_get_code_actions(
    start_editor: StartEditor, editor_name: str, workspace: Path
) -> None:
    # Both real capability sets declare codeLens (Neovim 0.11 too): take it out.
    write_spec(workspace)
    (workspace / "greet.py").write_text('GREETING = "hello"\n')
    client = await start_for_specs(start_editor, caps=without_code_lens(capabilities(editor_name)))
    uri = client.open(SPEC_REL, language_id="markdown")
    other = client.open("check.py")

    actions = await _actions(client, uri)

    assert [(a.title, a.kind) for a in actions] == [
        (RUN_TITLE, types.CodeActionKind.Source),
        (VERIFY_TITLE, types.CodeActionKind.Source),
    ]
    commands = [a.command for a in actions]
    assert [(c.command, [dict(x) for x in c.arguments or []]) for c in commands if c] == [
        (RUN_SPEC, [{"uri": uri, "wait": False}]),
        (VERIFY_SPEC, [{"uri": uri, "wait": False}]),
    ]
    assert await _actions(client, other) == []
    verify = actions[1].command
    assert verify is not None
    [verify_args] = [dict(a) for a in verify.arguments or []]
    result = await client.command(verify.command, {**verify_args, "wait": True})
    assert result["passed"] is True
