"""A scripted model for checking the harness itself: the fake Ollama playing a known answer.

In ``solution`` mode each run's model "writes" the task's reference solution (tool calls for our
faces, whole files or SEARCH/REPLACE blocks for aider), so every run must pass; in ``nothing``
mode it only says "done", so every run must fail. A harness that gets either wrong would waste
hours of real-model time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tests.evals.catalog import Task, solution_files
from tests.evals.endpoint import Endpoint
from tests.fake_ollama import FakeOllama, Reply, call

MODES = ("solution", "nothing")
MODEL = "qwen3:8b"


def agent_reply(task: Task) -> Reply:
    """Our agent's tool calls that write the solution (and tick a spec's boxes)."""
    calls = [
        call("write_file", {"path": rel, "content": text})
        for rel, text in solution_files(task).items()
    ]
    if task.kind == "spec":
        from ollama_agent_ls.specs.model import load_spec

        assert task.spec is not None
        spec = load_spec(task.repo / task.spec)
        calls += [
            call("check_criterion", {"index": c.index, "evidence": "the scripted solution"})
            for c in spec.criteria
        ]
    return Reply.calls(*calls)


def aider_reply(task: Task, edit_format: str) -> Reply:
    """aider's reply format: each file whole, or one SEARCH/REPLACE block per file."""
    parts = []
    for rel, text in solution_files(task).items():
        if edit_format == "whole":
            parts.append(f"{rel}\n```python\n{text}```\n")
        else:
            old_path = task.repo / rel
            old = old_path.read_text(encoding="utf-8") if old_path.is_file() else ""
            block = f"<<<<<<< SEARCH\n{old}=======\n{text}>>>>>>> REPLACE\n"
            parts.append(f"{rel}\n```python\n{block}```\n")
    return Reply.say("\n".join(parts))


class ScriptedEndpoint(Endpoint):
    """The fake Ollama, with each run's replies queued just before the run starts."""

    def __init__(self, fake: FakeOllama, mode: str) -> None:
        super().__init__("ollama", fake.url, MODEL, f"scripted-{mode}")
        self.fake = fake
        self.mode = mode

    def prepare(self, task: Any, face: str, fmt: str) -> None:
        """Forget the last run's replies and queue this run's."""
        self.fake.reset()
        if self.mode != "solution":
            return
        if face.startswith("aider-"):
            self.fake.enqueue(aider_reply(task, fmt))
        else:
            self.fake.enqueue(agent_reply(task))


@contextlib.contextmanager
def scripted_endpoint(mode: str) -> Iterator[ScriptedEndpoint]:
    """A started fake Ollama that plays ``mode`` for every run."""
    if mode not in MODES:
        raise ValueError(f"unknown scripted mode {mode!r}; use one of {MODES}")
    with FakeOllama() as fake:
        yield ScriptedEndpoint(fake, mode)
