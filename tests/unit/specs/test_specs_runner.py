"""SpecRunner against the fake Ollama in-process: outcomes the spec file records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.headless import DiskRun, build_disk_run
from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.specs.frontmatter_edit import VerifyReport
from ollama_agent_ls.specs.model import parse_spec
from ollama_agent_ls.specs.runner import SpecRunner
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.executor import ExtraTool
from tests.fake_ollama import FakeOllama, Reply, call

SPEC = """\
---
type: code
status: pending
target_files:
- a.txt
---

# Write hello

## Acceptance Criteria

- [ ] a.txt says hello
- [ ] a.txt ends with a newline
"""


def _settings(fake: FakeOllama, **kw: Any) -> Settings:
    return Settings(**{"ollama_url": fake.url, "command_approval": CommandApproval.ALWAYS, **kw})


@pytest.fixture
async def client(fake_ollama: FakeOllama) -> AsyncIterator[OllamaClient]:
    async with OllamaClient(_settings(fake_ollama)) as c:
        yield c


def _setup(tmp_path: Path, spec: str = SPEC) -> Path:
    folder = tmp_path / ".chant" / "specs"
    folder.mkdir(parents=True)
    path = folder / "2026-02-03-001-abc.md"
    path.write_text(spec, encoding="utf-8")
    (tmp_path / "a.txt").write_text("old\n", encoding="utf-8")
    return path


def _runner(
    client: OllamaClient,
    root: Path,
    path: Path,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    **kw: Any,
) -> tuple[SpecRunner, list[DiskRun]]:
    runs: list[DiskRun] = []
    settings = settings or Settings(command_approval=CommandApproval.ALWAYS)

    def make(tools: Sequence[ExtraTool]) -> Agent:
        run = build_disk_run(
            client, settings, root, _NoApprover(), dry_run=dry_run, extra_tools=tools
        )
        runs.append(run)
        return run.agent

    return SpecRunner(path, make, dry_run=dry_run, clock=lambda: "2026-02-03T10:00:00Z", **kw), runs


class _NoApprover:
    async def ask(self, request: Any) -> Any:
        raise AssertionError(f"nobody should be asked here: {request}")


def _front(path: Path) -> dict[str, Any]:
    return parse_spec(path.read_text(encoding="utf-8"), path).frontmatter


async def test_leftover_boxes_are_not_ticked_for_the_agent(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path)
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "a.txt", "content": "hello\n"})),
        Reply.calls(call("check_criterion", {"index": 1, "evidence": "wrote hello"})),
        "Done.",
    )
    runner, _ = _runner(client, tmp_path, path)
    result = await runner.run()

    assert result.status == "needs_attention"
    assert "criteria not ticked: #2" in result.reason
    assert result.ticked == {1: "wrote hello"}
    text = path.read_text(encoding="utf-8")
    assert "- [x] a.txt says hello\n- [ ] a.txt ends with a newline\n" in text
    assert _front(path)["status"] == "needs_attention"
    assert "- #1 ticked: wrote hello\n- #2 not ticked" in text
    # The confirmation the model got names what is still open.
    tool_messages = [m for m in fake_ollama.last_chat["messages"] if m["role"] == "tool"]
    assert "Ticked criterion #1" in tool_messages[-1]["content"]
    assert "Still unticked: #2" in tool_messages[-1]["content"]


async def test_check_criterion_out_of_range_tells_the_model_the_choices(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path)
    fake_ollama.enqueue(Reply.calls(call("check_criterion", {"index": 5, "evidence": "x"})), "ok")
    runner, _ = _runner(client, tmp_path, path)
    await runner.run()
    tool = [m for m in fake_ollama.last_chat["messages"] if m["role"] == "tool"][-1]
    assert "no criterion #5" in tool["content"]
    assert "1. a.txt says hello; 2. a.txt ends with a newline" in tool["content"]
    assert "- [ ] a.txt says hello" in path.read_text(encoding="utf-8")


async def test_failed_agent_run_marks_the_spec_failed(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path)
    fake_ollama.enqueue(Reply.http_error(500, "model runner crashed"))
    runner, _ = _runner(client, tmp_path, path)
    result = await runner.run()
    assert result.status == "failed"
    front = _front(path)
    assert front["status"] == "failed"
    assert front["completed_at"] == "2026-02-03T10:00:00Z"
    assert front["model"] == "qwen3:8b"
    assert "The agent run failed" in path.read_text(encoding="utf-8")


async def test_dry_run_stages_the_spec_changes_too(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path)
    fake_ollama.enqueue(
        Reply.calls(call("write_file", {"path": "a.txt", "content": "hello\n"})),
        Reply.calls(
            call("check_criterion", {"index": 1, "evidence": "a"}),
            call("check_criterion", {"index": 2, "evidence": "b"}),
        ),
        "Done.",
    )
    runner, runs = _runner(client, tmp_path, path, dry_run=True)
    result = await runner.run()
    assert result.status == "completed"
    assert path.read_text(encoding="utf-8") == SPEC
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "old\n"
    staged = {c.rel: c.after for c in runs[0].net_changes()}
    assert staged["a.txt"] == "hello\n"
    spec_after = staged[".chant/specs/2026-02-03-001-abc.md"]
    assert spec_after is not None
    assert yaml.safe_load(spec_after.split("---\n")[1])["status"] == "completed"
    assert result.changed_files == ["a.txt"]


async def test_verify_that_cannot_run_gets_no_fix_rounds(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path, SPEC.replace("type: code\n", "type: code\nverify: make check\n"))
    fake_ollama.enqueue("Nothing to do.")
    never = _settings(fake_ollama, command_approval=CommandApproval.NEVER)
    runner, _ = _runner(client, tmp_path, path, settings=never)
    result = await runner.run()
    assert result.status == "needs_attention"
    assert result.rounds == 1
    assert len(fake_ollama.chat_requests) == 1
    assert result.verify and not result.verify[0].ran
    assert "verify `make check` could not run" in result.reason
    assert "`make check`: did not run" in path.read_text(encoding="utf-8")


async def test_cancel_during_verify_ends_failed(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path, SPEC.replace("type: code\n", "type: code\nverify: slow\n"))
    fake_ollama.enqueue("Done.")
    started = asyncio.Event()

    async def never_finishes(ctx: ToolContext, command: str) -> VerifyReport:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    runner, _ = _runner(client, tmp_path, path, run_verify=never_finishes)
    task = asyncio.ensure_future(runner.run())
    await started.wait()
    runner.cancel()
    result = await task
    assert result.cancelled and result.status == "failed"
    assert _front(path)["status"] == "failed"


async def test_boxes_the_model_ticks_by_editing_the_file_do_not_count(
    fake_ollama: FakeOllama, client: OllamaClient, tmp_path: Path
) -> None:
    path = _setup(tmp_path)
    rel = ".chant/specs/2026-02-03-001-abc.md"
    edit = {
        "path": rel,
        "old_string": "- [ ] a.txt says hello",
        "new_string": "- [x] a.txt says hello",
    }
    fake_ollama.enqueue(
        Reply.calls(call("edit_file", edit)),
        Reply.calls(call("check_criterion", {"index": 2, "evidence": "newline there"})),
        "Done.",
    )
    runner, _ = _runner(client, tmp_path, path)
    result = await runner.run()
    assert result.status == "needs_attention"
    assert "criteria not ticked: #1" in result.reason
    assert "without check_criterion (not counted): #1" in result.reason


async def test_verify_spec_runs_the_commands_through_the_approval_policy(tmp_path: Path) -> None:
    from ollama_agent_ls.specs.runner import verify_spec
    from ollama_agent_ls.workspace.disk_sink import DiskSink
    from ollama_agent_ls.workspace.documents import DiskDocuments

    # Scripts, not `python -c`: inline interpreter code asks a person, as the floor wants.
    (tmp_path / "one.py").write_text("print('one')\n")
    (tmp_path / "three.py").write_text("raise SystemExit(3)\n")
    text = "---\nverify:\n- python one.py\n- python three.py\n---\n"
    path = tmp_path / "s.md"
    path.write_text(text, encoding="utf-8")
    spec = parse_spec(text, path)
    allowed = Settings(command_approval=CommandApproval.ALWAYS)
    ctx = ToolContext(tmp_path, DiskDocuments(tmp_path), DiskSink(), allowed)
    reports = await verify_spec(ctx, spec)
    assert [(r.passed, r.exit_code) for r in reports] == [(True, 0), (False, 3)]
    assert "one" in reports[0].output
    assert path.read_text(encoding="utf-8") == text

    denied = ToolContext(
        tmp_path, DiskDocuments(tmp_path), DiskSink(), Settings(command_approval="never")
    )
    [report] = await verify_spec(denied, spec)
    assert not report.ran and not report.passed


async def test_a_timed_out_verify_fails_even_when_its_output_imitates_a_passing_exit(
    tmp_path: Path,
) -> None:
    from ollama_agent_ls.specs.runner import shell_verify
    from ollama_agent_ls.workspace.disk_sink import DiskSink
    from ollama_agent_ls.workspace.documents import DiskDocuments

    settings = Settings(command_approval=CommandApproval.ALWAYS, command_timeout=0.5)
    ctx = ToolContext(tmp_path, DiskDocuments(tmp_path), DiskSink(), settings)
    report = await shell_verify(ctx, "echo '[exit code 0]'; sleep 30")
    assert "[exit code 0]" in report.output
    assert report.ran
    assert not report.passed
    assert report.exit_code is None
