"""Items 2 and 6: runs through the language server, as an editor sees them.

- Run time of the 50,000-chunk stream as an ``ollamaAgent.runSelection`` run (executeCommand sent
  to its answer received), alternating with our client reading the same stream alone.
- Delay from a chunk leaving the streamer to its text reaching the client, on paced streams:
  the chunk text carries the streamer's ``time.monotonic_ns()`` at the write.
- Transcript notifications per second of a run.
- Resident memory of the server across 200 three-turn runs (read, edit, answer).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.ollama.models import Message
from ollama_agent_ls.settings import Settings

from .lsp_client import LspClient
from .stats import Samples, alternate, ratio

SERVER = [sys.executable, "-m", "ollama_agent_ls"]
_STAMP = re.compile(r"\[t=(\d+)\]")
_DELTAS = ("content", "thinking")
RUN_TIMEOUT = 120.0
"""A run that takes longer is a hung server, reported with its stderr."""
_SOURCE = "def f():\n    return 1\n\n\ncounter = 0\n"


def _workspace(tmp: str) -> Path:
    root = Path(tmp).resolve()
    (root / "a.py").write_text(_SOURCE, encoding="utf-8")
    return root


async def _session(
    url: str, tmp: str, options: dict[str, Any] | None = None
) -> tuple[LspClient, str]:
    root = _workspace(tmp)
    client = LspClient(SERVER)
    await client.start()
    await client.initialize(
        root, {"ollamaUrl": url, "maxTurns": 5, "commandApproval": "never", **(options or {})}
    )
    uri = client.open(root / "a.py")
    return client, uri


async def _run(client: LspClient, uri: str, model: str) -> dict[str, Any]:
    args = {
        "uri": uri,
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}},
        "instruction": "Benchmark run.",
        "model": model,
    }
    try:
        result = await asyncio.wait_for(
            client.request(
                "workspace/executeCommand",
                {"command": "ollamaAgent.runSelection", "arguments": [args]},
            ),
            RUN_TIMEOUT,
        )
    except asyncio.TimeoutError:
        raise RuntimeError(
            f"no answer to runSelection ({model}) within {RUN_TIMEOUT:g} s; "
            f"server stderr: {await client.stderr()}"
        ) from None
    if not isinstance(result, dict) or result.get("status") != "completed":
        raise RuntimeError(f"the run did not complete: {result!r}; stderr: {await client.stderr()}")
    return result


async def run_time(url: str, chunks: int, rounds: int) -> dict[str, Any]:
    """The stream as a language-server run next to our client alone, plus notification rate."""
    model = f"content-{chunks}"
    ours = OllamaClient(Settings(ollama_url=url))
    rates: list[float] = []
    delta_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        client, uri = await _session(url, tmp)
        try:

            async def alone() -> float:
                start = time.perf_counter()
                async for _ in ours.chat_stream(
                    model=model, messages=[Message("user", "x")], tools=[], num_ctx=4096
                ):
                    pass
                return time.perf_counter() - start

            async def through_server() -> float:
                client.notifications.clear()
                start = time.perf_counter()
                await _run(client, uri, model)
                elapsed = time.perf_counter() - start
                deltas = [n for n in client.notifications if n.params.get("kind") in _DELTAS]
                if len(deltas) > 1:
                    rates.append(len(client.notifications) / elapsed)
                    delta_rates.append(_pace([n.at_ns for n in deltas]))
                return elapsed

            samples = await alternate({"c_alone": alone, "through_server": through_server}, rounds)
        finally:
            await client.stop()
            await ours.aclose()
    return {
        "chunks": chunks,
        "seconds": {name: s.to_json() for name, s in samples.items()},
        "ratio_server_over_alone": ratio(
            samples["through_server"].median, samples["c_alone"].median
        ),
        "notifications_per_s": Samples("notifications_per_s", rates).to_json(),
        "delta_notifications_per_s": Samples("delta_notifications_per_s", delta_rates).to_json(),
    }


def _pace(stamps_ns: list[int]) -> float:
    """Notifications per second at the stream's steady pace: one over the median gap.

    A run's first sends (the bucket's burst) and its last (flushed when the run finishes) come
    closer together; over a run of under a second they would dominate a count per second.
    """
    return 1e9 / statistics.median(b - a for a, b in itertools.pairwise(stamps_ns))


def _most_in_a_second(stamps_ns: list[int]) -> int:
    """The most notifications that arrived within any one second."""
    most = start = 0
    for end, stamp in enumerate(stamps_ns):
        while stamp - stamps_ns[start] >= 1_000_000_000:
            start += 1
        most = max(most, end - start + 1)
    return most


async def latency(
    url: str, paces: list[tuple[int, int]], updates_per_second: float = 20
) -> dict[str, Any]:
    """Chunk-to-client delay and notification rate for paced streams (count, microseconds)."""
    out: dict[str, Any] = {}
    options = {"transcriptUpdatesPerSecond": updates_per_second}
    with tempfile.TemporaryDirectory() as tmp:
        client, uri = await _session(url, tmp, options)
        try:
            await _run(client, uri, "content-10")  # warm: imports, first connection
            for count, micros in paces:
                client.notifications.clear()
                start = time.perf_counter()
                await _run(client, uri, f"paced-{count}-{micros}")
                elapsed = time.perf_counter() - start
                delays = Samples("delay_ms")
                arrivals: list[int] = []
                for note in client.notifications:
                    if note.params.get("kind") != "content":
                        continue
                    arrivals.append(note.at_ns)
                    for stamp in _STAMP.findall(note.params.get("text", "")):
                        delays.values.append((note.at_ns - int(stamp)) / 1e6)
                if len(delays.values) != count:
                    raise RuntimeError(
                        f"{len(delays.values)} of {count} stamped chunks reached the client"
                    )
                out[f"{count}x{micros // 1000}ms@{updates_per_second:g}"] = {
                    "chunks_per_s_offered": 1e6 / micros if micros else None,
                    "transcript_updates_per_second": updates_per_second,
                    "delay_ms_median": delays.median,
                    "delay_ms_p90": delays.quantile(0.9),
                    "delay_ms_max": max(delays.values),
                    "content_notifications": len(arrivals),
                    "notifications_per_s": len(client.notifications) / elapsed,
                    "content_notifications_per_s": _pace(arrivals),
                    "most_content_notifications_in_a_second": _most_in_a_second(arrivals),
                }
        finally:
            await client.stop()
    return out


async def memory(url: str, runs: int) -> dict[str, Any]:
    """Resident memory of one server after 1, 10 and ``runs`` read-edit-answer runs."""
    marks: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        client, uri = await _session(url, tmp)
        try:
            marks["after_initialize"] = client.rss_bytes()
            start = time.perf_counter()
            for i in range(1, runs + 1):
                result = await _run(client, uri, "agent-edit")
                if not result.get("changedFiles"):
                    raise RuntimeError(f"run {i} changed no file: {result!r}")
                if i in (1, 10, runs // 2, runs):
                    marks[f"after_{i}_runs"] = client.rss_bytes()
            elapsed = time.perf_counter() - start
            text = client.documents[uri].text
            if f"counter = {runs}\n" not in text:
                raise RuntimeError(f"the edits did not all land: {text!r}")
        finally:
            await client.stop()
    return {
        "runs": runs,
        "rss_bytes": marks,
        "growth_after_10_bytes": marks[f"after_{runs}_runs"] - marks["after_10_runs"],
        "growth_after_1_bytes": marks[f"after_{runs}_runs"] - marks["after_1_runs"],
        "seconds_per_run": elapsed / runs,
    }
