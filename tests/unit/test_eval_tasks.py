"""The eval tasks (tests/evals) are sound: none passes untouched, each can pass, and the harness
scores a run by what the model did, not by how it was run."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.evals import faces, runner
from tests.evals.catalog import (
    Task,
    apply_solution,
    load_tasks,
    make_workspace,
    run_check,
)
from tests.evals.faces import Outcome, parse_aider, parse_cli
from tests.evals.meter import metered, timings_of
from tests.evals.results import ResultsFile
from tests.evals.scripted import scripted_endpoint

TASKS = load_tasks()
IDS = [t.id for t in TASKS]


def _plan(tasks: list[Task], face: str, tmp_path: Path) -> runner.Plan:
    return runner.Plan(
        tasks=tasks,
        faces=[face],
        formats=["tools"],
        timeout=120,
        max_turns=4,
        log_dir=tmp_path / "logs",
        aider_venv=tmp_path / "no-aider",
    )


def test_the_catalogue_has_twenty_tasks_of_every_required_kind() -> None:
    kinds = Counter(t.kind for t in TASKS)
    categories = {t.category for t in TASKS}
    assert len(TASKS) >= 20
    assert {"selection", "file", "todo", "spec", "plain"} <= set(kinds)
    for needed in (
        "off-by-one",
        "bug fix in a selection",
        "implement a TODO",
        "add a keyword parameter",
        "new function",
        "new test file",
        "rename across two files",
        "new module",
        "small refactor",
        "spec with verify",
    ):
        assert needed in categories, f"no task of category {needed!r}"


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_task_definition_names_real_files_and_no_dates(task: Task) -> None:
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", task.instruction), "a date in the instruction"
    assert "/tmp" not in task.instruction
    assert (task.repo / task.anchor_file()).is_file()
    hidden = {p.relative_to(task.hidden) for p in task.hidden.rglob("*") if p.is_file()}
    assert hidden, "a task needs a hidden check"
    assert not any((task.repo / rel).exists() for rel in hidden), "a check file is visible"
    if task.lines:
        count = len((task.repo / str(task.file)).read_text().splitlines())
        assert task.lines[1] <= count, f"lines {task.lines} past the end ({count} lines)"
    if task.kind == "todo":
        line = (task.repo / str(task.file)).read_text().splitlines()[int(task.line or 0) - 1]
        assert "TODO" in line
    if task.kind == "spec":
        from ollama_agent_ls.specs.model import load_spec

        spec = load_spec(task.repo / str(task.spec))
        assert spec.frontmatter.get("verify"), "a spec task needs a verify command"
        assert spec.criteria


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_check_fails_untouched_and_passes_with_the_reference_solution(
    task: Task, tmp_path: Path
) -> None:
    untouched = make_workspace(task, tmp_path)
    assert not run_check(task, untouched).passed, "the check passes with nothing done"
    solved = make_workspace(task, tmp_path)
    apply_solution(task, solved)
    check = run_check(task, solved)
    assert check.passed, check.output


def test_a_run_that_writes_the_solution_passes_and_one_that_writes_nothing_fails(
    tmp_path: Path,
) -> None:
    task = next(t for t in TASKS if t.id == "off-by-one-count-up")
    for mode, should_pass in (("solution", True), ("nothing", False)):
        with scripted_endpoint(mode) as endpoint:
            record = runner.run_one(task, "cli", "tools", endpoint, _plan([task], "cli", tmp_path))
        assert record["error"] == ""
        assert record["passed"] is should_pass, record
        assert record["turns"] and record["turns"] >= 1
        assert record["promptTokens"] is not None


def test_through_the_meter_the_server_counts_every_request_of_a_run(tmp_path: Path) -> None:
    task = next(t for t in TASKS if t.id == "fix-is-adult")
    with scripted_endpoint("solution", "openai") as endpoint:
        record = runner.run_one(task, "cli", "tools", endpoint, _plan([task], "cli", tmp_path))
    assert record["passed"], record
    server = record["server"]
    assert server["requests"] == record["turns"] == 2
    assert record["promptTokens"] == server["promptTokens"] > 0
    assert record["prefillTokens"] + record["cachedPromptTokens"] == record["promptTokens"]


def test_the_meter_tells_tokens_cached_by_earlier_runs_from_this_runs_own() -> None:
    with metered("http://127.0.0.1:9") as meter:
        meter.record({"prompt_n": 40, "cache_n": 300, "predicted_n": 7})
        meter.record({"prompt_n": 60, "cache_n": 380, "predicted_n": 9})
        totals = meter.take()
        assert meter.take().requests == 0
    assert totals.to_json() | {"prefillSeconds": 0, "generateSeconds": 0} == {
        "requests": 2,
        "promptTokens": 780,
        "cachedPromptTokens": 680,
        "prefillTokens": 100,
        "generatedTokens": 16,
        "prefillSeconds": 0,
        "generateSeconds": 0,
        "carriedOverTokens": 300,
    }


@pytest.mark.parametrize("task_id", ["todo-clamp", "spec-slugify", "rename-across-files"])
def test_the_language_server_face_applies_the_edits_to_disk(task_id: str, tmp_path: Path) -> None:
    task = next(t for t in TASKS if t.id == task_id)
    with scripted_endpoint("solution") as endpoint:
        record = runner.run_one(task, "lsp", "tools", endpoint, _plan([task], "lsp", tmp_path))
    assert record["error"] == "", record
    assert record["passed"], record
    if task.kind == "spec":
        assert record["status"] == "completed"


def test_a_spec_through_the_cli_passes_when_the_solution_is_written(tmp_path: Path) -> None:
    task = next(t for t in TASKS if t.id == "spec-slugify")
    with scripted_endpoint("solution") as endpoint:
        record = runner.run_one(task, "cli", "tools", endpoint, _plan([task], "cli", tmp_path))
    assert record["passed"], record
    assert record["status"] == "completed"


def test_a_restarted_run_skips_what_the_results_file_already_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def stub_face(task: Task, workspace: Path, cfg: faces.RunConfig) -> Outcome:
        calls.append(task.id)
        apply_solution(task, workspace)
        return Outcome(status="completed", turns=1, prompt_tokens=10)

    monkeypatch.setitem(runner.RUNNERS, "cli", stub_face)
    results = ResultsFile(tmp_path / "results.jsonl")
    plan = _plan(TASKS[:2], "cli", tmp_path)
    out = tmp_path / "out.txt"
    with scripted_endpoint("nothing") as endpoint, out.open("w") as sink:
        first = runner.run_plan(plan, endpoint, results, sink)
        # A killed run leaves a half-written line; it must not stop the resume.
        with results.path.open("a") as broken:
            broken.write('{"task": "half')
        second = runner.run_plan(_plan(TASKS[:3], "cli", tmp_path), endpoint, results, sink)
    assert calls == [TASKS[0].id, TASKS[1].id, TASKS[2].id]
    assert [r["passed"] for r in first] == [True, True]
    assert len(second) == 3


def test_aider_token_lines_are_summed_over_requests() -> None:
    output = (
        "Tokens: 2.8k sent, 192 received.\nApplied edit to a.py\n"
        "Tokens: 950 sent, 12 received.\n"
        "The LLM did not conform to the edit format.\n"
    )
    outcome = parse_aider(output)
    assert (outcome.turns, outcome.prompt_tokens, outcome.format_errors) == (2, 3750, 1)


@settings(deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=250_000), min_size=1, max_size=6))
def test_aider_token_counts_round_trip_its_own_formatting(counts: list[int]) -> None:
    def aider_style(n: int) -> str:
        # aider prints counts under 1,000 as is, then in thousands with one decimal
        return str(n) if n < 1000 else f"{n / 1000:.1f}k"

    text = "".join(f"Tokens: {aider_style(n)} sent, 5 received.\n" for n in counts)
    expected = sum(n if n < 1000 else round(float(f"{n / 1000:.1f}") * 1000) for n in counts)
    assert parse_aider(text).prompt_tokens == expected


def test_the_cli_summary_on_stderr_is_read_when_stdout_has_no_json() -> None:
    stderr: Any = (
        "[completed] fixed it\nchanged: a.py | turns 3 | prompt 1200 tok, output 80 tok, "
        "4.1 tok/s, num_ctx 8192, prefill 400 tok (800 cached)\n"
    )
    outcome = parse_cli("", stderr)
    assert (outcome.status, outcome.turns, outcome.prompt_tokens) == ("completed", 3, 1200)
    assert (outcome.prefill_tokens, outcome.cached_prompt_tokens) == (400, 800)


@settings(deadline=None)
@given(
    st.lists(st.text(max_size=20), max_size=5),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.booleans(),
)
def test_the_meter_reads_the_final_timings_of_streamed_and_whole_replies(
    pieces: list[str], prompt_n: int, cache_n: int, streamed: bool
) -> None:
    timings = {"prompt_n": prompt_n, "cache_n": cache_n, "predicted_n": len(pieces)}
    if streamed:
        chunks = [{"choices": [{"delta": {"content": p}}]} for p in pieces]
        chunks.append({"choices": [], "timings": timings})
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    else:
        reply = {"choices": [{"message": {"content": "".join(pieces)}}], "timings": timings}
        body = json.dumps(reply)
    assert timings_of(body.encode()) == timings
