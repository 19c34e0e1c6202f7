"""Item 8: how much of each request a prompt cache can reuse (issue 13).

Recorded request bodies of real CLI runs (``python -m ollama_agent_ls run`` / ``spec``) against the
recording fake Ollama, whose replies are scripted tool calls:

- A: 20 turns, each reading a different ~60 KB file, at numCtx 32768;
- B: 20 turns of results from 1 to 20 KB (seeded sizes) at numCtx 4096;
- C: a spec run whose verify fails twice, so the conversation continues with follow-ups (the
  verify output appended as a new user message each time);
- A and B again through the language server (``ollamaAgent.runTask`` over stdio, warm start on:
  its warm-up request is not a chat turn and is left out), and D: a language-server session of
  three runs, ``runTask`` then two ``ollamaAgent.followUp``s, each reading files at numCtx 8192.

Per scenario: the share of requests after the first that are pure appends (the previous
request's messages, its reply, then only new messages; tools and options identical), the
re-evaluated prompt over the ideal one (in bytes of the canonical request: what a server with a
prefix cache of the previous request must evaluate, against only the new parts), the same over
the new parts plus what each compaction step must evaluate again (1.00 = nothing is wasted
but the compactions themselves), and the number of compaction steps (requests that are not
appends). Goals of issue 13: >= 90 % appends, <= 1.15 x ideal.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ollama_agent_ls.agent.prefix import _common_prefix, canonical, is_pure_append

from ..fake_ollama.replies import Reply, call
from ..fake_ollama.server import FakeModel, FakeOllama
from ..sandbox_tool import ensure_bubblewrap
from .lsp_client import LspClient

MODEL = "bench-coder:7b"


def _cli(fake: FakeOllama, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": fake.url, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ollama_agent_ls", *args, "-w", str(root), "-m", MODEL, "--yes"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def _filler(size: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "value", "index", "result"]
    lines = []
    total = 0
    while total < size:
        line = f"{rng.choice(words)}_{rng.randrange(10**6)} = {rng.randrange(10**9)}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def analyse(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure-append share, re-evaluated over ideal, and compaction steps of recorded requests."""
    appends = 0
    steps = 0
    evaluated = ideal = refills = 0
    previous: dict[str, Any] | None = None
    for body in bodies:
        messages = body["messages"]
        head = canonical([{"tools": body.get("tools"), "options": body.get("options")}])
        current = head + canonical(messages)
        if previous is None:
            evaluated += len(current)
            ideal += len(current)
            previous = body
            continue
        prev_messages = previous["messages"]
        reply = messages[len(prev_messages)] if len(messages) > len(prev_messages) else {}
        stable = body.get("tools") == previous.get("tools") and body.get("options") == previous.get(
            "options"
        )
        append = stable and is_pure_append(prev_messages, reply, messages)
        before = canonical(
            [{"tools": previous.get("tools"), "options": previous.get("options")}]
        ) + canonical([*prev_messages, reply])
        reused = _common_prefix(before, current)
        evaluated += len(current) - reused
        # Ideal: only what is new since the previous request and its reply: what follows the
        # reply (after a compaction too, where the new results follow the reply as well).
        new = max(0, len(current) - len(before))
        if not append:
            # The reply is the newest assistant message (a compaction moved it).
            at = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
            if at >= 0:
                new = len(current) - len(head + canonical(messages[: at + 1]))
        ideal += new
        if append:
            appends += 1
        else:
            steps += 1
            # What a compaction must evaluate again beyond the new parts: its own price.
            refills += max(0, len(current) - reused - new)
        previous = body
    later = max(1, len(bodies) - 1)
    return {
        "requests": len(bodies),
        "pure_appends": appends,
        "pure_append_share": appends / later,
        "compaction_steps": steps,
        "evaluated_bytes": evaluated,
        "ideal_bytes": ideal,
        "evaluated_over_ideal": evaluated / ideal if ideal else float("nan"),
        "compaction_refill_bytes": refills,
        "evaluated_over_ideal_plus_refills": evaluated / (ideal + refills) if ideal else 0.0,
    }


def _reading_run(
    root: Path, fake: FakeOllama, sizes: list[int], num_ctx: int
) -> list[dict[str, Any]]:
    for i, size in enumerate(sizes):
        (root / f"data_{i:02d}.txt").write_text(_filler(size, i))
    fake.enqueue(
        *(Reply.calls(call("read_file", {"path": f"data_{i:02d}.txt"})) for i in range(len(sizes))),
        Reply.say("Read them all."),
    )
    proc = _cli(
        fake,
        root,
        "run",
        "read every data file",
        "-o",
        f"numCtx={num_ctx}",
        "-o",
        f"maxTurns={len(sizes) + 5}",
        "-q",
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the CLI run failed: {proc.stderr[-2000:]}")
    return [r.body for r in fake.chat_requests]


SPEC = """---
status: ready
verify:
  - python check.py
---
# Make check.py pass

Make `check.py` print ok.

## Acceptance Criteria

- [ ] `python check.py` exits 0
"""


def _spec_run(root: Path, fake: FakeOllama) -> list[dict[str, Any]]:
    specs = root / ".chant" / "specs"
    specs.mkdir(parents=True)
    spec = specs / "2026-12-02-001-abc.md"
    spec.write_text(SPEC)
    (root / "check.py").write_text("import sys\nprint('not yet')\nsys.exit(1)\n")
    (root / "notes.txt").write_text(_filler(6000, 99))
    fake.enqueue(
        Reply.calls(call("read_file", {"path": "check.py"})),
        Reply.calls(call("read_file", {"path": "notes.txt"})),
        Reply.say("I looked."),
        Reply.calls(call("read_file", {"path": "check.py"})),
        Reply.say("Still looking."),
        Reply.calls(call("read_file", {"path": "notes.txt"})),
        Reply.say("Giving up."),
    )
    proc = _cli(fake, root, "spec", str(spec), "-o", "numCtx=8192", "-q")
    if proc.returncode not in (0, 1, 4):
        raise RuntimeError(f"the spec run failed: {proc.returncode} {proc.stderr[-2000:]}")
    return [r.body for r in fake.chat_requests]


SERVER = [sys.executable, "-m", "ollama_agent_ls"]


async def _lsp_runs(
    root: Path, fake: FakeOllama, instructions: list[str], num_ctx: int, max_turns: int
) -> None:
    """One language-server session: ``runTask`` with the first instruction, ``followUp``s."""
    client = LspClient(SERVER)
    await client.start()
    try:
        await client.initialize(
            root,
            {
                "ollamaUrl": fake.url,
                "model": MODEL,
                "numCtx": num_ctx,
                "maxTurns": max_turns,
                "commandApproval": "never",
            },
        )
        session: str | None = None
        for instruction in instructions:
            args: dict[str, Any] = {"instruction": instruction}
            command = "ollamaAgent.runTask"
            if session is not None:
                args["sessionId"], command = session, "ollamaAgent.followUp"
            result = await asyncio.wait_for(
                client.request(
                    "workspace/executeCommand", {"command": command, "arguments": [args]}
                ),
                600,
            )
            if not isinstance(result, dict) or result.get("status") != "completed":
                raise RuntimeError(f"the run did not complete: {result!r}: {await client.stderr()}")
            session = result["sessionId"]
    finally:
        await client.stop()


def _lsp_reading_run(
    root: Path, fake: FakeOllama, sizes: list[int], num_ctx: int
) -> list[dict[str, Any]]:
    for i, size in enumerate(sizes):
        (root / f"data_{i:02d}.txt").write_text(_filler(size, i))
    fake.enqueue(
        *(Reply.calls(call("read_file", {"path": f"data_{i:02d}.txt"})) for i in range(len(sizes))),
        Reply.say("Read them all."),
    )
    asyncio.run(_lsp_runs(root, fake, ["read every data file"], num_ctx, len(sizes) + 5))
    return [r.body for r in fake.chat_requests]


def _lsp_follow_ups(root: Path, fake: FakeOllama) -> list[dict[str, Any]]:
    for i in range(9):
        (root / f"part_{i}.txt").write_text(_filler(3000, 50 + i))
    replies = []
    for run in range(3):
        replies += [
            Reply.calls(call("read_file", {"path": f"part_{3 * run + k}.txt"})) for k in range(3)
        ]
        replies.append(Reply.say(f"Read part {run}."))
    fake.enqueue(*replies)
    instructions = ["read parts 0-2", "now read parts 3-5", "and parts 6-8"]
    asyncio.run(_lsp_runs(root, fake, instructions, 8192, 10))
    return [r.body for r in fake.chat_requests]


def run_prompt_cache() -> dict[str, Any]:
    """The three scenarios' figures."""
    ensure_bubblewrap()  # scenario C's verify runs a command, in the sandbox
    results: dict[str, Any] = {}
    rng = random.Random(13)
    scenarios = {
        "A_20_turns_60KB_32k": ([60_000] * 20, 32768),
        "B_20_turns_1-20KB_4k": ([rng.randrange(1_000, 20_001) for _ in range(20)], 4096),
    }
    for name, (sizes, num_ctx) in scenarios.items():
        for face, reading_run in (("", _reading_run), ("_lsp", _lsp_reading_run)):
            with tempfile.TemporaryDirectory() as tmp, FakeOllama() as fake:
                fake.set_models([FakeModel(MODEL, context_length=65536)])
                root = Path(tmp).resolve()
                results[name + face] = analyse(reading_run(root, fake, sizes, num_ctx))
    with tempfile.TemporaryDirectory() as tmp, FakeOllama() as fake:
        fake.set_models([FakeModel(MODEL, context_length=65536)])
        results["C_spec_with_2_follow_ups_8k"] = analyse(_spec_run(Path(tmp), fake))
    with tempfile.TemporaryDirectory() as tmp, FakeOllama() as fake:
        fake.set_models([FakeModel(MODEL, context_length=65536)])
        results["D_lsp_session_2_follow_ups_8k"] = analyse(
            _lsp_follow_ups(Path(tmp).resolve(), fake)
        )
    return results


if __name__ == "__main__":
    print(json.dumps(run_prompt_cache(), indent=2))
