"""``ollama-agent-ls spec PATH``: run a spec against files on disk."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.settings import Settings
from ollama_agent_ls.specs.model import is_spec
from ollama_agent_ls.specs.runner import SpecRunner, SpecRunResult
from ollama_agent_ls.tools.executor import ExtraTool

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SETUP, EXIT_CANCELLED = 0, 1, 2, 3, 130


def _usage(message: str) -> int:
    sys.stderr.write(f"ollama-agent-ls spec: error: {message}\n")
    return EXIT_USAGE


def spec_exit_code(result: SpecRunResult) -> int:
    """The documented exit code for a spec run."""
    if result.status == "completed":
        return EXIT_OK
    if result.status == "refused":
        return EXIT_USAGE
    if result.cancelled:
        return EXIT_CANCELLED
    if result.setup_problem:
        return EXIT_SETUP
    return EXIT_FAILED


def _locate(raw: Path, root: Path) -> Path | str:
    """The spec's resolved path, or the usage problem."""
    candidates = [raw.expanduser()]
    if not raw.is_absolute():
        candidates.append(root / raw)
    for candidate in candidates:
        if candidate.is_file():
            path = candidate.resolve()
            break
    else:
        return f"spec {raw} not found (relative paths are tried from . and from --workspace)"
    if root not in path.parents:
        return f"spec {path} is outside the workspace {root}; pass --workspace with its project"
    return path


async def run_spec_command(args: argparse.Namespace, settings: Settings, root: Path) -> int:
    """Run the spec named by ``args.path``; the exit code follows the ``run`` command's."""
    from ollama_agent_ls.backend import make_backend
    from ollama_agent_ls.headless import DiskRun, build_disk_run
    from ollama_agent_ls.terminal import TranscriptPrinter
    from ollama_agent_ls.tools.shell import TerminalApprover

    located = _locate(Path(args.path), root)
    if isinstance(located, str):
        return _usage(located)
    path = located
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _usage(f"cannot read {path}: {exc}")
    if not is_spec(path, text):
        return _usage(
            f"{path.name} is not a spec: put it under .chant/specs/ or give it YAML frontmatter "
            "with a status: line"
        )
    dry_run = bool(getattr(args, "dry_run", False))
    quiet = bool(getattr(args, "quiet", False))
    printer = TranscriptPrinter(sys.stderr)
    disk: list[DiskRun] = []
    async with contextlib.aclosing(make_backend(settings)) as client:

        def make_agent(tools: Sequence[ExtraTool]) -> Agent:
            run = build_disk_run(
                client,
                settings,
                root,
                TerminalApprover(),
                None if quiet else printer,
                dry_run=dry_run,
                extra_tools=tools,
            )
            disk.append(run)
            return run.agent

        runner = SpecRunner(
            path, make_agent, rerun=bool(getattr(args, "rerun", False)), dry_run=dry_run
        )
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no handler
            loop.add_signal_handler(signal.SIGINT, runner.cancel)
        try:
            result = await runner.run()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
    printer.close()
    if result.status == "refused":
        return _usage(result.reason)
    if dry_run and disk:
        from ollama_agent_ls.workspace.staging import unified_diff

        changes = disk[0].net_changes()
        if changes:
            sys.stdout.write(unified_diff(changes))
            sys.stdout.flush()
    _report(result, dry_run)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(spec_result_json(result), indent=2) + "\n")
        sys.stdout.flush()
    return spec_exit_code(result)


def spec_result_json(result: SpecRunResult) -> dict[str, Any]:
    """``spec --json``: the language server's runSpec result, with relative paths."""
    run = result.run
    return {
        "status": run.status.value if run else "failed",
        "summary": run.summary if run else result.reason,
        "changedFiles": result.changed_files,
        "turns": run.turns if run else 0,
        "metrics": run.metrics.to_json() if run else {},
        "specStatus": result.status,
        "reason": result.reason,
        "ticked": sorted(result.ticked),
        "verify": [
            {"command": v.command, "passed": v.passed, "exitCode": v.exit_code}
            for v in result.verify
        ],
    }


def _report(result: SpecRunResult, dry_run: bool) -> None:
    lines = [f"\n[{result.status}] {result.spec_rel}"]
    if result.reason:
        lines.append(f"reason: {result.reason}")
    if result.run is not None and result.run.summary and result.run.summary not in result.reason:
        lines.append(f"summary: {result.run.summary}")
    verb = "would change" if dry_run else "changed"
    lines.append(f"{verb}: {', '.join(result.changed_files) or 'none'}")
    if result.ticked:
        lines.append("ticked: " + ", ".join(f"#{i}" for i in sorted(result.ticked)))
    for v in result.verify:
        verdict = "passed" if v.passed else "failed" if v.ran else "did not run"
        lines.append(f"verify {v.command}: {verdict}")
    if result.run is not None:
        m = result.run.metrics
        lines.append(
            f"rounds {result.rounds} | turns {result.run.turns} | prompt {m.prompt_tokens} tok, "
            f"output {m.eval_tokens} tok, num_ctx {m.num_ctx}"
        )
    sys.stderr.write("\n".join(lines) + "\n")
