"""A scripted model for checking the harness itself: the fake Ollama playing a known answer.

In ``solution`` mode each run's model "writes" the task's reference solution (tool calls for our
faces, whole files or SEARCH/REPLACE blocks for aider), so every run must pass; in ``nothing``
mode it only says "done", so every run must fail. A harness that gets either wrong would waste
hours of real-model time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import tests.fake_ollama as ollama_fake
import tests.fake_openai as openai_fake
from tests.evals.catalog import Task, solution_files
from tests.evals.endpoint import Endpoint
from tests.evals.meter import metered

MODES = ("solution", "nothing")
APIS = ("ollama", "openai")


def agent_reply(task: Task, fake: ModuleType) -> Any:
    """Our agent's tool calls that write the solution (and tick a spec's boxes)."""
    call = fake.call
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
    return fake.Reply.calls(*calls)


def aider_reply(task: Task, edit_format: str, fake: ModuleType) -> Any:
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
    return fake.Reply.say("\n".join(parts))


@dataclass
class ScriptedEndpoint(Endpoint):
    """A fake server, with each run's replies queued just before the run starts."""

    fake: Any = None
    replies: ModuleType = ollama_fake
    mode: str = "nothing"

    def prepare(self, task: Any, face: str, fmt: str) -> None:
        """Forget the last run's replies and queue this run's."""
        super().prepare(task, face, fmt)
        self.fake.reset()
        if self.mode != "solution":
            return
        if face.startswith("aider-"):
            self.fake.enqueue(aider_reply(task, fmt, self.replies))
        else:
            self.fake.enqueue(agent_reply(task, self.replies))


@contextlib.contextmanager
def scripted_endpoint(mode: str, api: str = "ollama") -> Iterator[ScriptedEndpoint]:
    """A started fake server (Ollama's API, or llama.cpp's behind the meter) playing ``mode``."""
    if mode not in MODES or api not in APIS:
        raise ValueError(f"scripted {mode!r} on {api!r}: use a mode of {MODES}, an api of {APIS}")
    label = f"scripted-{mode}-{api}"
    if api == "ollama":
        with ollama_fake.FakeOllama() as fake:
            model = "qwen3:8b"
            yield ScriptedEndpoint("ollama", fake.url, model, label, None, fake, ollama_fake, mode)
        return
    with openai_fake.FakeOpenAI("llamacpp") as fake, metered(fake.root_url) as meter:
        model = openai_fake.DEFAULT_MODEL
        yield ScriptedEndpoint("openai", meter.url, model, label, meter, fake, openai_fake, mode)
