"""Item 7: what the command sandbox and the shadow checkpoints cost.

Command start-up: ``run_command`` of ``true`` in a small workspace, unsandboxed (sandbox=off)
against sandboxed (bubblewrap), both with their checkpoints, alternating; and the bare process
start of each (``/bin/sh -c true`` against ``bwrap ... /bin/sh -c true``) so the checkpoint's
share shows. Checkpoints: a 10,000-file workspace (1 KB text files in 100 directories): the
first snapshot (every file hashed into the store), a snapshot when nothing changed (git's index
stat cache), and a snapshot plus diff after a command changed 10 files.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ollama_agent_ls.settings import CommandApproval, Settings
from ollama_agent_ls.tools.context import ToolContext
from ollama_agent_ls.tools.sandbox import sandboxed
from ollama_agent_ls.tools.shell import _execute, run_command_result
from ollama_agent_ls.workspace.checkpoints import CheckpointStore
from ollama_agent_ls.workspace.documents import DiskDocuments
from ollama_agent_ls.workspace.staging import StagingArea

from .stats import Samples, alternate


def _small_workspace(base: Path) -> Path:
    root = base / "small"
    (root / "src").mkdir(parents=True)
    for i in range(20):
        (root / "src" / f"m{i}.py").write_text(f"VALUE = {i}\n" * 20)
    return root.resolve()


def _ctx(root: Path, sandbox: str, store: Path) -> ToolContext:
    docs = DiskDocuments(root)
    settings = Settings.model_validate(
        {"command_approval": CommandApproval.ALWAYS, "sandbox": sandbox}
    )
    ctx = ToolContext(root=root, documents=docs, sink=StagingArea(docs), settings=settings)
    ctx.checkpoints = CheckpointStore(root, store)
    return ctx


async def _timed_command(ctx: ToolContext) -> float:
    start = time.perf_counter()
    result = await run_command_result(ctx, "true")
    assert result.exit_code == 0, result.text
    return time.perf_counter() - start


async def _timed_process(root: Path, sandbox: str) -> float:
    settings = Settings.model_validate({"sandbox": sandbox})
    start = time.perf_counter()
    plan = sandboxed("true", root, settings)
    try:
        _, code, _, _ = await _execute(plan, str(root), 30)
    finally:
        plan.cleanup()
    assert code == 0
    return time.perf_counter() - start


def _big_workspace(base: Path, files: int) -> Path:
    root = base / "big"
    per_dir = 100
    for i in range(files):
        d = root / f"pkg{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        (d / f"f{i:05d}.txt").write_text(f"line {i}\n" * 128)
    return root.resolve()


async def _checkpoints(base: Path, files: int, rounds: int) -> dict[str, Any]:
    root = _big_workspace(base, files)
    results: dict[str, Samples] = {
        "first": Samples("first snapshot (cold store)"),
        "unchanged": Samples("snapshot, nothing changed"),
        "changed_10": Samples("snapshot + diff after 10 files changed"),
    }
    for r in range(rounds):
        store = CheckpointStore(root, base / f"store{r}")
        start = time.perf_counter()
        tree = await store.snapshot()
        results["first"].values.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert await store.snapshot() == tree
        results["unchanged"].values.append(time.perf_counter() - start)
        for i in range(10):
            (root / f"pkg{i:03d}" / f"f{i * 100:05d}.txt").write_text(f"changed {r}\n")
        start = time.perf_counter()
        after = await store.snapshot()
        changes = await store.changes(tree, after, 4_000_000)
        results["changed_10"].values.append(time.perf_counter() - start)
        assert len(changes.text) == 10
        shutil.rmtree(base / f"store{r}")
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "files": files,
        "bytes": size,
        "seconds": {k: v.to_json() for k, v in results.items()},
        "first_median_s": results["first"].median,
        "unchanged_median_s": results["unchanged"].median,
        "changed_10_median_s": results["changed_10"].median,
    }


async def run_sandbox(rounds: int, files: int = 10_000) -> dict[str, Any]:
    """Command start-up with and without the sandbox, and checkpoint cost on ``files`` files."""
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        base = Path(tmp)
        root = _small_workspace(base)
        off = _ctx(root, "off", base / "store-off")
        on = _ctx(root, "workspace-write", base / "store-on")
        commands = await alternate(
            {"off": lambda: _timed_command(off), "sandboxed": lambda: _timed_command(on)},
            rounds * 3,
        )
        processes = await alternate(
            {
                "sh": lambda: _timed_process(root, "off"),
                "bwrap": lambda: _timed_process(root, "workspace-write"),
            },
            rounds * 3,
        )
        checkpoints = await _checkpoints(base, files, max(1, rounds // 2))
    return {
        "command_ms": {k: v.median * 1000 for k, v in commands.items()},
        "process_ms": {k: v.median * 1000 for k, v in processes.items()},
        "samples": {
            **{f"command_{k}": v.to_json() for k, v in commands.items()},
            **{f"process_{k}": v.to_json() for k, v in processes.items()},
        },
        "checkpoints": checkpoints,
    }


if __name__ == "__main__":  # a quick look without the whole suite
    print(asyncio.run(run_sandbox(3, 2_000)))
