"""The eval tasks: each a tiny repository, an instruction, a hidden check and a reference solution.

A task lives in ``tasks/<id>/``: ``task.yaml`` (what to ask and how to check), ``repo/`` (what the
agent sees), ``hidden/`` (check files copied in only after the agent finished) and
``solution.diff`` (a reference answer, used by the self-test to prove the check can pass).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.evals import procs

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
KINDS = ("selection", "file", "todo", "spec", "plain")
CHECK_TIMEOUT = 120.0
"""Seconds a task's check may take; a check that hangs fails."""


class TaskError(Exception):
    """A task definition is broken; the message names the task and the field."""


@dataclass(frozen=True)
class Task:
    """One eval task, read from ``tasks/<id>/task.yaml``."""

    id: str
    folder: Path
    kind: str
    category: str
    check: str
    instruction: str = ""
    file: str | None = None
    lines: tuple[int, int] | None = None
    line: int | None = None
    """1-based line of the TODO comment (kind todo)."""
    spec: str | None = None
    files: tuple[str, ...] = field(default_factory=tuple)
    """Files the task is about: what aider gets on its command line (new ones are created)."""

    @property
    def repo(self) -> Path:
        """The repository the agent starts from."""
        return self.folder / "repo"

    @property
    def hidden(self) -> Path:
        """Check files the agent never sees."""
        return self.folder / "hidden"

    @property
    def solution(self) -> Path:
        """The reference solution as a unified diff."""
        return self.folder / "solution.diff"

    @property
    def chat_files(self) -> list[str]:
        """The files to name to a file-based tool such as aider (the task's file first)."""
        names = [self.file] if self.file else []
        if self.spec:
            names.append(self.spec)
        return list(dict.fromkeys([*(n for n in names if n), *self.files]))

    def anchor_file(self) -> str:
        """The file an editor run starts from: the task's file, else its first existing file."""
        if self.spec:
            return self.spec
        if self.file:
            return self.file
        for name in self.files:
            if (self.repo / name).is_file():
                return name
        raise TaskError(f"task {self.id}: none of its files exist in repo/; add one to 'files'")


def _parse_lines(task_id: str, raw: Any) -> tuple[int, int] | None:
    if raw is None:
        return None
    text = str(raw)
    first, sep, last = text.partition("-")
    try:
        start, end = int(first), int(last if sep else first)
    except ValueError:
        raise TaskError(f"task {task_id}: lines must look like 4-9, got {text!r}") from None
    if not 1 <= start <= end:
        raise TaskError(f"task {task_id}: lines {text!r} must be 1-based and ascending")
    return start, end


def load_task(folder: Path) -> Task:
    """Read one task folder; TaskError when task.yaml is missing or malformed."""
    spec_file = folder / "task.yaml"
    try:
        data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"task {folder.name}: cannot read {spec_file}: {exc}") from exc
    if not isinstance(data, dict):
        raise TaskError(f"task {folder.name}: task.yaml must be a mapping")
    known = {"kind", "category", "instruction", "file", "lines", "line", "spec", "files", "check"}
    unknown = set(data) - known
    if unknown:
        raise TaskError(
            f"task {folder.name}: unknown keys {sorted(unknown)}; known: {sorted(known)}"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise TaskError(f"task {folder.name}: kind must be one of {KINDS}, got {kind!r}")
    if not data.get("check"):
        raise TaskError(f"task {folder.name}: 'check' (the command run after the agent) is missing")
    if kind not in ("todo", "spec") and not data.get("instruction"):
        raise TaskError(f"task {folder.name}: kind {kind} needs an 'instruction'")
    return Task(
        id=folder.name,
        folder=folder,
        kind=kind,
        category=str(data.get("category", "")),
        check=str(data["check"]),
        instruction=str(data.get("instruction", "")),
        file=data.get("file"),
        lines=_parse_lines(folder.name, data.get("lines")),
        line=data.get("line"),
        spec=data.get("spec"),
        files=tuple(data.get("files") or ()),
    )


def load_tasks(ids: list[str] | None = None, tasks_dir: Path = TASKS_DIR) -> list[Task]:
    """Every task, sorted by id, or the named ones in the order given."""
    folders = sorted(p for p in tasks_dir.iterdir() if (p / "task.yaml").is_file())
    by_id = {p.name: p for p in folders}
    if not ids:
        return [load_task(p) for p in folders]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise TaskError(f"unknown task id(s) {missing}; known: {', '.join(by_id)}")
    return [load_task(by_id[i]) for i in ids]


# -- workspaces ---------------------------------------------------------------------------------


def make_workspace(task: Task, parent: Path | None = None) -> Path:
    """A fresh copy of the task's repository in a new temporary folder; returns its path."""
    root = Path(tempfile.mkdtemp(prefix=f"eval-{task.id}-", dir=parent))
    shutil.copytree(task.repo, root, dirs_exist_ok=True)
    return root.resolve()


def apply_solution(task: Task, workspace: Path) -> None:
    """Apply the reference solution to a workspace (git apply works outside a repository too)."""
    done = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", str(task.solution)],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise TaskError(f"task {task.id}: solution.diff does not apply: {done.stderr.strip()}")


def solution_files(task: Task) -> dict[str, str]:
    """What the reference solution leaves in each file it changes (relative path -> text)."""
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        shutil.copytree(task.repo, workspace, dirs_exist_ok=True)
        before = {p.relative_to(workspace).as_posix(): p.read_bytes() for p in _files(workspace)}
        apply_solution(task, workspace)
        return {
            rel: (workspace / rel).read_text(encoding="utf-8")
            for rel in (p.relative_to(workspace).as_posix() for p in _files(workspace))
            if before.get(rel) != (workspace / rel).read_bytes()
        }


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def install_hidden(task: Task, workspace: Path) -> None:
    """Copy the hidden check files in, over anything the agent wrote with the same names."""
    if task.hidden.is_dir():
        shutil.copytree(task.hidden, workspace, dirs_exist_ok=True)


AGENT_SNAPSHOT: list[Path] = []
"""Set by --snapshot: a frozen copy of the package that every run imports instead of the tree."""


def agent_source() -> Path:
    """The package directory the runs import (the snapshot once one is taken)."""
    if AGENT_SNAPSHOT:
        return AGENT_SNAPSHOT[0] / "ollama_agent_ls"
    import ollama_agent_ls

    return Path(ollama_agent_ls.__file__).resolve().parent


def agent_version() -> str:
    """Which code the runs measure: git HEAD plus a hash of the package's files as they are.

    The working tree is shared and often has uncommitted edits, so HEAD alone would not say.
    """
    source = agent_source()
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*.py")):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}+{digest.hexdigest()[:10]}"


def snapshot_agent(parent: Path) -> Path:
    """Copy the package as it is now, so edits others make during a long run do not leak in."""
    AGENT_SNAPSHOT.clear()
    source = agent_source()
    staging = Path(tempfile.mkdtemp(prefix="agent-snapshot-", dir=_made(parent)))
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(source, staging / "ollama_agent_ls", ignore=skip)
    AGENT_SNAPSHOT[:] = [staging]
    # One folder per version of the code, so earlier runs' snapshots stay readable.
    final = parent / f"agent-{agent_version().replace('+', '-')}"
    if final.exists():
        shutil.rmtree(staging)
    else:
        staging.rename(final)
    AGENT_SNAPSHOT[:] = [final]
    return final / "ollama_agent_ls"


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_env() -> dict[str, str]:
    """The environment checks and agents run in: ``python`` is this interpreter."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    if AGENT_SNAPSHOT:
        # Ahead of the editable install's finder, so `-m ollama_agent_ls` loads the copy.
        env["PYTHONPATH"] = str(AGENT_SNAPSHOT[0])
    return env


@dataclass
class CheckResult:
    """Whether a task's check passed, and what it printed."""

    passed: bool
    exit_code: int | None
    output: str


def run_check(task: Task, workspace: Path, timeout: float = CHECK_TIMEOUT) -> CheckResult:
    """Install the hidden files and run the task's check command in the workspace."""
    install_hidden(task, workspace)
    done = procs.run(task.check, cwd=workspace, env=check_env(), timeout=timeout)
    if done.timed_out:
        return CheckResult(False, None, f"the check took longer than {timeout:.0f} s")
    output = (done.stdout + done.stderr).strip()
    return CheckResult(done.exit_code == 0, done.exit_code, output[-2000:])
