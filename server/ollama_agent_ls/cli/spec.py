"""``spec PATH``: run a spec against files on disk; its exit codes follow ``run``'s."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.agent.loop import Agent
from ollama_agent_ls.cli.approver import TerminalApprover
from ollama_agent_ls.cli.exits import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_SETUP, EXIT_USAGE
from ollama_agent_ls.cli.interrupt import cancel_on_sigint
from ollama_agent_ls.cli.parser import workspace_of
from ollama_agent_ls.cli.run import dry_run_diff, never_started
from ollama_agent_ls.cli.transcript import transcript_for
from ollama_agent_ls.errors import UsageError
from ollama_agent_ls.settings import ApplyMode, Settings
from ollama_agent_ls.specs.model import is_spec
from ollama_agent_ls.specs.runner import SpecRunner, SpecRunResult
from ollama_agent_ls.tools.command_policy import normalise_command
from ollama_agent_ls.tools.context import Approval, ApprovalRequest
from ollama_agent_ls.tools.executor import ExtraTool


def _usage(message: str) -> NoReturn:
    """A mistake on the command line: main prints the spec command's usage and the message."""
    raise UsageError(message)


def _refused(message: str) -> int:
    sys.stderr.write(f"ollama-agent-ls spec: refused: {message}\n")
    return EXIT_USAGE


class VerifyApprover:
    """The spec command's approver: while a verify: command runs, one the person allowed
    earlier in this spec run (seconds before, for the agent) runs without asking again."""

    def __init__(self, terminal: TerminalApprover) -> None:
        self.terminal = terminal
        self.verifying = False

    def follow(self, event: AgentEvent) -> None:
        """Track the verify phase from the runner's events."""
        if event.data.get("name") == "verify":
            self.verifying = event.kind == "toolCall"

    async def ask(self, request: ApprovalRequest) -> Approval:
        """Allow a verify command allowed before (never a destructive one); else ask."""
        if (
            self.verifying
            and not request.destructive
            and not request.outside_sandbox
            and normalise_command(request.command) in self.terminal.allowed
        ):
            sys.stderr.write(f"verify: `{request.command}` runs: you allowed it in this run\n")
            return Approval.ALLOW
        return await self.terminal.ask(request)


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
    from ollama_agent_ls.cli.sessions import record_run
    from ollama_agent_ls.headless import DiskRun, build_disk_run

    if ApplyMode(settings.apply_mode) is ApplyMode.REVIEW:
        return _usage(
            "applyMode=review is not available for spec: its verify: commands check the files "
            "on disk, so the edits must be there; use --dry-run to see the changes first"
        )
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
    terminal = TerminalApprover()
    approver = VerifyApprover(terminal)
    transcript, printer = transcript_for(quiet, terminal)
    transcript.on_event = approver.follow
    disk: list[DiskRun] = []
    async with contextlib.aclosing(make_backend(settings)) as client:

        def make_agent(tools: Sequence[ExtraTool]) -> Agent:
            run = build_disk_run(
                client,
                settings,
                root,
                approver,
                transcript,
                dry_run=dry_run,
                extra_tools=tools,
                instruction=f"spec {path.name}",
            )
            disk.append(run)
            return run.agent

        runner = SpecRunner(
            path, make_agent, rerun=bool(getattr(args, "rerun", False)), dry_run=dry_run
        )
        result = await cancel_on_sigint(runner.cancel, runner.run())
    printer.close()
    if result.status == "refused":
        return _refused(result.reason)
    if disk and result.run is not None and not dry_run and not result.setup_problem:
        # A session like run's: `undo` and `sessions` know the spec run too.
        record_run(disk[0], result.run)
    if dry_run and disk:
        changes = disk[0].net_changes()
        if changes:
            sys.stdout.write(dry_run_diff(changes))
            sys.stdout.flush()
    started = result.run is None or not never_started(result.run)
    _report(result, dry_run, shown=transcript.errors, started=started)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(spec_result_json(result), indent=2) + "\n")
        sys.stdout.flush()
    return spec_exit_code(result)


def spec_result_json(result: SpecRunResult) -> dict[str, Any]:
    """``spec --json``: the language server's runSpec result, with relative paths."""
    return result.result_json(result.run, result.changed_files)


def _report(
    result: SpecRunResult, dry_run: bool, *, shown: Sequence[str] = (), started: bool = True
) -> None:
    lines = [f"\n[{result.status}] {result.spec_rel}"]
    # An error the transcript printed already is not said again.
    if result.reason and not any(error and error in result.reason for error in shown):
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
    if result.run is not None and started:
        m = result.run.metrics
        lines.append(
            f"rounds {result.rounds} | turns {result.run.turns} | prompt {m.prompt_tokens} tok, "
            f"output {m.eval_tokens} tok, num_ctx {m.num_ctx}"
        )
    sys.stderr.write("\n".join(lines) + "\n")


async def spec_command(args: argparse.Namespace, settings: Settings) -> int:
    root = workspace_of(args)
    code: int = await run_spec_command(args, settings, root)
    return code
