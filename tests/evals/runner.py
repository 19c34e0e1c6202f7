"""Runs tasks through faces and formats, records each run as it finishes, and resumes."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tests.evals import results as res
from tests.evals.catalog import Task, TaskError, make_workspace, run_check
from tests.evals.endpoint import Endpoint
from tests.evals.faces import RUNNERS, Outcome, RunConfig, formats_for


@dataclass
class Plan:
    """What to run and how."""

    tasks: list[Task]
    faces: list[str]
    formats: list[str]
    timeout: float
    max_turns: int
    log_dir: Path
    aider_venv: Path
    keep_workspaces: bool = False
    agent: str = ""
    """The version of our code being measured (catalog.agent_version)."""


def combos(plan: Plan) -> Iterable[tuple[Task, str, str]]:
    """(task, face, format) in the order they run: task by task, so early tasks finish first."""
    for task in plan.tasks:
        for face in plan.faces:
            for fmt in formats_for(face, plan.formats):
                yield task, face, fmt


def run_one(task: Task, face: str, fmt: str, endpoint: Endpoint, plan: Plan) -> dict[str, Any]:
    """One task through one face in a fresh workspace, checked afterwards; the JSON record."""
    cfg = RunConfig(
        endpoint=endpoint,
        face=face,
        fmt=fmt,
        timeout=plan.timeout,
        max_turns=plan.max_turns,
        log_dir=plan.log_dir,
        aider_venv=plan.aider_venv,
    )
    workspace = make_workspace(task)
    endpoint.prepare(task, face, fmt)
    started = time.monotonic()
    try:
        outcome = RUNNERS[face](task, workspace, cfg)
    except TaskError as exc:
        outcome = Outcome(status="not run", error=str(exc))
    wall = time.monotonic() - started
    server = endpoint.meter.take() if endpoint.meter is not None else None
    check_output = ""
    passed = False
    if not outcome.timed_out and not outcome.error:
        check = run_check(task, workspace)
        passed = check.passed
        check_output = "" if passed else check.output[-600:]
    record: dict[str, Any] = {
        "task": task.id,
        "category": task.category,
        "kind": task.kind,
        "face": face,
        "format": fmt,
        "model": endpoint.label,
        "agent": plan.agent if face in ("cli", "lsp") else "",
        "passed": passed,
        "status": outcome.status,
        "turns": outcome.turns,
        "wallSeconds": round(wall, 1),
        "promptTokens": outcome.prompt_tokens,
        "cachedPromptTokens": outcome.cached_prompt_tokens,
        "prefillTokens": outcome.prefill_tokens,
        "formatErrors": outcome.format_errors,
        "timedOut": outcome.timed_out,
        "error": outcome.error,
        "checkOutput": check_output,
        "log": str(cfg.log_path(task)),
        **outcome.extra,
    }
    if server is not None:
        # The server's own count, the same for every face; the face's count is kept beside it.
        record["faceReported"] = {
            k: record[k] for k in ("promptTokens", "cachedPromptTokens", "prefillTokens")
        }
        record["server"] = server.to_json()
        record["promptTokens"] = server.prompt_tokens
        record["cachedPromptTokens"] = server.cached_prompt_tokens
        record["prefillTokens"] = server.prefill_tokens
        if record["turns"] is None:
            record["turns"] = server.requests
    if plan.keep_workspaces:
        record["workspace"] = str(workspace)
    else:
        shutil.rmtree(workspace, ignore_errors=True)
    return record


def run_plan(
    plan: Plan, endpoint: Endpoint, results: res.ResultsFile, out: TextIO
) -> list[dict[str, Any]]:
    """Every combination not yet in the results file; returns the records of this plan."""
    done = results.done()
    out.write(res.HEADER + "\n")
    wanted = set()
    for task, face, fmt in combos(plan):
        key = (task.id, face, fmt, endpoint.label)
        wanted.add(key)
        if key in done:
            continue
        record = run_one(task, face, fmt, endpoint, plan)
        results.append(record)
        out.write(res.row(record) + "\n")
        out.flush()
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for record in results.records():
        if res.key_of(record) in wanted:
            latest[res.key_of(record)] = record  # a retried run replaces its broken one
    return list(latest.values())
