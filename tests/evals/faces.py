"""The ways a task is put to a model: our CLI, our language server, aider (whole or diff edits).

Each face gets the same information: the instruction, and the file and lines it is about where
the task has them. Todo and spec tasks are worded for the CLI and aider the way the language
server words them, so no face gets a better prompt than another.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.evals import procs
from tests.evals.catalog import Task, TaskError, check_env
from tests.evals.endpoint import Endpoint

AGENT_FORMATS = ("tools", "search-replace", "whole", "auto")
AIDER_FACES = {"aider-whole": "whole", "aider-diff": "diff"}
FACES = ("cli", "lsp", *AIDER_FACES)
DEFAULT_AIDER_VENV = Path.home() / ".cache" / "ollama-agent-ls" / "aider-venv"
SAMPLING = {"temperature": 0, "seed": 42}
"""The same sampling for every face, so differences come from the tools, not the dice."""


@dataclass
class RunConfig:
    """How one run is made: the model server, the edit format and the limits."""

    endpoint: Endpoint
    face: str
    fmt: str
    timeout: float
    max_turns: int
    log_dir: Path
    aider_venv: Path = DEFAULT_AIDER_VENV

    def log_path(self, task: Task) -> Path:
        """Where this run's full output goes."""
        return self.log_dir / f"{task.id}__{self.face}__{self.fmt}.log"


@dataclass
class Outcome:
    """What a face reports about a run (None: the face cannot tell)."""

    status: str
    turns: int | None = None
    prompt_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    prefill_tokens: int | None = None
    format_errors: int | None = None
    timed_out: bool = False
    error: str = ""
    """A problem of the harness or the setup (not of the model), shown in the results."""
    extra: dict[str, Any] = field(default_factory=dict)


# -- prompts ------------------------------------------------------------------------------------


def todo_prompt(task: Task, workspace: Path) -> tuple[str, tuple[int, int]]:
    """The language server's implementTodo instruction, and its selection (1-based lines)."""
    from ollama_agent_ls.lsp.todo_comments import enclosing_block, find_todo

    assert task.file is not None and task.line is not None
    text = (workspace / task.file).read_text(encoding="utf-8")
    todo = find_todo(text, task.line - 1, None, task.file)
    if todo is None:
        raise TaskError(f"task {task.id}: line {task.line} of {task.file} has no TODO comment")
    first, last = enclosing_block(text, task.line - 1)
    instruction = (
        f"Implement the {todo.marker} comment on line {task.line} of {task.file}: "
        f'"{todo.text}". Write the code it asks for where it belongs, then remove that '
        f"{todo.marker} comment."
    )
    return instruction, (first + 1, last + 1)


def spec_prompt(task: Task, workspace: Path) -> str:
    """A spec as a chat message: its title and body, the way a spec run opens its prompt."""
    from ollama_agent_ls.specs.model import load_spec

    assert task.spec is not None
    spec = load_spec(workspace / task.spec)
    return f"Implement the spec {spec.id}: {spec.title}\n\n{spec.body.strip()}"


def chat_message(task: Task, workspace: Path) -> str:
    """The instruction for a tool that takes one message and a list of files (aider)."""
    if task.kind == "todo":
        return todo_prompt(task, workspace)[0]
    if task.kind == "spec":
        return spec_prompt(task, workspace)
    if task.kind == "selection" and task.lines:
        start, end = task.lines
        return f"{task.instruction}\n\n(The code in question is {task.file} lines {start}-{end}.)"
    return task.instruction


# -- our CLI ------------------------------------------------------------------------------------


def backend_args(endpoint: Endpoint) -> list[str]:
    """The CLI flags that point it at the endpoint."""
    if endpoint.api == "openai":
        return ["--backend", "openai", "--base-url", endpoint.url]
    return ["--backend", "ollama", "--ollama-url", endpoint.url]


def cli_command(task: Task, workspace: Path, cfg: RunConfig) -> list[str]:
    """``ollama-agent-ls run ...`` (or ``spec ...``) for this task."""
    base = [sys.executable, "-m", "ollama_agent_ls"]
    if task.kind == "spec":
        assert task.spec is not None
        head = [*base, "spec", task.spec]
    elif task.kind == "todo":
        instruction, (start, end) = todo_prompt(task, workspace)
        head = [*base, "run", instruction, "--file", str(task.file), "--lines", f"{start}-{end}"]
    else:
        # A plain task names its files in the instruction; --file gives the first one's text,
        # as aider gets the files it is handed.
        head = [*base, "run", task.instruction, "--file", task.anchor_file()]
        if task.kind == "selection" and task.lines:
            head += ["--lines", f"{task.lines[0]}-{task.lines[1]}"]
    return [
        *head,
        "-w",
        str(workspace),
        *backend_args(cfg.endpoint),
        "-m",
        cfg.endpoint.model,
        "--yes",
        "--json",
        "-o",
        f"editFormat={cfg.fmt}",
        "-o",
        f"maxTurns={cfg.max_turns}",
        "-o",
        "options=" + json.dumps(SAMPLING, separators=(",", ":")),
    ]


_RUN_SUMMARY = re.compile(r"\| turns (\d+) \| prompt (\d+) tok")
_SPEC_SUMMARY = re.compile(r"rounds (\d+) \| turns (\d+) \| prompt (\d+) tok")
_PREFILL = re.compile(r"prefill (\d+) tok \((\d+) cached\)")
_STATUS = re.compile(r"^\[(\w+)\]", re.MULTILINE)


def parse_cli(stdout: str, stderr: str) -> Outcome:
    """The run's result: --json on stdout when there, else the summary lines on stderr."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "status" in data:
        metrics = data.get("metrics") or {}
        extra = {k: data[k] for k in ("specStatus", "ticked", "verify") if k in data}
        if metrics.get("editFormat"):
            extra["editFormatUsed"] = metrics["editFormat"]  # what auto chose, or a fallback
        if "callReplies" in metrics:
            extra["callReplies"] = metrics["callReplies"]  # replies whose calls were read
        return Outcome(
            status=str(data.get("specStatus") or data["status"]),
            turns=data.get("turns"),
            prompt_tokens=metrics.get("promptTokens"),
            cached_prompt_tokens=metrics.get("cachedPromptTokens"),
            prefill_tokens=metrics.get("prefillTokens"),
            format_errors=metrics.get("formatErrors"),
            extra=extra,
        )
    statuses = _STATUS.findall(stderr)
    outcome = Outcome(status=statuses[-1] if statuses else "unknown")
    spec = _SPEC_SUMMARY.findall(stderr)
    run = _RUN_SUMMARY.findall(stderr)
    if spec:
        rounds, turns, prompt = spec[-1]
        outcome.turns, outcome.prompt_tokens = int(turns), int(prompt)
        outcome.extra["rounds"] = int(rounds)
    elif run:
        turns, prompt = run[-1]
        outcome.turns, outcome.prompt_tokens = int(turns), int(prompt)
    prefill = _PREFILL.findall(stderr)
    if prefill:
        outcome.prefill_tokens, outcome.cached_prompt_tokens = map(int, prefill[-1])
    elif outcome.prompt_tokens is not None:
        outcome.cached_prompt_tokens = 0
        outcome.prefill_tokens = outcome.prompt_tokens
    return outcome


def write_log(path: Path, command: list[str], done: procs.Finished) -> None:
    """The command and everything it printed, for reading a failure afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"$ {' '.join(command)}\nexit {done.exit_code} after {done.seconds:.1f} s"
        f"{' (timed out)' if done.timed_out else ''}\n\n--- stdout\n{done.stdout}\n"
        f"--- stderr\n{done.stderr}\n",
        encoding="utf-8",
    )


def run_cli(task: Task, workspace: Path, cfg: RunConfig) -> Outcome:
    """The task through ``ollama-agent-ls run`` / ``spec``."""
    command = cli_command(task, workspace, cfg)
    done = procs.run(command, cwd=workspace, env=check_env(), timeout=cfg.timeout)
    write_log(cfg.log_path(task), command, done)
    if done.timed_out:
        return Outcome(status="timeout", timed_out=True)
    outcome = parse_cli(done.stdout, done.stderr)
    last = (done.stderr.strip().splitlines() or [""])[-1][:200]
    if outcome.status == "unknown" and "Traceback (most recent call last)" in done.stderr:
        outcome.error = f"the CLI crashed (exit {done.exit_code}): {last}"
    elif done.exit_code == 2:
        # Usage errors are the harness's or the CLI's fault, never the model's.
        outcome.error = f"usage error: {last}"
    elif done.exit_code == 3:
        outcome.error = "model server unreachable or model missing (exit 3)"
    return outcome


# -- aider --------------------------------------------------------------------------------------


def aider_home(venv: Path) -> Path:
    """A HOME for aider: no user config, and a fresh model-price cache so it fetches nothing.

    aider downloads litellm's model list unless its cache is under a day old; the copy litellm
    ships in the venv serves the same purpose without the network.
    """
    home = venv.parent / "aider-home"
    cache = home / ".aider" / "caches" / "model_prices_and_context_window.json"
    bundled = sorted(
        venv.glob("lib/python*/site-packages/litellm/model_prices_and_context_window*.json")
    )
    if bundled and (not cache.is_file() or time.time() - cache.stat().st_mtime > 6 * 3600):
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled[0], cache)
    return home


def aider_command(task: Task, workspace: Path, cfg: RunConfig) -> tuple[list[str], dict[str, str]]:
    """aider's command line and environment for this task."""
    exe = cfg.aider_venv / "bin" / "aider"
    if not exe.is_file():
        raise TaskError(
            f"aider is not installed at {exe}: python -m venv {cfg.aider_venv} && "
            f"{cfg.aider_venv}/bin/pip install aider-chat (or pass --aider-venv)"
        )
    env = check_env()
    env.update(
        HOME=str(aider_home(cfg.aider_venv)),
        OPENAI_API_KEY="dummy",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        AIDER_ANALYTICS="false",
        AIDER_CHECK_UPDATE="false",
    )
    endpoint = cfg.endpoint
    if endpoint.api == "openai":
        model = f"openai/{endpoint.model}"
        server = ["--openai-api-base", endpoint.url]
    else:
        model = f"ollama_chat/{endpoint.model}"
        env["OLLAMA_API_BASE"] = endpoint.url
        server = []
    logs = cfg.log_dir / f"{task.id}__{cfg.face}"
    logs.mkdir(parents=True, exist_ok=True)
    settings = logs / "model-settings.yml"
    # The same seed as our faces; aider already asks for temperature 0 by default.
    settings.write_text(
        f"- name: {model}\n  extra_params:\n    seed: {SAMPLING['seed']}\n", encoding="utf-8"
    )
    command = [
        str(exe),
        "--model",
        model,
        *server,
        "--edit-format",
        AIDER_FACES[cfg.face],
        "--model-settings-file",
        str(settings),
        "--yes-always",
        "--no-git",
        "--no-auto-commits",
        "--no-check-update",
        "--analytics-disable",
        "--no-show-model-warnings",
        "--map-tokens",
        "0",
        "--no-pretty",
        "--no-fancy-input",
        "--chat-history-file",
        str(logs / "chat.md"),
        "--input-history-file",
        str(logs / "input.txt"),
        "--message",
        chat_message(task, workspace),
        *task.chat_files,
    ]
    return command, env


_TOKENS = re.compile(
    r"^Tokens: ([\d.]+)(k?) sent(?:, ([\d.]+)(k?) cache write)?(?:, ([\d.]+)(k?) cache hit)?",
    re.MULTILINE,
)
_AIDER_FORMAT_ERRORS = re.compile(
    r"did not conform to the edit format|SEARCH/REPLACE blocks? failed to match"
    r"|malformed|Unable to parse|no filename provided",
    re.IGNORECASE,
)


def _count(number: str, kilo: str) -> int:
    return round(float(number) * (1000 if kilo else 1))


def parse_aider(output: str) -> Outcome:
    """Requests, prompt tokens ("Tokens: 1.2k sent") and edit-format complaints from aider."""
    sent = cached = 0
    found = _TOKENS.findall(output)
    for number, kilo, _w, _wk, hit, hit_kilo in found:
        sent += _count(number, kilo)
        if hit:
            cached += _count(hit, hit_kilo)
    return Outcome(
        status="finished",
        turns=len(found) or None,
        prompt_tokens=sent if found else None,
        # aider reports cache hits only for providers that say so; llama.cpp's are not shown.
        cached_prompt_tokens=cached if cached else None,
        format_errors=len(_AIDER_FORMAT_ERRORS.findall(output)),
    )


def run_aider(task: Task, workspace: Path, cfg: RunConfig) -> Outcome:
    """The task through aider's CLI, one --message, in its own venv."""
    command, env = aider_command(task, workspace, cfg)
    done = procs.run(command, cwd=workspace, env=env, timeout=cfg.timeout, stdin="")
    write_log(cfg.log_path(task), command, done)
    if done.timed_out:
        return Outcome(status="timeout", timed_out=True)
    outcome = parse_aider(done.stdout + "\n" + done.stderr)
    if done.exit_code not in (0, None):
        outcome.status = f"exit {done.exit_code}"
    if outcome.turns is None:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        outcome.error = "aider got no model reply: " + " / ".join(tail)[:300]
    return outcome


def run_lsp(task: Task, workspace: Path, cfg: RunConfig) -> Outcome:
    """The task through ``ollama-agent-ls serve`` and a minimal editor (lsp_face)."""
    from tests.evals.lsp_face import run_lsp_task

    return run_lsp_task(task, workspace, cfg)


RUNNERS: dict[str, Callable[[Task, Path, RunConfig], Outcome]] = {
    "cli": run_cli,
    "lsp": run_lsp,
    "aider-whole": run_aider,
    "aider-diff": run_aider,
}


def formats_for(face: str, formats: list[str]) -> list[str]:
    """The edit formats a face is run with: ours take --formats, aider's face fixes its own."""
    return [AIDER_FACES[face]] if face in AIDER_FACES else formats
